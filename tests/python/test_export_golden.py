"""``chori export --golden DIR``: a golden set beside the artifact, for serve's self-check."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chori_torch import golden
from chori_torch.cli import main
from chori_torch.golden import compute_golden, golden_path_for
from conftest import LABELS, SMALL_FLAGS


@pytest.fixture
def golden_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    root = tmp_path / "golden"
    root.mkdir()
    pixels = rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(root / "a.jpg", quality=85)
    Image.fromarray(pixels[::-1]).save(root / "b.png")
    (root / "README").write_text("not an image\n")
    return root


def export(weights: Path, out: Path, images: Path) -> int:
    return main(
        ["export", "--arch", "chori_torch.demo_model:build", "--weights", str(weights),
         "--labels", ",".join(LABELS), *SMALL_FLAGS, "--out", str(out), "--golden", str(images)]
    )  # fmt: skip


def test_export_golden_embeds_images_and_reference_logits(
    tmp_path: Path, demo_weights: Path, golden_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "export" / "model.pt"
    assert export(demo_weights, out, golden_dir) == 0
    assert "model.golden.json: golden set of 2 images (1 rejected)" in capsys.readouterr().out

    path = golden_path_for(out)
    assert path == out.parent / "model.golden.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["embedded"] is True
    assert document["model"]["file"] == "model.pt"
    assert document["optimize"]["requested"] == "auto"
    assert [r["file"] for r in document["rejected"]] == ["../golden/README"]

    # The same numbers as `chori golden` on the same files: one reference pipeline.
    reference = compute_golden(out, [golden_dir], relative_to=out.parent)
    assert [i["logits"] for i in document["images"]] == [i["logits"] for i in reference["images"]]
    for record in document["images"]:
        original = (out.parent / record["file"]).read_bytes()
        assert base64.b64decode(record["data"]) == original
        assert len(record["logits"]) == len(LABELS)


def test_export_golden_refuses_a_large_set_and_writes_no_golden_file(
    tmp_path: Path,
    demo_weights: Path,
    golden_dir: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(golden, "EMBEDDED_MAX_IMAGES", 1)
    out = tmp_path / "model.pt"
    assert export(demo_weights, out, golden_dir) == 2
    message = capsys.readouterr().err
    assert "2 images; a golden set checked at every start holds at most 1" in message
    assert not golden_path_for(out).exists()


def test_export_golden_without_images_fails(
    tmp_path: Path, demo_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("text\n")
    out = tmp_path / "model.pt"
    assert export(demo_weights, out, empty) == 2
    assert "none of the 1 files is an image" in capsys.readouterr().err
    assert not golden_path_for(out).exists()
