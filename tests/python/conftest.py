"""Shared fixtures: tiny real models, saved the ways users save them, at a small input size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chori_torch.demo_model import build
from chori_torch.export import export_artifact, load_model
from chori_torch.metadata import InputSpec

# Small enough that tracing and the export check take milliseconds, large enough for SqueezeNet.
SMALL_INPUT = InputSpec(resize=(40,), crop=(32, 32))
SMALL_FLAGS = ["--resize", "40", "--crop", "32"]
LABELS = ("cat", "dog", "bird")


@pytest.fixture
def demo_weights(tmp_path: Path) -> Path:
    """A seeded, untrained 3-class demo CNN saved with ``torch.save(model.state_dict())``."""
    torch.manual_seed(0)
    path = tmp_path / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One exported 3-class artifact for the tests that only read artifacts."""
    folder = tmp_path_factory.mktemp("artifact")
    torch.manual_seed(0)
    weights = folder / "weights.pth"
    torch.save(build(num_classes=len(LABELS)).state_dict(), weights)
    return export_artifact(
        load_model(weights=weights, arch="chori_torch.demo_model:build"),
        labels=LABELS,
        input_spec=SMALL_INPUT,
        out=folder / "model.pt",
    ).path
