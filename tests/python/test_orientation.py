"""EXIF orientation: ignored by default, applied as ``ImageOps.exif_transpose`` on request.

An artifact exported with ``--exif-orientation`` records ``input.exif_orientation: true``; the
reference pipeline then transposes every image by its EXIF tag and the addon must give the same
tensor, bit for bit, for JPEG (APP1), PNG (eXIf) and WebP (EXIF chunk) files carrying each of
the eight orientations, and for EXIF blocks that are odd or broken in the ways Pillow tolerates.
Without the flag the addon keeps ignoring the tag, as ``Image.open`` does.
"""

from __future__ import annotations

import base64
import io
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chori_torch import cli
from chori_torch.artifact import load_artifact
from chori_torch.demo_model import build
from chori_torch.golden import compute_golden
from chori_torch.metadata import InputSpec, Metadata, MetadataError, OutputSpec
from chori_torch.preprocessing import build_transform, open_image
from conftest import LABELS, run_node

# Non-square output and no crop: every orientation gives a different tensor.
FLAGS = ["--resize", "40,48", "--crop", "none"]
SPEC = InputSpec(resize=(40, 48), crop=None)
FORMATS = {"jpg": ("JPEG", {}), "png": ("PNG", {}), "webp": ("WEBP", {"lossless": True})}


def _image(mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:23, 0:37]
    rgb = np.stack([x * 6, y * 10, (x + y) * 4], axis=-1) + rng.integers(0, 40, (23, 37, 3))
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    return image.convert(mode)


def _tiff(
    entries: list[tuple[int, int, int, bytes]],
    extra: bytes = b"",
    *,
    endian: str = ">",
    head: bytes | None = None,
) -> bytes:
    """``Exif\\0\\0`` + a TIFF header + IFD0 with ``(tag, type, count, 4-byte value)`` entries;
    ``extra`` follows the IFD (out-of-line values start at offset 14 + 12 * len(entries))."""
    order = b"MM" if endian == ">" else b"II"
    if head is None:
        head = order + struct.pack(endian + "HL", 42, 8)
    ifd = struct.pack(endian + "H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack(endian + "HHL", tag, typ, count) + value
    return b"Exif\0\0" + head + ifd + struct.pack(endian + "L", 0) + extra


def _short(value: int, endian: str = ">") -> bytes:
    return struct.pack(endian + "HH", value, 0)


ORIENT = 0x0112
OUT_OF_LINE = 14 + 12  # where `extra` starts for a one-entry IFD
# EXIF blocks that are odd or broken; the comment says what Pillow 13 makes of each.
ODD_EXIF = {
    "long": _tiff([(ORIENT, 4, 1, struct.pack(">L", 6))]),  # 6
    "little-endian": _tiff([(ORIENT, 3, 1, _short(5, "<"))], endian="<"),  # 5
    "sshort": _tiff([(ORIENT, 8, 1, _short(8))]),  # 8
    "sbyte": _tiff([(ORIENT, 6, 1, b"\x07\0\0\0")]),  # 7
    "byte": _tiff([(ORIENT, 1, 1, b"\x06\0\0\0")]),  # bytes: ignored
    "undefined": _tiff([(ORIENT, 7, 1, b"\x06\0\0\0")]),  # bytes: ignored
    "count-2": _tiff([(ORIENT, 3, 2, struct.pack(">HH", 6, 3))]),  # first value: 6
    "count-0": _tiff([(ORIENT, 3, 0, _short(6))]),  # no data: absent
    "count-3-out-of-line": _tiff(
        [(ORIENT, 3, 3, struct.pack(">L", OUT_OF_LINE))], struct.pack(">HHH", 8, 1, 1)
    ),  # 8
    "rational": _tiff([(ORIENT, 5, 1, struct.pack(">L", OUT_OF_LINE))], struct.pack(">LL", 12, 2)),
    "rational-6.5": _tiff(
        [(ORIENT, 5, 1, struct.pack(">L", OUT_OF_LINE))], struct.pack(">LL", 13, 2)
    ),  # ignored
    "rational-zero-den": _tiff(
        [(ORIENT, 5, 1, struct.pack(">L", OUT_OF_LINE))], struct.pack(">LL", 6, 0)
    ),  # NaN: ignored
    "float": _tiff([(ORIENT, 11, 1, struct.pack(">f", 3.0))]),  # 3.0 == 3
    "unknown-type": _tiff([(ORIENT, 99, 1, _short(6))]),  # skipped
    "orientation-9": _tiff([(ORIENT, 3, 1, _short(9))]),  # no such transpose
    "orientation-0": _tiff([(ORIENT, 3, 1, _short(0))]),
    "duplicate": _tiff([(ORIENT, 3, 1, _short(6)), (ORIENT, 3, 1, _short(3))]),  # first wins
    "double-prefix": b"Exif\0\0" + _tiff([(ORIENT, 3, 1, _short(6))]),
    "mm-2a00-header": _tiff([(ORIENT, 3, 1, _short(6))], head=b"MM\x2a\x00\0\0\0\x08"),
    "bigtiff-header": _tiff([(ORIENT, 3, 1, _short(6))], head=b"II\x2b\x00\x08\0\0\0"),
    "garbage-header": b"Exif\0\0" + b"X" * 20,  # Pillow raises for PNG and WebP
    "short-header": b"Exif\0\0MM\0*",
    "empty": b"Exif\0\0",
    "ifd-out-of-range": _tiff([(ORIENT, 3, 1, _short(6))], head=b"MM\0\x2a\0\xff\0\x08"),
    "value-out-of-range": _tiff([(ORIENT, 3, 3, struct.pack(">L", 9999))]),  # stops the IFD
    "earlier-tag-out-of-range": _tiff(
        [(0x010F, 2, 10, struct.pack(">L", 9999)), (ORIENT, 3, 1, _short(6))]
    ),  # Make unreadable: the IFD stops before Orientation
    # Make stored as a RATIONAL: read fine, but exif_transpose's rewrite of the EXIF raises.
    "mistyped-other-tag": _tiff(
        [(0x010F, 5, 1, struct.pack(">L", 14 + 24)), (ORIENT, 3, 1, _short(6))],
        struct.pack(">LL", 1, 2),
    ),  # 6
    "truncated-ifd": _tiff([(ORIENT, 3, 1, _short(6)), (0x0131, 3, 1, _short(1))])[: 6 + 10 + 6],
    "truncated-after-orientation": _tiff([(ORIENT, 3, 1, _short(6)), (0x0131, 3, 1, _short(1))])[
        : 6 + 10 + 12 + 5
    ],  # the complete entry counts: 6
}


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">L", data[pos : pos + 4])
        chunks.append((data[pos + 4 : pos + 8], data[pos : pos + 12 + length]))
        pos += 12 + length
    return chunks


