"""The production image (`make image`, deploy/Dockerfile): what is inside it, who runs it, that it
answers as the host does bit for bit, the /mnt/models convention, configuration by environment,
its health check and its stop on SIGTERM. Skipped, with the reason, where Docker cannot run."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path, PurePosixPath

import pytest

from conftest import DEMO_IMAGES, DEMO_MODEL, NODE_DRIVER, run_node
from containers import (
    ROOT,
    build_image,
    container,
    docker,
    get_json,
    logs,
    post,
    url_of,
    wait_ready,
)

# Build tools, interpreters, shells and package managers: none belongs in a serving image.
FORBIDDEN = {"python", "python3", "cc", "gcc", "g++", "c++", "clang", "ld", "make", "sh", "bash",
             "dash", "apt", "apt-get", "dpkg", "pip", "pip3", "npm", "curl", "wget"}  # fmt: skip
NOBODY = "65534:65534"


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


@pytest.fixture(scope="module")
def files(image: str) -> dict[str, tarfile.TarInfo]:
    """Every path of the image's file system, from `docker export` of a created container."""
    name = docker("create", image).stdout.strip()
    try:
        with subprocess.Popen(["docker", "export", name], stdout=subprocess.PIPE) as proc:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                members = {PurePosixPath("/", m.name).as_posix(): m for m in tar}
        return members
    finally:
        docker("rm", "-f", name, check=False)


def demo_images() -> list[Path]:
    found = sorted(p for p in DEMO_IMAGES.iterdir() if p.is_file())
    assert found, f"no demo images in {DEMO_IMAGES} (make demo)"
    return found


def test_holds_no_interpreter_compiler_shell_or_package_manager(files: dict) -> None:
    assert "/usr/bin/node" in files and "/opt/chori-torch/js/cli.js" in files
    assert "/opt/chori-torch/addon/build/Release/chori_torch.node" in files
    found = sorted(p for p in files if PurePosixPath(p).name in FORBIDDEN)
    assert found == []
    assert not [p for p in files if "/site-packages/" in p or p.startswith("/usr/include/")]


def test_the_libtorch_inside_is_the_closure_ldd_finds(files: dict) -> None:
    torch_libs = sorted(
        PurePosixPath(p).name for p in files if p.startswith("/usr/lib/chori-torch/")
    )
    addon = ROOT / "addon" / "build" / "Release" / "chori_torch.node"
    ldd = subprocess.run(["ldd", str(addon)], capture_output=True, text=True, check=True).stdout
    outside_system = sorted(
        PurePosixPath(line.split("=>")[1].split()[0]).name
        for line in ldd.splitlines()
        if "=>" in line and not line.split("=>")[1].split()[0].startswith(("/lib", "/usr/lib"))
    )
    assert torch_libs == outside_system


def test_runs_as_a_numeric_non_root_user(image: str) -> None:
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image).stdout)
    assert config["User"] == NOBODY
    assert config["Entrypoint"] == ["/usr/bin/node", "/opt/chori-torch/js/cli.js", "serve"]
    with container(image, "-v", f"{DEMO_MODEL.parent}:/mnt/models:ro") as name:
        wait_ready(name)
        # The server is PID 1 and its credentials are nobody's.
        print_status = "process.stdout.write(require('fs').readFileSync('/proc/1/status', 'utf8'))"
        status = docker("exec", name, "/usr/bin/node", "-e", print_status).stdout
        ids = {
            k: v.split()
            for k, v in (line.split(":\t", 1) for line in status.splitlines())
            if k in ("Uid", "Gid")
        }
        assert ids == {"Uid": ["65534"] * 4, "Gid": ["65534"] * 4}


def test_logits_in_the_container_are_the_hosts_bit_for_bit(image: str) -> None:
    images = demo_images()
    host = run_node(DEMO_MODEL, images)
    data = DEMO_MODEL.parent
    args = ["--model", f"/data/{DEMO_MODEL.name}", "--threads", "1"]
    args += [f"/data/{p.relative_to(data).as_posix()}" for p in images]
    out = docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/usr/bin/node", "-e", "NODE_PATH=/opt",
        "-v", f"{NODE_DRIVER.parent}:/tools:ro", "-v", f"{data}:/data:ro",
        image, f"/tools/{NODE_DRIVER.name}", *args,
    ).stdout  # fmt: skip
    inside = {Path(r["file"]).name: r for r in json.loads(out)["results"]}
    assert sorted(inside) == sorted(p.name for p in images)
    for p in images:
        assert inside[p.name]["logits"] == host[str(p)]["logits"], p.name


