"""``chori golden``: the JSON contract, and that it is exactly torchvision + ``torch.jit.load``."""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from chori_torch.artifact import read_metadata
from chori_torch.cli import main
from chori_torch.demo import DEMO_INPUT, DEMO_LABELS, run_demo
from chori_torch.demo_model import build
from chori_torch.export import LoadedModel, export_artifact
from chori_torch.golden import compute_golden
from conftest import LABELS, SMALL_INPUT

IMAGE_KEYS = ["file", "path", "sha256", "label", "index", "score", "topk", "logits"]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """Real files in the modes and formats users have, nested, plus two PIL must reject."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "nested").mkdir(parents=True)
    rgba = rng.integers(0, 256, size=(60, 80, 4), dtype=np.uint8)
    rgb, grey = np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 0])
    Image.fromarray(rgb).save(root / "rgb.jpg", quality=90)
    Image.fromarray(rgba).save(root / "nested" / "rgba.png")
    Image.fromarray(grey).save(root / "grey.png")
    Image.fromarray(rgb).convert("P").save(root / "nested" / "palette.gif")
    (root / "notes.txt").write_text("not an image\n")
    jpeg = (root / "rgb.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    return root


def reference_logits(artifact: Path, image: Path) -> torch.Tensor:
    """The golden definition written out longhand: torchvision transforms and torch.jit.load."""
    transform = transforms.Compose(
        [
            transforms.Resize([40], interpolation=InterpolationMode.BILINEAR, antialias=True),
            transforms.CenterCrop([32, 32]),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        module = torch.jit.load(str(artifact))
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            return module(transform(Image.open(image).convert("RGB")).unsqueeze(0))[0]
    finally:
        torch.set_num_threads(previous)


def test_golden_json_schema(
    artifact: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out" / "golden.json"
    extra = images / "rgb.jpg"  # named twice (directly and via its folder): recorded once
    code = main(
        ["golden", "--model", str(artifact), "--images", str(images), str(extra),
         "--out", str(out), "--topk", "2"]
    )  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "chori: warning: skipping ../images/notes.txt" in err

    document = json.loads(out.read_text())
    assert list(document) == [
        "schema_version", "model", "torch_version", "threads", "device", "device_name",
        "deterministic", "optimize", "precision", "topk", "images", "rejected",
    ]  # fmt: skip
    assert (document["device"], document["device_name"], document["deterministic"]) == (
        "cpu", "cpu", False,
    )  # fmt: skip
    assert document["schema_version"] == 2
    # The artifact fixture has a crop, so its input size is fixed: auto is oneDNN fusion.
    assert document["optimize"] == {"requested": "auto", "form": "onednn", "warmup_runs": 3}
    assert document["precision"] == "fp32"  # the artifact records none
    assert document["model"] == {
        "path": str(artifact),
        "file": Path(os.path.relpath(artifact, out.parent)).as_posix(),
        "sha256": hashlib.sha256(artifact.read_bytes()).hexdigest(),
        "labels": list(LABELS),
    }
    assert document["torch_version"] == torch.__version__
    assert (document["threads"], document["topk"]) == (1, 2)

    names = [record["file"] for record in document["images"]]
    assert names == [
        "../images/grey.png",
        "../images/nested/palette.gif",
        "../images/nested/rgba.png",
        "../images/rgb.jpg",
    ]
    assert [r["file"] for r in document["rejected"]] == [
        "../images/notes.txt",
        "../images/truncated.jpg",
    ]
    assert all(r["error"] for r in document["rejected"])

    for record in document["images"]:
        assert list(record) == IMAGE_KEYS
        assert record["path"] == os.path.normpath(out.parent / record["file"])
        assert record["sha256"] == hashlib.sha256(Path(record["path"]).read_bytes()).hexdigest()
        assert len(record["logits"]) == len(LABELS)
        assert record["index"] == int(np.argmax(record["logits"]))
        assert record["label"] == LABELS[record["index"]]
        assert len(record["topk"]) == 2
        assert record["topk"][0] == {k: record[k] for k in ("label", "index", "score")}
        assert record["topk"][0]["score"] >= record["topk"][1]["score"]


def test_golden_logits_are_torchvision_plus_torch_jit_load(artifact: Path, images: Path) -> None:
    """With ``optimize none``, the golden logits are the saved artifact's own."""
    document = compute_golden(artifact, [images], topk=5, optimize_form="none")
    assert len(document["images"]) == 4
    for record in document["images"]:
        logits = reference_logits(artifact, Path(record["path"]))
        # Exact equality after a JSON round trip: float32 -> tolist -> JSON -> float32.
        logits_back = json.loads(json.dumps(record["logits"]))
        assert logits_back == logits.tolist()
        assert np.array_equal(np.float32(logits_back), logits.numpy())
        scores = logits.softmax(0).tolist()
        assert [t["score"] for t in record["topk"]] == sorted(scores, reverse=True)
        assert math.isclose(sum(scores), 1.0, rel_tol=1e-6)


