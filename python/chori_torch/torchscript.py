"""TorchScript calls, with its deprecation warning expected rather than silenced.

TorchScript is the chori-torch artifact format on purpose: the addon loads the model with
libtorch's ``torch::jit::load`` and runs it without Python. Since PyTorch 2.11 every
``torch.jit`` entry point we use (``trace``, ``script``, ``save``, ``load``) emits

    FutureWarning: `torch.jit.trace` is deprecated. Please switch to `torch.compile` or
    `torch.export`.

Its ``torch.export`` successor would need AOTInductor packages compiled for each target, which
is a different project, so for us the warning is expected noise. We catch exactly that warning
(category ``FutureWarning``, message matching :data:`DEPRECATION_MESSAGE`) around our own calls
and log it at DEBUG (``chori -v`` shows it). Every other warning, notably ``TracerWarning``
about data-dependent control flow, still reaches the user unchanged.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from .errors import ChoriError, first_line

log = logging.getLogger(__name__)

DEPRECATION_MESSAGE = r"`torch\.jit\.\w+` is deprecated"
_DEPRECATION = re.compile(DEPRECATION_MESSAGE)


@contextmanager
def deprecation_expected() -> Iterator[None]:
    """Log TorchScript's deprecation warning at DEBUG and re-emit every other warning."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", message=DEPRECATION_MESSAGE, category=FutureWarning)
            yield
    finally:
        for w in caught:
            if issubclass(w.category, FutureWarning) and _DEPRECATION.match(str(w.message)):
                log.debug("expected TorchScript deprecation: %s", w.message)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def trace(model: nn.Module, sample: torch.Tensor) -> torch.jit.ScriptModule:
    """Trace ``model`` on ``sample``; autograd is off because the artifact only runs inference."""
    with deprecation_expected(), torch.no_grad():
        return torch.jit.trace(model, sample)


def script(model: nn.Module) -> torch.jit.ScriptModule:
    """Compile ``model`` with the TorchScript compiler, keeping its Python control flow."""
    with deprecation_expected():
        return torch.jit.script(model)


def save(module: torch.jit.ScriptModule, path: Path, extra_files: Mapping[str, str]) -> None:
    """Write ``module`` with ``extra_files`` stored inside the same archive."""
    with deprecation_expected():
        try:
            torch.jit.save(module, str(path), _extra_files=dict(extra_files))
        except RuntimeError as e:
            raise ChoriError(f"cannot write {path}: {first_line(e)}") from e


def load(path: Path, extra_files: Iterable[str]) -> tuple[torch.jit.ScriptModule, dict[str, str]]:
    """Load a TorchScript file onto the CPU with the named extra files (absent ones: ``""``)."""
    requested: dict[str, str | bytes] = dict.fromkeys(extra_files, "")
    with deprecation_expected():
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=requested)
    found = {
        name: value.decode("utf-8") if isinstance(value, bytes) else value
        for name, value in requested.items()
    }
    return module, found