def _exif_after_idat(png: bytes, *, keep_first: bool) -> bytes:
    """Move (or, with ``keep_first``, copy) the eXIf chunk to just before IEND, orientation 6."""
    chunks = _png_chunks(png)
    exif = _encode(_image(), "png", _tiff([(ORIENT, 3, 1, _short(6))]))
    late = next(raw for kind, raw in _png_chunks(exif) if kind == b"eXIf")
    body = [raw for kind, raw in chunks[:-1] if keep_first or kind != b"eXIf"]
    return png[:8] + b"".join(body) + late + chunks[-1][1]


def _split_app1(jpeg_without_exif: bytes, exif: bytes, at: int) -> bytes:
    """The EXIF block in two APP1 segments, the second one repeating the Exif prefix."""
    parts = [exif[:at], b"Exif\0\0" + exif[at:]]
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", len(p) + 2) + p for p in parts)
    return jpeg_without_exif[:2] + segments + jpeg_without_exif[2:]


def _encode(image: Image.Image, ext: str, exif: bytes | Image.Exif | None = None) -> bytes:
    fmt, params = FORMATS[ext]
    buf = io.BytesIO()
    image.save(buf, fmt, **params, **({} if exif is None else {"exif": exif}))
    return buf.getvalue()


def _orientation_exif(n: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENT] = n
    return exif


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("orientation")
    files: dict[str, bytes] = {}
    for ext in FORMATS:
        files[f"none.{ext}"] = _encode(_image(), ext)
        for n in range(1, 9):
            files[f"orientation-{n}.{ext}"] = _encode(_image(), ext, _orientation_exif(n))
        for name, exif in ODD_EXIF.items():
            files[f"{name}.{ext}"] = _encode(_image(), ext, exif)
    files["gray-6.jpg"] = _encode(_image("L"), "jpg", _orientation_exif(6))
    files["cmyk-7.jpg"] = _encode(_image("CMYK"), "jpg", _orientation_exif(7))
    files["palette-8.png"] = _encode(_image("P"), "png", _orientation_exif(8))
    files["rgba-5.webp"] = _encode(_image("RGBA"), "webp", _orientation_exif(5))
    files["rgba-5.png"] = _encode(_image("RGBA"), "png", _orientation_exif(5))
    files["exif-after-idat.png"] = _exif_after_idat(
        _encode(_image(), "png", _orientation_exif(3)), keep_first=False
    )
    files["two-exif-chunks.png"] = _exif_after_idat(
        _encode(_image(), "png", _orientation_exif(3)), keep_first=True
    )  # the later one (6) wins
    split = _tiff([(ORIENT, 3, 1, _short(8))])
    files["split-app1.jpg"] = _split_app1(_encode(_image(), "jpg"), split, 6 + 8 + 2 + 6)
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def _export(tmp: Path, *, exif_flag: bool) -> Path:
    torch.manual_seed(0)
    weights = tmp / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), weights)
    out = tmp / ("on.pt" if exif_flag else "off.pt")
    argv = ["export", "--arch", "chori_torch.demo_model:build", "--weights", str(weights)]
    argv += ["--labels", ",".join(LABELS), *FLAGS, "--out", str(out)]
    assert cli.main([*argv, "--exif-orientation"] if exif_flag else argv) == 0
    return out


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    return {
        flag: _export(tmp_path_factory.mktemp("export"), exif_flag=flag) for flag in (True, False)
    }


