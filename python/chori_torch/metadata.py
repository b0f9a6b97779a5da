"""The ``chori.json`` metadata embedded in every artifact (schema versions 1 and 2).

docs/ARCHITECTURE.md is the specification; the C++ addon parses the same JSON, so this module
is strict where a mistake would change predictions: unknown keys in ``input``/``output`` or at
the top level are rejected rather than ignored, because a key we do not understand might change
how an image must be fed. ``provenance`` is informative only, so it is read leniently.

Schema 2 adds ``input.fastai_resize``; artifacts that do not use it are still written as
schema 1, so the addons released before it keep loading them, while one that does use it is
refused by those addons instead of being fed the wrong way.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from .errors import ChoriError

SCHEMA_VERSION = 2  # the newest this module reads
SCHEMA_VERSIONS = (1, 2)
EXTRA_FILE = "chori.json"

Interpolation = Literal["nearest", "bilinear", "bicubic", "box", "hamming", "lanczos"]
ResizeMethod = Literal["crop", "squish", "pad"]
PadMode = Literal["zeros", "border", "reflection"]
RESIZE_METHODS: tuple[str, ...] = get_args(ResizeMethod)
PAD_MODES: tuple[str, ...] = get_args(PadMode)
OutputKind = Literal["logits", "probabilities"]
INTERPOLATIONS: tuple[str, ...] = get_args(Interpolation)
OUTPUT_KINDS: tuple[str, ...] = get_args(OutputKind)
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MetadataError(ChoriError):
    """``chori.json`` is missing, malformed or inconsistent."""


def _positive_ints(value: object, what: str, lengths: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) not in lengths:
        raise MetadataError(f"{what} must be a list of {' or '.join(map(str, lengths))} integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise MetadataError(f"{what} must hold positive integers, got {list(value)}")
    return tuple(value)


def _floats(value: object, what: str, length: int) -> tuple[float, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != length:
        raise MetadataError(f"{what} must be a list of {length} numbers")
    ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise MetadataError(f"{what} must hold finite numbers, got {list(value)}")
    return tuple(float(v) for v in value)


def _object(value: object, what: str, known: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MetadataError(f"{what} must be a JSON object")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise MetadataError(
            f"{what} has unknown keys {unknown}; schema {SCHEMA_VERSION} knows {list(known)}"
        )
    return value


@dataclass(frozen=True)
class FastaiResize:
    """fastai's ``Resize(size, method, pad_mode)`` as it runs on validation and test items."""

    size: tuple[int, int]  # (height, width), as fastai's Resize takes it
    method: ResizeMethod = "crop"
    pad_mode: PadMode = "reflection"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "size", _positive_ints(self.size, "input.fastai_resize.size", (2,))
        )
        if self.method not in RESIZE_METHODS:
            raise MetadataError(
                f"input.fastai_resize.method must be one of {', '.join(RESIZE_METHODS)}, "
                f"got {self.method!r}"
            )
        if self.pad_mode not in PAD_MODES:
            raise MetadataError(
                f"input.fastai_resize.pad_mode must be one of {', '.join(PAD_MODES)}, "
                f"got {self.pad_mode!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"size": list(self.size), "method": self.method, "pad_mode": self.pad_mode}

    @classmethod
    def from_dict(cls, value: object) -> FastaiResize:
        d = _object(value, "input.fastai_resize", ("size", "method", "pad_mode"))
        missing = [k for k in ("size", "method", "pad_mode") if k not in d]
        if missing:
            raise MetadataError(f"input.fastai_resize is missing {missing}")
        return cls(size=d["size"], method=d["method"], pad_mode=d["pad_mode"])


@dataclass(frozen=True)
class InputSpec:
    """How an image becomes the model's input; the defaults are the ImageNet recipe."""

    resize: tuple[int, ...] | None = (256,)
    max_size: int | None = None
    crop: tuple[int, ...] | None = (224, 224)
    interpolation: Interpolation = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color_mode: str = "RGB"
    # Turn images upright by their EXIF orientation tag (ImageOps.exif_transpose) before
    # convert("RGB"). Off by default, as Image.open ignores the tag; absent in older artifacts.
    exif_orientation: bool = False
    # fastai's Resize in place of torchvision's Resize and CenterCrop (schema 2).
    fastai_resize: FastaiResize | None = None

    def __post_init__(self) -> None:
        # Validate (and normalise lists to tuples) here rather than only when parsing, so a spec
        # built in code is as trustworthy as one read from a file, and torchvision never sees a
        # combination it would reject later.
        if self.color_mode != "RGB":
            raise MetadataError(f'input.color_mode must be "RGB", got {self.color_mode!r}')
        if self.resize is not None:
            object.__setattr__(self, "resize", _positive_ints(self.resize, "input.resize", (1, 2)))
        if self.max_size is not None:
            _positive_ints([self.max_size], "input.max_size", (1,))
            if self.resize is None or len(self.resize) != 1:
                raise MetadataError("input.max_size only applies with a single-number resize")
            if self.max_size <= self.resize[0]:
                raise MetadataError(
                    f"input.max_size ({self.max_size}) must be greater than input.resize "
                    f"({self.resize[0]})"
                )
        if self.crop is not None:
            object.__setattr__(self, "crop", _positive_ints(self.crop, "input.crop", (2,)))
        if self.interpolation not in INTERPOLATIONS:
            raise MetadataError(
                f"input.interpolation must be one of {', '.join(INTERPOLATIONS)}, "
                f"got {self.interpolation!r}"
            )
        object.__setattr__(self, "mean", _floats(self.mean, "input.mean", 3))
        object.__setattr__(self, "std", _floats(self.std, "input.std", 3))
        if 0.0 in self.std:
            raise MetadataError(f"input.std must not contain 0, got {list(self.std)}")
        if not isinstance(self.exif_orientation, bool):
            raise MetadataError(
                f"input.exif_orientation must be true or false, got {self.exif_orientation!r}"
            )
        if self.fastai_resize is not None and (
            self.resize is not None or self.max_size is not None or self.crop is not None
        ):
            raise MetadataError(
                "input.fastai_resize replaces resize, max_size and crop, which must be null"
            )

    def sample_size(self) -> tuple[int, int]:
        """The (H, W) the model sees; a bare shorter-side resize is taken as a square image."""
        if self.fastai_resize is not None:
            return self.fastai_resize.size
        if self.crop is not None:
            return (self.crop[0], self.crop[1])
        if self.resize is not None:
            return (self.resize[0], self.resize[-1])
        raise MetadataError(
            "the input size is unknown without a crop or a resize; set --crop or --resize H,W"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "color_mode": self.color_mode,
            "resize": None if self.resize is None else list(self.resize),
            "max_size": self.max_size,
            "crop": None if self.crop is None else list(self.crop),
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "exif_orientation": self.exif_orientation,
        } | ({} if self.fastai_resize is None else {"fastai_resize": self.fastai_resize.to_dict()})

    @classmethod
    def from_dict(cls, value: object) -> InputSpec:
        keys = ("color_mode", "resize", "max_size", "crop", "interpolation", "mean", "std")
        # Optional: artifacts written before a key existed stay valid (schema_version 1).
        d = dict(_object(value, "input", (*keys, "exif_orientation", "fastai_resize")))
        missing = [k for k in keys if k not in d]
        if missing:
            raise MetadataError(f"input is missing {missing}")
        if d.get("fastai_resize") is not None:
            d["fastai_resize"] = FastaiResize.from_dict(d["fastai_resize"])
        return cls(**d)

    def describe(self) -> str:
        """One human line, e.g. ``resize 256, crop 224x224, bilinear``."""
        parts = []
        if self.fastai_resize is not None:
            f = self.fastai_resize
            how = f"{f.method}, {f.pad_mode} padding" if f.method == "pad" else f.method
            parts.append(f"fastai Resize {f.size[0]}x{f.size[1]} ({how})")
        if self.resize is not None:
            parts.append("resize " + "x".join(map(str, self.resize)))
        if self.max_size is not None:
            parts.append(f"max-size {self.max_size}")
        if self.crop is not None:
            parts.append("crop " + "x".join(map(str, self.crop)))
        parts.append(self.interpolation)
        if self.exif_orientation:
            parts.append("EXIF orientation applied")
        return ", ".join(parts)


@dataclass(frozen=True)
class OutputSpec:
    """What the model's ``N x num_classes`` output means."""

    num_classes: int
    kind: OutputKind = "logits"

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise MetadataError(
                f"output.kind must be one of {', '.join(OUTPUT_KINDS)}, got {self.kind!r}"
            )
        _positive_ints([self.num_classes], "output.num_classes", (1,))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_classes": self.num_classes}

    @classmethod
    def from_dict(cls, value: object) -> OutputSpec:
        d = _object(value, "output", ("kind", "num_classes"))
        if "kind" not in d or "num_classes" not in d:
            raise MetadataError("output needs both kind and num_classes")
        return cls(kind=d["kind"], num_classes=d["num_classes"])


@dataclass(frozen=True)
class Provenance:
    """Where an artifact came from. Informative only: nothing downstream depends on it."""

    torch_version: str | None = None
    torchvision_version: str | None = None
    chori_torch_version: str | None = None
    arch: str | None = None
    weights_sha256: str | None = None
    method: str | None = None
    exported_at: str | None = None
    # "pt2" for AOTInductor packages. Written only when set: TorchScript artifacts keep the
    # provenance keys they always had (readers ignore unknown provenance keys either way).
    format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if d["format"] is None:
            del d["format"]
        return d

    @classmethod
    def from_dict(cls, value: object) -> Provenance:
        if not isinstance(value, Mapping):
            raise MetadataError("provenance must be a JSON object")
        return cls(
            **{
                name: None if value.get(name) is None else str(value[name])
                for name in cls.__dataclass_fields__
            }
        )


@dataclass(frozen=True)
class Metadata:
    """The whole ``chori.json`` document."""

    labels: tuple[str, ...]
    input: InputSpec
    output: OutputSpec
    provenance: Provenance = field(default_factory=Provenance)
    # The precision load() runs the model in when its caller names none (docs/ARCHITECTURE.md).
    # Optional: written only when set, so readers from before it keep the fp32 they always ran.
    precision: Precision | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        check_labels(self.labels, self.output.num_classes)
        if self.precision is not None and self.precision not in PRECISIONS:
            raise MetadataError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        d = {
            "schema_version": 1 if self.input.fastai_resize is None else 2,
            "labels": list(self.labels),
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "provenance": self.provenance.to_dict(),
        }
        if self.precision is not None:
            d["precision"] = self.precision
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, value: object) -> Metadata:
        keys = ("schema_version", "labels", "input", "output", "provenance", "precision")
        d = _object(value, "chori.json", keys)
        version = d.get("schema_version")
        if version not in SCHEMA_VERSIONS:
            raise MetadataError(
                f"chori.json schema_version is {version!r}; this chori-torch reads versions "
                f"{' and '.join(map(str, SCHEMA_VERSIONS))}"
            )
        for key in ("labels", "input", "output"):
            if key not in d:
                raise MetadataError(f"chori.json is missing {key!r}")
        labels = d["labels"]
        if not isinstance(labels, list):
            raise MetadataError("labels must be a list of strings")
        spec = InputSpec.from_dict(d["input"])
        if spec.fastai_resize is not None and version < 2:
            raise MetadataError("input.fastai_resize needs schema_version 2")
        return cls(
            labels=tuple(labels),
            input=spec,
            output=OutputSpec.from_dict(d["output"]),
            provenance=Provenance.from_dict(d.get("provenance", {})),
            precision=d.get("precision"),
        )

    @classmethod
    def from_json(cls, text: str) -> Metadata:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            raise MetadataError(f"chori.json is not valid JSON: {e}") from e
        return cls.from_dict(value)


def check_labels(labels: Sequence[str], num_classes: int) -> None:
    """Labels name outputs one to one; a duplicate would make a predicted label ambiguous."""
    if not all(isinstance(label, str) and label.strip() for label in labels):
        raise MetadataError(f"labels must be non-empty strings, got {list(labels)}")
    duplicates = sorted(label for label, count in Counter(labels).items() if count > 1)
    if duplicates:
        raise MetadataError(f"labels must be unique; repeated: {duplicates}")
    if len(labels) != num_classes:
        raise MetadataError(
            f"{len(labels)} labels for a model with {num_classes} outputs; "
            "give one label per output, in output order"
        )
