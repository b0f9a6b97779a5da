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
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chori_torch.metadata import load_artifact
from chori_torch.preprocessing import build_transform, open_image
from conftest import DEMO_IMAGES, DEMO_MODEL, LOGIT_TOLERANCE, ROOT, real_photographs, run_node


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
def corpus() -> list[Path]:
    files = real_photographs() + sorted(DEMO_IMAGES.glob("*.*"))
    assert len(files) >= 30, f"only {len(files)} images in the parity corpus"
    return files


@pytest.fixture(scope="session", params=["demo", "resnet18"])
def golden_set(
    request: pytest.FixtureRequest,
    resnet18_artifact: Path,
    corpus: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path, dict[str, dict], dict[str, Path]]:
    """(model name, artifact, golden entries and image paths by name), written once per model."""
    model = DEMO_MODEL if request.param == "demo" else resnet18_artifact
    folder = tmp_path_factory.mktemp(f"golden-{request.param}")
    golden = write_golden(model, corpus, folder / "golden.json")
    return request.param, model, golden, {name: folder / "images" / name for name in golden}


def test_node_matches_python_golden(
    golden_set: tuple[str, Path, dict[str, dict], dict[str, Path]], corpus: list[Path]
) -> None:
    model_name, model, golden, paths = golden_set
    assert len(golden) == len(corpus), "PIL opened every corpus image"
    node_results = run_node(model, [paths[name] for name in sorted(golden)])

    max_delta = 0.0
    top1_agree = 0
    for name, expected in golden.items():
        got = node_results[str(paths[name])]
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


# bf16 keeps 8 significant bits, so logits move in the third digit. A trained model's decisions
# are far from ties and must not flip; the random-weight resnet18's near-uniform outputs may.
BF16_MIN_AGREEMENT = {"demo": 1.0, "resnet18": 0.8}
BF16_MAX_DELTA_PROB = 0.05


def test_bf16_against_fp32_golden(
    golden_set: tuple[str, Path, dict[str, dict], dict[str, Path]],
) -> None:
    """The opt-in bf16 mode: top-1 agreement and max |Δprob| against the fp32 golden set."""
    model_name, model, golden, paths = golden_set
    results = run_node(model, [paths[name] for name in sorted(golden)], precision="bf16")
    agree = 0
    max_delta = 0.0
    for name, expected in golden.items():
        got = results[str(paths[name])]
        assert "error" not in got, f"{name}: {got.get('error')}"
        agree += got["index"] == expected["index"]
        scores = {t["index"]: t["score"] for t in got["topk"]}
        max_delta = max(
            max_delta, *(abs(scores[t["index"]] - t["score"]) for t in expected["topk"])
        )
    print(
        f"\nbf16[{model_name}]: top-1 agreement {agree}/{len(golden)}, "
        f"max |Δprob| = {max_delta:.3g} against fp32"
    )
    assert agree / len(golden) >= BF16_MIN_AGREEMENT[model_name]
    assert max_delta <= BF16_MAX_DELTA_PROB


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