def _expected(path: Path, exif_orientation: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Possibly corrupt EXIF data" and friends
        return build_transform(SPEC)(open_image(path, exif_orientation=exif_orientation)).numpy()


def _mismatches(artifact: Path, files: dict[str, Path], exif_orientation: bool) -> list[str]:
    results = run_node(artifact, list(files.values()), tensors=True)
    bad = []
    for name, path in files.items():
        r = results[str(path)]
        assert "error" not in r, f"{name}: {r.get('error')}"
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if not np.array_equal(got, _expected(path, exif_orientation)):
            bad.append(name)
    return bad


def test_cli_flag_records_exif_orientation(artifacts: dict[bool, Path]) -> None:
    assert load_artifact(artifacts[True]).metadata.input.exif_orientation is True
    assert load_artifact(artifacts[False]).metadata.input.exif_orientation is False
    args = cli.build_parser().parse_args(["export", "--model", "m", "--labels", "a", "--out", "o"])
    assert args.exif_orientation is False


def test_every_orientation_is_applied_like_exif_transpose(
    artifacts: dict[bool, Path], images: dict[str, Path]
) -> None:
    # The fixture must exercise something: each orientation 2..8 changes the reference tensor.
    for ext in FORMATS:
        upright = _expected(images[f"orientation-1.{ext}"], True)
        for n in range(2, 9):
            assert not np.array_equal(_expected(images[f"orientation-{n}.{ext}"], True), upright)
    for name, like in {
        "exif-after-idat.png": "orientation-6.png",
        "two-exif-chunks.png": "orientation-6.png",
        "split-app1.jpg": "orientation-8.jpg",
    }.items():
        assert np.array_equal(_expected(images[name], True), _expected(images[like], True)), name
    assert _mismatches(artifacts[True], images, exif_orientation=True) == []


def test_orientation_is_ignored_without_the_flag(
    artifacts: dict[bool, Path], images: dict[str, Path]
) -> None:
    assert _mismatches(artifacts[False], images, exif_orientation=False) == []


def test_metadata_round_trip() -> None:
    spec = InputSpec(exif_orientation=True)
    assert spec.to_dict()["exif_orientation"] is True
    assert InputSpec.from_dict(spec.to_dict()) == spec
    assert "EXIF orientation" in spec.describe()
    old = InputSpec().to_dict()
    del old["exif_orientation"]  # artifacts written before the field existed
    assert InputSpec.from_dict(old).exif_orientation is False
    meta = Metadata(labels=("a", "b"), input=spec, output=OutputSpec(num_classes=2))
    assert Metadata.from_json(meta.to_json()) == meta
    for bad in ("yes", 1, None):
        with pytest.raises(MetadataError, match="exif_orientation"):
            InputSpec.from_dict({**old, "exif_orientation": bad})


def test_golden_applies_the_recorded_orientation(
    artifacts: dict[bool, Path], images: dict[str, Path]
) -> None:
    files = [images[name] for name in ("orientation-6.jpg", "garbage-header.png", "none.webp")]
    golden = compute_golden(artifacts[True], files)
    results = run_node(artifacts[True], files)
    assert golden["rejected"] == []
    for g in golden["images"]:
        assert results[g["path"]]["logits"] == g["logits"], g["file"]
