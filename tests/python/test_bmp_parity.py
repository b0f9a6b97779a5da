"""BMP layouts PIL's writer never produces, built byte by byte, through both pipelines.

PIL writes 1/8/24/32-bit BMPs only (``BmpImagePlugin._save``), which ``test_corpus.py`` covers;
here are the others PIL reads: 16-bit (``BGR;15`` and the ``BGR;16`` / ``BGR;15`` BITFIELDS
masks, with a colour table present but unused), RLE8 and RLE4 (``BmpRleDecoder``: every escape,
runs that overflow a row or the image, word alignment, early ends, broken streams),
uncompressed pixel data shorter than the header promises (the raw decoder does not need the
last row's padding) and identity grey colour tables at every depth (PIL's "1"/"L" raw modes).
Each case states what PIL does with it, and the test checks that first: ``"ok"`` — Node's
tensor equals torchvision's on PIL's image, bit for bit; a ``CHORI_*`` code — PIL raises, and
Node must reject the file with that code.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np
import pytest

from chori_torch.artifact import load_artifact
from chori_torch.preprocessing import build_transform
from conftest import DEMO_MODEL, run_node
from test_corpus import pil_rgb, tensor_mismatch

OK = "ok"
TRUNCATED = "CHORI_TRUNCATED"
DECODE = "CHORI_DECODE"

RLE8, RLE4, BITFIELDS = 1, 2, 3


def bmp(
    width: int,
    height: int,
    bits: int,
    pixels: bytes,
    *,
    compression: int = 0,
    palette: bytes = b"",
    masks: bytes = b"",
    header_size: int = 40,
    colors: int = 0,
    offset: int | None = None,
    gap: bytes = b"",
) -> bytes:
    """A BMP file: BITMAPINFOHEADER (or a longer header, zero-extended), masks after a 40-byte
    header, the colour table, ``gap`` and the pixel data; ``offset`` overrides the file
    header's pixel offset (default: where the pixels are)."""
    info = struct.pack(
        "<IiiHHIIii", header_size, width, height, 1, bits, compression, len(pixels), 0, 0
    )
    info += struct.pack("<II", colors, 0)
    if header_size > 40:
        extra = bytearray(header_size - 40)
        extra[: len(masks)] = masks  # V2+ headers hold the masks themselves
        info += bytes(extra)
        masks = b""
    start = 14 + len(info) + len(masks) + len(palette) + len(gap)
    off = start if offset is None else offset
    head = b"BM" + struct.pack("<IHHI", start + len(pixels), 0, 0, off)
    return head + info + masks + palette + gap + pixels


def rgb565(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 65536, count, dtype=np.uint32)


def rows16(values: np.ndarray, width: int, height: int) -> bytes:
    """16-bit pixels, rows padded to 4 bytes."""
    stride = (width * 16 + 31) >> 3 & ~3
    out = bytearray()
    for r in range(height):
        row = b"".join(struct.pack("<H", int(v)) for v in values[r * width : (r + 1) * width])
        out += row + b"\0" * (stride - len(row))
    return bytes(out)


def masks(*m: int) -> bytes:
    return struct.pack(f"<{len(m)}I", *m)


def bgrx_palette(rng: np.random.Generator, count: int) -> bytes:
    """Random colours; entry 0 is not black, so zero-filled pixels (index 0) are visible."""
    colours = rng.integers(0, 256, (count, 3), dtype=np.uint8)
    colours[0] = (17, 200, 90)
    return b"".join(bytes([b, g, r, 0]) for r, g, b in colours)


