"""Artifacts Node must refuse with a code, made the ways they happen in practice."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from chori_torch.demo_model import build
from conftest import ROOT, node

LOAD = (
    "require('chori-torch').load(process.argv[1])"
    ".then(() => console.log('LOADED'), (e) => console.log(e.code, e.message))"
)


def node_load(path: Path) -> str:
    return subprocess.run(
        [node(), "-e", LOAD, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def traced() -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
        return torch.jit.trace(build(num_classes=2).eval(), torch.zeros(1, 3, 32, 32))


def save(module: torch.jit.ScriptModule, path: Path, extra: dict[str, str]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(module, str(path), _extra_files=extra)
    return path


def test_torchscript_without_metadata_is_model_metadata(tmp_path: Path) -> None:
    out = node_load(save(traced(), tmp_path / "plain.pt", {}))
    assert out.startswith("CHORI_MODEL_METADATA"), out
    assert "chori export" in out


@pytest.mark.parametrize(
    ("metadata", "complaint"),
    [
        ("not json", "not JSON"),
        (json.dumps({"schema_version": 3}), "schema_version"),
        (
            json.dumps(
                {
                    "schema_version": 1,
                    "labels": ["a", "b", "c"],
                    "input": {
                        "color_mode": "RGB",
                        "resize": [40],
                        "crop": [32, 32],
                        "interpolation": "bilinear",
                        "mean": [0, 0, 0],
                        "std": [1, 1, 1],
                    },
                    "output": {"kind": "logits", "num_classes": 2},
                }
            ),
            "num_classes",
        ),
    ],
)
def test_invalid_metadata_is_model_metadata(tmp_path: Path, metadata: str, complaint: str) -> None:
    out = node_load(save(traced(), tmp_path / "bad.pt", {"chori.json": metadata}))
    assert out.startswith("CHORI_MODEL_METADATA"), out
    assert complaint in out


def test_unloadable_torchscript_is_model_load(tmp_path: Path) -> None:
    """optimize_for_inference bakes oneDNN constants that TorchScript cannot reload."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.optimize_for_inference(torch.jit.freeze(traced()))
    out = node_load(save(module, tmp_path / "ofi.pt", {"chori.json": "{}"}))
    assert out.startswith("CHORI_MODEL_LOAD"), out