def test_serves_every_artifact_of_mnt_models_model_pt_first(image: str, tmp_path: Path) -> None:
    # KServe's convention: only a directory mounted at /mnt/models, no flags.
    for name in ("another.pt", "model.pt"):
        shutil.copy(DEMO_MODEL, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a model")
    tmp_path.chmod(0o755)
    photo = demo_images()[0].read_bytes()
    with container(image, "-v", f"{tmp_path}:/mnt/models:ro") as name:
        base = wait_ready(name)
        listed = get_json(f"{base}/models")
        names = [m["name"] for m in listed["models"]]
        assert sorted(names) == ["another", "model"]
        default = post(f"{base}/predict", photo)
        assert default["model"]["name"] == "model"
        other = post(f"{base}/models/another/predict", photo)
        assert other["model"]["name"] == "another"
        assert other["label"] == default["label"] and other["score"] == default["score"]


def test_environment_configures_and_flags_win(image: str) -> None:
    photo = demo_images()[0].read_bytes()
    env = ["-e", "CHORI_TORCH_PORT=9090", "-e", "CHORI_TORCH_TOPK=1", "--health-interval", "1s"]
    args = [*env, "-v", f"{DEMO_MODEL.parent}:/mnt/models:ro"]
    with container(image, *args, publish=9090) as name:
        base = wait_ready(name, port=9090)
        answer = post(f"{base}/predict", photo)
        assert len(answer["topk"]) == 1  # CHORI_TORCH_TOPK
        # The health check follows CHORI_TORCH_PORT: healthy, bounded wait.
        deadline = time.monotonic() + 30
        health = ""
        while time.monotonic() < deadline and health != "healthy":
            health = docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
            time.sleep(0.5)
        assert health == "healthy", logs(name)
    mount = ["-v", f"{DEMO_MODEL.parent}:/mnt/models:ro"]
    with container(image, "-e", "CHORI_TORCH_TOPK=1", *mount, "--", "--topk", "2") as name:
        answer = post(f"{wait_ready(name)}/predict", photo)
        assert len(answer["topk"]) == 2  # the flag, not the variable


def test_a_bad_environment_value_stops_the_start_naming_the_variable(image: str) -> None:
    r = docker("run", "--rm", "-e", "CHORI_TORCH_MAX_QUEUE=lots", image, check=False)
    assert r.returncode == 2
    assert "CHORI_TORCH_MAX_QUEUE" in r.stderr and '"lots"' in r.stderr


def test_sigterm_reaches_the_server_which_exits_cleanly(image: str) -> None:
    with container(image, "-v", f"{DEMO_MODEL.parent}:/mnt/models:ro") as name:
        url_of(name)
        wait_ready(name)
        started = time.monotonic()
        docker("stop", "-t", "30", name)
        stopped_in = time.monotonic() - started
        state = json.loads(docker("inspect", "-f", "{{json .State}}", name).stdout)
        # Exit 0 is the server's own clean stop; a signal's default action would be 143, and
        # Docker's SIGKILL after -t would be 137 and take the whole 30 s.
        assert state["ExitCode"] == 0, logs(name)
        assert stopped_in < 30


def test_the_readmes_deploying_commands_answer_a_prediction(image: str, tmp_path: Path) -> None:
    """README "Deploying", word for word but for the host port and the container's name."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploying") :]
    block = section[section.index("```sh\n") + 6 : section.index("```", section.index("```sh") + 5)]
    commands = [line for line in block.splitlines() if line and not line.startswith(("#", "make "))]
    assert commands[0].startswith("docker run") and commands[-1].startswith("docker stop")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = f"chori-test-readme-{port}"
    script = "\n".join(commands).replace("8080:8080", f"{port}:8080")
    script = script.replace("localhost:8080", f"localhost:{port}").replace(
        "chori-torch ", f"{name} "
    )
    script = script.replace("--name chori-torch", f"--name {name}")
    try:
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        answer = json.loads(
            r.stdout.splitlines()[-2]
        )  # the prediction; `docker stop` prints the name
        assert answer["label"] in ("Face", "Not face") and answer["model"]["name"] == "model"
        assert docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        docker("rm", "-f", name, check=False)


def test_a_model_baked_in_by_the_readmes_two_lines_is_served(image: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploying") :]
    start = section.index("```dockerfile\n") + len("```dockerfile\n")
    dockerfile = section[start : section.index("```", start)]
    assert dockerfile.splitlines() == [
        f"FROM {image}",
        "COPY model.pt /mnt/models/model.pt",
    ], "the README's two lines name this version's image"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    shutil.copy(DEMO_MODEL, tmp_path / "model.pt")
    tag = f"chori-torch-baked-test:{tmp_path.name.lower()}"
    docker("build", "-q", "-t", tag, str(tmp_path))
    try:
        with container(tag) as name:
            answer = post(f"{wait_ready(name)}/predict", demo_images()[0].read_bytes())
            assert answer["model"]["name"] == "model"
    finally:
        docker("rmi", "-f", tag, check=False)
