"""Peak memory of decoding one large image, per format and layout, as a multiple of the decoded
RGB image (width x height x 3 bytes): what one request can make the addon allocate.

Each file is written here (PIL, or by hand for the layouts PIL does not write: Adam7-interlaced
and 16-bit RGB PNG), then preprocessed by the addon in a fresh Node process that reports its
peak resident memory (VmHWM); a 1 x 1 PNG through the same process gives the baseline, and the
input buffer itself (the file's size) is subtracted: "extra" is what the call needed, and
"decoding" is that less the addon's own copy of the input (one more file size), i.e. the
decoder's working memory and the RGB image. Animated GIF and WebP files with many frames are
compared with their one-frame versions: only the first frame may cost anything.

    python bench/decode_peak.py [--megapixels 24] [--frames 1000] [--out docs/benchmarks-decode.md]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from image_corpus import _avifenc, _tiffcp, interlaced_png  # noqa: E402

MODEL = ROOT / "export" / "model.pt"
CHILD = r"""
const fs = require('node:fs');
const { load } = require(process.argv[1]);
(async () => {
  const m = await load(process.argv[2], { threads: 1 });
  const buf = fs.readFileSync(process.argv[3]);
  const start = process.hrtime.bigint();
  await m.preprocess(buf);
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
  console.log(JSON.stringify({ hwmKiB: Number(hwm), ms }));
  m.dispose();
})();
"""


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16(rgb16: np.ndarray) -> bytes:
    """A plain (non-interlaced) 16-bit RGB PNG, which PIL cannot write."""
    h, w, _ = rgb16.shape
    rows = np.concatenate(
        [np.zeros((h, 1), np.uint8), rgb16.astype(">u2").view(np.uint8).reshape(h, w * 6)], axis=1
    )
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    idat = zlib.compress(rows.tobytes(), 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def encoded(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def animation(frame: Image.Image, frames: int, fmt: str) -> bytes:
    others = [frame.rotate(90 * (i % 4)) for i in range(1, frames)]
    params = {"lossless": False, "quality": 50} if fmt == "WEBP" else {}
    return encoded(frame, fmt, save_all=True, append_images=others, duration=40, **params)


def cases(megapixels: float, frames: int) -> dict[str, tuple[bytes, int, int]]:
    w = int((megapixels * 1e6 * 3 / 2) ** 0.5)
    h = int(w * 2 / 3)
    rng = np.random.default_rng(0)
    # A smooth image with noise: compresses like a photograph, not like flat colour.
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) * 127 // (w + h)], axis=-1)
    rgb = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    small = im.resize((320, 240))
    one_gif = small.convert("P", palette=Image.Palette.ADAPTIVE)
    return {
        "JPEG baseline 4:2:0": (encoded(im, "JPEG", quality=90), w, h),
        "JPEG progressive 4:2:0": (encoded(im, "JPEG", quality=90, progressive=True), w, h),
        "JPEG progressive 4:4:4": (
            encoded(im, "JPEG", quality=90, progressive=True, subsampling=0),
            w,
            h,
        ),
        "PNG RGB 8-bit": (encoded(im, "PNG", compress_level=1), w, h),
        "PNG RGB 8-bit interlaced": (interlaced_png(im), w, h),
        "PNG RGB 16-bit": (png16(rgb.astype(np.uint16) * 257), w, h),
        "BMP 24-bit": (encoded(im, "BMP"), w, h),
        "AVIF 4:2:0": (encoded(im, "AVIF", quality=80, speed=10), w, h),
        # Narrowed to 8 bits before the colour conversion, as Pillow's libavif does.
        "AVIF 10-bit 4:2:0": (_avifenc(im, "-d", "10", "--min", "30", "--max", "40"), w, h),
        "TIFF RGB strips (LZW)": (encoded(im, "TIFF", compression="tiff_lzw"), w, h),
        "TIFF RGB tiles (Deflate)": (
            _tiffcp(encoded(im, "TIFF"), "-t", "-w", "256", "-l", "256", "-c", "zip"),
            w,
            h,
        ),
        # Through libtiff's TIFFRGBAImage, a block of 64 rows of 32-bit pixels at a time.
        "TIFF YCbCr (LZW, TIFFRGBAImage)": (
            _tiffcp(encoded(im.convert("YCbCr"), "TIFF"), "-c", "lzw", "-r", "64"),
            w,
            h,
        ),
        "WebP lossy": (
            encoded(im if megapixels <= 16 else im.crop((0, 0, 4000, 4000)), "WEBP"),
            *((w, h) if megapixels <= 16 else (4000, 4000)),
        ),
        "GIF 1 frame": (encoded(one_gif, "GIF"), 320, 240),
        f"GIF {frames} frames": (animation(one_gif, frames, "GIF"), 320, 240),
        "WebP 1 frame": (encoded(small, "WEBP", quality=50), 320, 240),
        f"WebP {frames} frames": (animation(small, frames, "WEBP"), 320, 240),
    }


def measure(path: Path) -> dict[str, float]:
    out = subprocess.run(
        ["node", "-e", CHILD, str(ROOT), str(MODEL), str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out)


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text()
    model = next(
        line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
    )
    flags = next(
        line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")
    )
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({', '.join(simd) or 'no AVX2'}), {platform.machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=24.0, help="size of the large files")
    parser.add_argument("--frames", type=int, default=1000, help="frames of the animations")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny = folder / "tiny.png"
        Image.new("RGB", (1, 1)).save(tiny)
        print(f"writing the files ({args.megapixels:g} MP, {args.frames} frames)...", flush=True)
        made = cases(args.megapixels, args.frames)
        baseline = min(measure(tiny)["hwmKiB"] for _ in range(3))
        rows = []
        for name, (data, w, h) in made.items():
            path = folder / "image"
            path.write_bytes(data)
            r = measure(path)
            extra = max(r["hwmKiB"] * 1024 - baseline * 1024 - len(data), 0)
            decoding = max(extra - len(data), 0)
            rgb = w * h * 3
            rows.append(
                f"| {name} | {w}x{h} | {len(data) / 2**20:.1f} | {rgb / 2**20:.1f} | "
                f"{extra / 2**20:.1f} | {decoding / 2**20:.1f} | {decoding / rgb:.2f}x | "
                f"{r['ms']:.0f} |"
            )
            print(rows[-1], flush=True)
    header = [
        "# Decode peak memory",
        "",
        f"One run on {cpu()}, "
        f"`python bench/decode_peak.py --megapixels {args.megapixels:g} --frames {args.frames}` "
        f"({time.monotonic() - started:.0f} s). Extra = peak RSS over a 1x1 PNG's, minus the "
        "input buffer; decoding = extra minus the addon's copy of the input; "
        "RGB = width x height x 3.",
        "",
        "| file | size | file MiB | RGB MiB | extra MiB | decoding MiB | decoding / RGB | ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    table = "\n".join([*header, *rows]) + "\n"
    if args.out:
        args.out.write_text(table)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
