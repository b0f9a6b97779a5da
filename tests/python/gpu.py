"""Whether this machine can run the GPU tests, and if not, why (the reason pytest prints)."""

from __future__ import annotations

import ctypes
import os

import torch

from conftest import ROOT


def checkout_env() -> dict[str, str]:
    """The environment for a `python -m chori_torch.cli` subprocess that runs this checkout's
    python/ even where another copy of the package is installed in the environment."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "python")}


def gpu_unusable_reason() -> str | None:
    """The part of ``chori golden --device cuda``'s refusal that names what is missing, or None
    when a CUDA device is usable."""
    if torch.version.cuda is None:
        return "is a CPU-only build"
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver is installed"
    if torch.cuda.device_count() == 0:
        return "no CUDA device"
    return None
