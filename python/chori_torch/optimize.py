"""Load-time graph optimisation, applied exactly as the addon applies it.

The artifact stays the plain traced module (``optimize_for_inference`` output cannot even be
saved); the passes run after loading, in Python for ``chori golden`` and in C++ for the addon
(``addon/src/model/torchscript.cc``), with the same names, in the same order, with the same
warm-up. Both sides run the same libtorch, so the golden logits come from the very graph the
addon runs. The rule for ``auto`` mirrors ``addon/src/model/loader.cc``; the parity tests check
that Node reports the form recorded in the golden file.

Forms:

``none``
    the artifact as saved.
``freeze``
    ``torch.jit.freeze`` (constants folded, conv and batch-norm merged).
``ofi``
    freeze + ``torch.jit.optimize_for_inference`` (oneDNN weight layouts). Its kernels are
    not bit-identical across thread counts.
``onednn``
    the 4-d parameters (convolution weights) made channels-last, freeze, executed by the
    profiling executor with oneDNN Graph (LLGA) fusion on a channels-last input. The first run
    is a profiling run and the second compiles the fused partitions for the input shape, hence
    the warm-up. Channels-last lets oneDNN run the depthwise convolutions of light networks
    (mobilenet_v3_large, efficientnet_b0) in their native layout: 0.83-0.89x the time of the
    same form on NCHW, and no slower on the residual networks (``bench/forms.py``).

oneDNN Graph fusion is registered process-wide (``torch.jit.enable_onednn_fusion``); the
other forms therefore run with the executor's optimisations off
(``torch.jit.optimized_execution(False)``, per thread), so they are the same graphs whatever
else the process has loaded. For ``none`` and ``freeze`` that changes no bit: the executor's own
passes do not alter a CNN's arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch

from .errors import ChoriError, first_line
from .metadata import PRECISIONS, InputSpec, Precision
from .torchscript import deprecation_expected

Form = Literal["none", "freeze", "ofi", "onednn"]
FORMS: tuple[str, ...] = get_args(Form)
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}
CHOICES: tuple[str, ...] = ("auto", *FORMS)
# The executor profiles the first run and compiles on the second; the third runs the result.
WARMUP_RUNS = 3


def static_input_size(spec: InputSpec) -> tuple[int, int] | None:
    """(H, W) of every model input when the spec fixes it: a crop, a squashing resize, or
    fastai's Resize."""
    if spec.fastai_resize is not None:
        return spec.fastai_resize.size
    if spec.crop is not None:
        return (spec.crop[0], spec.crop[1])
    if spec.resize is not None and len(spec.resize) == 2:
        return (spec.resize[0], spec.resize[1])
    return None


# oneDNN's forms are CPU passes: on a CUDA device the graph runs as saved or frozen.
CUDA_FORMS: tuple[str, ...] = ("none", "freeze")


def resolve(requested: str, spec: InputSpec, device: torch.device | None = None) -> Form:
    """``auto`` → ``onednn`` for a static input size (fastest at batch 1 on every CNN measured,
    deterministic across processes and thread counts), else ``freeze``: oneDNN Graph compiles one
    graph per input shape, so with input sizes that follow the image its answers would depend on
    which shapes came first. On a CUDA device ``auto`` is ``freeze``."""
    if requested not in CHOICES:
        raise ChoriError(f"--optimize must be one of {', '.join(CHOICES)}, got {requested!r}")
    on_gpu = device is not None and device.type != "cpu"
    if on_gpu and requested not in ("auto", *CUDA_FORMS):
        raise ChoriError(
            f"--optimize {requested} is a CPU (oneDNN) form; on {device} use auto, "
            f"{', '.join(CUDA_FORMS)}"
        )
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if on_gpu:
        return "freeze"
    return "onednn" if static_input_size(spec) is not None else "freeze"


@dataclass(frozen=True)
class Optimized:
    """A module with its load-time passes applied; call it like the module."""

    form: Form
    module: torch.jit.ScriptModule
    warmup_runs: int
    precision: Precision = "fp32"

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """float32 in, float32 out, whatever the precision the module computes in."""
        batch = batch.to(DTYPES[self.precision])
        if self.form == "onednn":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.jit.optimized_execution(self.form == "onednn"):
            return self.module(batch).to(torch.float32)


def _passes(form: Form) -> Callable[[torch.jit.ScriptModule], torch.jit.ScriptModule]:
    if form == "none":
        return lambda m: m
    if form == "freeze":
        return torch.jit.freeze
    if form == "ofi":
        return torch.jit.optimize_for_inference  # freezes first
    torch.jit.enable_onednn_fusion(True)
    return lambda m: torch.jit.freeze(channels_last(m))


def channels_last(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    """Makes every 4-d parameter channels-last in place, as the addon's ``channelsLast`` does
    (what ``module.to(memory_format=torch.channels_last)`` does to parameters)."""
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() == 4:
                parameter.data = parameter.contiguous(memory_format=torch.channels_last)
    return module


def check_precision(precision: str) -> Precision:
    if precision not in PRECISIONS:
        raise ChoriError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision  # type: ignore[return-value]


def optimize(
    module: torch.jit.ScriptModule,
    form: Form,
    spec: InputSpec,
    device: torch.device | None = None,
    precision: str = "fp32",
) -> Optimized:
    """Move ``module`` to ``device``, convert it to ``precision`` (in place), apply ``form`` and
    warm it up on zeros of the input shape, as the addon's ``load()`` does (same calls, same
    order, same warm-up). On a CUDA device the module moves first, so the frozen constants live
    there, as in the addon."""
    checked = check_precision(precision)
    device = device or torch.device("cpu")
    if device.type != "cpu":
        module = module.to(device)
    try:
        with deprecation_expected():
            if checked != "fp32":
                module.to(DTYPES[checked])
            optimized = _passes(form)(module)
    except RuntimeError as e:
        raise ChoriError(f"optimize {form!r} failed: {first_line(e)}") from e
    size = static_input_size(spec)
    result = Optimized(form, optimized, WARMUP_RUNS if size is not None else 0, checked)
    if size is not None:
        zeros = torch.zeros(1, 3, *size, device=device)
        with torch.inference_mode():
            for _ in range(WARMUP_RUNS):
                result(zeros)
    return result
