"""Turn a trained classifier into a verified chori-torch artifact.

A model arrives as a state_dict checkpoint plus the architecture that fits it, as a whole
pickled ``nn.Module``, or (for ``.pt2`` only) as a program saved by ``torch.export.save``. It is
converted to TorchScript (traced by default, scripted on request) or, with ``format="pt2"``,
captured by ``torch.export`` and compiled by AOTInductor (:mod:`chori_torch.pt2`); either way it
is saved with its ``chori.json`` metadata, loaded back and compared with the eager model on a
seeded input, and an artifact that disagrees is never written. The TorchScript deprecation
warnings this raises are expected: see :mod:`chori_torch.torchscript`.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from . import fastai_learner, pt2, torchscript
from ._version import __version__
from .artifact import load_artifact
from .errors import ChoriError, first_line
from .files import replacing, sha256_file
from .metadata import (
    EXTRA_FILE,
    InputSpec,
    Metadata,
    OutputKind,
    OutputSpec,
    Precision,
    Provenance,
    check_labels,
)

log = logging.getLogger(__name__)

Method = Literal["trace", "script"]

# Batch 2 rather than 1 so that tracing cannot bake a batch size of 1 into the graph unnoticed;
# the check also runs batch 1 because golden predictions are computed one image at a time.
SAMPLE_BATCH = 2
TRACE_SEED = 0
CHECK_SEED = 1  # a different input from the traced one, so traced data-dependent branches show
ATOL = RTOL = 1e-4

# Training wrappers prefix every key: DataParallel/DistributedDataParallel with "module.",
# torch.compile with "_orig_mod.".
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# "model": fastai's learn.save(), which stores {"model": state_dict, "opt": optimizer state}.
_CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


@dataclass(frozen=True)
class LoadedModel:
    """An eager model ready to export, with what its provenance should record."""

    module: nn.Module
    arch: str
    source: Path
    # Set for a torch.export.save source: compiled as it is, ``module`` is its eager form.
    program: torch.export.ExportedProgram | None = None
    # Read from the source itself (a fastai learner), rather than given on the command line.
    labels: tuple[str, ...] | None = None
    input_spec: InputSpec | None = None


@dataclass(frozen=True)
class ExportResult:
    """A written, verified artifact and how closely it matched the eager model."""

    path: Path
    metadata: Metadata
    max_abs_diff: float
    compile_seconds: float | None = None  # the AOTInductor compile, for .pt2 only

    def summary(self) -> str:
        labels = self.metadata.labels
        shown = ", ".join(labels if len(labels) <= 6 else [*labels[:3], "…", labels[-1]])
        how = self.metadata.provenance.method
        if self.metadata.provenance.format == "pt2":
            how = f"torch.export + AOTInductor .pt2 (compiled in {self.compile_seconds or 0:.1f} s)"
        return (
            f"wrote {self.path}: arch {self.metadata.provenance.arch}, "
            f"{len(labels)} labels [{shown}], input {self.metadata.input.describe()}, "
            f"{how}, check max |Δ| {self.max_abs_diff:.3g}"
        )


def load_model(
    *,
    weights: Path | None = None,
    arch: str | None = None,
    model: Path | None = None,
    num_classes: int | None = None,
    exported_program: Path | None = None,
    fastai: Path | None = None,
    fastai_arch: str | None = None,
) -> LoadedModel:
    """Load the model from exactly one source: ``weights`` + ``arch`` (or ``fastai_arch``),
    ``model``, ``exported_program`` or a fastai ``learn.export()`` pickle."""
    if sum(source is not None for source in (weights, model, exported_program, fastai)) != 1:
        raise ChoriError(
            "give exactly one of --fastai, --weights (with --arch or --fastai-arch), --model or "
            "--exported-program"
        )
    if fastai is not None:
        if arch is not None or fastai_arch is not None or num_classes is not None:
            raise ChoriError(
                "--fastai holds the whole learner: drop --arch, --fastai-arch and --num-classes"
            )
        module, arch_name, labels, spec = fastai_learner.load_export(fastai)
        return LoadedModel(
            module=module,
            arch=arch_name,
            source=fastai,
            labels=labels,
            input_spec=spec,
        )
    if fastai_arch is not None:
        if weights is None or arch is not None:
            raise ChoriError(
                "--fastai-arch goes with --weights (a learn.save checkpoint), not with --arch"
            )
        return load_fastai_checkpoint(weights, fastai_arch, num_classes)
    if exported_program is not None:
        if arch is not None or num_classes is not None:
            raise ChoriError("--arch and --num-classes go with --weights, not --exported-program")
        program = pt2.load_program(exported_program)
        return LoadedModel(
            module=program.module(),
            arch="torch.export.ExportedProgram",
            source=exported_program,
            program=program,
        )
    if model is not None:
        if arch is not None or num_classes is not None:
            raise ChoriError("--arch and --num-classes go with --weights; --model is a whole model")
        return load_pickled(model)
    assert weights is not None
    if arch is None:
        raise ChoriError(
            "--weights needs --arch: a torchvision model name or package.module:factory"
        )
    return load_state_dict_model(weights, arch, num_classes)


def load_state_dict_model(weights: Path, arch: str, num_classes: int | None) -> LoadedModel:
    """Build ``arch`` with ``num_classes`` outputs and load the checkpoint into it strictly."""
    module = _load_checkpoint(weights, architecture(arch), num_classes, f"--arch {arch}")
    return LoadedModel(module=module, arch=arch, source=weights)


def load_fastai_checkpoint(weights: Path, arch: str, num_classes: int | None) -> LoadedModel:
    """A ``learn.save`` checkpoint loaded into fastai's ``create_vision_model(arch)``."""
    with torch.serialization.safe_globals(fastai_learner.checkpoint_globals()):
        module = _load_checkpoint(
            weights,
            lambda n: fastai_learner.build_model(arch, n),
            num_classes,
            f"fastai's create_vision_model({arch})",
        )
    return LoadedModel(module=module, arch=f"fastai:{arch}", source=weights)


