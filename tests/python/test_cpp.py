"""The C++ front end (``make cpp``: libchori and ``chori-predict``) against the same bar as Node.

``chori-predict --json --logits`` over the parity photographs and the generated corpus must give
the golden logits bit for bit (max |Δ| = 0), and the same error code as Node for every file PIL
refuses; the example program in ``examples/cpp`` is built against an installed prefix, the way
a user would build it, and must answer what Node answers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from chori_torch.golden import compute_golden
from conftest import (
    BUILD,
    CHORI_PREDICT,
    DEMO_IMAGES,
    DEMO_MODEL,
    ROOT,
    predict,
    real_photographs,
    run_cpp,
    run_node,
)
from image_corpus import Sample, write_corpus


def cmake() -> str:
    """The CMake scripts/build-cpp.sh chose: the system's, or .venv's from PyPI."""
    venv = ROOT / ".venv" / "bin" / "cmake"
    found = str(venv) if venv.exists() else shutil.which("cmake")
    if found is None:
        pytest.fail("no cmake; run the tests through `make test`")
    return found


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    if not CHORI_PREDICT.exists():
        pytest.fail(
            f"{CHORI_PREDICT} is missing; run the tests through `make test` (or `make cpp`)"
        )


def max_logit_delta(results: dict[str, dict], golden: dict) -> float:
    assert golden["rejected"] == []
    delta = 0.0
    for g in golden["images"]:
        got = results[g["path"]]
        assert "error" not in got, f"{g['path']}: {got['error']}"
        delta = max(delta, float(np.abs(np.float32(got["logits"]) - np.float32(g["logits"])).max()))
    return delta


@pytest.fixture(scope="module")
def photographs() -> list[Path]:
    return real_photographs() + sorted(DEMO_IMAGES.glob("*.*"))


@pytest.mark.parametrize("optimize", ["auto", "none"])
@pytest.mark.parametrize("model_name", ["demo", "resnet18"])
def test_photographs_match_golden_bit_for_bit(
    model_name: str, optimize: str, photographs: list[Path], resnet18_artifact: Path
) -> None:
    model = DEMO_MODEL if model_name == "demo" else resnet18_artifact
    results = run_cpp(model, photographs, optimize=optimize)
    golden = compute_golden(model, photographs, threads=1, optimize_form=optimize, relative_to=ROOT)
    by_path = {str((ROOT / g["path"]).resolve()): g for g in golden["images"]}
    results = {str(Path(f).resolve()): r for f, r in results.items()}
    golden["images"] = [{**g, "path": p} for p, g in by_path.items()]
    delta = max_logit_delta(results, golden)
    top1 = sum(results[p]["index"] == g["index"] for p, g in by_path.items())
    print(
        f"\nC++ parity[{model_name}, {optimize}]: {len(by_path)} images, "
        f"top-1 {top1}/{len(by_path)}, max |Δlogit| = {delta:.3g}"
    )
    assert top1 == len(by_path)
    assert delta == 0.0


def test_two_workers_give_the_same_bits(photographs: list[Path]) -> None:
    one = run_cpp(DEMO_MODEL, photographs)
    two = run_cpp(DEMO_MODEL, photographs, workers=2)
    assert {f: r["logits"] for f, r in two.items()} == {f: r["logits"] for f, r in one.items()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    return write_corpus(tmp_path_factory.mktemp("cpp-corpus"))


def test_corpus_logits_and_codes_match_node(corpus: list[Sample], tmp_path: Path) -> None:
    """The whole generated corpus in one chori-predict process: every file Node decodes gives
    the golden logits, every file Node refuses is refused with Node's code."""
    files = [s.path for s in corpus]
    cpp = run_cpp(DEMO_MODEL, files)
    node = run_node(DEMO_MODEL, files)
    decoded = [f for f in files if "error" not in node[str(f)]]
    codes = {
        str(f): (node[str(f)]["error"]["code"], cpp[str(f)].get("error", {}).get("code"))
        for f in files
        if f not in decoded
    }
    mismatched = {f: c for f, c in codes.items() if c[0] != c[1]}
    golden = compute_golden(DEMO_MODEL, decoded, threads=1, relative_to=tmp_path)
    delta = max_logit_delta(cpp, golden)
    print(
        f"\nC++ corpus: {len(decoded)} decoded, max |Δlogit| = {delta:.3g}; "
        f"{len(codes) - len(mismatched)}/{len(codes)} refusals with Node's code"
    )
    assert len(decoded) > 100 and len(codes) > 50
    assert mismatched == {}
    assert delta == 0.0


