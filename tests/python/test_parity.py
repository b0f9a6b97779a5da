"""Cross-runtime parity: Node (the addon) against Python's golden predictions.

Python writes the golden set with the reference pipeline (PIL + torchvision + the artifact under
``torch.jit.load`` with the load-time optimisation applied); Node classifies the same files
through ``require('chori-torch')`` with the same ``optimize``. Both run the same TorchScript
graph on the same libtorch build with one intra-op thread, and the addon reproduces PIL's
decoding and resampling, so the model inputs are identical and the logits should be too. Both
the default (``auto``: oneDNN Graph fusion for these fixed-size models) and ``none`` are
checked. The test prints the max |Δlogit| it measured and asserts it is within
``LOGIT_TOLERANCE``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from chori_torch.artifact import load_artifact
from chori_torch.preprocessing import build_transform, open_image
from conftest import (
    DEMO_IMAGES,
    DEMO_MODEL,
    LOGIT_TOLERANCE,
    ROOT,
    link_images,
    real_photographs,
    run_node,
    run_node_info,
)


def write_golden(
    model: Path, files: list[Path], out: Path, optimize: str, precision: str = "fp32"
) -> tuple[str, dict]:
    """(the resolved optimisation form, golden entries by image name)."""
    images_dir = link_images(files, out.parent)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "chori_torch.cli",
            "golden",
            "--model",
            str(model),
            "--images",
            str(images_dir),
            "--out",
            str(out),
            "--threads",
            "1",
            "--optimize",
            optimize,
            "--precision",
            precision,
        ],
        check=True,
        cwd=ROOT,
    )
    golden = json.loads(out.read_text())
    assert golden["precision"] == precision
    return golden["optimize"]["form"], {Path(g["path"]).name: g for g in golden["images"]}


@pytest.fixture(scope="session")
def corpus() -> list[Path]:
    files = real_photographs() + sorted(DEMO_IMAGES.glob("*.*"))
    assert len(files) >= 30, f"only {len(files)} images in the parity corpus"
    return files


@dataclass(frozen=True)
class GoldenSet:
    model_name: str
    model: Path
    optimize: str  # as requested
    form: str  # as resolved: what Node must report too
    golden: dict[str, dict]  # by image name
    paths: dict[str, Path]

    def run_node(self, **options: str | int | None) -> dict[str, dict]:
        """Node over the golden images with the same optimisation, results by image name."""
        return self.run_node_info(**options)[0]

    def run_node_info(self, **options: str | int | None) -> tuple[dict[str, dict], dict]:
        """:meth:`run_node` and Node's ``model.info``."""
        names = sorted(self.golden)
        results, info = run_node_info(
            self.model,
            [self.paths[n] for n in names],
            optimize=self.optimize,
            expect_form=self.form,
            **options,
        )
        return {n: results[str(self.paths[n])] for n in names}, info


