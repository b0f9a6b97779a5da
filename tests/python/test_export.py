"""``chori export``: every model source, the metadata contract, and the user-facing errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
import torchvision

from chori_torch.artifact import load_artifact, read_metadata
from chori_torch.cli import main
from chori_torch.errors import ChoriError
from chori_torch.export import (
    LoadedModel,
    export_artifact,
    extract_state_dict,
    infer_num_classes,
    load_model,
)
from chori_torch.files import sha256_file
from chori_torch.metadata import Metadata, MetadataError
from conftest import LABELS, SMALL_FLAGS, SMALL_INPUT


def same_outputs(artifact_path: Path, eager: torch.nn.Module) -> bool:
    """The artifact computes what the eager model computes, on an input it was not traced on."""
    x = torch.randn(3, 3, *SMALL_INPUT.sample_size(), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = eager.eval()(x)
        got = load_artifact(artifact_path).module(x)
    return torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


# -- model sources -------------------------------------------------------------------------------


def test_state_dict_with_torchvision_arch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(num_classes=3)
    weights = tmp_path / "squeeze.pth"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "export" / "squeeze.pt"
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("\n".join([LABELS[0], "", *LABELS[1:]]) + "\n", encoding="utf-8-sig")

    code = main(
        ["export", "--arch", "squeezenet1_1", "--weights", str(weights), "--labels-file",
         str(labels_file), "--out", str(out), *SMALL_FLAGS, "-v"]
    )  # fmt: skip

    assert code == 0
    meta = read_metadata(out)
    assert meta.labels == LABELS
    assert meta.output.num_classes == 3  # inferred from SqueezeNet's 1x1-conv head
    assert meta.input == SMALL_INPUT
    assert meta.provenance.arch == "squeezenet1_1"
    assert meta.provenance.method == "trace"
    assert meta.provenance.weights_sha256 == sha256_file(weights)
    assert same_outputs(out, model)
    summary = capsys.readouterr().out
    assert str(out) in summary and "squeezenet1_1" in summary and "max |Δ|" in summary


def test_state_dict_with_import_path(tmp_path: Path, demo_weights: Path) -> None:
    loaded = load_model(weights=demo_weights, arch="chori_torch.demo_model:build")
    result = export_artifact(loaded, labels=LABELS, input_spec=SMALL_INPUT, out=tmp_path / "m.pt")
    assert result.metadata.provenance.arch == "chori_torch.demo_model:build"
    assert result.max_abs_diff <= 1e-4
    assert same_outputs(result.path, loaded.module)


def test_num_classes_inference() -> None:
    linear_head = torchvision.models.mobilenet_v3_small(num_classes=7).state_dict()
    conv_head = torchvision.models.squeezenet1_1(num_classes=5).state_dict()
    assert infer_num_classes(linear_head) == (7, "classifier.3.weight")
    assert infer_num_classes(conv_head) == (5, "classifier.1.weight")
    with pytest.raises(ChoriError, match="--num-classes"):
        infer_num_classes({"bn.weight": torch.ones(4)})


def test_explicit_num_classes_must_fit_checkpoint(demo_weights: Path) -> None:
    with pytest.raises(ChoriError, match="does not fit --arch"):
        load_model(weights=demo_weights, arch="chori_torch.demo_model:build", num_classes=4)


def test_dataparallel_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(num_classes=2)
    wrapped = torch.nn.DataParallel(model).state_dict()
    assert all(key.startswith("module.") for key in wrapped)
    weights = tmp_path / "checkpoint.pth"
    torch.save({"epoch": 12, "model_state_dict": wrapped}, weights)

    loaded = load_model(weights=weights, arch="squeezenet1_1")
    result = export_artifact(
        loaded, labels=["no", "yes"], input_spec=SMALL_INPUT, out=tmp_path / "m.pt"
    )
    assert same_outputs(result.path, model)


def test_checkpoint_unwrapping_keys() -> None:
    tensor = torch.zeros(2, 3)
    assert extract_state_dict({"state_dict": {"module.fc.weight": tensor}}).keys() == {"fc.weight"}
    # fastai's learn.save(): the weights under "model", beside the optimizer state.
    fastai = {"model": {"fc.weight": tensor}, "opt": {"state": [], "hypers": []}}
    assert extract_state_dict(fastai).keys() == {"fc.weight"}
    with pytest.raises(ChoriError, match="not a named tensor"):
        extract_state_dict({"net": {"fc.weight": tensor}, "epoch": 3})


def test_pickled_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(num_classes=2)
    path = tmp_path / "whole.pt"
    torch.save(model, path)

    result = export_artifact(
        load_model(model=path), labels=["no", "yes"], input_spec=SMALL_INPUT, out=tmp_path / "m.pt"
    )
    assert result.metadata.provenance.arch == "torchvision.models.squeezenet.SqueezeNet"
    assert result.metadata.provenance.weights_sha256 == sha256_file(path)
    assert same_outputs(result.path, model)


def test_pickled_model_whose_class_cannot_be_imported(tmp_path: Path) -> None:
    """The usual failure: the model was pickled from a training script or an uninstalled module."""
    (tmp_path / "private_net_module.py").write_text(
        "import torch\n\nclass Net(torch.nn.Linear):\n    pass\n"
    )
    (tmp_path / "train.py").write_text(
        textwrap.dedent(
            """
            import torch
            import private_net_module

            class Net(torch.nn.Linear):
                pass

            torch.save(Net(3, 2), "from_script.pt")
            torch.save(private_net_module.Net(3, 2), "from_module.pt")
            """
        )
    )
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, check=True)

    with pytest.raises(ChoriError, match=r"class 'Net' cannot be found .*__main__"):
        load_model(model=tmp_path / "from_script.pt")
    with pytest.raises(ChoriError, match=r"module 'private_net_module' is not importable"):
        load_model(model=tmp_path / "from_module.pt")


def test_state_dict_given_as_model_and_model_given_as_weights(
    tmp_path: Path, demo_weights: Path
) -> None:
    with pytest.raises(ChoriError, match="use --weights with --arch"):
        load_model(model=demo_weights)
    whole = tmp_path / "whole.pt"
    torch.save(torchvision.models.squeezenet1_1(num_classes=2), whole)
    with pytest.raises(ChoriError, match="use --model"):
        load_model(weights=whole, arch="squeezenet1_1")


# -- labels and the export check -----------------------------------------------------------------


def test_label_count_mismatch_writes_nothing(tmp_path: Path, demo_weights: Path) -> None:
    out = tmp_path / "m.pt"
    loaded = load_model(weights=demo_weights, arch="chori_torch.demo_model:build")
    with pytest.raises(MetadataError, match="2 labels for a model with 3 outputs"):
        export_artifact(loaded, labels=["a", "b"], input_spec=SMALL_INPUT, out=out)
    assert list(tmp_path.iterdir()) == [demo_weights]


class BatchBaked(torch.nn.Module):
    """Multiplies by the batch size through a Python int, which a trace freezes at 2."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean((2, 3))) * int(x.shape[0])


