"""Resource limits, not only pixel limits: the peak memory one decode needs stays within a
stated multiple of the decoded RGB image (docs/ARCHITECTURE.md, "Decoding memory"), and an
animation's frames after the first cost nothing. Measured as bench/decode_peak.py measures it
(a fresh Node process's peak RSS over a 1x1 PNG's, less the input and the addon's copy of it),
on 4-megapixel files; the bounds leave room for the allocator's rounding."""

from __future__ import annotations

import sys

import pytest
from PIL import Image

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import decode_peak

# Decoding memory / RGB image: the decoders' working memory plus the image itself.
BOUNDS = {
    "JPEG baseline 4:2:0": 1.3,
    "JPEG progressive 4:2:0": 2.4,  # libjpeg keeps every coefficient: 2 bytes x 1.5 planes
    "JPEG progressive 4:4:4": 3.4,  # 2 bytes x 3 planes
    "PNG RGB 8-bit": 1.3,
    "PNG RGB 8-bit interlaced": 1.3,  # libpng writes the passes into our rows
    "PNG RGB 16-bit": 1.3,  # stripped to 8 bits row by row
    "BMP 24-bit": 1.3,
    "AVIF 4:2:0": 2.1,  # dav1d's frame (1.5 bytes a pixel) beside our RGB, which libavif fills
    "AVIF 10-bit 4:2:0": 3.6,  # dav1d's 16-bit frames, then our 8-bit copy of them and the RGB
    "TIFF RGB strips (LZW)": 1.3,  # one strip's samples at a time beside the RGB image
    "TIFF RGB tiles (Deflate)": 1.3,  # one tile at a time
    "TIFF YCbCr (LZW, TIFFRGBAImage)": 1.3,  # a block of rows as 32-bit RGBA, then the RGB image
    "WebP lossy": 4.2,  # libwebp's RGBA canvas and its previous-frame copy, then our RGB
}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[float, int]]:
    folder = tmp_path_factory.mktemp("decode-memory")
    tiny = folder / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    baseline = min(decode_peak.measure(tiny)["hwmKiB"] for _ in range(3)) * 1024
    result = {}
    for name, (data, w, h) in decode_peak.cases(4.0, 500).items():
        path = folder / "image"
        path.write_bytes(data)
        peak = decode_peak.measure(path)["hwmKiB"] * 1024
        result[name] = (max(peak - baseline - 2 * len(data), 0) / (w * h * 3), len(data))
    print("\n" + "\n".join(f"  {k}: {v[0]:.2f}x RGB" for k, v in result.items()))
    return result


@pytest.mark.parametrize("name", list(BOUNDS))
def test_decoding_memory_is_bounded(measured: dict[str, tuple[float, int]], name: str) -> None:
    assert measured[name][0] <= BOUNDS[name]


@pytest.mark.parametrize("kind", ["GIF", "WebP"])
def test_frames_after_the_first_cost_nothing(
    measured: dict[str, tuple[float, int]], kind: str
) -> None:
    one, many = measured[f"{kind} 1 frame"], measured[f"{kind} 500 frames"]
    assert many[1] > 20 * one[1]  # the animation really is bigger
    rgb = 320 * 240 * 3
    assert (many[0] - one[0]) * rgb < 1024 * 1024  # under 1 MiB more than the still image
