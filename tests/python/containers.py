"""Docker helpers for the container tests: the image `make image` builds (skipping, with the
reason, where no Docker daemon can run), containers that publish on 127.0.0.1 only and are
always removed, and bounded waits."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# scripts/start-dockerd.sh and scripts/image/build.sh exit 3 when Docker cannot run here.
CANNOT_RUN = 3


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def build_image() -> str:
    """The tag of the production image, built (or found up to date) by scripts/image/build.sh."""
    r = subprocess.run(
        ["bash", "scripts/image/build.sh", "--print-tag"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if r.returncode == CANNOT_RUN:
        pytest.skip(r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


@contextmanager
def container(image: str, *args: str, publish: int = 8080) -> Iterator[str]:
    """Runs `image` detached (`args`: docker run options, then the image's arguments after a
    lone "--") with `publish` on a free loopback port; yields the container's name."""
    name = f"chori-test-{uuid.uuid4().hex[:10]}"
    split = args.index("--") if "--" in args else len(args)
    options, command = list(args[:split]), list(args[split + 1 :])
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1::{publish}", *options, image, *command)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def url_of(name: str, port: int = 8080) -> str:
    mapping = docker("port", name, f"{port}/tcp").stdout.split()[0]
    return f"http://{mapping}"


def logs(name: str) -> str:
    r = docker("logs", name, check=False)
    return r.stdout + r.stderr


def wait_ready(name: str, port: int = 8080, limit_s: float = 60, path: str = "/readyz") -> str:
    """The container's base URL once GET `path` answers 200; fails with its log otherwise."""
    base = url_of(name, port)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=2) as res:
                if res.status == 200:
                    return base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
        if not state["Running"]:
            pytest.fail(f"the container exited ({state['ExitCode']}):\n{logs(name)}")
        time.sleep(0.1)
    pytest.fail(f"not ready within {limit_s} s:\n{logs(name)}")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as res:
        return json.loads(res.read())


def post(url: str, body: bytes) -> dict:
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())
