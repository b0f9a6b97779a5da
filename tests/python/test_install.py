"""The packages as a user gets them: ``npm pack`` installed into a fresh app outside the
repository, and the wheel installed into a fresh virtual environment. Real installs, no mocks.

The fresh Python environment sees the torch already installed here through a ``.pth`` file
(nothing is downloaded), and is found by the addon's build through ``VIRTUAL_ENV`` or
``CHORI_TORCH_PYTHON``, never ``LIBTORCH``. PATH leaves out this project's ``.venv/bin``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import torch

from chori_torch.demo_model import build
from conftest import DEMO_IMAGES, DEMO_MODEL, ROOT, node

# Variables that would point the build at a torch; each test sets the one it means to use.
DISCOVERY_VARIABLES = ("LIBTORCH", "CHORI_TORCH_PYTHON", "VIRTUAL_ENV", "CONDA_PREFIX")
APP = """
const fs = require('node:fs');
const chori = require('chori-torch');
chori.load(process.argv[2]).then(async (model) => {
  const r = await model.predict(fs.readFileSync(process.argv[3]));
  const out = { label: r.label, score: r.score, from: require.resolve('chori-torch') };
  console.log(JSON.stringify({ ...out, versions: chori.versions, warnings: model.warnings }));
  await model.dispose();
}, (err) => { console.log(JSON.stringify({ code: err.code, message: err.message })); });
"""


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH; run the tests through `make test`")
    return found


def clean_env(path: list[str], **extra: str) -> dict[str, str]:
    """The environment minus every torch discovery variable, with PATH set to `path`."""
    env = {k: v for k, v in os.environ.items() if k not in DISCOVERY_VARIABLES}
    env.pop("npm_config_node_gyp", None)
    env["PATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


def user_path() -> list[str]:
    """Node and npm, the compiler, and nothing of this project's .venv."""
    dirs = [str(Path(tool("node")).parent), str(Path(tool("npm")).parent), "/usr/bin", "/bin"]
    venv_bin = str(ROOT / ".venv" / "bin")
    return [d for d in dict.fromkeys(dirs) if d != venv_bin]


def new_app(parent: Path, name: str) -> Path:
    app = parent / name
    app.mkdir()
    (app / "package.json").write_text(
        json.dumps({"name": name, "version": "1.0.0", "private": True})
    )
    (app / "app.js").write_text(APP)
    return app