def blocky(rng: np.random.Generator, width: int, height: int, levels: int) -> np.ndarray:
    """Indices with runs (for encoded mode) and noise (for absolute mode), file row order."""
    img = np.repeat(rng.integers(0, levels, (height, width // 5 + 1)), 5, axis=1)[:, :width]
    noisy = rng.random((height, width)) < 0.35
    img[noisy] = rng.integers(0, levels, int(noisy.sum()))
    return img.astype(np.uint8)


def rle_encode(img: np.ndarray, *, rle4: bool, last_eol: bool = True, eob: bool = True) -> bytes:
    """A well-formed RLE8/RLE4 stream: encoded runs, absolute runs padded to a word, an
    end-of-line after every row and an end-of-bitmap."""
    out = bytearray()
    height, width = img.shape
    for r in range(height):
        row = [int(v) for v in img[r]]
        i = 0
        while i < width:
            j = i
            while j < width and row[j] == row[i] and j - i < 255:
                j += 1
            if j - i >= 2:
                out += bytes([j - i, row[i] * 17 if rle4 else row[i]])
                i = j
                continue
            # literals until a run of 2 starts
            j = i
            while j < width and j - i < 255 and not (j + 1 < width and row[j] == row[j + 1]):
                j += 1
            lit = row[i:j] if j > i else [row[i]]
            if len(lit) < 3:
                for v in lit:
                    out += bytes([1, v * 17 if rle4 else v])
            else:
                if rle4:
                    packed = bytes(
                        (lit[k] << 4) | (lit[k + 1] if k + 1 < len(lit) else 0)
                        for k in range(0, len(lit), 2)
                    )
                else:
                    packed = bytes(lit)
                out += bytes([0, len(lit)]) + packed + b"\0" * (len(packed) % 2)
            i += len(lit)
        if r < height - 1 or last_eol:
            out += b"\0\0"
    if eob:
        out += b"\0\1"
    return bytes(out)


def rle_cases() -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(1)
    pal8, pal4 = bgrx_palette(rng, 256), bgrx_palette(rng, 16)
    out: dict[str, tuple[str, bytes]] = {}

    def rle8(w: int, h: int, stream: bytes, **kw: object) -> bytes:
        kw.setdefault("palette", pal8)
        return bmp(w, h, 8, stream, compression=RLE8, **kw)  # type: ignore[arg-type]

    def rle4(w: int, h: int, stream: bytes, **kw: object) -> bytes:
        kw.setdefault("palette", pal4)
        return bmp(w, h, 4, stream, compression=RLE4, **kw)  # type: ignore[arg-type]

    # Well-formed streams, several sizes (odd widths, a row longer than a 255-pixel run).
    for w, h in [(1, 1), (7, 5), (33, 17), (64, 48), (300, 7), (3, 260)]:
        img8, img4 = blocky(rng, w, h, 256), blocky(rng, w, h, 16)
        out[f"rle8-{w}x{h}"] = (OK, rle8(w, h, rle_encode(img8, rle4=False)))
        out[f"rle4-{w}x{h}"] = (OK, rle4(w, h, rle_encode(img4, rle4=True)))
        # Top-down: PIL passes the direction to the RLE decoder too.
        out[f"rle8-{w}x{h}-topdown"] = (OK, rle8(w, -h, rle_encode(img8, rle4=False)))
        out[f"rle4-{w}x{h}-topdown"] = (OK, rle4(w, -h, rle_encode(img4, rle4=True)))
        # The image is full before the last end-of-line/end-of-bitmap: PIL stops reading.
        s = rle_encode(img8, rle4=False, last_eol=False, eob=False)
        out[f"rle8-{w}x{h}-no-eob"] = (OK, rle8(w, h, s))
    img = blocky(rng, 20, 9, 256)
    out["rle8-trailing-garbage"] = (OK, rle8(20, 9, rle_encode(img, rle4=False) + b"\7" * 33))

    # Escapes by hand (w = 9, h = 4 unless said).
    # End of line early: the rest of the row is index 0 (palette[0], not black); an end of
    # line at a row's end does nothing (no empty row).
    out["rle8-eol-early"] = (OK, rle8(9, 3, b"\3\5\0\0\2\6\0\0\0\0\x09\7\0\1"))
    # Delta: right 3, up 1 (zeros in between); then a run where it lands.
    out["rle8-delta"] = (OK, rle8(9, 4, b"\2\5\0\2\3\1\4\6\0\0\x09\1\0\0\x09\3\0\1"))
    # A delta past the end of the image fills it: complete, no error.
    out["rle8-delta-past-end"] = (OK, rle8(9, 4, b"\2\5\0\2\xff\xff"))
    # A delta first, rows to skip, then an end of line in the middle.
    out["rle4-delta"] = (OK, rle4(9, 4, b"\0\2\1\2\3\x12\0\0\x09\x34\0\0\0\1"))
    # Encoded run longer than the row: cut at the row's end; next run also cut (x == width).
    out["rle8-run-overflow"] = (OK, rle8(9, 4, b"\x20\5\3\6\0\0" + b"\x09\7\0\0" * 3))
    # An absolute run longer than the row spills into the next one; encoded runs are then
    # cut to nothing (PIL's column counter is past the width) until the end of line, which
    # pads the spilled row.
    spill = b"\0\x0d" + bytes(range(40, 53)) + b"\0" + b"\4\x09" + b"\0\0"
    out["rle8-absolute-spill"] = (OK, rle8(9, 4, spill + b"\x09\7\0\0\x09\2\0\1"))
    # An absolute run past the end of the image: capped, and the image is complete.
    out["rle8-absolute-past-end"] = (OK, rle8(3, 2, b"\0\x09" + bytes(range(60, 69)) + b"\0"))
    out["rle4-absolute-past-end"] = (OK, rle4(3, 2, b"\0\x09\x12\x34\x56\x78\x9a\0"))
    # Absolute runs of every odd/even length: word padding after odd byte counts.
    stream8 = b"".join(b"\0" + bytes([n]) + bytes(range(n)) + b"\0" * (n % 2) for n in range(3, 9))
    out["rle8-absolute-lengths"] = (OK, rle8(3 + 4 + 5 + 6 + 7 + 8, 1, stream8))
    stream4 = b"".join(
        b"\0" + bytes([n]) + bytes(range(16, 16 + (n + 1) // 2)) + b"\0" * ((n + 1) // 2 % 2)
        for n in range(3, 11)
    )
    out["rle4-absolute-lengths"] = (OK, rle4(sum(range(3, 11)), 1, stream4))
    # The alignment is to the *file* position: an odd pixel offset shifts it.
    odd = b"\0\3\x0a\x0b\x0c" + b"\4\5\0\1"  # no pad byte: the 3 bytes end on an even offset
    out["rle8-odd-offset"] = (OK, rle8(7, 1, odd, gap=b"\0"))
    # RLE4 encoded runs alternate the two nibbles.
    out["rle4-alternating"] = (OK, rle4(9, 2, b"\x09\x1f\0\0\x07\xa5\x02\x33\0\1"))
    # Indices past a short palette are black; a palette from bits=4 with RLE8 data.
    out["rle8-short-palette"] = (OK, rle8(9, 1, b"\3\2\3\x20\3\xff", palette=pal4, colors=16))
    out["rle8-bits4"] = (OK, bmp(9, 1, 4, b"\3\2\3\x0f\3\xee", compression=RLE8, palette=pal4))
    out["rle4-bits8"] = (OK, bmp(9, 1, 8, b"\x09\x1f\0\1", compression=RLE4, palette=pal8))
    out["rle8-bits1"] = (OK, bmp(9, 1, 1, b"\3\0\3\1\3\7", compression=RLE8, palette=pal8[:8]))
    # Grey palettes ("1" and "L" in PIL): "1" is "non-zero is white", "L" the index itself.
    grey2 = b"\0\0\0\0\xff\xff\xff\0"
    out["rle8-mode1"] = (OK, rle8(9, 2, b"\3\0\3\1\3\x80\0\0\x09\x02", palette=grey2, colors=2))
    out["rle4-mode1"] = (OK, rle4(9, 1, b"\x09\x01", palette=grey2, colors=2))
    grey16 = b"".join(bytes([i, i, i, 0]) for i in range(16))
    out["rle4-grey16"] = (OK, rle4(9, 1, b"\x04\x0f\0\5\x12\x34\x50\0", palette=grey16))
    grey256 = b"".join(bytes([i, i, i, 0]) for i in range(256))
    out["rle8-grey256"] = (OK, rle8(9, 1, b"\3\0\3\x80\3\xff", palette=grey256))
    # The pixel offset 0 means "right after the colour table" (``offset or fp.tell()``).
    out["rle8-offset-0"] = (OK, rle8(9, 1, b"\x09\x33\0\1", offset=0))

    # Broken streams PIL refuses ("not enough image data", a ValueError).
    good = rle_encode(blocky(rng, 33, 17, 256), rle4=False)
    out["rle8-cut-half"] = (TRUNCATED, rle8(33, 17, good[: len(good) // 2]))
    rows = b"\x09\x21\0\0" * 4 + b"\0\1"
    for cut in (2, 4, 5, 6, 10):  # the last end of line and end of bitmap are not needed
        out[f"rle8-rows-cut{cut}"] = (OK if cut <= 4 else TRUNCATED, rle8(9, 4, rows[:-cut]))
    out["rle8-cut-odd-byte"] = (TRUNCATED, rle8(9, 1, b"\4\1\5"))
    out["rle8-cut-in-absolute"] = (TRUNCATED, rle8(9, 1, b"\0\x09\1\2\3"))
    out["rle4-cut-in-absolute"] = (TRUNCATED, rle4(9, 1, b"\0\x09\x12\x34"))
    out["rle8-cut-in-delta"] = (TRUNCATED, rle8(9, 2, b"\4\1\0\2\5"))
    out["rle8-empty"] = (TRUNCATED, rle8(9, 2, b""))
    # No end of line: runs after a full row are cut to nothing, the data runs out.
    out["rle8-no-eol"] = (TRUNCATED, rle8(4, 2, b"\4\5\4\6"))
    # End of bitmap before the last pixel.
    out["rle8-eob-early"] = (DECODE, rle8(9, 4, b"\x09\5\0\0\0\1"))
    out["rle4-eob-early"] = (DECODE, rle4(9, 4, b"\x09\5\0\1" + b"\x09\5" * 8))
    # RLE with an RGB pixel depth: PIL opens it, then load() fails (no "P" raw mode for RGB).
    out["rle8-bits24"] = (DECODE, bmp(4, 2, 24, b"\4\1\0\0\4\5\0\1", compression=RLE8))
    out["rle4-bits16"] = (DECODE, bmp(4, 2, 16, b"\4\1\0\0\4\5\0\1", compression=RLE4))
    return out


def sixteen_bit_cases() -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(2)
    out: dict[str, tuple[str, bytes]] = {}
    every = np.arange(65536, dtype=np.uint32)  # every value once, 256 x 256
    m565, m555 = masks(0xF800, 0x07E0, 0x001F), masks(0x7C00, 0x03E0, 0x001F)
    for w, h in [(256, 256), (7, 5), (1, 1), (33, 9)]:
        values = every if w == 256 else rgb565(rng, w * h)
        px = rows16(values, w, h)
        tag = f"{w}x{h}"
        out[f"b16-565-{tag}"] = (OK, bmp(w, h, 16, px, compression=BITFIELDS, masks=m565))
        out[f"b16-555-mask-{tag}"] = (OK, bmp(w, h, 16, px, compression=BITFIELDS, masks=m555))
        out[f"b16-555-{tag}"] = (OK, bmp(w, h, 16, px))
        out[f"b16-565-topdown-{tag}"] = (
            OK,
            bmp(w, -h, 16, px, compression=BITFIELDS, masks=m565),
        )
    px = rows16(rgb565(rng, 21 * 6), 21, 6)
    for size in (52, 56, 108, 124):  # masks inside the header
        out[f"b16-565-header{size}"] = (
            OK,
            bmp(21, 6, 16, px, compression=BITFIELDS, masks=m565, header_size=size),
        )
    # A colour table a 16-bit image does not use: the pixels start after it.
    table = bgrx_palette(rng, 256)
    out["b16-palette-unused"] = (OK, bmp(21, 6, 16, px, palette=table, colors=256))
    out["b16-palette-unused-colors0"] = (OK, bmp(21, 6, 16, px, palette=table))
    out["b16-565-palette-unused"] = (
        OK,
        bmp(21, 6, 16, px, compression=BITFIELDS, masks=m565, palette=table[:64], colors=16),
    )
    # The offset points at the table: PIL skips it for <= 8 bits only, so the table is read
    # as pixels here.
    out["b16-palette-offset-at-table"] = (
        OK,
        bmp(21, 6, 16, px, palette=table, colors=256, offset=54),
    )
    out["b16-bad-mask"] = (
        DECODE,
        bmp(7, 5, 16, rows16(rgb565(rng, 35), 7, 5), compression=BITFIELDS, masks=masks(1, 2, 3)),
    )
    return out


def short_data_cases() -> dict[str, tuple[str, bytes]]:
    """Uncompressed pixel data cut at the end: only the last row's padding may be missing."""
    rng = np.random.default_rng(3)
    out: dict[str, tuple[str, bytes]] = {}
    pal = bgrx_palette(rng, 256)

    def raw(w: int, h: int, bits: int, **kw: object) -> bytes:
        stride = ((w * bits + 31) >> 3) & ~3
        data = rng.integers(0, 256, stride * abs(h), dtype=np.uint8).tobytes()
        return bmp(w, h, bits, data, **kw)  # type: ignore[arg-type]

    # (width, bits, bytes of padding in the last row)
    layouts = [(3, 24, 3), (5, 24, 1), (9, 1, 2), (5, 8, 3), (3, 4, 2), (3, 16, 2), (3, 32, 0)]
    for w, bits, padding in layouts:
        kw: dict[str, object] = {}
        if bits <= 8:
            kw = {"palette": pal[: 4 << bits], "colors": 1 << bits}
        for h in (4, -4):
            data = raw(w, h, bits, **kw)
            tag = f"raw{bits}-w{w}{'-topdown' if h < 0 else ''}"
            for cut in range(padding + 2):
                expect = OK if cut <= padding else TRUNCATED
                out[f"{tag}-cut{cut}"] = (expect, data[: len(data) - cut])
    # The pixel offset 0: the pixels follow the header (and masks) as PIL's file pointer does.
    out["raw24-offset-0"] = (OK, bmp(5, 3, 24, bytes(range(48)), offset=0))
    out["raw16-565-offset-0"] = (
        OK,
        bmp(
            5,
            3,
            16,
            bytes(range(48)),
            compression=BITFIELDS,
            masks=masks(0xF800, 0x7E0, 0x1F),
            offset=0,
        ),
    )
    return out


def grey_palette_cases() -> dict[str, tuple[str, bytes]]:
    """An identity grey colour table makes PIL's raw mode "1" (<= 2 colours) or "L" whatever the
    depth: rows strided by the file's depth, unpacked 1 or 8 bits per pixel."""
    rng = np.random.default_rng(4)
    out: dict[str, tuple[str, bytes]] = {}
    grey2 = b"\0\0\0\0\xff\xff\xff\0"

    def ramp(n: int) -> bytes:
        return b"".join(bytes([i, i, i, 0]) for i in range(n))

    def raw(w: int, h: int, bits: int, palette: bytes, colors: int = 0) -> bytes:
        stride = ((w * bits + 31) >> 3) & ~3
        data = rng.integers(0, 256, stride * h, dtype=np.uint8).tobytes()
        return bmp(w, h, bits, data, palette=palette, colors=colors)

    for w in (1, 3, 9, 17, 40):
        out[f"grey2-bits8-w{w}"] = (OK, raw(w, 5, 8, grey2, 2))
        out[f"grey2-bits4-w{w}"] = (OK, raw(w, 5, 4, grey2, 2))
        out[f"grey256-bits8-w{w}"] = (OK, raw(w, 5, 8, ramp(256)))
        out[f"grey16-bits8-w{w}"] = (OK, raw(w, 5, 8, ramp(16), 16))
        # "L" over 4-bit rows: fine while the width fits the stride (<= 4), else refused.
        out[f"grey16-bits4-w{w}"] = (OK if w <= 4 else DECODE, raw(w, 5, 4, ramp(16)))
        out[f"grey4-bits1-w{w}"] = (OK if w <= 4 else DECODE, raw(w, 5, 1, ramp(4), 4))
    out["grey2-bits1-colors1"] = (OK, raw(21, 3, 1, ramp(1), 1))
    data = raw(3, 4, 4, grey2, 2)  # "1" rows need 1 byte of the 4
    for cut in range(5):
        out[f"grey2-bits4-cut{cut}"] = (OK if cut <= 3 else TRUNCATED, data[: len(data) - cut])
    out["grey16-bits4-w9-no-pixels"] = (TRUNCATED, raw(9, 5, 4, ramp(16))[:118])
    return out


def palette_size_cases() -> dict[str, tuple[str, bytes]]:
    """A colour count over 256: PIL reads what is there, and a "P" image with more than 256
    entries read is refused in load() ("invalid palette size"); a grey ramp (compared by
    o8(index), the low byte) has no palette and opens."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, 8 * 3, dtype=np.uint8).tobytes()

    def table(n: int, grey: bool = False) -> bytes:
        if grey:
            return b"".join(bytes([i & 255] * 3 + [0]) for i in range(n))
        return rng.integers(0, 256, 4 * n, dtype=np.uint8).tobytes()

    out: dict[str, tuple[str, bytes]] = {}
    for colors, present, grey, expect in [
        (256, 256, False, OK),
        (257, 257, False, DECODE),
        (300, 300, False, DECODE),
        (65536, 65536, False, DECODE),
        (300, 10, False, OK),
        (300, 300, True, OK),
        (65537, 10, False, DECODE),  # PIL's "Unsupported BMP Palette size"
    ]:
        # With fewer entries present than declared, the read runs into the pixels and stops at
        # the end of the file: 10 entries + 24 pixel bytes = 16 entries read.
        data = bmp(8, 3, 8, pixels, palette=table(present, grey), colors=colors)
        kind = "grey" if grey else "colour"
        out[f"palette-{colors}-of-{present}-{kind}"] = (expect, data)
    return out


def all_cases() -> dict[str, tuple[str, bytes]]:
    return {
        **sixteen_bit_cases(),
        **rle_cases(),
        **short_data_cases(),
        **grey_palette_cases(),
        **palette_size_cases(),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, Path, dict]]:
    folder = tmp_path_factory.mktemp("bmp")
    cases = []
    for name, (expect, data) in all_cases().items():
        path = folder / f"{name}.bmp"
        path.write_bytes(data)
        cases.append((name, expect, path))
    node = run_node(DEMO_MODEL, [p for _, _, p in cases], tensors=True)
    return [(name, expect, path, node[str(path)]) for name, expect, path in cases]


def test_pil_does_what_the_cases_say(results: list[tuple[str, str, Path, dict]]) -> None:
    wrong = [
        f"{name}: expected {expect}, PIL {'opens' if pil_rgb(path) else 'refuses'} it"
        for name, expect, path, _ in results
        if (pil_rgb(path) is not None) != (expect == OK)
    ]
    assert wrong == []


def test_tensors_bit_identical(results: list[tuple[str, str, Path, dict]]) -> None:
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    wrong = []
    accepted = [(name, path, r) for name, expect, path, r in results if expect == OK]
    for name, path, r in accepted:
        image = pil_rgb(path)
        if image is None:
            continue  # reported by test_pil_does_what_the_cases_say
        if problem := tensor_mismatch(name, image, r, transform):
            wrong.append(problem)
    print(f"\nBMP parity: {len(accepted) - len(wrong)}/{len(accepted)} bit-identical")
    assert len(accepted) > 100
    assert wrong == []


def test_rejected_with_the_code(results: list[tuple[str, str, Path, dict]]) -> None:
    wrong = []
    rejected = [(name, expect, r) for name, expect, _, r in results if expect != OK]
    for name, expect, r in rejected:
        got = r.get("error", {}).get("code", "accepted")
        if got != expect:
            wrong.append(f"{name}: expected {expect}, Node: {r.get('error', 'accepted')}")
    assert len(rejected) > 15
    assert wrong == []


def random_rle(rng: np.random.Generator, rle4: bool) -> bytes:
    """A random mix of encoded runs, end-of-line/bitmap, deltas, absolute runs (sometimes
    without their pad byte) and stray bytes, sometimes cut short."""
    out = bytearray()
    for _ in range(rng.integers(1, 40)):
        k = rng.random()
        if k < 0.45:
            out += bytes([rng.integers(1, 20), rng.integers(0, 256)])
        elif k < 0.6:
            out += b"\0\0"
        elif k < 0.65:
            out += b"\0\1"
        elif k < 0.75:
            out += bytes([0, 2, rng.integers(0, 6), rng.integers(0, 3)])
        elif k < 0.95:
            n = int(rng.integers(3, 30))
            nb = (n + 1) // 2 if rle4 else n
            out += bytes([0, n]) + rng.integers(0, 256, nb, dtype=np.uint8).tobytes()
            if rng.random() < 0.8:
                out += b"\0" * (nb % 2)
        else:
            out += rng.integers(0, 256, rng.integers(1, 4), dtype=np.uint8).tobytes()
    if rng.random() < 0.3:
        out = out[: rng.integers(0, len(out) + 1)]
    return bytes(out)


def test_random_rle_streams(tmp_path: Path) -> None:
    """Seeded random RLE8/RLE4 streams (sizes, directions, odd offsets, RLE8 over 4-bit): where
    PIL opens the file the tensors are equal, where it refuses Node refuses (CHORI_TRUNCATED
    when the data ran out, CHORI_DECODE for an early end of bitmap)."""
    rng = np.random.default_rng(5)
    pal = bgrx_palette(rng, 256)
    paths = []
    for i in range(600):
        rle4 = bool(rng.random() < 0.5)
        w, h = int(rng.integers(1, 24)), int(rng.integers(1, 12))
        bits = 4 if rle4 else 8
        if rng.random() < 0.1:
            bits = 12 - bits
        data = bmp(
            w,
            -h if rng.random() < 0.2 else h,
            bits,
            random_rle(rng, rle4),
            compression=RLE4 if rle4 else RLE8,
            palette=pal[: 4 << bits],
            gap=b"\0" if rng.random() < 0.3 else b"",
        )
        paths.append(tmp_path / f"random-{i}.bmp")
        paths[-1].write_bytes(data)
    node = run_node(DEMO_MODEL, paths, tensors=True)
    transform = build_transform(load_artifact(DEMO_MODEL).metadata.input)
    wrong, opened = [], 0
    for path in paths:
        r, image = node[str(path)], pil_rgb(path)
        if image is None:
            if r.get("error", {}).get("code") not in {TRUNCATED, DECODE}:
                wrong.append(f"{path.name}: PIL refuses it, Node: {r.get('error', 'accepted')}")
            continue
        opened += 1
        if "error" in r:
            wrong.append(f"{path.name}: PIL opens it, Node says {r['error']}")
            continue
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if not np.array_equal(got, transform(image).numpy()):
            wrong.append(f"{path.name}: tensors differ")
    print(f"\nrandom RLE: {opened}/{len(paths)} opened by PIL, all agree: {not wrong}")
    assert 150 < opened < 450  # both outcomes well represented
    assert wrong == []
