"""PNG rows read in one go (addon/src/image/png_rows.cc): libdeflate inflates the whole stream
and the filters are undone by our loops (SSE2 for 3- and 4-byte pixels, scalar otherwise or
with CHORI_SIMD=scalar), only for small, clean, non-interlaced 8-bit images; everything else
goes to libpng. PNGs are built here byte by byte, so every filter type meets every 8-bit colour
type, on random and on few-valued rows (Paeth's ties, wrap-around), at sizes down to 1x1; then
the streams that must leave the fast path: a filter type above 4, a bad Adler-32, data after
the stream, too much data, IDAT chunks split around another chunk, an image past
the size limit. The model takes the pixels as they are (no resize, no crop, mean 0, std 1), so
Node's tensor is PIL's ``convert("RGB")`` pixel for pixel; a file PIL refuses must be refused.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from chori_torch import torchscript
from chori_torch.artifact import load_artifact
from chori_torch.metadata import EXTRA_FILE
from chori_torch.preprocessing import build_transform
from conftest import DEMO_MODEL, ROOT, node, node_env
from test_corpus import pil_rgb
from test_png_chunks import chunk
from test_simd import HASH_DRIVER, tensor_hash

# libpng's colour types at bit depth 8, with their bytes per pixel.
COLOR_TYPES = {"L": (0, 1), "LA": (4, 2), "RGB": (2, 3), "RGBA": (6, 4), "P": (3, 1)}
SIZES = [(1, 1), (1, 9), (9, 1), (2, 5), (17, 13), (64, 24)]


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filtered(raw: np.ndarray, bpp: int, types: list[int]) -> bytes:
    """The image's rows (height x row bytes), each filtered with its type (PNG spec, 9.2)."""
    out = bytearray()
    prev = np.zeros(raw.shape[1], dtype=np.int64)
    for row, kind in zip(raw.astype(np.int64), types, strict=True):
        left = np.concatenate([np.zeros(bpp, dtype=np.int64), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, dtype=np.int64), prev[:-bpp]])
        if kind == 0:
            pred = np.zeros_like(row)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prev
        elif kind == 3:
            pred = (left + prev) // 2
        else:
            pred = np.array(
                [paeth(*t) for t in zip(left, prev, upleft, strict=True)], dtype=np.int64
            )
        out.append(kind)
        out += ((row - pred) % 256).astype(np.uint8).tobytes()
        prev = row
    return bytes(out)