def npm(app: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", *args, "--no-audit", "--no-fund"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def run_app(app: Path, env: dict[str, str]) -> dict:
    image = DEMO_IMAGES / "face_01.jpg"
    out = subprocess.run(
        ["node", "app.js", str(DEMO_MODEL), str(image)],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`npm pack` of the repository, once per session."""
    dest = tmp_path_factory.mktemp("pack")
    out = subprocess.run(
        [tool("npm"), "pack", "--json", "--pack-destination", str(dest)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dest / json.loads(out.stdout)[0]["filename"]


@pytest.fixture(scope="session")
def torch_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment that imports this interpreter's torch through a .pth file.
    Without pip of its own (whose old setuptools would hide the one torch requires): this
    interpreter's pip installs into it with --python."""
    venv = tmp_path_factory.mktemp("user") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "torch-from-project.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture(scope="session")
def expected_label() -> str:
    """What the repository's own addon answers for the image the apps classify."""
    script = f"{APP}".replace("require('chori-torch')", f"require({json.dumps(str(ROOT))})")
    out = subprocess.run(
        [node(), "-e", script, "x", str(DEMO_MODEL), str(DEMO_IMAGES / "face_01.jpg")],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["label"]


def test_npm_pack_ships_only_what_users_need(tarball: Path) -> None:
    out = subprocess.run(["tar", "-tzf", str(tarball)], capture_output=True, text=True, check=True)
    files = {name.removeprefix("package/") for name in out.stdout.split()}
    assert {"package.json", "README.md", "LICENSE", "addon/binding.gyp", "js/index.js"} <= files
    assert {
        "scripts/build-addon.js",
        "scripts/find-libtorch.js",
        "scripts/check-image-libs.js",
    } <= files
    top = {name.split("/")[0] for name in files}
    assert top <= {"package.json", "README.md", "LICENSE", "addon", "js", "scripts"}, top
    addon = {f for f in files if f.startswith("addon/")} - {"addon/binding.gyp"}
    assert addon and all(f.startswith(("addon/src/", "addon/include/")) for f in addon)
    # Only what the build and the package run: no tests, benchmarks, artifacts or dev scripts.
    # stage.sh gathers a container's root filesystem in a user's image build (examples/docker-app).
    shipped = {f for f in files if f.startswith("scripts/")} - {"scripts/image/stage.sh"}
    assert "scripts/image/stage.sh" in files
    assert not [f for f in shipped if not f.endswith(".js")]
    # Sources only: the server's protocols, its web page and the .proto are ~200 kB packed; a
    # stray model, image or build output would be megabytes.
    assert tarball.stat().st_size < 300_000


def test_npm_install_builds_the_addon_from_an_active_virtualenv(
    tarball: Path, torch_venv: Path, expected_label: str, tmp_path: Path
) -> None:
    app = new_app(tmp_path, "user-app")
    env = clean_env(user_path(), VIRTUAL_ENV=str(torch_venv))
    r = npm(app, env, "install", str(tarball), "--foreground-scripts")
    assert r.returncode == 0, r.stdout + r.stderr
    # The build says what it chose and what it rejected.
    assert f"the torch package of VIRTUAL_ENV={torch_venv}" in r.stdout
    assert "rejected LIBTORCH: not set" in r.stdout
    assert "rejected CHORI_TORCH_PYTHON: not set" in r.stdout
    answer = run_app(app, clean_env(user_path()))
    assert answer["from"] == str(app / "node_modules" / "chori-torch" / "js" / "index.js")
    assert answer["label"] == expected_label
    assert answer["versions"]["libtorch"] == torch.__version__.split("+")[0]
    assert answer["warnings"] == []


def test_ignore_scripts_then_npx_build(
    tarball: Path, torch_venv: Path, expected_label: str, tmp_path: Path
) -> None:
    app = new_app(tmp_path, "strict-app")
    r = npm(app, clean_env(user_path()), "install", "--ignore-scripts", str(tarball))
    assert r.returncode == 0, r.stdout + r.stderr
    missing = run_app(app, clean_env(user_path()))
    assert missing["code"] == "CHORI_ADDON_NOT_BUILT"
    assert "npx chori-torch build" in missing["message"]
    python = torch_venv / "bin" / "python"
    env = clean_env(user_path(), CHORI_TORCH_PYTHON=str(python))
    built = subprocess.run(
        ["npx", "--no-install", "chori-torch", "build"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"the torch package of CHORI_TORCH_PYTHON={python}" in built.stdout
    assert run_app(app, clean_env(user_path()))["label"] == expected_label


def test_npm_install_without_torch_fails_with_the_fix(tarball: Path, tmp_path: Path) -> None:
    # A PATH with node and npm and a python3 that has no torch (or no python at all).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("node", "npm", "sh"):
        (bin_dir / name).symlink_to(tool(name))
    system_python = Path("/usr/bin/python3")
    no_torch = subprocess.run([system_python, "-c", "import torch"], capture_output=True)
    if system_python.exists() and no_torch.returncode != 0:
        (bin_dir / "python3").symlink_to(system_python)
    app = new_app(tmp_path, "no-torch-app")
    before = sorted(p.name for p in app.iterdir())
    r = npm(app, clean_env([str(bin_dir)]), "install", str(tarball))
    assert r.returncode != 0
    message = r.stdout + r.stderr
    assert "chori-torch: cannot build the native addon: libtorch not found" in message
    for fix in (
        "pip install torch==2.14.1",
        "CHORI_TORCH_PYTHON=",
        "LIBTORCH",
        "npm rebuild chori-torch",
    ):
        assert fix in message, fix
    assert "LIBTORCH: not set; CHORI_TORCH_PYTHON: not set; VIRTUAL_ENV: not set" in message
    # npm rolls the install back: no package, no addon, package.json as it was.
    assert sorted(p.name for p in app.iterdir()) == before
    assert not list(app.rglob("chori_torch.node"))
    assert "dependencies" not in json.loads((app / "package.json").read_text())


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of what the sdist would hold, so no build/ lands in the checkout."""
    dest = tmp_path_factory.mktemp("wheel")
    source = dest / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "python", source / "python", ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--quiet", "--disable-pip-version-check", "--wheel-dir", str(dest), str(source)),
        ],
        check=True,
    )
    (found,) = dest.glob("chori_torch-*.whl")
    return found


def test_wheel_holds_only_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "chori_torch/cli.py" in names
    assert {n.split("/")[0] for n in names} == {
        "chori_torch",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    assert not [n for n in names if "test" in n or n.endswith((".pt", ".pth", ".json"))]


def test_wheel_in_a_fresh_venv_gives_the_chori_command(
    wheel: Path, torch_venv: Path, tmp_path: Path
) -> None:
    python = torch_venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    # --no-index: the pinned torch and torchvision must be satisfied by what is installed.
    subprocess.run([*pip, "install", "--quiet", "--no-index", wheel], check=True)
    chori = torch_venv / "bin" / "chori"
    env = clean_env(["/usr/bin", "/bin"])

    def run(*args: str) -> str:
        return subprocess.run(
            [chori, *args], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
        ).stdout

    where = subprocess.run(
        [python, "-c", "import chori_torch; print(chori_torch.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(torch_venv))
    for command in ("export", "golden", "demo"):
        assert f"usage: chori {command}" in run(command, "--help")
    torch.manual_seed(0)
    torch.save(build(num_classes=2).state_dict(), tmp_path / "weights.pth")
    run(
        *("export", "--arch", "chori_torch.demo_model:build", "--weights", "weights.pth"),
        *("--labels", "no,yes", "--resize", "40", "--crop", "32", "--out", "model.pt"),
    )
    run("golden", "--model", "model.pt", "--images", str(DEMO_IMAGES), "--out", "golden.json")
    golden = json.loads((tmp_path / "golden.json").read_text())
    assert golden["torch_version"] == torch.__version__
    assert len(golden["images"]) == len([p for p in DEMO_IMAGES.iterdir() if p.is_file()])
    assert {entry["label"] for entry in golden["images"]} <= {"no", "yes"}
