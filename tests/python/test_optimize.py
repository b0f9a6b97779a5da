"""The load-time optimisation rule and its parity for models whose input size follows the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from chori_torch.artifact import load_artifact
from chori_torch.demo_model import build
from chori_torch.errors import ChoriError
from chori_torch.export import export_artifact, load_model
from chori_torch.golden import compute_golden
from chori_torch.metadata import InputSpec
from chori_torch.optimize import resolve, static_input_size
from conftest import LABELS, real_photographs, run_node


@pytest.mark.parametrize(
    ("spec", "size", "auto"),
    [
        (InputSpec(), (224, 224), "onednn"),
        (InputSpec(resize=(40,), crop=(32, 24)), (32, 24), "onednn"),
        (InputSpec(resize=(48, 40), crop=None), (48, 40), "onednn"),
        (InputSpec(resize=(40,), crop=None), None, "freeze"),
        (InputSpec(resize=None, crop=None), None, "freeze"),
    ],
)
def test_auto_follows_whether_the_input_size_is_fixed(
    spec: InputSpec, size: tuple[int, int] | None, auto: str
) -> None:
    assert static_input_size(spec) == size
    assert resolve("auto", spec) == auto
    assert resolve("none", spec) == "none"


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ChoriError, match=r"--optimize must be one of auto, none, freeze, ofi"):
        resolve("fast", InputSpec())


@pytest.fixture(scope="module")
def variable_size_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo CNN with a shorter-side resize and no crop: every image its own input shape."""
    folder = tmp_path_factory.mktemp("variable")
    torch.manual_seed(0)
    weights = folder / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), weights)
    return export_artifact(
        load_model(weights=weights, arch="chori_torch.demo_model:build"),
        labels=LABELS,
        input_spec=InputSpec(resize=(48,), crop=None),
        out=folder / "model.pt",
    ).path


@pytest.mark.parametrize("optimize", ["auto", "freeze", "ofi"])
def test_variable_input_size_parity(
    variable_size_artifact: Path, optimize: str, tmp_path: Path
) -> None:
    """auto is freeze without a fixed input size; Node still matches the golden set bit for bit
    on photographs of every aspect ratio, for each form that applies to such a model."""
    files = real_photographs()
    golden = compute_golden(
        variable_size_artifact, files, threads=1, optimize_form=optimize, relative_to=tmp_path
    )
    expected_form = "freeze" if optimize == "auto" else optimize
    assert golden["optimize"] == {"requested": optimize, "form": expected_form, "warmup_runs": 0}
    node = run_node(variable_size_artifact, files, optimize=optimize, expect_form=expected_form)
    assert len(golden["images"]) == len(files) >= 20
    for g in golden["images"]:
        got = node[g["path"]]
        assert "error" not in got, got
        assert np.array_equal(np.float32(got["logits"]), np.float32(g["logits"])), g["file"]


def test_artifact_precision_is_the_default_on_both_sides(
    demo_weights: Path, tmp_path: Path
) -> None:
    """An artifact exported with ``precision="bf16"`` records it; ``chori golden`` and Node's
    ``load()`` without a precision both run bf16, and agree bit for bit."""
    artifact = export_artifact(
        load_model(weights=demo_weights, arch="chori_torch.demo_model:build"),
        labels=LABELS,
        input_spec=InputSpec(resize=(40,), crop=(32, 32)),
        out=tmp_path / "model.pt",
        precision="bf16",
    ).path
    assert load_artifact(artifact).metadata.precision == "bf16"
    files = real_photographs()[:8]
    golden = compute_golden(artifact, files, relative_to=tmp_path)
    fp32 = compute_golden(artifact, files, precision="fp32", relative_to=tmp_path)
    assert (golden["precision"], fp32["precision"]) == ("bf16", "fp32")
    node = run_node(artifact, files, precision=None)
    assert {r["file"] for r in node.values()} == {str(f) for f in files}
    differs = 0
    for g, f in zip(golden["images"], fp32["images"], strict=True):
        got = node[g["path"]]
        assert np.array_equal(np.float32(got["logits"]), np.float32(g["logits"])), g["file"]
        differs += g["logits"] != f["logits"]
    assert differs > 0, "bf16 changed no logit: the conversion did not run"


def test_pt2_takes_no_bf16(demo_weights: Path, tmp_path: Path) -> None:
    with pytest.raises(ChoriError, match=r"--precision bf16 is TorchScript's"):
        export_artifact(
            load_model(weights=demo_weights, arch="chori_torch.demo_model:build"),
            labels=LABELS,
            input_spec=InputSpec(resize=(40,), crop=(32, 32)),
            out=tmp_path / "model.pt2",
            format="pt2",
            precision="bf16",
        )
