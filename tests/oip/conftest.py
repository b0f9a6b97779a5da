"""A real `chori-torch serve` on loopback, with the Open Inference Protocol on HTTP and gRPC,
for tritonclient to talk to; Node's own logits for the same images to compare with.

These tests run in build/test-venv (`make test` makes it from tests/oip/requirements.txt), where
tritonclient is installed: the project's .venv collects nothing here."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("tritonclient") is None:
    collect_ignore_glob = ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "export" / "model.pt"
IMAGES = ROOT / "export" / "images"
NODE_DRIVER = ROOT / "tests" / "tools" / "predict-files.js"
MAX_BODY = 512 * 1024
START_TIMEOUT_S = 60


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH; run the tests through `make test`")
    return found


@dataclass
class Server:
    """A running `chori-torch serve`: its HTTP and gRPC addresses and its log lines."""

    process: subprocess.Popen[str]
    http: str = ""
    grpc: str = ""
    lines: list[dict] = field(default_factory=list)
    bound: threading.Event = field(default_factory=threading.Event)
    listening: threading.Event = field(default_factory=threading.Event)

    def wait_listening(self) -> None:
        if not self.listening.wait(START_TIMEOUT_S):
            self.process.kill()
            pytest.fail(f"the server did not start; its log: {self.lines}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_server(*flags: str, wait: bool = True) -> Server:
    """Starts the server on free ports; returns once it listens, or with wait=False once its
    ports are bound and its models are loading."""
    args = [node(), str(ROOT / "js" / "cli.js"), "serve", "--model", f"faces={MODEL}"]
    args += ["--port", "0", "--grpc-port", "0", "--log-format", "json", *flags]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    server = Server(process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            record = json.loads(line)
            server.lines.append(record)
            if record.get("msg") == "loading models":
                server.http = record["url"].removeprefix("http://")
                server.grpc = record["grpc"]
                server.bound.set()
            if record.get("msg") == "listening":
                server.listening.set()

    threading.Thread(target=read, daemon=True).start()
    if wait:
        server.wait_listening()
    elif not server.bound.wait(START_TIMEOUT_S):
        process.kill()
        pytest.fail(f"the server did not bind its ports; its log: {server.lines}")
    return server


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    running = start_server(
        "--max-body-bytes", str(MAX_BODY), "--max-batch", "8", "--drain-delay-ms", "0"
    )
    yield running
    assert running.stop() == 0, "a clean drain exits 0"


@dataclass(frozen=True)
class Expected:
    """Node's answer for one image: predict(…, { logits: true }) and preprocess()."""

    file: Path
    label: str
    logits: np.ndarray
    tensor: np.ndarray


@pytest.fixture(scope="session")
def expected() -> list[Expected]:
    """Four demo images (JPEG and PNG, both classes) as Node classifies them in-process."""
    files = [
        IMAGES / n for n in ("face_01.jpg", "face_02.png", "not_face_01.jpg", "not_face_02.png")
    ]
    out = subprocess.run(
        [
            node(),
            str(NODE_DRIVER),
            "--model",
            str(MODEL),
            "--threads",
            "1",
            "--tensors",
            *map(str, files),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ},
    ).stdout
    results = json.loads(out)["results"]
    return [
        Expected(
            file=Path(r["file"]),
            label=r["label"],
            logits=np.array(r["logits"], dtype=np.float32),
            tensor=np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(
                r["shape"]
            ),
        )
        for r in results
    ]


def assert_bit_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    assert np.array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32)), (got, want)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