def test_failed_check_writes_nothing_and_script_fixes_it(tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"provenance needs a file")
    loaded = LoadedModel(module=BatchBaked(), arch="BatchBaked", source=source)
    out = tmp_path / "m.pt"

    # The TracerWarning is the user's clue and must not be swallowed with the deprecation notice.
    with (
        pytest.raises(ChoriError, match=r"max \|Δ\| = .*try --script"),
        pytest.warns(torch.jit.TracerWarning),
    ):
        export_artifact(loaded, labels=["a", "b"], input_spec=SMALL_INPUT, out=out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["source.bin"]

    result = export_artifact(
        loaded, labels=["a", "b"], input_spec=SMALL_INPUT, out=out, method="script"
    )
    assert result.metadata.provenance.method == "script"
    assert same_outputs(out, loaded.module)


def test_torchscript_deprecation_is_logged_not_shown(
    tmp_path: Path, demo_weights: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = load_model(weights=demo_weights, arch="chori_torch.demo_model:build")
    with warnings.catch_warnings(record=True) as shown, caplog.at_level(logging.DEBUG):
        warnings.simplefilter("always")
        export_artifact(loaded, labels=LABELS, input_spec=SMALL_INPUT, out=tmp_path / "m.pt")
    assert not [w for w in shown if "torch.jit" in str(w.message)]
    logged = [r.getMessage() for r in caplog.records if "deprecation" in r.getMessage()]
    assert any("`torch.jit.trace` is deprecated" in m for m in logged)
    assert any("`torch.jit.save` is deprecated" in m for m in logged)


# -- metadata ------------------------------------------------------------------------------------


def test_metadata_round_trip(artifact: Path) -> None:
    meta = read_metadata(artifact)
    assert Metadata.from_json(meta.to_json()) == meta

    document = json.loads(meta.to_json())
    assert list(document) == ["schema_version", "labels", "input", "output", "provenance"]
    assert document["schema_version"] == 1
    assert document["input"] == {
        "color_mode": "RGB",
        "resize": [40],
        "max_size": None,
        "crop": [32, 32],
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "exif_orientation": False,
    }
    assert document["output"] == {"kind": "logits", "num_classes": 3}
    assert set(document["provenance"]) == {
        "torch_version", "torchvision_version", "chori_torch_version", "arch",
        "weights_sha256", "method", "exported_at",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 3}, "schema_version is 3"),
        ({"labels": ["a", "b"]}, "2 labels for a model with 3 outputs"),
        ({"labels": ["a", "a", "b"]}, "labels must be unique"),
        ({"input.interpolation": "cubic"}, "interpolation must be one of"),
        ({"input.resize": [40, 40], "input.max_size": 64}, "max_size only applies"),
        ({"input.crop": [32]}, "crop must be a list of 2"),
        ({"input.std": [1, 0, 1]}, "std must not contain 0"),
        ({"input.gamma": 2.2}, "unknown keys"),
        ({"output.kind": "log_softmax"}, "output.kind must be one of"),
    ],
)
def test_metadata_validation(artifact: Path, change: dict[str, object], message: str) -> None:
    document = read_metadata(artifact).to_dict()
    for dotted, value in change.items():
        *parents, key = dotted.split(".")
        target = document
        for parent in parents:
            target = target[parent]
        target[key] = value
    with pytest.raises(MetadataError, match=message):
        Metadata.from_dict(document)


