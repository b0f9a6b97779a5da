"""The generated corpus (``image_corpus.py``) through both pipelines, bit for bit.

For every file PIL opens, Node's preprocessed tensor must equal torchvision's and the logits of
the demo model and a seeded resnet18 must be identical (max |Δ| = 0). For every file PIL
rejects, Node must reject too, with the error code documented for that kind of damage, and
the Node process must survive the whole corpus.

Known differences, by design (each is asserted, so a change in either is noticed):

- ``UNSUPPORTED_BY_DESIGN``: formats PIL opens that the addon refuses with
  ``CHORI_UNSUPPORTED_FORMAT`` (sniffed from the bytes).
- A file cut inside its signature: PIL cannot identify it; the addon says
  ``CHORI_TRUNCATED`` when the bytes present already match a signature (JPEG's is 3 bytes),
  ``CHORI_UNSUPPORTED_FORMAT`` otherwise.
- A header PIL cannot parse (cut or corrupt before the pixel data) is "cannot identify image
  file" to PIL, which has no finer category; the addon names it ``CHORI_TRUNCATED`` or
  ``CHORI_DECODE``.
"""

from __future__ import annotations

import base64
import collections
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chori_torch.artifact import load_artifact
from chori_torch.golden import compute_golden
from chori_torch.preprocessing import build_transform, open_image
from conftest import DEMO_MODEL, run_node
from image_corpus import Sample, write_corpus

# Every format of this corpus is decoded; the refusals by design (the few AVIF, TIFF and JPEG
# layouts PIL opens that we do not reproduce) are asserted in test_formats.py.
UNSUPPORTED_BY_DESIGN: set[str] = set()

# The code Node must give for each kind of malformed input PIL rejects.
EXPECTED_CODES = {
    "empty": {"CHORI_EMPTY_INPUT"},
    "text": {"CHORI_UNSUPPORTED_FORMAT"},
    "random": {"CHORI_UNSUPPORTED_FORMAT"},
    "huge": {"CHORI_IMAGE_TOO_LARGE"},
    "truncated": {"CHORI_TRUNCATED"},
    "flipped": {"CHORI_DECODE", "CHORI_TRUNCATED"},
}


def expected_codes(sample: Sample) -> set[str]:
    if sample.category == "valid" or sample.format in UNSUPPORTED_BY_DESIGN:
        return {"CHORI_UNSUPPORTED_FORMAT"}
    if sample.path.name.endswith("-sig"):
        return {"CHORI_TRUNCATED", "CHORI_UNSUPPORTED_FORMAT"}
    if sample.category == "truncated" and sample.path.name.endswith("-header"):
        return {"CHORI_TRUNCATED", "CHORI_DECODE"}
    return EXPECTED_CODES[sample.category]


def pil_rgb(path: Path) -> Image.Image | None:
    """PIL's answer: the RGB image, or None where it raises (warnings are not failures)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return open_image(path)
        except Exception:  # any exception is PIL rejecting the file
            return None


def tensor_mismatch(
    name: str, image: Image.Image, result: dict, transform: Callable[[Image.Image], Any]
) -> str | None:
    """Why Node's answer for one file is not torchvision's tensor on PIL's image, or None."""
    if "error" in result:
        return f"{name}: PIL opens it, Node says {result['error']}"
    expected = transform(image).numpy()
    got = np.frombuffer(base64.b64decode(result["tensor"]), dtype=np.float32)
    if got.size != expected.size or not np.array_equal(got.reshape(result["shape"]), expected):
        return f"{name}: tensors differ"
    return None


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def accepted(samples: list[Sample]) -> list[Sample]:
    """The samples PIL opens and the addon is meant to decode."""
    return [
        s for s in samples if s.format not in UNSUPPORTED_BY_DESIGN and pil_rgb(s.path) is not None
    ]


