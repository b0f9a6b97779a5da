"""Where ``chori golden`` runs the model: the CPU, or a CUDA device as the addon's
``load(path, {device})`` uses it (``addon/src/model/device.cc``), with the same checks, in the
same order, and messages that name what is missing.

On a GPU the image pipeline still runs on the CPU (it is the bit-exact part); the batch is
moved to the device, the logits come back, and the scores are computed from them on the CPU, as
the addon does. ``--deterministic`` sets what the addon's ``deterministic: true`` sets:
cuDNN's deterministic algorithms, no benchmarking, no TF32.
"""

from __future__ import annotations

import ctypes
import re

import torch

from .errors import ChoriError

_DEVICE = re.compile(r"cuda(?::(0|[1-9][0-9]*))?")
MAX_CUDA_INDEX = 1023


def parse_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (= ``cuda:0``) or ``cuda:N``, as the addon accepts them."""
    if name == "cpu":
        return torch.device("cpu")
    match = _DEVICE.fullmatch(name)
    if match is None or int(match.group(1) or 0) > MAX_CUDA_INDEX:
        raise ChoriError(
            f"--device must be cpu, cuda or cuda:N (N from 0 to {MAX_CUDA_INDEX}), got {name!r}"
        )
    return torch.device("cuda", int(match.group(1) or 0))


def require_device(device: torch.device) -> None:
    """Raise a :class:`ChoriError` saying why ``device`` cannot be used here, if it cannot."""
    if device.type == "cpu":
        return
    prefix = f"--device {device} is not usable here"
    if torch.version.cuda is None:
        raise ChoriError(f"{prefix}: torch {torch.__version__} is a CPU-only build")
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        raise ChoriError(f"{prefix}: no NVIDIA driver is installed ({e})") from None
    count = torch.cuda.device_count()
    if count == 0:
        raise ChoriError(f"{prefix}: no CUDA device: the NVIDIA driver sees none")
    index = device.index or 0
    if index >= count:
        raise ChoriError(f"{prefix}: no such CUDA device: the driver sees {count}")


def set_deterministic() -> None:
    """cuDNN's deterministic algorithms, no benchmarking, no TF32 (process-wide, as in the
    addon)."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def device_name(device: torch.device) -> str:
    """The GPU's name for the golden file (``torch.cuda.get_device_name``), or ``cpu``."""
    return "cpu" if device.type == "cpu" else torch.cuda.get_device_name(device)