def _load_checkpoint(
    weights: Path, build: Callable[[int], nn.Module], num_classes: int | None, what: str
) -> nn.Module:
    """``build(num_classes)`` with the checkpoint's weights, loaded strictly; ``num_classes``
    is read from the checkpoint when not given."""
    state_dict = extract_state_dict(_torch_load(weights, weights_only=True, flag="--weights"))
    if num_classes is None:
        num_classes, key = infer_num_classes(state_dict)
        log.info(
            "inferred --num-classes %d from %s %s", num_classes, key, list(state_dict[key].shape)
        )
    module = build(num_classes)
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as e:
        raise ChoriError(f"--weights {weights} does not fit {what}: {e}") from e
    return module


def load_pickled(path: Path) -> LoadedModel:
    """Unpickle a whole model saved with ``torch.save(model, path)``."""
    obj = _torch_load(path, weights_only=False, flag="--model")
    if isinstance(obj, Mapping):
        raise ChoriError(
            f"--model {path} holds a dict (a state_dict or checkpoint), not a model; "
            "use --weights with --arch"
        )
    if not isinstance(obj, nn.Module):
        raise ChoriError(f"--model {path} holds a {type(obj).__name__}, not a torch.nn.Module")
    cls = type(obj)
    return LoadedModel(module=obj, arch=f"{cls.__module__}.{cls.__qualname__}", source=path)


def _torch_load(path: Path, *, weights_only: bool, flag: str) -> object:
    if not path.is_file():
        raise ChoriError(f"{flag}: no such file: {path}")
    advice = (
        "A pickled model stores only a reference to its class, so the code that defined it must "
        "be importable under the same name (install it or add it to PYTHONPATH); models defined "
        "in a training script live in __main__. Alternatively save the state_dict and export "
        "with --weights and --arch package.module:factory."
    )
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except ImportError as e:
        if e.name == "dill":
            raise ChoriError(
                f"{flag} {path} was pickled with dill (torch.save(..., pickle_module=dill)): "
                "pip install dill, then export again"
            ) from e
        what = f"module {e.name!r} is not importable ({e})" if e.name else str(e)
        raise ChoriError(f"cannot unpickle {flag} {path}: {what}. {advice}") from e
    except AttributeError as e:
        match = re.search(r"Can't get attribute '([^']+)'", str(e))
        what = f"its class {match[1]!r} cannot be found ({e})" if match else str(e)
        raise ChoriError(f"cannot unpickle {flag} {path}: {what}. {advice}") from e
    except Exception as e:  # torch reports bad files as RuntimeError, UnpicklingError and more
        hint = " If it is a whole pickled model, use --model." if weights_only else ""
        raise ChoriError(f"cannot load {flag} {path}: {first_line(e)}.{hint}") from e


