"""Shared fixtures: tiny real models, saved the ways users save them, at a small input size;
the seeded resnet18 artifact and the Node driver the cross-runtime tests share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import skimage
import sklearn
import torch
import torchvision

from chori_torch.demo_model import build
from chori_torch.export import export_artifact, load_model
from chori_torch.metadata import InputSpec

# Small enough that tracing and the export check take milliseconds, large enough for SqueezeNet.
SMALL_INPUT = InputSpec(resize=(40,), crop=(32, 32))
SMALL_FLAGS = ["--resize", "40", "--crop", "32"]
LABELS = ("cat", "dog", "bird")

ROOT = Path(__file__).resolve().parents[2]
NODE_DRIVER = ROOT / "tests" / "tools" / "predict-files.js"
# Where `make cpp` builds libchori and the command.
BUILD = ROOT / "build"
CHORI_PREDICT = BUILD / "chori-predict"
DEMO_MODEL = ROOT / "export" / "model.pt"
DEMO_IMAGES = ROOT / "export" / "images"
# Same graph, same libtorch, same input, one thread: nothing is left to differ.
LOGIT_TOLERANCE = 0.0


def real_photographs() -> list[Path]:
    """The photographs that scikit-image and scikit-learn ship, PNG and JPEG."""
    skimage_data = Path(skimage.__file__).parent / "data"
    sklearn_images = Path(sklearn.__file__).parent / "datasets" / "images"
    files = [
        *skimage_data.glob("*.png"),
        *skimage_data.glob("*.jpg"),
        *sklearn_images.glob("*.jpg"),
    ]
    return sorted(files)


def link_images(files: list[Path], folder: Path) -> Path:
    """``folder``/images holding a symlink per file, named ``<parent>-<name>``: `chori golden`
    takes directories, and the names stay unique and readable."""
    images = folder / "images"
    images.mkdir(exist_ok=True)
    for f in files:
        link = images / f"{f.parent.name}-{f.name}"
        if not link.exists():
            link.symlink_to(f)
    return images


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH; run the tests through `make test`")
    return found


def node_env(simd: str | None) -> dict[str, str]:
    """The environment for a Node subprocess, with CHORI_SIMD forcing the resampler's path."""
    env = {k: v for k, v in os.environ.items() if k != "CHORI_SIMD"}
    return env if simd is None else {**env, "CHORI_SIMD": simd}


def check_simd(document: dict, simd: str | None) -> None:
    """A forced path must be the one that ran, else the test would check the default path."""
    if simd is not None:
        assert document["simd"]["active"] == simd, f"asked for {simd}, got {document['simd']}"


def run_node_info(
    model: Path,
    files: list[Path],
    *,
    tensors: bool = False,
    precision: str | None = "fp32",
    optimize: str = "auto",
    expect_form: str | None = None,
    threads: int | None = 1,
    concurrency: int = 1,
    simd: str | None = None,
    device: str = "cpu",
    deterministic: bool = False,
) -> tuple[dict[str, dict], dict]:
    """Node's results by file and its ``model.info``; with ``expect_form``, asserts the
    optimisation Node applied.
    ``precision`` None leaves it to the artifact, ``threads`` None the parallelism to load() (the
    adaptive default), as load() does; ``concurrency`` predictions are kept in flight."""
    args = [node(), str(NODE_DRIVER), "--model", str(model)]
    args += ["--threads", "default" if threads is None else str(threads)]
    args += ["--optimize", optimize, "--concurrency", str(concurrency)]
    if precision is not None:
        args += ["--precision", precision]
    args += ["--device", device]
    if deterministic:
        args.append("--deterministic")
    if tensors:
        args.append("--tensors")
    out = subprocess.run(
        [*args, *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=node_env(simd),
    ).stdout
    document = json.loads(out)
    if expect_form is not None:
        assert document["info"]["optimize"] == expect_form, document["info"]
    check_simd(document, simd)
    return {r["file"]: r for r in document["results"]}, document["info"]


def run_node(model: Path, files: list[Path], **options: str | int | None) -> dict[str, dict]:
    """Node's results by file (:func:`run_node_info` without the info)."""
    return run_node_info(model, files, **options)[0]


def predict(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHORI_PREDICT), *args], capture_output=True, text=True, cwd=ROOT, check=check
    )


def run_cpp(
    model: Path, files: list[Path], *, optimize: str = "auto", threads: int = 1, workers: int = 1
) -> dict[str, dict]:
    """chori-predict's JSON lines by file, every label ranked, with the logits."""
    r = predict(
        "--model",
        str(model),
        "--json",
        "--logits",
        "--topk",
        "1000000",
        "--threads",
        str(threads),
        "--workers",
        str(workers),
        "--optimize",
        optimize,
        *map(str, files),
    )
    assert r.returncode in (0, 1), r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == len(files)
    return {row["file"]: row for row in rows}


@pytest.fixture
def demo_weights(tmp_path: Path) -> Path:
    """A seeded, untrained 3-class demo CNN saved with ``torch.save(model.state_dict())``."""
    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One exported 3-class artifact for the tests that only read artifacts."""
    folder = tmp_path_factory.mktemp("artifact")
    torch.manual_seed(0)
    weights = folder / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), weights)
    return export_artifact(
        load_model(weights=weights, arch="chori_torch.demo_model:build"),
        labels=LABELS,
        input_spec=SMALL_INPUT,
        out=folder / "model.pt",
    ).path


@pytest.fixture(scope="session")
def resnet18_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded torchvision resnet18 (10 classes): a state_dict exported as a user would."""
    d = tmp_path_factory.mktemp("resnet18")
    torch.manual_seed(0)
    weights = d / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), weights)
    labels = ",".join(f"class {i}" for i in range(10))
    artifact = d / "resnet18.pt"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "chori_torch.cli",
            "export",
            "--arch",
            "resnet18",
            "--weights",
            str(weights),
            "--labels",
            labels,
            "--out",
            str(artifact),
        ],
        check=True,
        cwd=ROOT,
    )
    return artifact
