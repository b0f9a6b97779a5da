"""Cross-runtime parity: Node (the addon) against Python's golden predictions.

Python writes the golden set with the reference pipeline (PIL + torchvision + the artifact under
``torch.jit.load``); Node classifies the same files through ``require('chori-torch')``. Both
run the same TorchScript graph on the same libtorch build with one intra-op thread, and the
addon reproduces PIL's decoding and resampling, so the model inputs are identical and the
logits should be too. The test prints the max |Δlogit| it measured and asserts it is within
``LOGIT_TOLERANCE``.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage
import sklearn
import torch
import torchvision

from chori_torch.metadata import load_artifact
from chori_torch.preprocessing import build_transform, open_image

ROOT = Path(__file__).resolve().parents[2]
NODE_DRIVER = ROOT / "tests" / "tools" / "predict-files.js"
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


def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH; run the tests through `make test`")
    return found


def run_node(model: Path, files: list[Path], *, tensors: bool = False) -> dict[str, dict]:
    args = [node(), str(NODE_DRIVER), "--model", str(model), "--threads", "1"]
    if tensors:
        args.append("--tensors")
    out = subprocess.run(
        [*args, *map(str, files)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {r["file"]: r for r in json.loads(out)["results"]}


def write_golden(model: Path, files: list[Path], out: Path) -> dict[str, dict]:
    images_dir = out.parent / "images"
    images_dir.mkdir(exist_ok=True)
    # `chori golden` takes files or directories; a symlink farm keeps names unique and readable.
    for f in files:
        link = images_dir / f"{f.parent.name}-{f.name}"
        if not link.exists():
            link.symlink_to(f)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "chori_torch.cli",
            "golden",
            "--model",
            str(model),
            "--images",
            str(images_dir),
            "--out",
            str(out),
            "--threads",
            "1",
        ],
        check=True,
        cwd=ROOT,
    )
    golden = json.loads(out.read_text())
    return {Path(g["path"]).name: g for g in golden["images"]}


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


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    files = real_photographs() + sorted(DEMO_IMAGES.glob("*.*"))
    assert len(files) >= 30, f"only {len(files)} images in the parity corpus"
    return files


@pytest.mark.parametrize("model_name", ["demo", "resnet18"])
def test_node_matches_python_golden(
    model_name: str, resnet18_artifact: Path, corpus: list[Path], tmp_path: Path
) -> None:
    model = DEMO_MODEL if model_name == "demo" else resnet18_artifact
    golden = write_golden(model, corpus, tmp_path / "golden.json")
    assert len(golden) == len(corpus), "PIL opened every corpus image"
    node_results = run_node(model, [tmp_path / "images" / name for name in sorted(golden)])

    max_delta = 0.0
    top1_agree = 0
    for name, expected in golden.items():
        got = node_results[str(tmp_path / "images" / name)]
        assert "error" not in got, f"{name}: {got.get('error')}"
        delta = np.abs(np.float32(got["logits"]) - np.float32(expected["logits"])).max()
        max_delta = max(max_delta, float(delta))
        top1_agree += got["index"] == expected["index"]
    print(
        f"\nparity[{model_name}]: {len(golden)} images, "
        f"top-1 agreement {top1_agree}/{len(golden)}, max |Δlogit| = {max_delta:.3g}"
    )
    assert top1_agree == len(golden)
    assert max_delta <= LOGIT_TOLERANCE


def test_node_tensor_is_torchvision_tensor(corpus: list[Path]) -> None:
    """The model input itself, bit for bit: Node's preprocess() against torchvision's transforms."""
    meta = load_artifact(DEMO_MODEL).metadata
    transform = build_transform(meta.input)
    results = run_node(DEMO_MODEL, corpus, tensors=True)
    mismatched = []
    for f in corpus:
        expected = transform(open_image(f)).numpy()
        r = results[str(f)]
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if got.shape != expected.shape or not np.array_equal(got, expected):
            mismatched.append(f.name)
    print(f"\ntensor parity: {len(corpus) - len(mismatched)}/{len(corpus)} bit-identical")
    assert mismatched == []