def png(
    mode: str,
    width: int,
    height: int,
    stream: bytes,
    *,
    idat_parts: int = 1,
    between: bytes = b"",
) -> bytes:
    """A PNG of ``stream`` (a zlib stream) in ``idat_parts`` IDAT chunks (empty ones between),
    with ``between`` after the first of them."""
    color_type, _ = COLOR_TYPES[mode]
    head = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    )
    if mode == "P":  # 200 entries: indices past them are black, as in PIL
        head += chunk(b"PLTE", bytes((i * 7 + c * 50) % 256 for i in range(200) for c in range(3)))
    size = -(-len(stream) // idat_parts)
    parts = [stream[i : i + size] for i in range(0, len(stream), size)] or [b""]
    body = b"".join(chunk(b"IDAT", p) + chunk(b"IDAT", b"") for p in parts)
    if between:
        first = chunk(b"IDAT", parts[0])
        body = first + between + body[len(first) :]
    return head + body + chunk(b"IEND", b"")


def pixels(rng: np.random.Generator, width: int, height: int, bpp: int, few: bool) -> np.ndarray:
    # Close values around 0, 128 and 255: Paeth's ties (b - c = 2 (c - a)) and wrap-around.
    values = np.array([*range(6), *range(125, 132), *range(250, 256)], dtype=np.uint8)
    shape = (height, width * bpp)
    return rng.choice(values, shape) if few else rng.integers(0, 256, shape, dtype=np.uint8)


def clean_cases(rng: np.random.Generator) -> dict[str, bytes]:
    cases = {}
    for mode, (_, bpp) in COLOR_TYPES.items():
        for width, height in SIZES:
            for few in (False, True):
                raw = pixels(rng, width, height, bpp, few)
                # Every type in turn, so each meets a row above it of every other type.
                types = [(y + width) % 5 for y in range(height)]
                stream = zlib.compress(filtered(raw, bpp, types), 6)
                name = f"{mode}-{width}x{height}-{'few' if few else 'random'}"
                cases[name] = png(mode, width, height, stream)
    return cases


def edge_cases(rng: np.random.Generator) -> dict[str, bytes]:
    width, height, bpp = 23, 11, 3
    raw = pixels(rng, width, height, bpp, False)
    rows = filtered(raw, bpp, [4] * height)
    good = zlib.compress(rows)
    bad_filter = bytearray(rows)
    bad_filter[2 * (width * bpp + 1)] = 5
    bad_adler = good[:-1] + bytes([good[-1] ^ 1])
    other = chunk(b"tEXt", b"comment\0between")
    return {
        "split-idat": png("RGB", width, height, good, idat_parts=7),
        "one-byte-idat": png("RGB", width, height, good, idat_parts=len(good)),
        "bad-filter-type": png("RGB", width, height, zlib.compress(bytes(bad_filter))),
        "bad-adler32": png("RGB", width, height, bad_adler),
        "data-after-stream": png("RGB", width, height, good + b"trailing bytes"),
        "one-row-too-many": png(
            "RGB", width, height, zlib.compress(rows + rows[: width * bpp + 1])
        ),
        "stream-cut-by-a-chunk": png("RGB", width, height, good, idat_parts=3, between=other),
        "stream-done-before-a-chunk": png("RGB", width, height, good, between=other),
    }


def large_case(rng: np.random.Generator) -> dict[str, bytes]:
    """Over png_rows.h's kWholeStreamMaxBytes (4 MiB filtered): libpng's path, same pixels."""
    width, height, bpp = 1100, 1000, 4
    raw = np.repeat(pixels(rng, width, 1, bpp, False), height, axis=0)
    rows = b"".join(b"\2" + r.tobytes() if y else b"\0" + r.tobytes() for y, r in enumerate(raw))
    return {"large-rgba": png("RGBA", width, height, zlib.compress(rows, 1))}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("png-rows")
    rng = np.random.default_rng(20261204)
    cases = {**clean_cases(rng), **edge_cases(rng), **large_case(rng)}
    for name, data in cases.items():
        (folder / f"{name}.png").write_bytes(data)
    return {name: folder / f"{name}.png" for name in cases}


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model with a spec that keeps the pixels: no resize, no crop, mean 0, std 1."""
    demo = load_artifact(DEMO_MODEL)
    spec = dataclasses.replace(
        demo.metadata.input, resize=None, crop=None, mean=(0.0,) * 3, std=(1.0,) * 3
    )
    path = tmp_path_factory.mktemp("png-rows-model") / "identity.pt"
    torchscript.save(
        demo.module, path, {EXTRA_FILE: dataclasses.replace(demo.metadata, input=spec).to_json()}
    )
    return path


@pytest.fixture(scope="module")
def expected(files: dict[str, Path], identity: Path) -> dict[str, str | None]:
    transform = build_transform(load_artifact(identity).metadata.input)
    out: dict[str, str | None] = {}
    for name, path in files.items():
        image = pil_rgb(path)
        if image is None:
            out[name] = None
            continue
        t = transform(image).numpy()
        out[name] = tensor_hash(t.shape, t.astype(np.float32).tobytes())
    return out


@pytest.mark.parametrize("simd", [None, "scalar"])
def test_rows_as_pil(
    simd: str | None,
    files: dict[str, Path],
    identity: Path,
    expected: dict[str, str | None],
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs.json"
    jobs.write_text(
        json.dumps([{"model": str(identity), "files": [str(f) for f in files.values()]}])
    )
    out = subprocess.run(
        [node(), str(HASH_DRIVER), str(jobs)], cwd=ROOT, capture_output=True, text=True,
        check=True, env=node_env(simd),
    ).stdout  # fmt: skip
    got = json.loads(out)["results"][str(identity)]
    wrong = []
    for name, path in files.items():
        answer, want = got[str(path)], expected[name]
        if want is None and len(answer) == 40:
            wrong.append(f"{name}: PIL refuses it, Node accepted it")
        elif want is not None and answer != want:
            said = "a different tensor" if len(answer) == 40 else answer
            wrong.append(f"{name}: PIL's pixels, Node {said}")
    assert wrong == []
    # Both sides of the fast path's rules are met.
    refused = [n for n, h in expected.items() if h is None]
    assert {"bad-filter-type", "bad-adler32"} <= set(refused)
    assert len(files) - len(refused) >= 60