@pytest.fixture(scope="module")
def node_demo(samples: list[Sample]) -> dict[str, dict]:
    """One Node process, the whole corpus: demo-model logits and tensors, or error codes."""
    return run_node(DEMO_MODEL, [s.path for s in samples], tensors=True)


def test_corpus_size(samples: list[Sample], accepted: list[Sample]) -> None:
    counts = collections.Counter(s.category for s in samples)
    formats = collections.Counter(s.format for s in samples if s.category == "valid")
    print(f"\ncorpus: {len(samples)} files, {len(accepted)} opened by PIL, {dict(counts)}")
    print(f"corpus: valid files by format {dict(formats)}")
    assert 150 <= len(samples) <= 260
    assert {"jpeg", "png", "gif", "webp", "bmp"} <= set(formats)


def test_tensors_bit_identical(accepted: list[Sample], node_demo: dict[str, dict]) -> None:
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    mismatched, rejected = [], []
    for s in accepted:
        r = node_demo[str(s.path)]
        if "error" in r:
            rejected.append(f"{s.path.name}: {r['error']['code']} {r['error']['message']}")
            continue
        expected = transform(pil_rgb(s.path)).numpy()
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if got.shape != expected.shape or not np.array_equal(got, expected):
            mismatched.append(s.path.name)
    equal = len(accepted) - len(mismatched) - len(rejected)
    print(f"\ncorpus tensors: {equal}/{len(accepted)} bit-identical")
    assert rejected == [], "PIL opens these, Node rejected them"
    assert mismatched == []


@pytest.mark.parametrize("optimize", ["auto", "none"])
@pytest.mark.parametrize("model_name", ["demo", "resnet18"])
def test_logits_identical(
    model_name: str,
    optimize: str,
    accepted: list[Sample],
    node_demo: dict[str, dict],
    resnet18_artifact: Path,
    tmp_path: Path,
) -> None:
    if model_name == "demo" and optimize == "auto":
        model, files, node = DEMO_MODEL, [s.path for s in accepted], node_demo
    else:
        model = DEMO_MODEL if model_name == "demo" else resnet18_artifact
        # Resize(256) turns the extreme aspect ratios into ~1 GB images: demo model only.
        files = [s.path for s in accepted if model_name == "demo" or not s.extreme]
        node = run_node(model, files, optimize=optimize)
    golden = compute_golden(model, files, threads=1, optimize_form=optimize, relative_to=tmp_path)
    assert golden["rejected"] == []
    max_delta = 0.0
    for g in golden["images"]:
        got = node[g["path"]]
        assert "error" not in got, f"{g['path']}: {got['error']}"
        delta = np.abs(np.float32(got["logits"]) - np.float32(g["logits"])).max()
        max_delta = max(max_delta, float(delta))
    form = golden["optimize"]["form"]
    print(
        f"\ncorpus logits[{model_name}, {form}]: {len(files)} images, "
        f"max |Δlogit| = {max_delta:.3g}"
    )
    assert max_delta == 0.0


def test_rejected_where_pil_rejects(samples: list[Sample], node_demo: dict[str, dict]) -> None:
    """Node rejects exactly the files PIL rejects (plus the documented formats), by code."""
    wrong = []
    codes: collections.Counter[str] = collections.Counter()
    for s in samples:
        r = node_demo[str(s.path)]
        pil_ok = pil_rgb(s.path) is not None
        if pil_ok and s.format not in UNSUPPORTED_BY_DESIGN:
            if "error" in r:
                wrong.append(f"{s.path.name}: PIL opens it, Node says {r['error']}")
            continue
        if "error" not in r:
            wrong.append(f"{s.path.name}: PIL rejects it, Node accepted it")
            continue
        code = r["error"]["code"]
        codes[f"{s.category}:{code}"] += 1
        if code not in expected_codes(s):
            wrong.append(f"{s.path.name}: expected {expected_codes(s)}, got {r['error']}")
    print(f"\ncorpus rejections (category:code): {dict(sorted(codes.items()))}")
    assert wrong == []