@pytest.fixture(
    scope="session",
    params=[("demo", "auto"), ("demo", "none"), ("resnet18", "auto"), ("resnet18", "none")],
    ids=lambda p: "-".join(p),
)
def golden_set(
    request: pytest.FixtureRequest,
    resnet18_artifact: Path,
    corpus: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> GoldenSet:
    """A golden set written once per model and optimisation."""
    model_name, optimize = request.param
    model = DEMO_MODEL if model_name == "demo" else resnet18_artifact
    folder = tmp_path_factory.mktemp(f"golden-{model_name}-{optimize}")
    form, golden = write_golden(model, corpus, folder / "golden.json", optimize)
    paths = {name: folder / "images" / name for name in golden}
    return GoldenSet(model_name, model, optimize, form, golden, paths)


def test_auto_is_onednn_for_fixed_size_models(golden_set: GoldenSet) -> None:
    assert golden_set.form == {"auto": "onednn", "none": "none"}[golden_set.optimize]


def test_node_matches_python_golden(golden_set: GoldenSet, corpus: list[Path]) -> None:
    golden = golden_set.golden
    assert len(golden) == len(corpus), "PIL opened every corpus image"
    node_results = golden_set.run_node()
    max_delta = 0.0
    top1_agree = 0
    for name, expected in golden.items():
        got = node_results[name]
        assert "error" not in got, f"{name}: {got.get('error')}"
        delta = np.abs(np.float32(got["logits"]) - np.float32(expected["logits"])).max()
        max_delta = max(max_delta, float(delta))
        top1_agree += got["index"] == expected["index"]
    print(
        f"\nparity[{golden_set.model_name}, {golden_set.form}]: {len(golden)} images, "
        f"top-1 agreement {top1_agree}/{len(golden)}, max |Δlogit| = {max_delta:.3g}"
    )
    assert top1_agree == len(golden)
    assert max_delta <= LOGIT_TOLERANCE


def test_thread_count_does_not_move_a_bit(golden_set: GoldenSet) -> None:
    """The golden set is made at 1 thread; the default forms give the same bits at 2."""
    results = golden_set.run_node(threads=2)
    for name, expected in golden_set.golden.items():
        assert np.array_equal(
            np.float32(results[name]["logits"]), np.float32(expected["logits"])
        ), name


@pytest.mark.parametrize("concurrency", [1, 16])
def test_default_parallelism_matches_golden(golden_set: GoldenSet, concurrency: int) -> None:
    """load() without threads or workers: adaptive where the form allows (each forward picks 1
    thread or every core from the queue), which must not show in a single bit at 1 or 16 calls
    in flight; other forms run one forward per core at one thread each."""
    results, info = golden_set.run_node_info(threads=None, concurrency=concurrency)
    assert info["adaptive"] == (golden_set.form == "onednn"), info
    if not info["adaptive"]:
        assert info["threads"] == 1, info
    for name, expected in golden_set.golden.items():
        assert "error" not in results[name], results[name]
        assert np.array_equal(
            np.float32(results[name]["logits"]), np.float32(expected["logits"])
        ), name


# bf16 keeps 8 significant bits, so logits move in the third digit. A trained model's decisions
# are far from ties and must not flip; the random-weight resnet18's near-uniform outputs may.
BF16_MIN_AGREEMENT = {"demo": 1.0, "resnet18": 0.8}
BF16_MAX_DELTA_PROB = 0.05


def test_bf16_matches_bf16_golden(
    golden_set: GoldenSet, corpus: list[Path], tmp_path: Path
) -> None:
    """``chori golden --precision bf16`` converts and optimises as the addon does, so Node's
    bf16 answers are its golden set's bits; top-1 agreement and max |Δprob| of bf16 against the
    fp32 golden set are reported and bounded."""
    folder = tmp_path / "bf16"
    folder.mkdir()
    form, bf16 = write_golden(
        golden_set.model, corpus, folder / "golden.json", golden_set.optimize, "bf16"
    )
    assert form == golden_set.form
    golden = golden_set.golden
    # Under the default parallelism, 16 calls in flight: the scheduler's copies (every core, one
    # thread) are converted and compiled alike.
    results = golden_set.run_node(precision="bf16", threads=None, concurrency=16)
    agree = 0
    max_delta = 0.0
    for name, expected in golden.items():
        got = results[name]
        assert "error" not in got, f"{name}: {got.get('error')}"
        assert np.array_equal(np.float32(got["logits"]), np.float32(bf16[name]["logits"])), name
        agree += got["index"] == expected["index"]
        scores = {t["index"]: t["score"] for t in got["topk"]}
        max_delta = max(
            max_delta, *(abs(scores[t["index"]] - t["score"]) for t in expected["topk"])
        )
    print(
        f"\nbf16[{golden_set.model_name}, {golden_set.form}]: top-1 agreement "
        f"{agree}/{len(golden)}, max |Δprob| = {max_delta:.3g} against fp32"
    )
    assert agree / len(golden) >= BF16_MIN_AGREEMENT[golden_set.model_name]
    assert max_delta <= BF16_MAX_DELTA_PROB


def test_node_tensor_is_torchvision_tensor(corpus: list[Path]) -> None:
    """The model input itself, bit for bit: Node's preprocess() against torchvision's transforms."""
    meta = load_artifact(DEMO_MODEL).metadata
    transform = build_transform(meta.input)
    results = run_node(DEMO_MODEL, corpus, tensors=True)
    mismatched = []
    for f in corpus:
        expected = transform(open_image(f)).numpy()
        r = results[str(f)]
        got = np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        if got.shape != expected.shape or not np.array_equal(got, expected):
            mismatched.append(f.name)
    print(f"\ntensor parity: {len(corpus) - len(mismatched)}/{len(corpus)} bit-identical")
    assert mismatched == []


@pytest.fixture(scope="session")
def mobilenet_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded torchvision mobilenet_v3_small (10 classes): depthwise convolutions, hardswish
    and squeeze-excite, the light-network path the channels-last ``onednn`` form is for."""
    import torch
    import torchvision

    d = tmp_path_factory.mktemp("mobilenet")
    torch.manual_seed(0)
    weights = d / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(num_classes=10).state_dict(), weights)
    artifact = d / "mobilenet.pt"
    subprocess.run(
        [sys.executable, "-m", "chori_torch.cli", "export", "--arch", "mobilenet_v3_small",
         "--weights", str(weights), "--labels", ",".join(f"c{i}" for i in range(10)),
         "--out", str(artifact)],
        check=True,
        cwd=ROOT,
    )  # fmt: skip
    return artifact


def test_light_network_onednn_matches_golden(
    mobilenet_artifact: Path, corpus: list[Path], tmp_path: Path
) -> None:
    """A depthwise network under ``auto`` (channels-last oneDNN Graph): Node equals the golden
    set bit for bit at 1 and 2 threads and under the adaptive default with 16 calls in flight."""
    files = corpus[::4]
    form, golden = write_golden(mobilenet_artifact, files, tmp_path / "golden.json", "auto")
    assert form == "onednn"
    paths = {name: tmp_path / "images" / name for name in golden}
    names = sorted(golden)
    for options in ({"threads": 1}, {"threads": 2}, {"threads": None, "concurrency": 16}):
        results, info = run_node_info(
            mobilenet_artifact, [paths[n] for n in names], expect_form="onednn", **options
        )
        for name in names:
            got = results[str(paths[name])]
            assert "error" not in got, got
            expected = np.float32(golden[name]["logits"])
            assert np.array_equal(np.float32(got["logits"]), expected), (name, options, info)