def extract_state_dict(checkpoint: object) -> dict[str, torch.Tensor]:
    """The bare state_dict inside a checkpoint, with training-wrapper key prefixes removed."""
    if isinstance(checkpoint, Mapping):
        for key in _CHECKPOINT_KEYS:
            if isinstance(checkpoint.get(key), Mapping):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise ChoriError("--weights must hold a state_dict (a dict of parameter tensors)")
    bad = [k for k, v in checkpoint.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise ChoriError(
            f"--weights is not a state_dict: {bad[0]!r} is not a named tensor; checkpoint dicts "
            f"are unwrapped only under the keys {list(_CHECKPOINT_KEYS)}"
        )
    state_dict = dict(checkpoint)
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state_dict):
            state_dict = {k.removeprefix(prefix): v for k, v in state_dict.items()}
    return state_dict


def infer_num_classes(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, str]:
    """Outputs of the classifier head: the last Linear (2-D) or 1x1-conv weight, e.g. SqueezeNet.

    Returns the count and the key it came from. A wrong guess cannot slip through: the strict
    ``load_state_dict`` and the label check both fail on it.
    """
    for key in reversed(list(state_dict)):
        t = state_dict[key]
        if key.endswith("weight") and (t.ndim == 2 or (t.ndim == 4 and t.shape[2:] == (1, 1))):
            return int(t.shape[0]), key
    raise ChoriError("cannot infer the number of classes from --weights; pass --num-classes")


def architecture(arch: str) -> Callable[[int], nn.Module]:
    """A builder of untrained models from a torchvision name or a ``package.module:factory``.

    Resolved before the checkpoint is read, so a typo fails fast even for a large checkpoint.
    """
    if ":" in arch:
        factory = _import_factory(arch)
        try:
            inspect.signature(factory).bind(num_classes=1)
        except (TypeError, ValueError) as e:
            raise ChoriError(f"--arch {arch} must accept num_classes=: {e}") from e
    else:
        # weights=None: the checkpoint supplies every parameter, so nothing is downloaded.
        factory = functools.partial(_torchvision_builder(arch), weights=None)

    def build(num_classes: int) -> nn.Module:
        module = factory(num_classes=num_classes)
        if not isinstance(module, nn.Module):
            raise ChoriError(f"--arch {arch} built a {type(module).__name__}, not an nn.Module")
        return module

    return build


