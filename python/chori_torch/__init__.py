"""chori-torch, Python side: export classifiers as self-describing TorchScript artifacts and
record the golden predictions the Node.js addon must reproduce.

Flow: :func:`load_model` → :func:`export_artifact` (TorchScript + ``chori.json``) →
:func:`write_golden` (reference pipeline: :func:`open_image` + :func:`build_transform`).
"""

from ._version import __version__
from .artifact import Artifact, load_artifact, read_metadata
from .errors import ChoriError
from .export import ExportResult, LoadedModel, export_artifact, load_model
from .golden import compute_golden, write_golden
from .metadata import InputSpec, Metadata, OutputSpec
from .preprocessing import build_transform, open_image

__all__ = [
    "Artifact",
    "ChoriError",
    "ExportResult",
    "InputSpec",
    "LoadedModel",
    "Metadata",
    "OutputSpec",
    "__version__",
    "build_transform",
    "compute_golden",
    "export_artifact",
    "load_artifact",
    "load_model",
    "open_image",
    "read_metadata",
    "write_golden",
]
