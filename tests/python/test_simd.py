"""Every resampler path (scalar, SSE2, AVX2, AVX-512) against torchvision, bit for bit.

The addon picks the fastest path the CPU has (docs/ARCHITECTURE.md, "SIMD dispatch");
``CHORI_SIMD`` forces one. Each path the CPU runs is checked on its own, and the Node process
must report the path that was asked for, so that no test silently checks the default one.
Paths the CPU lacks are skipped, with the reason.

- ``test_photos_and_corpus``: the tensors of test_parity.py's photographs and test_corpus.py's
  generated files (the demo model's recipe: resize 64, crop 56).
- ``test_odd_sizes``: random images of every size from 1x1 to 40x40 through every filter, up
  and down, squashed to two sizes and resized then centre-cropped: the vector loops' remainders
  (row tails, the last source pixels, the last rows of a group) are all met.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chori_torch import torchscript
from chori_torch.artifact import load_artifact
from chori_torch.metadata import EXTRA_FILE
from chori_torch.preprocessing import build_transform, open_image
from conftest import (
    DEMO_IMAGES,
    DEMO_MODEL,
    ROOT,
    check_simd,
    node,
    node_env,
    real_photographs,
    run_node,
)
from image_corpus import write_corpus
from test_corpus import UNSUPPORTED_BY_DESIGN, pil_rgb

PATHS = ["scalar", "sse2", "avx2", "avx512"]
HASH_DRIVER = ROOT / "tests" / "tools" / "preprocess-hashes.js"
FILTERS = ["nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"]
# Squashed to an odd size (up and down in both directions over 1..40), and a resize-then-crop
# whose window starts inside the resized image.
SPECS = [
    {"resize": (23, 17), "crop": None},
    {"resize": (9, 38), "crop": None},
    {"resize": (21,), "crop": (13, 11)},
]
MAX_SIDE = 40


@pytest.fixture(scope="module")
def available() -> list[str]:
    script = "process.stdout.write(JSON.stringify(require('chori-torch').simd()))"
    out = subprocess.run(
        [node(), "-e", script], cwd=ROOT, capture_output=True, text=True, check=True,
        env=node_env(None),
    ).stdout  # fmt: skip
    return json.loads(out)["available"]


def require(path: str, available: list[str]) -> None:
    if path not in available:
        pytest.skip(f"this CPU or build has no {path} path (available: {', '.join(available)})")


def tensor_hash(shape: list[int] | tuple[int, ...], data: bytes) -> str:
    """As tests/tools/preprocess-hashes.js: SHA-1 of the shape ("3x56x56") then the bytes."""
    return hashlib.sha1("x".join(map(str, shape)).encode() + data).hexdigest()


# ---- photographs and the generated corpus ------------------------------------------------------


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    corpus = write_corpus(tmp_path_factory.mktemp("corpus"))
    accepted = [
        s.path
        for s in corpus
        if s.format not in UNSUPPORTED_BY_DESIGN and pil_rgb(s.path) is not None
    ]
    return real_photographs() + sorted(DEMO_IMAGES.glob("*.*")) + accepted


@pytest.fixture(scope="module")
def photo_expected(photo_files: list[Path]) -> dict[str, np.ndarray]:
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    return {str(f): transform(open_image(f)).numpy() for f in photo_files}


@pytest.mark.parametrize("simd", PATHS)
def test_photos_and_corpus(
    simd: str, available: list[str], photo_files: list[Path], photo_expected: dict[str, np.ndarray]
) -> None:
    require(simd, available)
    results = run_node(DEMO_MODEL, photo_files, tensors=True, simd=simd)
    mismatched = []
    for name, expected in photo_expected.items():
        r = results[name]
        if "error" in r:
            mismatched.append(f"{Path(name).name}: {r['error']['code']}")
            continue
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if got.shape != expected.shape or not np.array_equal(got, expected):
            mismatched.append(Path(name).name)
    print(f"\nsimd[{simd}]: {len(photo_files) - len(mismatched)}/{len(photo_files)} bit-identical")
    assert mismatched == []


# ---- odd sizes, every filter ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every size 1x1 .. 40x40; random bytes, and every third image only 0 and 255 (clipping)."""
    folder = tmp_path_factory.mktemp("odd-sizes")
    rng = np.random.default_rng(9)
    files = []
    for w in range(1, MAX_SIDE + 1):
        for h in range(1, MAX_SIDE + 1):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if (w + h) % 3 == 0:
                pixels = np.where(pixels < 128, 0, 255).astype(np.uint8)
            path = folder / f"{w}x{h}.png"
            Image.fromarray(pixels, "RGB").save(path, compress_level=1)
            files.append(path)
    return files


@pytest.fixture(scope="module")
def odd_artifacts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo model saved again under each filter x spec (only the metadata differs)."""
    folder = tmp_path_factory.mktemp("odd-artifacts")
    demo = load_artifact(DEMO_MODEL)
    paths = []
    for f in FILTERS:
        for i, spec in enumerate(SPECS):
            spec_input = dataclasses.replace(demo.metadata.input, interpolation=f, **spec)
            metadata = dataclasses.replace(demo.metadata, input=spec_input)
            path = folder / f"{f}-{i}.pt"
            torchscript.save(demo.module, path, {EXTRA_FILE: metadata.to_json()})
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def odd_expected(odd_images: list[Path], odd_artifacts: list[Path]) -> dict[str, dict[str, str]]:
    expected = {}
    images = {str(f): open_image(f) for f in odd_images}
    for artifact in odd_artifacts:
        transform = build_transform(load_artifact(artifact).metadata.input)
        hashes = {}
        for name, image in images.items():
            t = transform(image).numpy()
            hashes[name] = tensor_hash(t.shape, np.ascontiguousarray(t, dtype="<f4").tobytes())
        expected[str(artifact)] = hashes
    return expected


@pytest.mark.parametrize("simd", PATHS)
def test_odd_sizes(
    simd: str,
    available: list[str],
    odd_images: list[Path],
    odd_expected: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    require(simd, available)
    jobs = tmp_path / "jobs.json"
    files = [str(f) for f in odd_images]
    jobs.write_text(json.dumps([{"model": m, "files": files} for m in odd_expected]))
    out = subprocess.run(
        [node(), str(HASH_DRIVER), str(jobs)],
        cwd=ROOT, capture_output=True, text=True, check=True, env=node_env(simd),
    ).stdout  # fmt: skip
    document = json.loads(out)
    check_simd(document, simd)
    mismatched = [
        f"{Path(model).stem}: {Path(name).stem}"
        for model, hashes in odd_expected.items()
        for name, want in hashes.items()
        if document["results"][model][name] != want
    ]
    total = len(odd_expected) * len(files)
    print(f"\nsimd[{simd}] odd sizes: {total - len(mismatched)}/{total} bit-identical")
    assert mismatched[:20] == []