def test_default_optimisation_moves_only_the_last_bits(artifact: Path, images: Path) -> None:
    plain = compute_golden(artifact, [images], optimize_form="none")["images"]
    optimised = compute_golden(artifact, [images])["images"]
    for a, b in zip(plain, optimised, strict=True):
        assert a["index"] == b["index"]
        assert np.allclose(a["logits"], b["logits"], rtol=0, atol=1e-5)


def test_probabilities_are_used_as_they_are(tmp_path: Path, images: Path) -> None:
    torch.manual_seed(0)
    source = tmp_path / "source.bin"
    source.write_bytes(b"provenance needs a file")
    model = torch.nn.Sequential(build(num_classes=3), torch.nn.Softmax(dim=1))
    exported = export_artifact(
        LoadedModel(module=model, arch="softmax demo", source=source),
        labels=LABELS,
        input_spec=SMALL_INPUT,
        out=tmp_path / "probabilities.pt",
        output_kind="probabilities",
    )
    for record in compute_golden(exported.path, [images])["images"]:
        by_index = {t["index"]: t["score"] for t in record["topk"]}
        assert [by_index[i] for i in range(3)] == record["logits"]


def test_threads_are_recorded_and_restored(artifact: Path, images: Path) -> None:
    before = torch.get_num_threads()
    assert compute_golden(artifact, [images / "grey.png"], threads=2)["threads"] == 2
    assert torch.get_num_threads() == before


def test_golden_user_errors(
    tmp_path: Path, artifact: Path, images: Path, capsys: pytest.CaptureFixture
) -> None:
    out = str(tmp_path / "golden.json")
    plain = tmp_path / "plain.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))

    assert main(["golden", "--model", str(plain), "--images", str(images), "--out", out]) == 2
    assert "not a chori-torch artifact" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert main(["golden", "--model", str(artifact), "--images", missing, "--out", out]) == 2
    assert (
        f"chori: error: --images: no such file or directory: {missing}" in capsys.readouterr().err
    )
    assert not Path(out).exists()


def test_demo_end_to_end(tmp_path: Path) -> None:
    """The demo trains a real model well above chance and leaves a consistent export folder."""
    lines: list[str] = []
    result = run_demo(tmp_path, say=lines.append)

    assert result.held_out_accuracy >= 0.85
    assert any(line.startswith("epoch") for line in lines)
    assert (tmp_path / "demo" / "weights.pth").is_file()
    meta = read_metadata(tmp_path / "model.pt")
    assert meta.labels == DEMO_LABELS
    assert meta.input == DEMO_INPUT
    assert meta.provenance.arch == "chori_torch.demo_model:build"

    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(names) >= 12
    assert sum(n.endswith(".png") for n in names) == sum(n.endswith(".jpg") for n in names)
    assert {"face_01.jpg", "face_02.png", "not_face_01.jpg"} <= set(names)
    golden = json.loads((tmp_path / "golden.json").read_text())
    assert [r["file"] for r in golden["images"]] == [f"images/{n}" for n in names]
    assert golden["rejected"] == []
    assert result.examples_correct >= 0.85 * len(names)
