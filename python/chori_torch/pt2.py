"""The ``.pt2`` artifact: a ``torch.export`` program compiled ahead of time by AOTInductor.

One zip (``torch.export.pt2_archive``) holds the compiled model under the package's default
name ``model`` (``<root>/data/aotinductor/model/…``: the generated C++, its metadata and the
``.so`` with the frozen weights inside) and the same ``chori.json`` as a TorchScript artifact,
as the archive's extra file ``<root>/extra/chori.json``. The addon's second backend
(``addon/src/model/aoti.cc``) reads both through libtorch's ``AOTIModelPackageLoader``.

The batch dimension is dynamic (1 to :data:`MAX_BATCH`); height and width are compiled in,
so only input specs that fix the model's HxW can be exported this way.
"""

from __future__ import annotations

import inspect
import io
import logging
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from .errors import ChoriError, first_line
from .metadata import EXTRA_FILE, InputSpec, MetadataError
from .optimize import static_input_size

log = logging.getLogger(__name__)

Format = Literal["torchscript", "pt2"]
FORMATS: tuple[str, ...] = ("torchscript", "pt2")

MAX_BATCH = 64
# The package's default model name; libtorch's loader and aoti_load_package look it up.
MODEL_NAME = "model"
_EXTRA_ENTRY = f"extra/{EXTRA_FILE}"
_MODEL_DIR = f"data/aotinductor/{MODEL_NAME}/"
# Measured on resnet18 at batch 1, one thread, AMD EPYC (2 shared cores), 40 round-robin runs
# each after 3 warm-ups: freezing on 66.5 ms median (p90 69.3), off 66.5 ms (p90 68.7), logits
# bit-identical. No speed difference; freezing stays on because it folds the weights into the
# .so, so the package has no separate weight blobs for the loader to map.
INDUCTOR_OPTIONS = {"aot_inductor.package": True, "freezing": True}

Runner = Callable[[torch.Tensor], torch.Tensor]


def artifact_format(path: Path) -> Format:
    """``pt2`` for a torch.export archive, else ``torchscript``, judged by content, not name.

    Both are zips with one root folder, and both keep extra files under ``<root>/extra/``; only
    a PT2 archive writes ``pt2`` into ``<root>/archive_format`` (the addon's
    ``addon/src/model/load.cc`` decides the same way). Anything that is not a readable zip is
    left to the TorchScript loader, whose message for a bad file is the established one.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            record = next(
                (n for n in archive.namelist() if n.partition("/")[2] == "archive_format"), None
            )
            return "pt2" if record is not None and archive.read(record) == b"pt2" else "torchscript"
    except (zipfile.BadZipFile, OSError):
        return "torchscript"


def read_extra(path: Path) -> str:
    """The ``chori.json`` text inside the package at ``path``; raises if it is absent."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            entry = next((n for n in names if n.partition("/")[2] == _EXTRA_ENTRY), None)
            if not any(n.partition("/")[2].startswith(_MODEL_DIR) for n in names):
                raise ChoriError(
                    f"{path} is a .pt2 package without a compiled model "
                    f"(no data/aotinductor/{MODEL_NAME}/); export it with "
                    "`chori export --format pt2`"
                )
            if entry is None:
                raise MetadataError(
                    f"{path} has no {EXTRA_FILE}: it is a .pt2 package but not a chori-torch "
                    "artifact (create one with `chori export --format pt2`)"
                )
            return archive.read(entry).decode("utf-8")
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as e:
        raise ChoriError(f"{path} is not a readable .pt2 package: {e}") from e