def test_exit_statuses_and_messages(tmp_path: Path) -> None:
    image = next(DEMO_IMAGES.glob("*.*"))
    ok = predict("--model", str(DEMO_MODEL), str(image))
    assert ok.returncode == 0, ok.stderr
    header, row = ok.stdout.splitlines()
    assert header.split() == ["file", "label", "score", "time"]
    assert row.startswith(str(image))

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    failed = predict("--model", str(DEMO_MODEL), "--json", str(image), str(empty))
    assert failed.returncode == 1
    rows = [json.loads(line) for line in failed.stdout.splitlines()]
    assert "label" in rows[0] and len(rows[0]["topk"]) == 2  # the demo model has 2 labels
    assert rows[1] == {
        "file": str(empty),
        "error": {"code": "CHORI_EMPTY_INPUT", "message": "the image buffer is empty"},
    }

    missing_model = predict("--model", str(tmp_path / "nope.pt"), str(image))
    assert missing_model.returncode == 1
    assert "CHORI_MODEL_LOAD" in missing_model.stderr

    empty_dir = tmp_path / "no-images"
    empty_dir.mkdir()
    for args, message in [
        (["--bogus", str(image)], "unknown option '--bogus'"),
        ([], "needs at least one image file or directory"),
        (["--topk", "0", str(image)], "--topk must be an integer of at least 1"),
        (["--logits", str(image)], "--logits needs --json"),
        ([str(tmp_path / "absent.jpg")], "no such file or directory"),
        (
            ["--optimize", "fast", str(image)],
            "optimize must be one of auto, none, freeze, ofi, onednn",
        ),
        ([str(empty_dir)], "no image files found"),
    ]:
        r = predict("--model", str(DEMO_MODEL), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)


def test_help_explains_every_flag() -> None:
    r = predict("--help", check=True)
    flags = (
        "--model --topk --json --logits --threads --workers --optimize --precision --max-pixels "
        "--version"
    )
    for flag in flags.split():
        assert flag in r.stdout
    assert "Exit status" in r.stdout
    version = predict("--version", check=True).stdout
    package = json.loads((ROOT / "package.json").read_text())["version"]
    assert version.startswith(f"chori {package} (libtorch 2.")


def test_directories_expand_to_their_images(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    images = sorted(DEMO_IMAGES.glob("*.*"))[:2]
    shutil.copy(
        images[0],
        tmp_path / "b.JPG"
        if images[0].suffix == ".jpg"
        else tmp_path / f"b{images[0].suffix.upper()}",
    )
    shutil.copy(images[1], tmp_path / "sub" / f"a{images[1].suffix}")
    (tmp_path / "notes.txt").write_text("not an image")
    r = predict("--model", str(DEMO_MODEL), "--json", str(tmp_path), check=True)
    files = [json.loads(line)["file"] for line in r.stdout.splitlines()]
    assert [Path(f).relative_to(tmp_path).as_posix() for f in files] == [
        next(p.name for p in tmp_path.iterdir() if p.name.startswith("b")),
        f"sub/a{images[1].suffix}",
    ]


def test_example_builds_against_the_installed_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    subprocess.run(
        [cmake(), "--install", str(BUILD), "--prefix", str(prefix)], check=True, capture_output=True
    )
    installed = sorted(p.relative_to(prefix).as_posix() for p in prefix.rglob("*") if p.is_file())
    assert "bin/chori-predict" in installed and "include/chori/chori.h" in installed
    assert any(f.startswith("lib/libchori.so") for f in installed)
    assert "lib/cmake/chori/choriConfig.cmake" in installed
    size = sum((prefix / f).stat().st_size for f in installed)
    print(f"\ninstalled prefix: {len(installed)} files, {size / 1e6:.1f} MB")

    # A copy outside the checkout, as a user's project would be.
    app = tmp_path / "app"
    shutil.copytree(ROOT / "examples" / "cpp", app)
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_PREFIX_PATH", "LIBTORCH")}
    subprocess.run(
        [cmake(), "-S", str(app), "-B", str(app / "build"), f"-DCMAKE_PREFIX_PATH={prefix}"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        [cmake(), "--build", str(app / "build")], check=True, capture_output=True, env=env
    )

    image = sorted(DEMO_IMAGES.glob("*.*"))[0]
    out = subprocess.run(
        [str(app / "build" / "classify"), str(DEMO_MODEL), str(image)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    expected = run_node(DEMO_MODEL, [image])[str(image)]
    label, score = out.splitlines()[0].rsplit(" ", 1)
    assert label == expected["label"]
    assert float(score) == pytest.approx(expected["score"], rel=1e-5)
    # The installed command runs from the prefix without LD_LIBRARY_PATH.
    r = subprocess.run(
        [str(prefix / "bin" / "chori-predict"), "--model", str(DEMO_MODEL), "--json", str(image)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(r.stdout)["label"] == expected["label"]
