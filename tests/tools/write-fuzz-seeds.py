"""Writes the fuzz target's seed corpus into a folder: the demo images, the parity photographs,
every file of the generated corpus (valid files of each format and layout, PPM, ICO and AVIF
included, and their broken versions) and the cases of test_png_chunks.py and
test_bmp_parity.py, so fuzzing starts from every decoder path the tests know.

    python tests/tools/write-fuzz-seeds.py build/fuzz/seeds
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from conftest import DEMO_IMAGES, real_photographs
from image_corpus import write_corpus, write_other_formats
from test_bmp_parity import all_cases as bmp_cases
from test_png_chunks import CASES as PNG_CHUNK_CASES


def main(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    corpus = write_corpus(folder / "generated")
    corpus += write_other_formats(folder / "formats")
    files = [*sorted(DEMO_IMAGES.glob("*.*")), *real_photographs()]
    for i, f in enumerate(files):
        shutil.copyfile(f, folder / f"{i:03d}-{f.name}")
    for name, data in PNG_CHUNK_CASES.items():
        (folder / f"png-chunks-{name}.png").write_bytes(data)
    bmps = bmp_cases()
    for name, (_, data) in bmps.items():
        (folder / f"bmp-{name}.bmp").write_bytes(data)
    total = len(files) + len(corpus) + len(PNG_CHUNK_CASES) + len(bmps)
    print(f"write-fuzz-seeds: {total} files in {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
