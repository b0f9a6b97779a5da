"""``chori golden --device``: the device rules the addon applies (``addon/src/model/loader.cc``,
``addon/src/model/device.cc``), and on a machine without a usable GPU (CI's) a clear refusal
before anything loads. ``test_gpu.py`` holds what needs a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chori_torch.artifact import load_artifact
from chori_torch.device import parse_device
from chori_torch.errors import ChoriError
from chori_torch.optimize import resolve
from conftest import DEMO_IMAGES, DEMO_MODEL, ROOT, predict
from gpu import checkout_env, gpu_unusable_reason


def golden(*args: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`chori golden` on the demo model, from this checkout's python/ (not an installed copy)."""
    command = [
        "golden",
        "--model",
        str(DEMO_MODEL),
        "--images",
        str(DEMO_IMAGES),
        "--out",
        str(out),
    ]
    return subprocess.run(
        [sys.executable, "-m", "chori_torch.cli", *command, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=checkout_env(),
    )


def test_device_names_are_the_addons() -> None:
    assert parse_device("cpu") == torch.device("cpu")
    assert parse_device("cuda") == torch.device("cuda", 0)
    assert parse_device("cuda:7") == torch.device("cuda", 7)
    for bad in ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:01", "cuda:1024", "cuda0", "cpu:0"]:
        with pytest.raises(ChoriError, match=r"--device must be cpu, cuda or cuda:N"):
            parse_device(bad)


def test_auto_is_freeze_on_a_gpu_and_onednn_forms_are_refused() -> None:
    spec = load_artifact(DEMO_MODEL).metadata.input
    cuda = torch.device("cuda", 0)
    assert resolve("auto", spec) == "onednn"
    assert resolve("auto", spec, cuda) == "freeze"
    assert resolve("none", spec, cuda) == "none"
    for form in ("ofi", "onednn"):
        with pytest.raises(ChoriError, match=rf"--optimize {form} is a CPU \(oneDNN\) form"):
            resolve(form, spec, cuda)


def test_cpu_golden_records_the_device_and_keeps_its_logits(tmp_path: Path) -> None:
    out = tmp_path / "golden.json"
    done = golden("--device", "cpu", out=out)
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert (document["device"], document["device_name"], document["deterministic"]) == (
        "cpu",
        "cpu",
        False,
    )
    shipped = json.loads((ROOT / "export" / "golden.json").read_text())
    by_file = {g["file"]: g["logits"] for g in shipped["images"]}
    for entry in document["images"]:
        name = f"images/{Path(entry['file']).name}"
        assert entry["logits"] == by_file[name], name


@pytest.mark.skipif(gpu_unusable_reason() is None, reason="this machine has a usable GPU")
def test_golden_on_cuda_without_a_gpu_fails_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "golden.json"
    done = golden("--device", "cuda", "--deterministic", out=out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("chori: error: --device cuda:0 is not usable here: ")
    assert gpu_unusable_reason() in done.stderr
    assert done.stderr.count("\n") == 1, "one line, no traceback"
    assert not out.exists()


@pytest.mark.skipif(gpu_unusable_reason() is None, reason="this machine has a usable GPU")
def test_chori_predict_device_cuda_without_a_gpu_exits_1_with_chori_device() -> None:
    done = predict("--model", str(DEMO_MODEL), "--device", "cuda:2", str(DEMO_IMAGES))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(
        "chori-predict: CHORI_DEVICE: device 'cuda:2' is not usable here: "
    )
    assert gpu_unusable_reason() in done.stderr
    bad = predict("--model", str(DEMO_MODEL), "--device", "gpu", str(DEMO_IMAGES))
    assert bad.returncode == 2
    assert "CHORI_INVALID_ARGUMENT: unknown device 'gpu' (expected cpu, cuda or cuda:N)" in (
        bad.stderr
    )
