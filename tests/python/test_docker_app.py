"""examples/docker-app: a team's own Node service around chori-torch, in its container. The app
is installed as its Dockerfile's build stage installs it (`npm install` of the `npm pack`
tarball, npm's cache first; the addon this checkout built stands in for the install step's
compile), staged by the packaged stage.sh --app, and assembled by the example's own runtime
stage; the container must answer what the host answers, as nobody, and stop on SIGTERM. The build
stage itself (a node base image, apt, PyTorch's wheel index) needs a registry these machines do
not reach and is not exercised. Skipped, with the reason, where Docker cannot run."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import DEMO_IMAGES, DEMO_MODEL, run_node
from containers import ROOT, build_image, container, docker, logs, post, wait_ready

EXAMPLE = ROOT / "examples" / "docker-app"
TAG = "chori-torch-docker-app-test:latest"


def runtime_stage() -> str:
    """The example Dockerfile's runtime stage, from its first line after `COPY --from=build`."""
    lines = (EXAMPLE / "Dockerfile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("COPY --from=build"))
    assert lines[start - 1].startswith("FROM scratch"), "the runtime stage starts FROM scratch"
    return "\n".join(lines[start + 1 :])


def install_app(app: Path) -> None:
    app.mkdir()
    for name in ("server.js", "package.json"):
        shutil.copy(EXAMPLE / name, app / name)
    packed = subprocess.run(
        ["npm", "pack", "--json", "--pack-destination", str(app)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    tarball = json.loads(packed.stdout)[0]["filename"]
    assert (
        f"file:{tarball}"
        == json.loads((app / "package.json").read_text())["dependencies"]["chori-torch"]
    ), "the example depends on the tarball npm pack makes"
    install = ["npm", "install", "--omit=dev", "--prefer-offline", "--ignore-scripts", "--no-audit"]
    r = subprocess.run([*install, "--no-fund"], cwd=app, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    built = app / "node_modules" / "chori-torch" / "addon" / "build" / "Release"
    built.mkdir(parents=True)
    shutil.copy(ROOT / "addon" / "build" / "Release" / "chori_torch.node", built)


@pytest.fixture(scope="module")
def app_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    build_image()  # the daemon, started (or the reason to skip)
    work = tmp_path_factory.mktemp("docker-app")
    install_app(work / "app")
    context = work / "context"
    stage = ["bash", str(ROOT / "scripts" / "image" / "stage.sh"), str(context), "--app"]
    subprocess.run([*stage, str(work / "app")], check=True, capture_output=True, timeout=600)
    (context / "Dockerfile").write_text(f"FROM scratch\nCOPY rootfs/ /\n{runtime_stage()}\n")
    r = docker("build", "-q", "-t", TAG, str(context), check=False, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    shutil.rmtree(context)
    yield TAG
    docker("rmi", "-f", TAG, check=False)


def test_the_apps_container_answers_as_the_host_does(app_image: str) -> None:
    photo = sorted(DEMO_IMAGES.iterdir())[0]
    [host] = run_node(DEMO_MODEL, [photo]).values()
    mount = ["-v", f"{DEMO_MODEL.parent}:/models:ro"]
    with container(app_image, *mount, publish=3000) as name:
        base = wait_ready(name, port=3000, path="/healthz")
        answer = post(f"{base}/classify", photo.read_bytes())
        assert answer == {"label": host["label"], "score": host["score"]}
        top = docker("top", name, "-o", "pid,user,args").stdout
        assert "/usr/bin/node /app/server.js" in top
        # Node is PID 1 and nobody; the signal reaches the app, which exits 0.
        status = docker(
            "exec", name, "/usr/bin/node", "-e",
            "process.stdout.write(require('fs').readFileSync('/proc/1/status', 'utf8'))",
        ).stdout  # fmt: skip
        assert "Uid:\t65534\t65534\t65534\t65534" in status
        started = time.monotonic()
        docker("stop", "-t", "20", name)
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
        assert state["ExitCode"] == 0, logs(name)
        assert time.monotonic() - started < 20


def test_the_apps_image_holds_no_build_tools(app_image: str) -> None:
    name = docker("create", app_image).stdout.strip()
    try:
        listing = subprocess.run(
            f"docker export {name} | tar -t", shell=True, capture_output=True, text=True, check=True
        ).stdout.split()
    finally:
        docker("rm", "-f", name, check=False)
    names = {Path(p).name for p in listing}
    assert not names & {"python3", "cc", "gcc", "g++", "sh", "bash", "npm", "apt-get", "dpkg"}
    assert "app/node_modules/chori-torch/addon/build/Release/chori_torch.node" in listing
    # node-gyp's objects and the addon's sources stay in the build stage.
    assert not [p for p in listing if "/addon/src/" in p or p.endswith(".o")]
