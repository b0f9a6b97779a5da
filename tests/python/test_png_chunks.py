"""PngImagePlugin's chunk-level rules (addon/src/image/png_chunks.cc), on PNGs built here byte
by byte around a PIL-written image: text chunks past PIL's decompression-bomb limits
(MAX_TEXT_CHUNK, MAX_TEXT_MEMORY), zTXt's compression method, a chunk after the image data cut
short, and where an APNG's trailing chunks stop being read. PIL decides each case at run time:
a file it opens must give Node the torchvision tensor bit for bit; a file it refuses must be
refused with a code.
"""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chori_torch.artifact import load_artifact
from chori_torch.preprocessing import build_transform
from conftest import DEMO_MODEL, run_node
from test_corpus import pil_rgb

MIB = 1024 * 1024


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def base_png() -> bytes:
    out = io.BytesIO()
    Image.radial_gradient("L").resize((37, 23)).convert("RGB").save(out, "PNG")
    return out.getvalue()


def before_image(extra: bytes) -> bytes:
    data = base_png()
    at = data.index(b"IDAT") - 4
    return data[:at] + extra + data[at:]


def after_image(extra: bytes, *, cut: int = 0, iend: bool = True) -> bytes:
    data = base_png()
    at = data.index(b"IEND") - 4
    tail = extra[: len(extra) - cut] if cut else extra
    return data[:at] + tail + (data[at:] if iend else b"")


def ztxt(text_bytes: int, method: int = 0) -> bytes:
    return chunk(b"zTXt", b"comment\0" + bytes([method]) + zlib.compress(b"a" * text_bytes, 9))


def itxt(text_bytes: int) -> bytes:
    return chunk(b"iTXt", b"comment\0\1\0en\0\0" + zlib.compress(b"a" * text_bytes, 9))


def apng(frames: int, *, fctl_first: bool) -> bytes:
    """acTL (and fcTL) before the image data, then the next frame's fcTL and a cut fdAT."""
    fctl = struct.pack(">IIIIIHHBB", 0, 37, 23, 0, 0, 1, 10, 0, 0)
    head = chunk(b"acTL", struct.pack(">II", frames, 0)) + (
        chunk(b"fcTL", fctl) if fctl_first else b""
    )
    data = before_image(head)
    at = data.index(b"IEND") - 4
    nxt = chunk(b"fcTL", struct.pack(">I", 1) + fctl[4:]) + chunk(b"fdAT", b"\0\0\0\2" + b"x" * 40)
    return data[:at] + nxt[:-20]


def fctl(seq: int, width: int = 37, height: int = 23) -> bytes:
    return chunk(b"fcTL", struct.pack(">IIIIIHHBB", seq, width, height, 0, 0, 1, 10, 0, 0))


def trailing(extra: bytes) -> bytes:
    """``extra`` between the image data and IEND, after an acTL of 2 frames with no fcTL."""
    return (
        before_image(chunk(b"acTL", struct.pack(">II", 2, 0)))[:-12] + extra + chunk(b"IEND", b"")
    )


CASES = {
    "ztxt-1mib": before_image(ztxt(MIB)),  # exactly MAX_TEXT_CHUNK: allowed
    "ztxt-over-1mib": before_image(ztxt(MIB + 1)),
    "ztxt-over-1mib-after-image": after_image(ztxt(MIB + 1)),
    "ztxt-method-1": before_image(ztxt(10, method=1)),
    "ztxt-method-1-after-image": after_image(ztxt(10, method=1)),
    "ztxt-broken-stream": before_image(chunk(b"zTXt", b"comment\0\0not zlib at all")),
    "itxt-over-1mib": before_image(itxt(MIB + 1)),
    "itxt-over-1mib-after-image": after_image(itxt(MIB + 1)),
    "text-2mib": before_image(chunk(b"tEXt", b"comment\0" + b"a" * (2 * MIB))),
    "text-memory-64mib": before_image(ztxt(MIB) * 64),  # MAX_TEXT_MEMORY exactly: allowed
    "text-memory-over-64mib": before_image(ztxt(MIB) * 64 + chunk(b"tEXt", b"k\0a")),
    "text-cut-after-image": after_image(chunk(b"tEXt", b"comment\0hello"), cut=9, iend=False),
    "unknown-cut-after-image": after_image(chunk(b"prIv", b"0123456789"), cut=7, iend=False),
    "crc-cut-after-image": after_image(chunk(b"tEXt", b"comment\0hello"), cut=2, iend=False),
    "iend-cut": base_png()[:-6],
    "actl-truncated": before_image(chunk(b"acTL", b"\0\0\0\2")),
    "apng-stops-at-next-fctl": apng(2, fctl_first=True),
    "apng-default-image-stops-at-fctl": apng(1, fctl_first=False),
    "apng-one-frame-reads-on": apng(1, fctl_first=True),  # not animated: the cut fdAT is read
    # acTL not followed by an fcTL before the image data: the first fdAT is a sequence error.
    "apng-fdat-without-fctl": trailing(chunk(b"fdAT", b"\0\0\0\0" + b"x" * 10)),
    "apng-fctl-first-sequence-1": before_image(fctl(1)),
    "apng-fctl-sequence-0": before_image(fctl(0)),
    "apng-fctl-truncated": before_image(chunk(b"fcTL", b"\0" * 20)),
    "apng-fctl-outside-the-image": before_image(fctl(0, width=38)),
    "apng-fdat-truncated": trailing(chunk(b"fdAT", b"\0\0")),
    # The pixels are complete, then one more IDAT header with no data (or part of it): PIL's
    # load_end reads it with _safe_read, "Truncated File Read".
    "idat-header-after-image": after_image(struct.pack(">I", 100) + b"IDAT", iend=False),
    "idat-cut-after-image": after_image(struct.pack(">I", 100) + b"IDAT" + b"x" * 10, iend=False),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("png-chunks")
    for name, data in CASES.items():
        (folder / f"{name}.png").write_bytes(data)
    return {name: folder / f"{name}.png" for name in CASES}


def test_png_chunks_as_pil(files: dict[str, Path]) -> None:
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    results = run_node(DEMO_MODEL, list(files.values()), tensors=True)
    verdicts, wrong = {}, []
    for name, path in files.items():
        expected, got = pil_rgb(path), results[str(path)]
        if expected is None:
            verdicts[name] = f"PIL refuses, Node {got.get('error', {}).get('code', 'ACCEPTS')}"
            if "error" not in got:
                wrong.append(f"{name}: PIL refuses it, Node accepted it")
            continue
        verdicts[name] = "PIL opens, Node " + ("ERROR" if "error" in got else "tensor")
        if "error" in got:
            wrong.append(f"{name}: PIL opens it, Node: {got['error']}")
            continue
        tensor = np.frombuffer(base64.b64decode(got["tensor"]), dtype=np.float32)
        if not np.array_equal(tensor.reshape(got["shape"]), transform(expected).numpy()):
            wrong.append(f"{name}: tensors differ")
    print("\n" + "\n".join(f"  {k}: {v}" for k, v in verdicts.items()))
    assert wrong == []
    # The cases are meant to cover both sides of every rule.
    assert sum(v.startswith("PIL refuses") for v in verdicts.values()) >= 14
    assert sum(v.startswith("PIL opens") for v in verdicts.values()) >= 8
