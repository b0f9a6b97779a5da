"""PPM/PGM/PBM, ICO, AVIF and TIFF (``image_corpus.write_other_formats``) through Node, bit for bit.

Every file PIL opens must give Node's tensor equal to torchvision's on PIL's image; every file
PIL rejects must be rejected by Node with the code for that kind of damage. The formats PIL
opens that we refuse by design (``REFUSED``) must be refused with CHORI_UNSUPPORTED_FORMAT.
"""

from __future__ import annotations

import collections
import json
import subprocess
import warnings
from pathlib import Path

import pytest
import torch
from PIL import ExifTags, Image

from chori_torch.artifact import load_artifact
from chori_torch.metadata import EXTRA_FILE
from chori_torch.preprocessing import build_transform, open_image
from conftest import DEMO_MODEL, ROOT, run_node
from image_corpus import Sample, write_other_formats
from test_corpus import pil_rgb, tensor_mismatch

# PIL opens them; we refuse them by name: lossless JPEG (Debian 12's libjpeg-turbo 2.1.5 has no
# lossless decoder; Pillow 13 bundles 3.2), and AVIF with alpha at 12 bits, or at 10 bits in
# other than BT.601 full range (Pillow's libavif 1.4 converts those by libyuv paths Debian's
# 0.11.1 cannot take, which we reproduce only for 10-bit BT.601 full range).
REFUSED = {
    "avif-enc-12bit-rgba-444.avif",
    "avif-enc-rgba-10bit-limited.avif",
    "jpeg-lossless-grey.jpg",
    "jpeg-lossless-grey-predictor5.jpg",
    "jpeg-lossless-rgb.jpg",
}

EXPECTED_CODES = {
    "truncated": {"CHORI_TRUNCATED"},
    "flipped": {"CHORI_DECODE", "CHORI_TRUNCATED"},
    "huge": {"CHORI_IMAGE_TOO_LARGE"},
    "text": {"CHORI_UNSUPPORTED_FORMAT"},
    "layout": {"CHORI_UNSUPPORTED_FORMAT"},
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
    assert tried["ppm"] >= 15 and tried["ico"] >= 10 and tried["avif"] >= 14 and tried["tiff"] >= 50


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


def test_lossless_jpeg_is_refused_by_name(samples: list[Sample], node: dict[str, dict]) -> None:
    lossless = [s.path for s in samples if s.path.name.startswith("jpeg-lossless-")]
    assert len(lossless) == 3
    for path in lossless:
        message = node[str(path)]["error"]["message"]
        assert message.startswith(
            "lossless (or hierarchical) JPEG is not supported by libjpeg-turbo"
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


def _demo_model_with(folder: Path, **spec: object) -> Path:
    """The demo model with `spec` merged into its chori.json's input (schema 2)."""
    files = {EXTRA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        module = torch.jit.load(str(DEMO_MODEL), _extra_files=files)
        document = json.loads(files[EXTRA_FILE])
        document["schema_version"] = 2
        document["input"].update(spec)
        path = folder / "model.pt"
        torch.jit.save(module, str(path), _extra_files={EXTRA_FILE: json.dumps(document)})
    return path


@pytest.fixture(scope="module")
def fastai_pad_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model with a fastai Resize(56, method="pad") spec in its chori.json."""
    return _demo_model_with(
        tmp_path_factory.mktemp("fastai-pad"),
        resize=None,
        crop=None,
        fastai_resize={"size": [56, 56], "method": "pad", "pad_mode": "reflection"},
    )


def test_exif_orientation_of_avif_and_tiff(samples: list[Sample], tmp_path: Path) -> None:
    """With exif_orientation, AVIF's irot/imir (which Pillow 13 reports as the EXIF
    orientation) and TIFF's Orientation tag (which Pillow applies on load, asked or not) give
    exif_transpose's pixels."""
    model = _demo_model_with(tmp_path, exif_orientation=True)
    transform = build_transform(load_artifact(model).metadata.input)
    files = [
        s.path
        for s in samples
        if s.category == "valid"
        and s.format in ("avif", "tiff")
        and s.path.name not in REFUSED
        and pil_rgb(s.path) is not None
    ]
    node = run_node(model, files, tensors=True)
    wrong, turned = [], 0
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                turned += im.getexif().get(ExifTags.Base.Orientation, 1) != 1
            upright = open_image(path, exif_orientation=True)
        if problem := tensor_mismatch(path.name, upright, node[str(path)], transform):
            wrong.append(problem)
    print(f"\nexif_orientation: {len(files) - len(wrong)}/{len(files)} identical, {turned} turned")
    assert turned >= 18
    assert wrong == []


def test_fastai_padding_has_a_pixel_budget(fastai_pad_model: Path, tmp_path: Path) -> None:
    """fastai's pad stages a square from a long thin image before resizing it: a 207-byte
    13621 x 1 GIF would become 13621 x 13621. That staged image is held to maxPixels."""
    thin = tmp_path / "thin.gif"
    Image.new("P", (13621, 1)).save(thin)
    ok = tmp_path / "ok.gif"
    Image.new("P", (300, 1)).save(ok)
    script = """
const chori = require('./js');
(async () => {
  const out = {};
  for (const maxPixels of [undefined, 90000]) {
    const m = await chori.load(process.argv[1], { threads: 1, maxPixels });
    for (const f of process.argv.slice(2)) {
      try { await m.preprocess(require('fs').readFileSync(f)); out[`${maxPixels}:${f}`] = 'ok'; }
      catch (e) { out[`${maxPixels}:${f}`] = `${e.code}: ${e.message}`; }
    }
    await m.dispose();
  }
  console.log(JSON.stringify(out));
})();
"""
    r = subprocess.run(
        ["node", "-e", script, str(fastai_pad_model), str(thin), str(ok)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(r.stdout)
    assert thin.stat().st_size < 300
    assert got[f"undefined:{thin}"].startswith("CHORI_IMAGE_TOO_LARGE: fastai's Resize would pad")
    assert "13621x13621 (185531641 pixels)" in got[f"undefined:{thin}"]
    assert got[f"undefined:{ok}"] == "ok"
    # 300 x 300 = 90000 pixels: a staged image exactly at the limit passes.
    assert got[f"90000:{ok}"] == "ok"
    assert got[f"90000:{thin}"].startswith("CHORI_IMAGE_TOO_LARGE")


def test_fastai_spec_sees_pils_pixels(
    samples: list[Sample], fastai_pad_model: Path, tmp_path: Path
) -> None:
    """Under a fastai spec too, every new-format file PIL opens gives the tensor of PIL's own
    pixels (written losslessly as PNG, whose fastai parity test_fastai.py holds)."""
    pairs = []
    for s in samples:
        im = pil_rgb(s.path)
        if s.category != "valid" or im is None or s.path.name in REFUSED:
            continue
        png = tmp_path / f"{s.path.name}.png"
        im.save(png)
        pairs.append((s.path, png))
    r = run_node(fastai_pad_model, [p for pair in pairs for p in pair], tensors=True)
    wrong = [
        f.name
        for f, png in pairs
        if "error" in r[str(f)] or r[str(f)]["tensor"] != r[str(png)]["tensor"]
    ]
    print(f"\nformats under a fastai pad spec: {len(pairs) - len(wrong)}/{len(pairs)} identical")
    assert len(pairs) >= 85
    assert wrong == []