def test_torchscript_without_metadata_is_rejected(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(plain))
    with pytest.raises(MetadataError, match="not a chori-torch artifact"):
        read_metadata(plain)


# -- CLI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [[], ["export"], ["golden"], ["demo"]])
def test_help(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: chori" in text
    if command == ["export"]:
        flat = " ".join(text.split())
        for default in ["256", "224,224", "none", "bilinear", "0.485,0.456,0.406", "logits"]:
            assert f"(default: {default})" in flat


def test_user_error_exits_2_without_traceback(
    tmp_path: Path, demo_weights: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.pt"
    args = ["export", "--weights", str(demo_weights), "--labels", "a,b,c", "--out", str(out)]
    assert main([*args, "--arch", "resnet_34"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chori: error: --arch 'resnet_34' is neither a torchvision.models name")
    assert not out.exists()
    assert "did you mean resnet34" in err and "Traceback" not in err

    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--arch", "squeezenet1_1", "--crop", "big"])
    assert exit_info.value.code == 2
    assert "argument --crop: expected N, H,W or none, got 'big'" in capsys.readouterr().err


def test_console_entry_point_runs_as_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chori_torch", "export", "--labels", "a", "--out", "x.pt"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "chori: error: give exactly one of --fastai, --weights (with --arch or --fastai-arch), "
        "--model or --exported-program"
    )
