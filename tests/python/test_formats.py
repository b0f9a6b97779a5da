"""PPM/PGM/PBM, ICO, AVIF and TIFF (``image_corpus.write_other_formats``) through Node, bit for bit.

Every file PIL opens must give Node's tensor equal to torchvision's on PIL's image; every file
PIL rejects must be rejected by Node with the code for that kind of damage. The formats PIL
opens that we refuse by design (``REFUSED``) must be refused with CHORI_UNSUPPORTED_FORMAT.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from chori_torch.metadata import load_artifact
from chori_torch.preprocessing import build_transform
from conftest import DEMO_MODEL, run_node
from image_corpus import Sample, write_other_formats
from test_corpus import pil_rgb, tensor_mismatch

# PIL opens them; we refuse by name: Netpbm's float form (PIL mode "F"), 10/12-bit AVIF
# (Debian's libavif 0.11.1 converts those to 8-bit RGB differently from Pillow's 1.4.2), and
# the TIFF layouts not reproduced yet (JPEG-compressed, YCbCr, float, separate planes).
REFUSED = {
    "ppm-Pf.pfm",
    "avif-enc-10bit.avif",
    "avif-enc-12bit-444.avif",
    "avif-enc-rgba-10bit.avif",
    "tiff-refused-jpeg.tif",
    "tiff-refused-YCbCr.tif",
    "tiff-refused-F.tif",
    "tiff-refused-planar.tif",
}

EXPECTED_CODES = {
    "truncated": {"CHORI_TRUNCATED"},
    "flipped": {"CHORI_DECODE", "CHORI_TRUNCATED"},
    "huge": {"CHORI_IMAGE_TOO_LARGE"},
    "text": {"CHORI_UNSUPPORTED_FORMAT"},
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return write_other_formats(tmp_path_factory.mktemp("formats"))


@pytest.fixture(scope="module")
def node(samples: list[Sample]) -> dict[str, dict]:
    return run_node(DEMO_MODEL, [s.path for s in samples], tensors=True)


def test_every_file_pil_opens_is_bit_identical(
    samples: list[Sample], node: dict[str, dict]
) -> None:
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    tried: collections.Counter[str] = collections.Counter()
    identical: collections.Counter[str] = collections.Counter()
    wrong = []
    for s in samples:
        im = pil_rgb(s.path)
        if im is None or s.path.name in REFUSED:
            continue
        tried[s.format] += 1
        if problem := tensor_mismatch(s.path.name, im, node[str(s.path)], transform):
            wrong.append(problem)
            continue
        identical[s.format] += 1
    print(f"\nformats: opened by PIL {dict(tried)}, bit-identical {dict(identical)}")
    assert wrong == []
    assert tried["ppm"] >= 15 and tried["ico"] >= 10 and tried["avif"] >= 14 and tried["tiff"] >= 45


def test_every_file_pil_rejects_is_refused_with_its_code(
    samples: list[Sample], node: dict[str, dict]
) -> None:
    wrong = []
    refused: collections.Counter[str] = collections.Counter()
    for s in samples:
        r = node[str(s.path)]
        if s.path.name in REFUSED:
            assert pil_rgb(s.path) is not None
            if r.get("error", {}).get("code") != "CHORI_UNSUPPORTED_FORMAT":
                wrong.append(f"{s.path.name}: expected a refusal by name, got {r.get('error')}")
            continue
        if pil_rgb(s.path) is not None:
            continue
        refused[s.format] += 1
        if "error" not in r:
            wrong.append(f"{s.path.name}: PIL rejects it, Node accepted it")
        elif r["error"]["code"] not in EXPECTED_CODES[s.category]:
            wrong.append(f"{s.path.name}: expected {EXPECTED_CODES[s.category]}, got {r['error']}")
    print(f"\nformats: rejected by PIL and Node {dict(refused)}")
    assert wrong == []
    assert (
        refused["ppm"] >= 15
        and refused["ico"] >= 8
        and refused["avif"] >= 5
        and refused["tiff"] >= 8
    )


def test_refusals_name_the_format_and_the_supported_list(tmp_path: Path) -> None:
    psd = tmp_path / "x.psd"
    psd.write_bytes(b"8BPS" + bytes(60))
    qoi = tmp_path / "x.qoi"
    qoi.write_bytes(b"qoif" + bytes(60))
    r = run_node(DEMO_MODEL, [psd, qoi])
    for path, name in [(psd, "PSD"), (qoi, "QOI")]:
        err = r[str(path)]["error"]
        assert err["code"] == "CHORI_UNSUPPORTED_FORMAT"
        assert err["message"].startswith(f"{name} images are not supported")
        assert "(supported: BMP, GIF, JPEG, PPM, PNG, AVIF, ICO, TIFF, WebP)" in err["message"]
