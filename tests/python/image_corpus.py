"""The generated image corpus: every format, mode and encoder option the addon must reproduce.

Written by the tests themselves, with PIL, from the photographs scikit-image and scikit-learn
ship, so nothing binary is checked in and the corpus follows the installed Pillow. Two kinds:

- ``valid``: files PIL writes (plus two layouts PIL cannot write, built here by hand from
  PIL-rendered pixels: Adam7-interlaced PNG and top-down BMP). The addon must produce the
  torchvision tensor bit for bit, or, for a format outside the supported set, refuse it
  with ``CHORI_UNSUPPORTED_FORMAT``.
- ``malformed``: those files truncated, with bytes flipped, or with huge declared sizes, plus
  empty, text and random data. Whatever PIL does with one (reject, or accept with a warning),
  the addon must do too.

Each entry records its category, from which the test derives the error code it expects.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage
import sklearn
from PIL import Image

SKIMAGE_DATA = Path(skimage.__file__).parent / "data"
SKLEARN_IMAGES = Path(sklearn.__file__).parent / "datasets" / "images"

# Shapes (width, height) that exercise the edges of Resize and CenterCrop.
ODD_SIZES = [(1, 1), (223, 225), (225, 223), (224, 224), (256, 256), (7, 13), (1, 40), (40, 1)]
# Extreme aspect ratios: under Resize(256) these become 1,280,000 x 256 (983 MB of RGB in
# both pipelines), so they are checked with the demo model's Resize(64) only.
EXTREME_SIZES = [(1, 5000), (5000, 1)]


@dataclass(frozen=True)
class Sample:
    path: Path
    category: str  # "valid", "layout" (well-formed, PIL refuses), or the malformation: truncated,
    # flipped, empty, text, random, huge
    format: str  # the format the bytes were written as ("" for empty/text/random)
    extreme: bool = False  # an EXTREME_SIZES image (demo model only)


def _photo(name: str) -> Image.Image:
    path = SKIMAGE_DATA / name if (SKIMAGE_DATA / name).exists() else SKLEARN_IMAGES / name
    with Image.open(path) as im:
        return im.convert("RGB") if im.mode == "RGBA" else im.copy()


def _rgba(rgb: Image.Image) -> Image.Image:
    """An RGBA image whose alpha varies (so dropping vs compositing would show)."""
    alpha = Image.linear_gradient("L").resize(rgb.size)
    out = rgb.convert("RGB")
    out.putalpha(alpha)
    return out


def _sized(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A crop of the photograph (resized first if it is too small), so pixels stay natural."""
    w, h = size
    if im.width < w or im.height < h:
        im = im.resize((max(w, im.width), max(h, im.height)), Image.Resampling.BILINEAR)
    left, top = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((left, top, left + w, top + h))


def _encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def interlaced_png(im: Image.Image) -> bytes:
    """An Adam7-interlaced 8-bit PNG of an L, RGB or RGBA image (PIL only writes them plain)."""
    color_type = {"L": 0, "RGB": 2, "RGBA": 6}[im.mode]
    a = np.asarray(im).reshape(im.height, im.width, -1)
    raw = bytearray()
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    for x0, y0, dx, dy in [*passes, (0, 1, 1, 2)]:
        sub = a[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw += b"\x00" + row.tobytes()  # filter type None
    ihdr = struct.pack(">IIBBBBB", im.width, im.height, 8, color_type, 0, 0, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(raw), 6))
        + _png_chunk(b"IEND", b"")
    )


def top_down_bmp(im: Image.Image) -> bytes:
    """A 24-bit BMP with a negative height (rows stored top first), which PIL reads but never
    writes."""
    data = bytearray(_encode(im.convert("RGB"), "BMP"))
    offset = struct.unpack_from("<I", data, 10)[0]
    stride = (im.width * 3 + 3) & ~3
    rows = [data[offset + y * stride : offset + (y + 1) * stride] for y in range(im.height)]
    data[offset:] = b"".join(reversed(rows))
    struct.pack_into("<i", data, 22, -im.height)
    return bytes(data)


def valid_images() -> dict[str, bytes]:
    """name → encoded bytes, for every format, mode and option combination we check."""
    astronaut = _sized(_photo("astronaut.png"), (300, 260))
    chelsea = _sized(_photo("chelsea.png"), (223, 225))
    camera = _sized(_photo("camera.png"), (190, 250))  # L
    china = _photo("china.jpg")
    coffee = _sized(_photo("coffee.png"), (257, 199))
    out: dict[str, bytes] = {}

    # JPEG: subsampling, progressive, quality, on two photographs.
    for src_name, src in [("astronaut", astronaut), ("chelsea", chelsea)]:
        for sub in (0, 1, 2):
            for prog in (False, True):
                for q in (50, 95):
                    name = f"jpeg-{src_name}-s{sub}-{'prog' if prog else 'base'}-q{q}.jpg"
                    out[name] = _encode(src, "JPEG", quality=q, subsampling=sub, progressive=prog)
    for prog in (False, True):
        for q in (50, 95):
            out[f"jpeg-L-{'prog' if prog else 'base'}-q{q}.jpg"] = _encode(
                camera, "JPEG", quality=q, progressive=prog
            )
    out["jpeg-cmyk.jpg"] = _encode(coffee.convert("CMYK"), "JPEG", quality=90)
    out["jpeg-cmyk-prog.jpg"] = _encode(coffee.convert("CMYK"), "JPEG", progressive=True)
    out["jpeg-optimize-restart.jpg"] = _encode(
        china, "JPEG", quality=85, optimize=True, restart_marker_blocks=3
    )
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation "rotate 90 CW": ignored by PIL's Image.open
    out["jpeg-exif-orientation6.jpg"] = _encode(chelsea, "JPEG", exif=exif)

    # PNG: every mode PIL writes, palettes with 1/2/4/8 bits, transparency, interlacing.
    pal = astronaut.quantize(256)
    pal16 = astronaut.quantize(16)
    pal4 = astronaut.quantize(4)
    ptrns = astronaut.quantize(64)
    ptrns.info["transparency"] = 3
    i16 = Image.fromarray((np.asarray(camera, dtype=np.uint16) * 257).astype(np.uint16))
    i16_low = Image.fromarray(np.asarray(camera, dtype=np.uint16) + 100)  # straddles 255
    pngs = {
        "1": camera.convert("1"),
        "L": camera,
        "LA": _rgba(camera.convert("RGB")).convert("LA"),
        "P": pal,
        "P-bits4": (pal16, {"bits": 4}),
        "P-bits2": (pal4, {"bits": 2}),
        "P-trns": ptrns,
        "RGB": astronaut,
        "RGB-trns": (chelsea, {"transparency": (120, 120, 120)}),
        "RGBA": _rgba(chelsea),
        "I16": i16,
        "I16-low": i16_low,
        "RGB-level0": (coffee, {"compress_level": 0}),
        "RGB-level9": (coffee, {"compress_level": 9}),
    }
    for mode, spec in pngs.items():
        im, params = spec if isinstance(spec, tuple) else (spec, {})
        out[f"png-{mode}.png"] = _encode(im, "PNG", **params)
    out["png-adam7-RGB.png"] = interlaced_png(chelsea)
    out["png-adam7-L.png"] = interlaced_png(camera)
    out["png-adam7-RGBA.png"] = interlaced_png(_rgba(coffee))
    out["png-adam7-7x13.png"] = interlaced_png(_sized(chelsea, (7, 13)))
    out["png-adam7-1x1.png"] = interlaced_png(_sized(chelsea, (1, 1)))

    # GIF: palettes (adaptive, web), greyscale, transparency, interlaced or not, first frame.
    out["gif-P.gif"] = _encode(pal, "GIF")
    out["gif-P-plain.gif"] = _encode(pal, "GIF", interlace=False)
    out["gif-L.gif"] = _encode(camera, "GIF")
    out["gif-RGB-web.gif"] = _encode(chelsea, "GIF")  # PIL quantizes to the web palette
    out["gif-P-trns.gif"] = _encode(ptrns, "GIF", transparency=3)
    out["gif-P16.gif"] = _encode(pal16, "GIF")
    out["gif-anim.gif"] = _encode(
        pal, "GIF", save_all=True, append_images=[pal16.convert("RGB").quantize(256)], duration=50
    )

    # WebP: lossy at two qualities, lossless, with alpha, fast and slow methods.
    out["webp-lossy-q50.webp"] = _encode(astronaut, "WEBP", quality=50)
    out["webp-lossy-q90-m6.webp"] = _encode(chelsea, "WEBP", quality=90, method=6)
    out["webp-lossy-rgba.webp"] = _encode(_rgba(coffee), "WEBP", quality=80)
    out["webp-lossless.webp"] = _encode(astronaut, "WEBP", lossless=True)
    out["webp-lossless-rgba.webp"] = _encode(_rgba(chelsea), "WEBP", lossless=True, method=0)
    out["webp-L.webp"] = _encode(camera, "WEBP", quality=75)

    # BMP: 1, 8 (grey and palette), 24 and 32 bits, bottom-up and top-down.
    out["bmp-1.bmp"] = _encode(camera.convert("1"), "BMP")
    out["bmp-L.bmp"] = _encode(camera, "BMP")
    out["bmp-P.bmp"] = _encode(pal, "BMP")
    out["bmp-RGB.bmp"] = _encode(chelsea, "BMP")
    out["bmp-RGBA.bmp"] = _encode(_rgba(coffee), "BMP")
    out["bmp-topdown.bmp"] = top_down_bmp(astronaut)

    # TIFF (the other layouts: tiff_images, test_formats.py).
    out["tiff-RGB.tif"] = _encode(chelsea, "TIFF")

    # Odd sizes in every supported format, from a photograph (1x1 up to one full side).
    for w, h in ODD_SIZES:
        im = _sized(china, (w, h))
        out[f"size-{w}x{h}.jpg"] = _encode(im, "JPEG", quality=90)
        out[f"size-{w}x{h}.png"] = _encode(im, "PNG")
        out[f"size-{w}x{h}.gif"] = _encode(im.quantize(256), "GIF")
        out[f"size-{w}x{h}.webp"] = _encode(im, "WEBP", quality=90)
        out[f"size-{w}x{h}.bmp"] = _encode(im, "BMP")
    for w, h in EXTREME_SIZES:
        im = _sized(china, (w, h))
        out[f"extreme-{w}x{h}.jpg"] = _encode(im, "JPEG", quality=90)
        out[f"extreme-{w}x{h}.png"] = _encode(im, "PNG")
    return out