def _torchvision_builder(name: str) -> Callable[..., object]:
    try:
        return torchvision.models.get_model_builder(name)
    except ValueError:
        close = difflib.get_close_matches(name, torchvision.models.list_models(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ChoriError(
            f"--arch {name!r} is neither a torchvision.models name{hint} "
            "nor an import path package.module:factory"
        ) from None


def _import_factory(path: str) -> Callable[..., object]:
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ChoriError(f"--arch {path!r}: an import path looks like package.module:factory")
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as e:
        raise ChoriError(f"--arch {path}: cannot import {module_name!r}: {e}") from e
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            raise ChoriError(f"--arch {path}: {module_name!r} has no attribute {attr_path!r}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise ChoriError(f"--arch {path}: {attr_path!r} is not callable")
    return obj


def sample_input(spec: InputSpec, seed: int, batch: int = SAMPLE_BATCH) -> torch.Tensor:
    """A reproducible batch shaped like normalised images (roughly zero mean, unit variance)."""
    height, width = spec.sample_size()
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, height, width, generator=generator)


def forward(model: Callable[[torch.Tensor], object], batch: torch.Tensor) -> torch.Tensor:
    """Run ``model`` and insist on the artifact contract: float32 ``N x num_classes``."""
    with torch.no_grad():
        out = model(batch)
    if not isinstance(out, torch.Tensor):
        raise ChoriError(
            f"the model returned a {type(out).__name__}; a classifier must return one tensor"
        )
    if out.ndim != 2 or out.shape[0] != batch.shape[0] or out.dtype != torch.float32:
        raise ChoriError(
            f"the model returned {out.dtype} {list(out.shape)} for a batch of {batch.shape[0]}; "
            "expected float32 [batch, num_classes]"
        )
    return out


def export_artifact(
    loaded: LoadedModel,
    *,
    labels: Sequence[str],
    input_spec: InputSpec,
    out: Path,
    method: Method = "trace",
    output_kind: OutputKind = "logits",
    format: pt2.Format = "torchscript",
    precision: Precision | None = None,
) -> ExportResult:
    """Convert, save with metadata, reload and verify; ``out`` is only written if it verifies.

    ``precision`` is recorded in chori.json as the one load() runs in by default.
    """
    if format not in pt2.FORMATS:
        raise ChoriError(f"--format must be one of {', '.join(pt2.FORMATS)}, got {format!r}")
    if format == "pt2" and precision not in (None, "fp32"):
        raise ChoriError(
            f"--precision {precision} is TorchScript's: a .pt2 package runs in the precision "
            "it was compiled in"
        )
    if out.is_dir():
        suffix = ".pt2" if format == "pt2" else ".pt"
        raise ChoriError(
            f"--out {out} is a directory; name the artifact file, e.g. {out}/model{suffix}"
        )
    if format == "pt2":
        if method == "script":
            raise ChoriError("--script is TorchScript's; --format pt2 captures with torch.export")
        # Before anything slow: the whole export is pointless for a size the package cannot take.
        size = pt2.fixed_size(input_spec)
        if loaded.program is not None:
            pt2.check_program(loaded.program, size)
    elif loaded.program is not None:
        raise ChoriError("--exported-program can only be compiled to a .pt2: add --format pt2")
    # An exported program's module is already in the mode it was captured in: it refuses
    # eval(), and .float() would rewrite its buffers.
    model = loaded.module if loaded.program is not None else loaded.module.float().eval()
    num_classes = forward(model, sample_input(input_spec, TRACE_SEED)).shape[1]
    check_labels(labels, num_classes)
    metadata = Metadata(
        labels=tuple(labels),
        input=input_spec,
        output=OutputSpec(kind=output_kind, num_classes=num_classes),
        provenance=Provenance(
            torch_version=torch.__version__,
            torchvision_version=torchvision.__version__,
            chori_torch_version=__version__,
            arch=loaded.arch,
            weights_sha256=sha256_file(loaded.source),
            method="export" if format == "pt2" else method,
            exported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            format="pt2" if format == "pt2" else None,
        ),
        precision=precision,
    )
    if format == "pt2":
        return _export_pt2(loaded, model, metadata, out)
    compiled = _compile(model, input_spec, method)
    with replacing(out) as tmp:
        torchscript.save(compiled, tmp, {EXTRA_FILE: metadata.to_json()})
        artifact = load_artifact(tmp)
        if artifact.metadata != metadata:
            raise ChoriError(f"{EXTRA_FILE} did not survive the round trip through {tmp}")
        max_abs_diff = _verify(model, artifact.module, input_spec, method)
    return ExportResult(path=out, metadata=metadata, max_abs_diff=max_abs_diff)


def _export_pt2(
    loaded: LoadedModel, model: nn.Module, metadata: Metadata, out: Path
) -> ExportResult:
    example = sample_input(metadata.input, TRACE_SEED)
    program = loaded.program or pt2.capture(model, example)
    start = time.perf_counter()
    package = pt2.compile_package(program, example, metadata.to_json())
    seconds = time.perf_counter() - start
    with replacing(out) as tmp:
        tmp.write_bytes(package)
        artifact = load_artifact(tmp)
        if artifact.metadata != metadata:
            raise ChoriError(f"{EXTRA_FILE} did not survive the round trip through {tmp}")
        max_abs_diff = _verify(model, artifact.module, metadata.input, "export")
    log.info("export check: max |Δ| %.3g against the eager model", max_abs_diff)
    return ExportResult(
        path=out, metadata=metadata, max_abs_diff=max_abs_diff, compile_seconds=seconds
    )


def _compile(model: nn.Module, spec: InputSpec, method: Method) -> torch.jit.ScriptModule:
    try:
        if method == "script":
            return torchscript.script(model)
        return torchscript.trace(model, sample_input(spec, TRACE_SEED))
    except Exception as e:  # TorchScript raises several unrelated types for unsupported code
        other = "tracing (without --script)" if method == "script" else "--script"
        raise ChoriError(f"torch.jit.{method} failed: {first_line(e)} (try {other})") from e


def _verify(
    eager: nn.Module,
    compiled: Callable[[torch.Tensor], object],
    spec: InputSpec,
    method: Method | Literal["export"],
) -> float:
    """Max |Δ| between the reloaded artifact and the eager model at batch 2 and batch 1."""
    batch = sample_input(spec, CHECK_SEED)
    pairs = [(forward(compiled, x), forward(eager, x)) for x in (batch, batch[:1])]
    diffs = [(got - want).abs().max().item() for got, want in pairs]
    max_abs_diff = math.nan if any(map(math.isnan, diffs)) else max(diffs)
    if not all(torch.allclose(got, want, atol=ATOL, rtol=RTOL) for got, want in pairs):
        advice = (
            "a trace freezes data-dependent branches and Python numbers (see any TracerWarning "
            "above); try --script"
            if method == "trace"
            else "the scripted model computes something else than the eager one"
            if method == "script"
            else "the compiled package computes something else than the eager model"
        )
        raise ChoriError(
            f"export check failed, nothing written: the reloaded artifact differs from the eager "
            f"model by max |Δ| = {max_abs_diff:.3g} (atol = rtol = {ATOL:g}); {advice}"
        )
    return max_abs_diff