def _quiet_cuda_probe() -> None:
    """AOTInductor imports ``torch.utils.cpp_extension``, which warns on every CPU-only machine
    that no CUDA runtime is found; a CPU package never needs one, so the line is only noise."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def load(path: Path) -> Runner:
    """The compiled model in the package at ``path``, as ``torch._inductor`` loads it."""
    _quiet_cuda_probe()
    try:
        # An open file, not the path: torch warns about any path whose name is not *.pt2, and
        # the artifact's name is the user's choice (the export check loads a temporary name).
        with path.open("rb") as package:
            return torch._inductor.aoti_load_package(package)
    except Exception as e:  # the C++ loader raises RuntimeError; a bad .so, OSError and more
        raise ChoriError(f"cannot load the .pt2 package {path}: {first_line(e)}") from e


def load_program(path: Path) -> torch.export.ExportedProgram:
    """A program saved with ``torch.export.save``."""
    if not path.is_file():
        raise ChoriError(f"--exported-program: no such file: {path}")
    try:
        return torch.export.load(path)
    except Exception as e:  # a torch.save file or a .pt2 without a program: several types
        raise ChoriError(
            f"cannot load --exported-program {path}: {first_line(e)} "
            "(it must be a file written by torch.export.save)"
        ) from e


def fixed_size(spec: InputSpec) -> tuple[int, int]:
    """The HxW a package is compiled for; refuses specs whose size follows the image."""
    size = static_input_size(spec)
    if size is None:
        raise ChoriError(
            "--format pt2 needs a fixed input size: AOTInductor compiles the model for one "
            f"height x width, but this input spec ({spec.describe()}) gives every image its own "
            "(a shorter-side resize without a crop). Add --crop H,W, or --resize H,W to squash "
            "every image to one size"
        )
    return size


def capture(model: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch dimension (example batch 2, so it is not 1)."""
    try:
        name = next(iter(inspect.signature(model.forward).parameters))
    except (StopIteration, TypeError, ValueError):
        raise ChoriError(
            "the model's forward() must take the image batch as its argument"
        ) from None
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    # On a data-dependent branch the shape solver also logs the whole graph as a warning; the
    # error raised below says what went wrong in one sentence.
    shapes_log = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    level = shapes_log.level
    shapes_log.setLevel(logging.ERROR)
    try:
        return torch.export.export(model, (example,), dynamic_shapes={name: {0: batch}})
    except Exception as e:  # torch.export raises UserError, guard and constraint errors, …
        raise ChoriError(f"torch.export could not capture the model: {_gist(e)}") from e
    finally:
        shapes_log.setLevel(level)


def check_program(program: torch.export.ExportedProgram, size: tuple[int, int]) -> None:
    """An exported program must take one ``Nx3xHxW`` tensor with a dynamic N at our HxW."""
    inputs = [
        node
        for node in program.graph.nodes
        if node.op == "placeholder" and node.name in program.graph_signature.user_inputs
    ]
    value = inputs[0].meta.get("val") if len(inputs) == 1 else None
    if not isinstance(value, torch.Tensor) or value.ndim != 4:
        raise ChoriError(
            f"the exported program takes {len(inputs)} input(s); a classifier takes one "
            "Nx3xHxW tensor"
        )
    n, c, h, w = value.shape
    if isinstance(n, int):
        raise ChoriError(
            f"the exported program has a fixed batch size of {n}; export it with "
            'dynamic_shapes={<input>: {0: torch.export.Dim("batch")}} so it serves any batch'
        )
    if (c, h, w) != (3, *size):
        raise ChoriError(
            f"the exported program takes {c}x{h}x{w} images but the input spec gives "
            f"3x{size[0]}x{size[1]}; match --crop / --resize to the program"
        )


def compile_package(
    program: torch.export.ExportedProgram, example: torch.Tensor, extra: str
) -> bytes:
    """AOTInductor-compile ``program`` and package it with ``chori.json``, as bytes."""
    from torch.export.pt2_archive._package import package_pt2

    _quiet_cuda_probe()
    log.info("compiling the model with AOTInductor (C++; usually 10 s to a minute)…")
    start = time.perf_counter()
    try:
        files = torch._inductor.aot_compile(
            program.module(check_guards=False), (example,), options=dict(INDUCTOR_OPTIONS)
        )
    except Exception as e:  # compiler missing, unsupported op, lowering errors
        raise ChoriError(f"AOTInductor could not compile the model: {_gist(e)}") from e
    log.info("compiled in %.1f s", time.perf_counter() - start)
    if not isinstance(files, list):
        raise ChoriError(f"AOTInductor returned {type(files).__name__}, not a list of files")
    # Packaged in memory: the zip's root folder is named after the file written, and a fixed
    # "archive" keeps it independent of the temporary name the export writes first.
    buffer = io.BytesIO()
    package_pt2(buffer, aoti_files={MODEL_NAME: files}, extra_files={EXTRA_FILE: extra})
    return buffer.getvalue()


def _gist(error: BaseException) -> str:
    """The sentences of a torch.export error that say something, without its pages of debug
    hints: the first line, the first listed violation, and the user's line that raised it."""
    lines = [line.rstrip() for line in str(error).strip().splitlines()]
    if not lines:
        return type(error).__name__
    parts = [re.sub(r"\s*For more information, run with .*$", "", lines[0]).strip()]
    bullet = next((line.strip()[2:] for line in lines if line.strip().startswith("- ")), None)
    if bullet:
        parts.append(bullet.split(". If you're using")[0].rstrip("."))
    if "The following call raised this error:" in lines:
        at = lines.index("The following call raised this error:")
        where = [line.strip() for line in lines[at + 1 : at + 3] if line.strip()]
        if where:
            parts.append("raised at " + ": ".join(where))
    if "data-dependent" in lines[0]:
        parts.append(
            "forward() branches on tensor values, which a compiled graph cannot; "
            "use torch.cond or compute both branches and torch.where"
        )
    return "; ".join(part.rstrip(".") for part in parts if part)