def _with_png_size(data: bytes, width: int, height: int) -> bytes:
    ihdr = bytearray(data[16:29])
    struct.pack_into(">II", ihdr, 0, width, height)
    return data[:8] + _png_chunk(b"IHDR", bytes(ihdr[:13])) + data[33:]


def _with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    pos = 2
    while pos + 4 <= len(out):
        marker, length = out[pos + 1], struct.unpack_from(">H", out, pos + 2)[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", out, pos + 5, height, width)
            return bytes(out)
        pos += 2 + length
    raise ValueError("no SOF marker")


def _with_gif_size(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<HH", out, 6, width, height)
    return bytes(out)


def _with_bmp_size(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<ii", out, 18, width, height)
    return bytes(out)


def malformed_images(valid: dict[str, bytes]) -> dict[str, tuple[str, str, bytes]]:
    """name → (category, format, bytes): broken versions of a few valid files, and non-images."""
    bases = {
        "jpeg": valid["jpeg-astronaut-s2-base-q95.jpg"],
        "jpeg-prog": valid["jpeg-chelsea-s0-prog-q95.jpg"],
        "png": valid["png-RGB.png"],
        "png-adam7": valid["png-adam7-RGB.png"],
        "png-P": valid["png-P.png"],
        "gif": valid["gif-P.gif"],
        "webp": valid["webp-lossy-q50.webp"],
        "webp-lossless": valid["webp-lossless.webp"],
        "bmp": valid["bmp-RGB.bmp"],
    }
    rng = np.random.default_rng(1234)
    out: dict[str, tuple[str, str, bytes]] = {}
    for base, data in bases.items():
        fmt = base.split("-")[0]
        # Truncations: inside the signature, header only, and at 30 % / 70 % / 99 % of the data.
        for label, cut in [
            ("sig", 3),
            ("header", 40),
            ("30pct", len(data) * 3 // 10),
            ("70pct", len(data) * 7 // 10),
            ("99pct", len(data) - max(1, len(data) // 100)),
        ]:
            out[f"trunc-{base}-{label}"] = ("truncated", fmt, data[:cut])
        # Flipped bytes: in the header, and scattered through the data.
        for k in range(4):
            flipped = bytearray(data)
            lo = 12 if k == 0 else len(data) // 5
            for at in rng.integers(lo, 60 if k == 0 else len(data), size=1 + k):
                flipped[at] ^= 0xFF
            out[f"flip-{base}-{k}"] = ("flipped", fmt, bytes(flipped))
    huge = 70_000
    out["huge-png"] = ("huge", "png", _with_png_size(bases["png"], 20_000, 20_000))
    out["huge-jpeg"] = ("huge", "jpeg", _with_jpeg_size(bases["jpeg"], 65_000, 65_000))
    out["huge-gif"] = ("huge", "gif", _with_gif_size(bases["gif"], 65_535, 65_535))
    out["huge-bmp"] = ("huge", "bmp", _with_bmp_size(bases["bmp"], huge, huge))
    out["empty"] = ("empty", "", b"")
    out["text"] = ("text", "", b"this is not an image, just some words\n")
    out["text-html"] = ("text", "", b"<!doctype html><html><body>404</body></html>\n")
    for k in range(3):
        out[f"random-{k}"] = ("random", "", rng.integers(0, 256, 64 << k, dtype=np.uint8).tobytes())
    return out


def write_corpus(folder: Path) -> list[Sample]:
    folder.mkdir(parents=True, exist_ok=True)
    valid = valid_images()
    samples: list[Sample] = []
    for name, data in valid.items():
        (folder / name).write_bytes(data)
        fmt = name.split("-")[0] if not name.startswith(("size", "extreme")) else ""
        fmt = fmt or name.rsplit(".", 1)[1].replace("jpg", "jpeg").replace("tif", "tiff")
        samples.append(Sample(folder / name, "valid", fmt, extreme=name.startswith("extreme")))
    for name, (category, fmt, data) in malformed_images(valid).items():
        (folder / name).write_bytes(data)
        samples.append(Sample(folder / name, category, fmt))
    return samples


# --- The formats beyond the web five: PPM/PGM/PBM and ICO -------------------------------------


def _netpbm(magic: str, size: tuple[int, int], body: bytes, maxval: int | None = None) -> bytes:
    """A Netpbm file with a comment in its header, as scanners and netpbm's tools write them."""
    header = f"{magic}\n# written by the chori-torch tests\n{size[0]} {size[1]}\n"
    if maxval is not None:
        header += f"{maxval}\n"
    return header.encode() + body


def _plain(values: np.ndarray, per_line: int = 17) -> bytes:
    """Plain (ASCII) samples, a comment between two lines, lines of uneven length."""
    flat = [str(int(v)) for v in values.reshape(-1)]
    lines = [" ".join(flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    if len(lines) > 2:
        lines.insert(2, "# a comment inside the samples")
    return ("\n".join(lines) + "\n").encode()


def ppm_images() -> dict[str, bytes]:
    """Netpbm files: what PIL writes (P4, P5, P6, 16-bit P5) and, built here, the plain forms,
    other maxvals (PIL's "ppm" decoder and its rounding) and Pillow's own CMYK and RGBA forms."""
    chelsea = _sized(_photo("chelsea.png"), (61, 47)).convert("RGB")
    camera = _sized(_photo("camera.png"), (53, 41))
    rgb, grey = np.asarray(chelsea), np.asarray(camera)
    size = chelsea.size
    out = {
        "ppm-P6.ppm": _encode(chelsea, "PPM"),
        "ppm-P5.pgm": _encode(camera, "PPM"),
        "ppm-P4.pbm": _encode(camera.convert("1"), "PPM"),
        "ppm-P5-16bit.pgm": _encode(
            Image.fromarray((grey.astype(np.int32) * 257 // 300).astype(np.int32), "I"), "PPM"
        ),
        "ppm-P6-odd.ppm": _encode(_sized(chelsea, (7, 13)), "PPM"),
    }
    bits = (np.asarray(camera.convert("1")) == 0).astype(np.uint8)  # 1 = black
    out["ppm-P1.pbm"] = _netpbm("P1", camera.size, _plain(bits, 70).replace(b" ", b""))
    out["ppm-P1-spaced.pbm"] = _netpbm("P1", camera.size, _plain(bits))
    out["ppm-P2.pgm"] = _netpbm("P2", camera.size, _plain(grey), 255)
    out["ppm-P3.ppm"] = _netpbm("P3", size, _plain(rgb), 255)
    out["ppm-P3-max15.ppm"] = _netpbm("P3", size, _plain(rgb // 17), 15)
    out["ppm-P2-max1000.pgm"] = _netpbm("P2", camera.size, _plain(grey.astype(int) * 3), 1000)
    out["ppm-P5-max100.pgm"] = _netpbm(
        "P5", camera.size, (grey // 3).astype(np.uint8).tobytes(), 100
    )
    # Samples above maxval in a binary file: PIL's "ppm" decoder caps them at 255.
    out["ppm-P5-max100-over.pgm"] = _netpbm("P5", camera.size, grey.astype(np.uint8).tobytes(), 100)
    out["ppm-P6-max1023.ppm"] = _netpbm(
        "P6", size, (rgb.astype(">u2") * 4 + 1).astype(">u2").tobytes(), 1023
    )
    out["ppm-P5-max300.pgm"] = _netpbm("P5", camera.size, grey.astype(">u2").tobytes(), 300)
    cmyk = np.asarray(chelsea.convert("CMYK"))
    out["ppm-P0CMYK.ppm"] = _netpbm("P0CMYK", size, cmyk.tobytes(), 255)
    out["ppm-PyCMYK-max200.ppm"] = _netpbm("PyCMYK", size, (cmyk // 2).tobytes(), 200)
    out["ppm-PyRGBA.ppm"] = _netpbm("PyRGBA", size, np.asarray(_rgba(chelsea)).tobytes(), 255)
    # Float (PFM, PIL mode "F"): PIL's writer (little-endian, scale -1.0, bottom-up) and
    # big-endian by hand; values below 0, above 255, fractions, NaN and infinities.
    floats = grey.astype(np.float32) * 1.25 - 20.5
    floats[0, :4] = [np.nan, np.inf, -np.inf, 254.999]
    out["ppm-Pf.pfm"] = _encode(Image.fromarray(floats), "PPM")
    out["ppm-Pf-be.pfm"] = (
        _netpbm("Pf", camera.size, b"", None)
        + b"2_5.e-1\n"
        + (floats[::-1].astype(">f4").tobytes())
    )
    out["ppm-Pf-tiny-scale.pfm"] = b"Pf 3 2 -5e-324 " + np.arange(6, dtype="<f4").tobytes()
    # Pillow's "PyP": a palette image without a palette, black after convert("RGB").
    out["ppm-PyP.ppm"] = _netpbm("PyP", camera.size, grey.tobytes(), 255)
    out["ppm-PyP-max100.ppm"] = _netpbm("PyP", camera.size, (grey // 3).tobytes(), 100)
    return out


def _ico_entry(
    width: int, height: int, bpp: int, data: bytes, offset: int, colors: int = 0
) -> bytes:
    return struct.pack("<BBBBHHII", width % 256, height % 256, colors, 0, 1, bpp, len(data), offset)


def ico_file(images: list[tuple[int, int, int, bytes, int]]) -> bytes:
    """An ICO from (width, height, bpp, data, colors) entries, in that directory order."""
    offset = 6 + 16 * len(images)
    directory, blobs = b"", b""
    for w, h, bpp, data, colors in images:
        directory += _ico_entry(w, h, bpp, data, offset + len(blobs), colors)
        blobs += data
    return struct.pack("<HHH", 0, 1, len(images)) + directory + blobs


def ico_dib(im: Image.Image, bits: int) -> bytes:
    """An icon's DIB: BITMAPINFOHEADER with twice the height, the colour table, the XOR pixels
    bottom-up and the 1-bit AND mask (every other pixel transparent)."""
    w, h = im.size
    if bits == 24:
        rows = np.asarray(im.convert("RGB"))[::-1, :, ::-1]
        stride = (w * 3 + 3) & ~3
        table = b""
        pixels = b"".join(r.tobytes().ljust(stride, b"\0") for r in rows)
    else:
        pal = im.quantize(1 << bits)
        colours = (pal.getpalette() or []) + [0] * (3 << bits)
        table = b"".join(bytes((*colours[3 * i : 3 * i + 3][::-1], 0)) for i in range(1 << bits))
        idx = np.asarray(pal)[::-1]
        stride = ((w * bits + 31) >> 5) << 2
        rows = []
        for r in idx:
            acc = 0
            for v in r:
                acc = (acc << bits) | int(v)
            nbits = w * bits
            rows.append((acc << (stride * 8 - nbits)).to_bytes(stride, "big"))
        pixels = b"".join(rows)
    mask_stride = ((w + 31) >> 5) << 2
    mask = bytes([0xAA] * mask_stride) * h
    header = struct.pack("<IiiHHIIiiII", 40, w, 2 * h, 1, bits, 0, 0, 0, 0, 0, 0)
    return header + table + pixels + mask


def ico_images() -> dict[str, bytes]:
    """ICO files: PIL's writer (PNG inside, and BMP inside with bitmap_format="bmp"), and
    directories built here: 4/8/24-bit DIBs with AND masks, the choice between entries of the
    same size, a 256x256 entry (written as 0 in the directory)."""
    astronaut = _sized(_photo("astronaut.png"), (256, 256)).convert("RGB")
    chelsea = _sized(_photo("chelsea.png"), (64, 64)).convert("RGB")
    out = {
        "ico-png.ico": _encode(astronaut, "ICO", sizes=[(16, 16), (48, 48), (256, 256)]),
        "ico-png-rgba.ico": _encode(_rgba(chelsea), "ICO", sizes=[(32, 32), (64, 64)]),
        "ico-bmp-rgba.ico": _encode(_rgba(chelsea), "ICO", bitmap_format="bmp", sizes=[(64, 64)]),
        "ico-bmp-rgb.ico": _encode(chelsea, "ICO", bitmap_format="bmp", sizes=[(16, 16), (48, 48)]),
        "ico-bmp-P.ico": _encode(
            chelsea.quantize(200), "ICO", bitmap_format="bmp", sizes=[(32, 32)]
        ),
    }
    small = _sized(chelsea, (32, 32))
    for bits in (4, 8, 24):
        out[f"ico-dib{bits}.ico"] = ico_file([(32, 32, bits, ico_dib(small, bits), 0)])
    # Same size, two depths: PIL takes the lower colour depth among the largest entries.
    out["ico-same-size.ico"] = ico_file(
        [(32, 32, 24, ico_dib(small, 24), 0), (32, 32, 8, ico_dib(small, 8), 0)]
    )
    # The depth from the colour count when bpp is 0 (16 colours: depth 4).
    out["ico-colors.ico"] = ico_file(
        [(32, 32, 0, ico_dib(small, 4), 16), (32, 32, 0, ico_dib(small, 8), 0)]
    )
    odd = _sized(chelsea, (37, 21))
    out["ico-odd.ico"] = ico_file([(37, 21, 24, ico_dib(odd, 24), 0)])
    big = _encode(astronaut, "PNG")
    out["ico-256-png.ico"] = ico_file([(256, 256, 32, big, 0), (32, 32, 24, ico_dib(small, 24), 0)])
    return out


def _rewritten(tool: str, package: str, data: bytes, suffixes: str, *args: str) -> bytes:
    """`data` converted by a command-line tool (`tool [args] in out`) that
    scripts/setup-system.sh installs from Debian's `package`."""
    exe = shutil.which(tool)
    if exe is None:
        raise RuntimeError(f"{tool} not found: bash scripts/setup-system.sh (apt: {package})")
    with tempfile.TemporaryDirectory() as tmp:
        src_suffix, out_suffix = suffixes.split()
        src, out = Path(tmp) / f"in{src_suffix}", Path(tmp) / f"out{out_suffix}"
        src.write_bytes(data)
        subprocess.run([exe, *args, str(src), str(out)], check=True, capture_output=True)
        return out.read_bytes()


def _avifenc(im: Image.Image, *args: str) -> bytes:
    """The file Debian's avifenc writes for `im` (fastest speed)."""
    return _rewritten("avifenc", "libavif-bin", _encode(im, "PNG"), ".png .avif", "-s", "10", *args)


def avif_images() -> dict[str, bytes]:
    """AVIF files: PIL's writer (qualities, chroma subsamplings, alpha, lossless, odd sizes) and
    avifenc's (10- and 12-bit, 4:0:0, limited range, rotation and mirror properties)."""
    chelsea = _sized(_photo("chelsea.png"), (96, 80)).convert("RGB")
    astronaut = _sized(_photo("astronaut.png"), (120, 90)).convert("RGB")
    camera = _sized(_photo("camera.png"), (64, 48))
    out = {
        "avif-q50-420.avif": _encode(chelsea, "AVIF", quality=50, subsampling="4:2:0"),
        "avif-q90-444.avif": _encode(astronaut, "AVIF", quality=90, subsampling="4:4:4"),
        "avif-q75-422.avif": _encode(chelsea, "AVIF", quality=75, subsampling="4:2:2"),
        "avif-rgba.avif": _encode(_rgba(chelsea), "AVIF", quality=70),
        "avif-lossless.avif": _encode(astronaut, "AVIF", lossless=True),
        "avif-L.avif": _encode(camera, "AVIF", quality=80),
    }
    for w, h in [(1, 1), (7, 13), (33, 2)]:
        out[f"avif-{w}x{h}.avif"] = _encode(_sized(astronaut, (w, h)), "AVIF", quality=80)
    out["avif-enc-8bit.avif"] = _avifenc(chelsea)
    out["avif-enc-10bit.avif"] = _avifenc(astronaut, "-d", "10")
    out["avif-enc-12bit-444.avif"] = _avifenc(chelsea, "-d", "12", "-y", "444")
    out["avif-enc-400.avif"] = _avifenc(chelsea, "-y", "400")
    out["avif-enc-limited.avif"] = _avifenc(
        astronaut, "-r", "limited", "--min", "20", "--max", "40"
    )
    out["avif-enc-rgba-10bit.avif"] = _avifenc(_rgba(astronaut), "-d", "10")
    out["avif-enc-10bit-422.avif"] = _avifenc(chelsea, "-d", "10", "-y", "422")
    out["avif-enc-12bit-420.avif"] = _avifenc(astronaut, "-d", "12", "-y", "420")
    out["avif-enc-10bit-400.avif"] = _avifenc(chelsea, "-d", "10", "-y", "400")
    out["avif-enc-12bit-400-limited.avif"] = _avifenc(
        astronaut, "-d", "12", "-y", "400", "-r", "limited"
    )
    out["avif-enc-10bit-limited.avif"] = _avifenc(astronaut, "-d", "10", "-r", "limited")
    out["avif-enc-12bit-rgba-444.avif"] = _avifenc(_rgba(chelsea), "-d", "12", "-y", "444")
    odd = _sized(astronaut, (41, 27))
    out["avif-enc-rgba-10bit-420-odd.avif"] = _avifenc(_rgba(odd), "-d", "10", "-y", "420")
    out["avif-enc-rgba-10bit-422-odd.avif"] = _avifenc(_rgba(odd), "-d", "10", "-y", "422")
    out["avif-enc-rgba-10bit-limited.avif"] = _avifenc(_rgba(odd), "-d", "10", "-r", "limited")
    out["avif-enc-irot.avif"] = _avifenc(chelsea, "--irot", "1")
    out["avif-enc-imir.avif"] = _avifenc(chelsea, "--imir", "1")
    # Every other rotation and mirror: Pillow reports them as EXIF orientations 2-8.
    for irot, imir in [("2", ""), ("3", ""), ("", "0"), ("1", "0"), ("1", "1"), ("2", "0")]:
        args = [*(["--irot", irot] if irot else []), *(["--imir", imir] if imir else [])]
        out[f"avif-enc-irot{irot or '-'}-imir{imir or '-'}.avif"] = _avifenc(chelsea, *args)
    out["avif-enc-irot3-imir1-444.avif"] = _avifenc(
        chelsea, "--irot", "3", "--imir", "1", "-y", "444"
    )
    return out


def _tiffcp(data: bytes, *args: str) -> bytes:
    """`data` rewritten by libtiff's tiffcp."""
    return _rewritten("tiffcp", "libtiff-tools", data, ".tif .tif", *args)


def tiff_images() -> dict[str, bytes]:
    """TIFF files: PIL's writer (every mode it writes, its compressions, several pages) and
    tiffcp's (tiles, predictors, strip heights, big-endian, fax and JPEG compression)."""
    chelsea = _sized(_photo("chelsea.png"), (83, 61)).convert("RGB")
    camera = _sized(_photo("camera.png"), (70, 50))
    astronaut = _sized(_photo("astronaut.png"), (40, 35)).convert("RGB")
    i16 = Image.fromarray((np.asarray(camera, dtype=np.uint16) * 3).astype(np.uint16))
    out = {
        "tiff-RGB.tif": _encode(chelsea, "TIFF"),
        "tiff-RGB-lzw.tif": _encode(chelsea, "TIFF", compression="tiff_lzw"),
        "tiff-RGB-deflate.tif": _encode(chelsea, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-RGB-packbits.tif": _encode(chelsea, "TIFF", compression="packbits"),
        "tiff-RGBA.tif": _encode(_rgba(chelsea), "TIFF"),
        "tiff-RGBA-lzw.tif": _encode(_rgba(chelsea), "TIFF", compression="tiff_lzw"),
        "tiff-L.tif": _encode(camera, "TIFF"),
        "tiff-LA.tif": _encode(camera.convert("LA"), "TIFF"),
        "tiff-1.tif": _encode(camera.convert("1"), "TIFF"),
        "tiff-1-group4.tif": _encode(camera.convert("1"), "TIFF", compression="group4"),
        "tiff-P.tif": _encode(chelsea.quantize(256), "TIFF"),
        "tiff-P-lzw.tif": _encode(chelsea.quantize(16), "TIFF", compression="tiff_lzw"),
        "tiff-CMYK.tif": _encode(chelsea.convert("CMYK"), "TIFF"),
        "tiff-I16.tif": _encode(i16, "TIFF"),
        "tiff-pages.tif": _encode(
            astronaut, "TIFF", save_all=True, append_images=[chelsea, camera.convert("RGB")]
        ),
        "tiff-1x1.tif": _encode(_sized(chelsea, (1, 1)), "TIFF"),
        "tiff-7x13-lzw.tif": _encode(_sized(chelsea, (7, 13)), "TIFF", compression="tiff_lzw"),
    }
    rgb = out["tiff-RGB.tif"]
    out["tiff-cp-tiles.tif"] = _tiffcp(rgb, "-t", "-w", "32", "-l", "16")
    out["tiff-cp-tiles-lzw2.tif"] = _tiffcp(rgb, "-t", "-w", "16", "-l", "32", "-c", "lzw:2")
    out["tiff-cp-zip2.tif"] = _tiffcp(rgb, "-c", "zip:2", "-r", "7")
    out["tiff-cp-packbits.tif"] = _tiffcp(rgb, "-c", "packbits", "-r", "1")
    out["tiff-cp-bigendian.tif"] = _tiffcp(rgb, "-B", "-c", "lzw")
    out["tiff-cp-I16-bigendian.tif"] = _tiffcp(out["tiff-I16.tif"], "-B", "-c", "zip:2")
    out["tiff-cp-L-tiles.tif"] = _tiffcp(out["tiff-L.tif"], "-t", "-w", "16", "-l", "16")
    out["tiff-cp-P-tiles.tif"] = _tiffcp(
        out["tiff-P.tif"], "-t", "-w", "48", "-l", "48", "-c", "zip"
    )
    out["tiff-cp-1-g3.tif"] = _tiffcp(out["tiff-1.tif"], "-c", "g3")
    out["tiff-cp-1-g4-tiles.tif"] = _tiffcp(
        out["tiff-1.tif"], "-c", "g4", "-t", "-w", "32", "-l", "32"
    )
    out["tiff-cp-CMYK-lzw.tif"] = _tiffcp(out["tiff-CMYK.tif"], "-c", "lzw:2")
    # ZSTD and LZMA, which Pillow's libtiff and Debian's both have (not WebP: Pillow's lacks it).
    out["tiff-cp-zstd.tif"] = _tiffcp(rgb, "-c", "zstd")
    out["tiff-cp-zstd-predictor.tif"] = _tiffcp(rgb, "-c", "zstd:2", "-t", "-w", "32", "-l", "32")
    out["tiff-cp-lzma.tif"] = _tiffcp(out["tiff-L.tif"], "-c", "lzma:2")
    out["tiff-cp-pil-refuses-webp.tif"] = _tiffcp(rgb, "-c", "webp")
    out["tiff-cp-RGBA-tiles.tif"] = _tiffcp(
        out["tiff-RGBA.tif"], "-t", "-w", "16", "-l", "16", "-c", "zip"
    )
    # JPEG inside: PIL's writer (RGB photometric), tiffcp's (YCbCr, libjpeg converting; RGB).
    out["tiff-jpeg.tif"] = _encode(chelsea, "TIFF", compression="jpeg")
    out["tiff-jpeg-q95.tif"] = _encode(astronaut, "TIFF", compression="jpeg", quality=95)
    out["tiff-cp-jpeg-ycbcr.tif"] = _tiffcp(rgb, "-c", "jpeg", "-r", "16")
    out["tiff-cp-jpeg-rgb.tif"] = _tiffcp(rgb, "-c", "jpeg:r")
    out["tiff-cp-jpeg-tiles.tif"] = _tiffcp(rgb, "-c", "jpeg", "-t", "-w", "32", "-l", "32")
    out["tiff-cp-jpeg-L.tif"] = _tiffcp(out["tiff-L.tif"], "-c", "jpeg")
    # Float and 32-bit integer grey (PIL's modes F and I), clipped by convert("RGB"); through
    # libtiff, PIL reads a big-endian file's samples byte-swapped (tiffcp -B with compression).
    floats = np.asarray(camera, np.float32) * 1.3 - 30.7
    floats[0, :4] = [np.nan, np.inf, -np.inf, 254.99]
    out["tiff-F.tif"] = _encode(Image.fromarray(floats), "TIFF")
    out["tiff-F-lzw.tif"] = _encode(Image.fromarray(floats), "TIFF", compression="tiff_lzw")
    out["tiff-cp-F-be.tif"] = _tiffcp(out["tiff-F.tif"], "-B")
    out["tiff-cp-F-be-zip.tif"] = _tiffcp(out["tiff-F.tif"], "-B", "-c", "zip:3")
    ints = (np.asarray(camera, np.int32) - 60) * 3
    ints[0, :3] = [2**31 - 1, -(2**31), 256]
    out["tiff-I32.tif"] = _encode(Image.fromarray(ints), "TIFF")
    out["tiff-cp-I32-be.tif"] = _tiffcp(out["tiff-I32.tif"], "-B")
    out["tiff-cp-I32-be-lzw.tif"] = _tiffcp(out["tiff-I32.tif"], "-B", "-c", "lzw")
    out["tiff-cp-planar-tiles.tif"] = _tiffcp(rgb, "-p", "separate", "-t", "-w", "16", "-l", "16")
    out["tiff-cp-planar-tiles-zip.tif"] = _tiffcp(
        out["tiff-RGBA.tif"], "-p", "separate", "-t", "-w", "32", "-l", "16", "-c", "zip"
    )
    # Separate planes, as scientific and GIS tools write them.
    out["tiff-cp-planar.tif"] = _tiffcp(rgb, "-p", "separate")
    out["tiff-cp-planar-lzw.tif"] = _tiffcp(rgb, "-p", "separate", "-c", "lzw:2", "-r", "9")
    out["tiff-cp-planar-RGBA.tif"] = _tiffcp(out["tiff-RGBA.tif"], "-p", "separate", "-c", "zip")
    out["tiff-cp-planar-CMYK.tif"] = _tiffcp(out["tiff-CMYK.tif"], "-p", "separate")
    return out


def tiff_file(
    width: int,
    height: int,
    photometric: int,
    bits: int,
    samples: int,
    pixels: bytes,
    *,
    extra: tuple[int, ...] = (),
    colormap: list[int] | None = None,
    big_endian: bool = False,
    planar: bool = False,
    sample_format: int = 1,
    fill_order: int = 1,
    tags: tuple[tuple[int, int, list[int]], ...] = (),
    deflate: bool = False,
) -> bytes:
    """An uncompressed (or, one strip, Deflate) TIFF, one strip (one per sample when `planar`:
    `pixels` then holds the planes one after the other), with any further `tags`, for the
    layouts PIL's writer does not produce."""
    e = ">" if big_endian else "<"
    strips = samples if planar else 1
    if deflate:  # one strip, zlib-compressed (Compression 8)
        assert strips == 1
        pixels = zlib.compress(pixels)
    strip_bytes = len(pixels) // strips
    entries: list[tuple[int, int, list[int]]] = [  # (tag, type, values): 3 SHORT, 4 LONG
        (256, 4, [width]),
        (257, 4, [height]),
        (258, 3, [bits] * samples),
        (259, 3, [8 if deflate else 1]),
        (262, 3, [photometric]),
        (273, 4, [0] * strips),  # StripOffsets, patched below
        (277, 3, [samples]),
        (278, 4, [height]),
        (279, 4, [strip_bytes] * strips),
        (284, 3, [2 if planar else 1]),
    ]
    if colormap is not None:
        entries.append((320, 3, colormap))
    if sample_format != 1:
        entries.append((339, 3, [sample_format] * samples))
    if fill_order != 1:
        entries.append((266, 3, [fill_order]))
    entries += tags
    if extra:
        entries.append((338, 3, list(extra)))
    entries.sort()
    ifd_size = 2 + 12 * len(entries) + 4
    blobs, blob_at = b"", 8 + ifd_size
    ifd = struct.pack(e + "H", len(entries))
    data_at = blob_at + sum(
        len(v) * (2 if t == 3 else 4) for _, t, v in entries if len(v) * (2 if t == 3 else 4) > 4
    )
    for tag, kind, values in entries:
        if tag == 273:
            values = [data_at + k * strip_bytes for k in range(strips)]
        fmt = "H" if kind == 3 else "I"
        raw = struct.pack(e + fmt * len(values), *values)
        if len(raw) <= 4:
            ifd += struct.pack(e + "HHI", tag, kind, len(values)) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", tag, kind, len(values), blob_at + len(blobs))
            blobs += raw
    header = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", 8)
    return header + ifd + b"\0\0\0\0" + blobs + pixels


def _pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Rows of `bits`-bit samples, most significant first, each row padded to a byte."""
    rows = []
    for row in values:
        acc = 0
        for v in row:
            acc = (acc << bits) | int(v)
        nbits = len(row) * bits
        rows.append((acc << (-nbits % 8)).to_bytes((nbits + 7) // 8, "big"))
    return b"".join(rows)


def lossless_jpeg(
    samples: np.ndarray, precision: int = 8, predictor: int = 1, ids: tuple[int, ...] = ()
) -> bytes:
    """A lossless JPEG (SOF3, ITU T.81 annex H), written here: neither PIL nor Debian's
    libjpeg-turbo 2.1 tools write one. `samples` is (h, w) or (h, w, components); one Huffman
    table codes the 17 difference categories in 5 bits each; no point transform."""
    x = (samples if samples.ndim == 3 else samples[..., None]).astype(np.int64)
    h, w, count = x.shape
    ids = ids or tuple(range(1, count + 1))

    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    head = b"\xff\xd8" + segment(0xC4, bytes([0, 0, 0, 0, 0, 17, *[0] * 11, *range(17)]))
    components = b"".join(bytes([i, 0x11, 0]) for i in ids)
    head += segment(0xC3, struct.pack(">BHHB", precision, h, w, count) + components)
    scan = bytes([count, *[v for i in ids for v in (i, 0)], predictor, 0, 0])
    head += segment(0xDA, scan)
    bits: list[int] = []
    for r in range(h):
        for c in range(w):
            for k in range(count):
                ra = int(x[r, c - 1, k]) if c else 0
                rb = int(x[r - 1, c, k]) if r else 0
                rc = int(x[r - 1, c - 1, k]) if r and c else 0
                if r == 0 and c == 0:
                    guess = 1 << (precision - 1)
                elif r == 0 or c == 0:
                    guess = ra if r == 0 else rb
                else:
                    guess = [ra, rb, rc, ra + rb - rc, ra + ((rb - rc) >> 1)][predictor - 1]
                diff = (int(x[r, c, k]) - guess + 0x8000) % 0x10000 - 0x8000
                size = abs(diff).bit_length()
                bits += [(size >> i) & 1 for i in range(4, -1, -1)]
                value = diff if diff >= 0 else diff + (1 << size) - 1
                bits += [(value >> i) & 1 for i in range(size - 1, -1, -1)]
    bits += [1] * (-len(bits) % 8)
    data = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    return head + data.replace(b"\xff", b"\xff\x00") + b"\xff\xd9"


def lossless_jpegs() -> dict[str, bytes]:
    """Lossless JPEG, which Pillow 13's libjpeg-turbo 3.2 decodes and Debian 12's 2.1.5 cannot
    (refused by name); 12-bit, which Pillow does not open at all."""
    grey = np.asarray(_sized(_photo("camera.png"), (27, 20)), np.int64)
    rgb = np.asarray(_sized(_photo("chelsea.png"), (23, 17)).convert("RGB"), np.int64)
    return {
        "jpeg-lossless-grey.jpg": lossless_jpeg(grey),
        "jpeg-lossless-grey-predictor5.jpg": lossless_jpeg(grey, predictor=5),
        "jpeg-lossless-rgb.jpg": lossless_jpeg(rgb, predictor=4, ids=(82, 71, 66)),
        "jpeg-pil-refuses-lossless-12bit.jpg": lossless_jpeg(grey * 16 + 7, precision=12),
    }


def _ycbcr_blocks(ycc: np.ndarray, sx: int, sy: int) -> bytes:
    """Subsampled YCbCr as TIFF stores it: for each sx x sy block (the image padded by edge
    replication), its Y samples row by row, then the block's mean Cb and Cr."""
    h, w, _ = ycc.shape
    padded = np.pad(ycc, ((0, -h % sy), (0, -w % sx), (0, 0)), mode="edge").astype(np.int32)
    out = bytearray()
    for by in range(0, padded.shape[0], sy):
        for bx in range(0, padded.shape[1], sx):
            block = padded[by : by + sy, bx : bx + sx]
            out += bytes(block[..., 0].reshape(-1).astype(np.uint8))
            out += bytes([int(block[..., 1].mean()), int(block[..., 2].mean())])
    return bytes(out)


def tiff_ycbcr_and_orientation() -> dict[str, bytes]:
    """YCbCr without JPEG (PIL's own reading of an uncompressed one, TIFFRGBAImage for the
    rest: 4:4:4, 4:2:2, 4:2:0, odd sizes) and the Orientation tag, which Pillow 13 applies as
    it loads a TIFF."""
    chelsea = _sized(_photo("chelsea.png"), (31, 17)).convert("RGB")
    ycc = np.asarray(chelsea.convert("YCbCr"))
    h, w, _ = ycc.shape
    subsampling = 530
    out = {"tiff-YCbCr.tif": _encode(chelsea.convert("YCbCr"), "TIFF")}
    full = tiff_file(w, h, 6, 8, 3, ycc.tobytes(), tags=((subsampling, 3, [1, 1]),))
    out["tiff-hand-YCbCr-444.tif"] = full
    out["tiff-cp-YCbCr-444-lzw.tif"] = _tiffcp(full, "-c", "lzw")
    out["tiff-cp-YCbCr-444-zip-tiles.tif"] = _tiffcp(
        full, "-c", "zip", "-t", "-w", "16", "-l", "16"
    )
    out["tiff-cp-YCbCr-444-tiles.tif"] = _tiffcp(full, "-t", "-w", "16", "-l", "16")
    for sx, sy in [(2, 2), (2, 1), (4, 2)]:
        out[f"tiff-hand-YCbCr-{sx}x{sy}-deflate.tif"] = tiff_file(
            w,
            h,
            6,
            8,
            3,
            _ycbcr_blocks(ycc, sx, sy),
            tags=((subsampling, 3, [sx, sy]),),
            deflate=True,
        )
    for orientation in range(2, 9):
        out[f"tiff-orientation-{orientation}.tif"] = _encode(
            chelsea, "TIFF", tiffinfo={274: orientation}
        )
    out["tiff-orientation-6-lzw.tif"] = _encode(
        chelsea, "TIFF", tiffinfo={274: 6}, compression="tiff_lzw"
    )
    out["tiff-YCbCr-orientation-8.tif"] = _encode(
        chelsea.convert("YCbCr"), "TIFF", tiffinfo={274: 8}
    )
    # Through TIFFRGBAImage, libtiff flips each block of rows by the orientation first.
    for orientation in range(2, 9):
        out[f"tiff-hand-YCbCr-deflate-orientation-{orientation}.tif"] = tiff_file(
            w,
            h,
            6,
            8,
            3,
            _ycbcr_blocks(ycc, 2, 2),
            tags=((subsampling, 3, [2, 2]), (274, 3, [orientation])),
            deflate=True,
        )
    for orientation in (4, 7):
        oriented = tiff_file(
            w, h, 6, 8, 3, ycc.tobytes(), tags=((subsampling, 3, [1, 1]), (274, 3, [orientation]))
        )
        out[f"tiff-cp-YCbCr-lzw-strips-orientation-{orientation}.tif"] = _tiffcp(
            oriented, "-c", "lzw", "-r", "5"
        )
    return out


def tiff_layouts() -> dict[str, bytes]:
    """Hand-built TIFFs: 2/4-bit and MinIsWhite grey, 16-bit RGB and CMYK in both byte orders,
    1/2/4-bit palettes, extra samples."""
    rgb = np.asarray(_sized(_photo("chelsea.png"), (29, 17)).convert("RGB"))
    grey = np.asarray(_sized(_photo("camera.png"), (29, 17)))
    h, w = grey.shape
    out = {}
    for bits in (2, 4):
        out[f"tiff-hand-L{bits}.tif"] = tiff_file(
            w, h, 1, bits, 1, _pack_bits(grey >> (8 - bits), bits)
        )
        out[f"tiff-hand-L{bits}-white.tif"] = tiff_file(
            w, h, 0, bits, 1, _pack_bits(grey >> (8 - bits), bits)
        )
    out["tiff-hand-L-white.tif"] = tiff_file(w, h, 0, 8, 1, grey.tobytes())
    out["tiff-hand-1-black.tif"] = tiff_file(w, h, 1, 1, 1, _pack_bits(grey >> 7, 1))
    out["tiff-hand-I16-white.tif"] = tiff_file(w, h, 0, 16, 1, (grey.astype("<u2") * 2).tobytes())
    # Signed and 32-bit samples: PIL's "L" (signed bytes as they are), I;16S, I;32N.
    signed = (grey.astype(np.int32) - 100) * 2
    out["tiff-hand-L-signed.tif"] = tiff_file(
        w, h, 1, 8, 1, signed.astype(np.int8).tobytes(), sample_format=2
    )
    for e, suffix in [("<", ""), (">", "-be")]:
        out[f"tiff-hand-I16S{suffix}.tif"] = tiff_file(
            w, h, 1, 16, 1, signed.astype(f"{e}i2").tobytes(), sample_format=2, big_endian=e == ">"
        )
    out["tiff-cp-I16S-be-lzw.tif"] = _tiffcp(out["tiff-hand-I16S-be.tif"], "-c", "lzw")
    out["tiff-hand-I32N.tif"] = tiff_file(
        w, h, 1, 32, 1, (grey.astype("<u4") * 3 + (grey > 200) * 2**31).astype("<u4").tobytes()
    )
    # Fill order 2 (bits least significant first): libtiff reverses them, as PIL's ";R" modes.
    flip = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], np.uint8)

    def flipped(packed: bytes) -> bytes:
        return flip[np.frombuffer(packed, np.uint8)].tobytes()

    out["tiff-hand-1-fill2.tif"] = tiff_file(
        w, h, 1, 1, 1, flipped(_pack_bits(grey >> 7, 1)), fill_order=2
    )
    out["tiff-hand-L4-fill2.tif"] = tiff_file(
        w, h, 0, 4, 1, flipped(_pack_bits(grey >> 4, 4)), fill_order=2
    )
    out["tiff-hand-L-fill2.tif"] = tiff_file(w, h, 1, 8, 1, flip[grey].tobytes(), fill_order=2)
    out["tiff-hand-RGB-fill2.tif"] = tiff_file(w, h, 2, 8, 3, flip[rgb].tobytes(), fill_order=2)
    out["tiff-hand-I16-fill2.tif"] = tiff_file(
        w, h, 1, 16, 1, flipped((grey.astype("<u2") * 2).tobytes()), fill_order=2
    )
    out["tiff-cp-RGB-fill2-lzw.tif"] = _tiffcp(out["tiff-hand-RGB-fill2.tif"], "-c", "lzw")
    out["tiff-cp-1-fill2-g4.tif"] = _tiffcp(out["tiff-hand-1-fill2.tif"], "-c", "g4")
    rgb16 = rgb.astype(np.uint16) * 257 + np.arange(w, dtype=np.uint16)[None, :, None]
    out["tiff-hand-RGB16.tif"] = tiff_file(w, h, 2, 16, 3, rgb16.astype("<u2").tobytes())
    out["tiff-hand-RGB16-planar.tif"] = tiff_file(
        w, h, 2, 16, 3, np.moveaxis(rgb16, -1, 0).astype("<u2").tobytes(), planar=True
    )
    out["tiff-hand-RGB16-planar-be.tif"] = tiff_file(
        w,
        h,
        2,
        16,
        3,
        np.moveaxis(rgb16, -1, 0).astype(">u2").tobytes(),
        planar=True,
        big_endian=True,
    )
    # Compressed, PIL has libtiff copy each 16-bit plane's high byte into its band.
    planar16 = out["tiff-hand-RGB16-planar.tif"]
    out["tiff-cp-RGB16-planar-lzw.tif"] = _tiffcp(planar16, "-p", "separate", "-c", "lzw:2")
    out["tiff-cp-RGB16-planar-tiles-zip.tif"] = _tiffcp(
        planar16, "-p", "separate", "-t", "-w", "16", "-l", "16", "-c", "zip"
    )
    out["tiff-cp-RGB16-planar-strips.tif"] = _tiffcp(planar16, "-p", "separate", "-r", "5")
    out["tiff-cp-RGB16-planar-tiles.tif"] = _tiffcp(
        planar16, "-p", "separate", "-t", "-w", "16", "-l", "16"
    )
    out["tiff-hand-RGB16-be.tif"] = tiff_file(
        w, h, 2, 16, 3, rgb16.astype(">u2").tobytes(), big_endian=True
    )
    rgba16 = np.concatenate([rgb16, rgb16[..., :1]], axis=-1)
    out["tiff-hand-RGBA16.tif"] = tiff_file(
        w, h, 2, 16, 4, rgba16.astype("<u2").tobytes(), extra=(2,)
    )
    cmyk16 = np.concatenate([rgb16, rgb16[..., :1] // 3], axis=-1)
    out["tiff-hand-CMYK16.tif"] = tiff_file(w, h, 5, 16, 4, cmyk16.astype("<u2").tobytes())
    out["tiff-hand-CMYK16-planar.tif"] = tiff_file(
        w, h, 5, 16, 4, np.moveaxis(cmyk16, -1, 0).astype("<u2").tobytes(), planar=True
    )
    rgbx = np.concatenate([rgb, rgb[..., :2]], axis=-1)
    # Associated alpha: every (colour, alpha) pair, which PIL un-premultiplies.
    c, a = np.meshgrid(np.arange(256), np.arange(256))
    out["tiff-hand-RGBa-all.tif"] = tiff_file(
        256,
        256,
        2,
        8,
        4,
        np.stack([c, 255 - c, c // 2, a], -1).astype(np.uint8).tobytes(),
        extra=(1,),
    )
    rgba_x = np.concatenate([rgb, grey[..., None] | 1, rgb[..., :1]], axis=-1)
    out["tiff-hand-RGBaX.tif"] = tiff_file(w, h, 2, 8, 5, rgba_x.tobytes(), extra=(1, 0))
    out["tiff-hand-RGBXX.tif"] = tiff_file(w, h, 2, 8, 5, rgbx.tobytes(), extra=(0, 0))
    out["tiff-hand-RGBX.tif"] = tiff_file(w, h, 2, 8, 4, rgbx[..., :4].tobytes(), extra=(0,))
    out["tiff-hand-LX.tif"] = tiff_file(
        w, h, 1, 8, 2, np.stack([grey, grey], -1).tobytes(), extra=(0,)
    )
    cmykx = np.concatenate([rgb, rgb[..., :2]], axis=-1)
    out["tiff-hand-CMYKX.tif"] = tiff_file(w, h, 5, 8, 5, cmykx.tobytes(), extra=(0,))
    # 12-bit grey ("I;12", clipped like I;16), 16-bit associated alpha (un-premultiplied on
    # the high bytes).
    i12 = grey.astype(np.int32) * 16 + np.arange(w)[None, :] * 7 % 16
    i12[0, :4] = [0, 255, 256, 4095]
    out["tiff-hand-I12.tif"] = tiff_file(w, h, 1, 12, 1, _pack_bits(i12, 12))
    out["tiff-cp-I12-lzw.tif"] = _tiffcp(out["tiff-hand-I12.tif"], "-c", "lzw")
    premultiplied = rgba16.copy()
    premultiplied[..., :3] = rgba16[..., :3].astype(np.uint32) * rgba16[..., 3:] // 65535
    premultiplied[:2, :5, 3] = 0
    for e, suffix in [("<u2", ""), (">u2", "-be")]:
        out[f"tiff-hand-RGBa16{suffix}.tif"] = tiff_file(
            w, h, 2, 16, 4, premultiplied.astype(e).tobytes(), extra=(1,), big_endian=e[0] == ">"
        )
    out["tiff-cp-RGBa16-be-zip.tif"] = _tiffcp(out["tiff-hand-RGBa16-be.tif"], "-c", "zip")
    # The version number's bytes swapped: PIL reads an uncompressed file all the same.
    for name in ("tiff-hand-RGB16-be.tif", "tiff-hand-L-white.tif"):
        swapped = bytearray(out[name])
        swapped[2:4] = swapped[3:1:-1]
        out[name.replace("-hand-", "-swapped-version-")] = bytes(swapped)
    # PIL refuses these ("unknown pixel mode"): fill order 2 with alpha, 32-bit unsigned
    # big-endian, 16-bit MinIsWhite big-endian, big-endian 12-bit; and "La", which it opens
    # but cannot convert to RGB.
    out["tiff-pil-refuses-La.tif"] = tiff_file(
        w, h, 1, 8, 2, np.stack([grey, grey // 2], -1).tobytes(), extra=(1,)
    )
    out["tiff-pil-refuses-I12-be.tif"] = tiff_file(
        w, h, 1, 12, 1, _pack_bits(i12, 12), big_endian=True
    )
    rgba = np.concatenate([rgb, grey[..., None]], -1)
    out["tiff-pil-refuses-RGBA-fill2.tif"] = tiff_file(
        w, h, 2, 8, 4, rgba.tobytes(), extra=(2,), fill_order=2
    )
    out["tiff-pil-refuses-I32-be.tif"] = tiff_file(
        w, h, 1, 32, 1, grey.astype(">u4").tobytes(), big_endian=True
    )
    out["tiff-pil-refuses-I16-white-be.tif"] = tiff_file(
        w, h, 0, 16, 1, grey.astype(">u2").tobytes(), big_endian=True
    )
    for bits in (1, 2, 4):
        n = 1 << bits
        colormap = [(i * 40503 + c * 9001) % 65536 for c in range(3) for i in range(n)]
        out[f"tiff-hand-P{bits}.tif"] = tiff_file(
            w, h, 3, bits, 1, _pack_bits(grey % n, bits), colormap=colormap
        )
    return out


def _with_tiff_size(data: bytes, width: int, height: int) -> bytes:
    """A little-endian TIFF with ImageWidth and ImageLength set in its first directory."""
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    for i in range(struct.unpack_from("<H", out, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", out, entry)[0]
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<HHII", out, entry, tag, 4, 1, value)  # as a LONG
    return bytes(out)


def other_format_malformed(valid: dict[str, bytes]) -> dict[str, tuple[str, str, bytes]]:
    """Broken PPM, ICO, AVIF and TIFF files: truncations, corrupt headers and data, huge sizes."""
    out: dict[str, tuple[str, str, bytes]] = {}
    for base in (
        "ppm-P6.ppm",
        "ppm-P3.ppm",
        "ppm-P4.pbm",
        "ppm-P6-max1023.ppm",
        "ppm-Pf.pfm",
        "ppm-PyP-max100.ppm",
        "ico-png.ico",
        "ico-dib8.ico",
        "ico-bmp-rgba.ico",
        "avif-q50-420.avif",
        "avif-enc-8bit.avif",
        "tiff-RGB.tif",
        "tiff-RGB-lzw.tif",
        "tiff-P-lzw.tif",
        "tiff-cp-jpeg-ycbcr.tif",
    ):
        data = valid[base]
        fmt = base.split("-")[0]
        stem = base.rsplit(".", 1)[0]
        for label, cut in [
            ("header", 12),
            ("70pct", len(data) * 7 // 10),
            ("99pct", len(data) - 3),
        ]:
            out[f"trunc-{stem}-{label}"] = ("truncated", fmt, data[:cut])
    p6 = valid["ppm-P6.ppm"]
    body = p6[p6.index(b"255\n") + 4 :]
    out["bad-ppm-maxval0"] = ("flipped", "ppm", b"P6\n61 47\n0\n" + body)
    out["bad-ppm-maxval70000"] = ("flipped", "ppm", b"P6\n61 47\n70000\n" + body)
    out["bad-ppm-token"] = ("flipped", "ppm", b"P6\n61 47\n00000000000255\n" + body)
    out["bad-ppm-width"] = ("flipped", "ppm", b"P6\n6x1 47\n255\n" + body)
    # "P7" (PAM) is no signature PIL accepts: not a PPM at all.
    out["bad-ppm-magic"] = ("text", "ppm", b"P7\n61 47\n255\n" + body)
    out["bad-ppm-P1-char"] = ("flipped", "ppm", b"P1\n2 2\n0 1 1 0 2\n")
    out["bad-ppm-P2-over"] = ("flipped", "ppm", b"P2\n2 1\n100\n50 101\n")
    out["bad-ppm-P2-negative"] = ("flipped", "ppm", b"P2\n2 1\n100\n50 -1\n")
    out["bad-ppm-P2-long"] = ("flipped", "ppm", b"P2\n2 1\n100\n50 00000000001\n")
    out["huge-ppm"] = ("huge", "ppm", b"P6\n70000 70000\n255\n" + body)
    # A swapped version number in a compressed file: PIL hands it to libtiff, which refuses it.
    lzw = bytearray(valid["tiff-RGB-lzw.tif"])
    lzw[2:4] = lzw[3:1:-1]
    out["bad-tiff-swapped-version-lzw"] = ("flipped", "tiff", bytes(lzw))
    out["huge-ppm-Pf"] = ("huge", "ppm", b"Pf\n70000 70000\n-1\n" + body)
    scales = {"zero": b"-0.0", "inf": b"inf", "overflow": b"1e999", "text": b"1.0x"}
    for label, scale in scales.items():
        pfm = b"Pf\n2 1\n" + scale + b"\n" + bytes(8)
        out[f"bad-ppm-Pf-scale-{label}"] = ("flipped", "ppm", pfm)
    avif = bytearray(valid["avif-q50-420.avif"])
    ispe = avif.index(b"ispe") + 8  # version and flags, then width and height
    struct.pack_into(">II", avif, ispe, 14_000, 14_000)  # over PIL's limit, under libavif's
    out["huge-avif"] = ("huge", "avif", bytes(avif))
    struct.pack_into(">II", avif, ispe, 20_000, 20_000)  # over libavif's: it cannot parse it
    out["bad-avif-over-libavif-limit"] = ("flipped", "avif", bytes(avif))
    for k in range(3):
        flipped = bytearray(valid["avif-q90-444.avif"])
        at = len(flipped) // 2 + 97 * k
        flipped[at : at + 8] = bytes(b ^ 0xFF for b in flipped[at : at + 8])
        out[f"flip-avif-{k}"] = ("flipped", "avif", bytes(flipped))
    out["huge-tiff"] = ("huge", "tiff", _with_tiff_size(valid["tiff-RGB.tif"], 20_000, 20_000))
    for k in range(3):
        flipped = bytearray(valid["tiff-RGB-lzw.tif"])
        at = len(flipped) // 2 + 101 * k
        flipped[at : at + 16] = bytes(16)
        out[f"flip-tiff-lzw-{k}"] = ("flipped", "tiff", bytes(flipped))
    ico = valid["ico-dib8.ico"]
    out["bad-ico-empty-dir"] = ("flipped", "ico", ico[:4] + b"\0\0" + ico[6:])
    bad = bytearray(ico)
    struct.pack_into("<I", bad, 6 + 12, len(ico) + 10)  # the entry points past the end
    out["bad-ico-offset"] = ("truncated", "ico", bytes(bad))
    huge = bytearray(ico)
    struct.pack_into("<ii", huge, 6 + 16 + 4, 70_000, 140_000)
    out["huge-ico"] = ("huge", "ico", bytes(huge))
    return out


def write_other_formats(folder: Path) -> list[Sample]:
    """The PPM, ICO, AVIF and TIFF corpus (valid and malformed), and lossless JPEG, in
    `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    valid = {
        **ppm_images(),
        **ico_images(),
        **avif_images(),
        **tiff_images(),
        **tiff_layouts(),
        **tiff_ycbcr_and_orientation(),
        **lossless_jpegs(),
    }
    samples = []
    for name, data in valid.items():
        (folder / name).write_bytes(data)
        # Well-formed layouts that PIL's tables do not list ("unknown pixel mode").
        category = "layout" if "-pil-refuses-" in name else "valid"
        samples.append(Sample(folder / name, category, name.split("-")[0]))
    for name, (category, fmt, data) in other_format_malformed(valid).items():
        (folder / name).write_bytes(data)
        samples.append(Sample(folder / name, category, fmt))
    return samples
