"""Loading an artifact: the model and its ``chori.json``, as the golden run and the addon do.

Kept apart from :mod:`chori_torch.metadata` (the schema alone) so that the modules the loading
needs (:mod:`chori_torch.pt2`, which builds on the schema's types and on
:mod:`chori_torch.optimize`) can import the schema without a cycle back into this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import pt2, torchscript
from .errors import ChoriError, first_line
from .metadata import EXTRA_FILE, Metadata, MetadataError


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the model and how to feed it.

    ``module`` is a ``torch.jit.ScriptModule`` for ``format == "torchscript"`` and the
    compiled AOTInductor runner (called like a module, no ``eval()`` or passes) for ``"pt2"``.
    """

    path: Path
    module: Any
    metadata: Metadata
    format: str = "torchscript"


def load_artifact(path: Path) -> Artifact:
    """Load an artifact exactly as the golden run and the addon do: the model plus chori.json.

    TorchScript and .pt2 are told apart by the file's contents, never by its name.
    """
    if not path.is_file():
        raise ChoriError(f"no such model file: {path}")
    if pt2.artifact_format(path) == "pt2":
        metadata = _parse(path, pt2.read_extra(path))
        return Artifact(path=path, module=pt2.load(path), metadata=metadata, format="pt2")
    try:
        module, extra = torchscript.load(path, [EXTRA_FILE])
    except RuntimeError as e:
        raise ChoriError(f"{path} is not a TorchScript file: {first_line(e)}") from e
    if not extra[EXTRA_FILE]:
        raise MetadataError(
            f"{path} has no {EXTRA_FILE}: it is TorchScript but not a chori-torch artifact "
            "(create one with `chori export`)"
        )
    metadata = _parse(path, extra[EXTRA_FILE])
    module.eval()
    return Artifact(path=path, module=module, metadata=metadata)


def _parse(path: Path, text: str) -> Metadata:
    try:
        return Metadata.from_json(text)
    except MetadataError as e:
        raise MetadataError(f"{path}: {e}") from e


def read_metadata(path: Path) -> Metadata:
    """The metadata of the artifact at ``path``; a .pt2's compiled model is not loaded."""
    if path.is_file() and pt2.artifact_format(path) == "pt2":
        return _parse(path, pt2.read_extra(path))
    return load_artifact(path).metadata
