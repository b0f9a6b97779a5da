"""Shared by the replica tests (test_swarm_faults.py, test_compose.py): the images, two model
versions with their golden sets, a steady and bounded request load on the balancer (127.0.0.1
only) that records every request, and bounded waits."""

from __future__ import annotations

import http.client
import io
import json
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from conftest import real_photographs
from containers import ROOT, build_image, docker

CLIENTS = 4
PACE_S = 0.05  # each client at most 20 requests/s: a steady, bounded rate (at most 80/s)
LOAD_LIMIT_S = 200  # no request loop runs longer than this, whatever happens
V1_LABELS, V2_LABELS = "Not face,Face", "No face,A face"
DEMO_WEIGHTS = ROOT / "export" / "demo" / "weights.pth"


def wait_for(predicate, what: str, limit_s: float, every_s: float = 0.25):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"timed out after {limit_s} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_images() -> dict[str, str]:
    """The chori-torch image (make image) and chori-haproxy (deploy/haproxy/build.sh)."""
    chori = build_image()  # starts dockerd; skips with the reason where it cannot run
    r = subprocess.run(
        ["bash", "deploy/haproxy/build.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return {"chori": chori, "haproxy": r.stdout.strip().splitlines()[-1]}


@contextmanager
def model_versions() -> Iterator[dict[str, Path]]:
    """Two versions of the demo model (the same weights, other label names), each with the
    golden set its replicas check at start; readable by the image's unprivileged user."""
    root = Path(tempfile.mkdtemp(prefix="chori-replicas-"))
    try:
        golden = root / "golden"
        golden.mkdir()
        for name in ["face_01.jpg", "not_face_01.jpg", "face_02.png"]:
            shutil.copy(ROOT / "export" / "images" / name, golden)
        found = {}
        for version, labels in [("v1", V1_LABELS), ("v2", V2_LABELS)]:
            out = root / version / "model.pt"
            subprocess.run(
                [str(ROOT / ".venv" / "bin" / "chori"), "export", "--arch",
                 "chori_torch.demo_model:build", "--weights", str(DEMO_WEIGHTS),
                 "--labels", labels, "--resize", "64", "--crop", "56", "--out", str(out),
                 "--golden", str(golden)],
                check=True, capture_output=True, timeout=300,
            )  # fmt: skip
            found[version] = out.parent
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield found
    finally:
        shutil.rmtree(root, ignore_errors=True)


_photo: bytes | None = None


def photo() -> bytes:
    """A photograph as users send them: a ~30 kB JPEG (scikit-image's rocket, 512 px)."""
    global _photo
    if _photo is None:
        source = next(p for p in real_photographs() if p.name == "rocket.jpg")
        with Image.open(source) as im:
            im.thumbnail((512, 512))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=90)
        _photo = buf.getvalue()
    return _photo


def predict_once(url: str, body: bytes) -> int:
    conn = http.client.HTTPConnection(url, timeout=10)
    try:
        conn.request("POST", "/predict", body=body)
        res = conn.getresponse()
        res.read()
        return res.status
    except OSError:
        return 0
    finally:
        conn.close()


@dataclass
class Sample:
    start: float
    end: float
    status: int  # 0: no answer (connection refused, reset, timed out)
    label: str | None
    error: str | None = None


@dataclass
class Load:
    """CLIENTS keep-alive clients, each sending one photo at a time at most every PACE_S."""

    url: str
    body: bytes
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _client(self) -> None:
        conn: http.client.HTTPConnection | None = None
        limit = time.monotonic() + LOAD_LIMIT_S
        while not self.stop.is_set() and time.monotonic() < limit:
            start = time.monotonic()
            status, label, error = 0, None, None
            try:
                conn = conn or http.client.HTTPConnection(self.url, timeout=30)
                conn.request("POST", "/predict", body=self.body)
                res = conn.getresponse()
                text = res.read()
                status = res.status
                label = json.loads(text).get("label") if status == 200 else None
                if status != 200:
                    error = text.decode("utf-8", "replace")[:300]
                if res.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException, ValueError) as e:
                error = f"{type(e).__name__}: {e}"
                if conn is not None:
                    conn.close()
                conn = None
            end = time.monotonic()
            self.samples.append(Sample(start, end, status, label, error))
            time.sleep(max(0.0, PACE_S - (end - start)))
        if conn is not None:
            conn.close()

    def window(self, t0: float, t1: float) -> list[Sample]:
        return [s for s in list(self.samples) if t0 <= s.start < t1]


def p99_ms(samples: list[Sample]) -> float:
    latencies = sorted((s.end - s.start) * 1000 for s in samples)
    return (
        round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1)
        if latencies
        else 0.0
    )


def retried_requests(haproxy: str) -> int:
    """Requests HAProxy sent again to another replica: its log's retries field (httplog's
    actconn/feconn/beconn/srv_conn/retries, "+" when redispatched) above 0."""
    out = docker("logs", haproxy, check=False).stdout
    found = (re.search(r" \d+/\d+/\d+/\d+/\+?(\d+) \d+/\d+ \"", line) for line in out.splitlines())
    return sum(1 for m in found if m and int(m[1]) > 0)
