"""fastai learners: the model, its labels and its inference preprocessing, read from fastai.

Two sources, as fastai users save them:

- ``learn.export()`` pickles (``--fastai export.pkl``): loaded with fastai's ``load_learner``;
  the labels are ``dls.vocab`` and the preprocessing is read from the learner's own pipelines,
  ``dls.after_item`` (``Resize`` → ``ToTensor``) and ``dls.after_batch``
  (``IntToFloatTensor`` → ``Normalize``), so nothing has to be retyped;
- ``learn.save()`` checkpoints (``--fastai-arch resnet34 --weights stage1.pth``): the model is
  rebuilt with fastai's own ``create_vision_model`` (backbone cut before its pooling, then
  ``create_head``), the weights taken from ``{'model': …, 'opt': …}`` or a bare state_dict.

fastai is the reference for these artifacts: :func:`transform` runs fastai's own ``Resize``,
``ToTensor``, ``IntToFloatTensor`` and ``Normalize`` on each image, as ``learn.predict`` and
``dls.test_dl`` do (``split_idx=1``: the centred crop), and ``chori golden`` uses it. fastai is
an optional dependency (``pip install chori-torch[fastai]``), imported only here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from .errors import ChoriError, first_line
from .metadata import FastaiResize, InputSpec

INSTALL_HINT = "pip install 'chori-torch[fastai]' (or pip install fastai)"

# PIL's resampling constants by the names chori.json uses (fastai's Resize takes PIL's).
_FILTERS = {
    Image.Resampling.NEAREST: "nearest",
    Image.Resampling.BILINEAR: "bilinear",
    Image.Resampling.BICUBIC: "bicubic",
    Image.Resampling.BOX: "box",
    Image.Resampling.HAMMING: "hamming",
    Image.Resampling.LANCZOS: "lanczos",
}


def _fastai() -> ModuleType:
    try:
        with warnings.catch_warnings():
            # fastai compiles a few helpers with torch.jit.script at import, which warns that
            # TorchScript is deprecated: noise for the user (see chori_torch.torchscript).
            warnings.simplefilter("ignore", FutureWarning)
            import fastai.vision.all as fv
    except ImportError as e:
        raise ChoriError(f"this needs fastai, which is not installed: {INSTALL_HINT}") from e
    return fv


def load_export(path: Path) -> tuple[nn.Module, str, tuple[str, ...], InputSpec]:
    """The model (with its inference batch transforms, see :class:`BatchTransforms`), its
    architecture's name, labels and input spec, from a ``learn.export()`` pickle."""
    fv = _fastai()
    if not path.is_file():
        raise ChoriError(f"--fastai: no such file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fastai's own notices about pickles and versions
            learn = fv.load_learner(path, cpu=True)
    except Exception as e:  # a bad pickle, a missing class, a function that cannot be imported
        raise ChoriError(
            f"cannot load --fastai {path} with fastai's load_learner: {first_line(e)} (any "
            "function the learner was built with, a label function say, must be importable)"
        ) from e
    vocab = getattr(learn.dls, "vocab", None)
    if vocab is None or not all(isinstance(v, str | int) for v in vocab):
        raise ChoriError(
            f"{path}: dls.vocab is {vocab!r}; only single-label classifiers "
            "(a CategoryBlock) can be exported"
        )
    model: nn.Module = learn.model.eval()
    # vision_learner keeps the architecture it was given (resnet34, say) as learn.arch.
    arch = getattr(getattr(learn, "arch", None), "__name__", None) or type(model).__qualname__
    spec, resampling = read_pipeline(learn.dls)
    if resampling is not None:
        model, spec = in_graph(model, spec, resampling)
    return model, f"fastai:{arch}", tuple(str(v) for v in vocab), spec


@dataclass(frozen=True)
class Resampling:
    """``aug_transforms``' ``AffineCoordTfm`` as it runs at inference (its defaults here)."""

    mode: str = "bilinear"
    padding_mode: str = "reflection"
    align_corners: bool | None = True


class BatchTransforms(nn.Module):
    """fastai's after_batch steps from an ``AffineCoordTfm`` on, in front of the model.

    ``aug_transforms()`` puts one ``AffineCoordTfm`` (Flip, Rotate, Zoom, Warp combined) in
    ``after_batch``, and at inference it still runs (``split_idx=None``): with an identity
    matrix (``_get_affine_mat`` with a ``split_idx``), but through ``affine_grid`` and
    ``grid_sample`` all the same, which move the input by up to ~3e-5 (float rounding of the
    sampling grid). No image pipeline outside libtorch reproduces that bit for bit, so the
    export runs fastai's very calls inside the graph instead: the identity matrix as
    ``_init_mat``/``_prepare_mat`` build it, ``F.affine_grid`` and ``F.grid_sample`` with the
    transform's mode, padding and ``align_corners`` (``_grid_sample``'s pre-shrink only applies
    when the output is less than half the input, never at ``size=None``), then ``Normalize``'s
    ``(x - mean) / std``. The image pipeline then stops at ``IntToFloatTensor`` (x / 255).
    """

    def __init__(
        self, model: nn.Module, resampling: Resampling, mean: torch.Tensor, std: torch.Tensor
    ) -> None:
        super().__init__()
        self.model = model
        self.mode = resampling.mode
        self.padding_mode = resampling.padding_mode
        self.align_corners = resampling.align_corners
        self.register_buffer("mean", mean.detach().clone().float().reshape(1, 3, 1, 1))
        self.register_buffer("std", std.detach().clone().float().reshape(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        theta = torch.eye(3, dtype=x.dtype).unsqueeze(0).expand(n, 3, 3).contiguous()[:, :2]
        grid = F.affine_grid(theta, [n, c, h, w], align_corners=self.align_corners)
        x = F.grid_sample(
            x,
            grid,
            mode=self.mode,
            padding_mode=self.padding_mode,
            align_corners=self.align_corners,
        )
        return self.model((x - self.mean) / self.std)


def in_graph(
    model: nn.Module, spec: InputSpec, resampling: Resampling
) -> tuple[nn.Module, InputSpec]:
    """``model`` behind :class:`BatchTransforms`, and the spec left to the image pipeline:
    the same, without ``Normalize`` (it runs in the graph, after the resampling)."""
    batch = BatchTransforms(model, resampling, torch.tensor(spec.mean), torch.tensor(spec.std))
    return batch.eval(), replace(spec, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def read_pipeline(dls: object) -> tuple[InputSpec, Resampling | None]:
    """The inference preprocessing of a learner's DataLoaders: the spec, and the resampling of
    an ``AffineCoordTfm`` if one runs (see :class:`BatchTransforms`); or a refusal naming the
    step that cannot be reproduced."""
    fv = _fastai()
    resize: FastaiResize | None = None
    interpolation = "bilinear"
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # no Normalize: x / 255 as it is
    resampling: Resampling | None = None
    normalized = False
    for where, step in _steps(dls):
        if isinstance(step, fv.Resize):
            if resize is not None:
                raise ChoriError(f"{where} resizes twice ({step}); one Resize is supported")
            width, height = step.size  # fastai keeps (width, height)
            resize = FastaiResize(
                size=(int(height), int(width)), method=str(step.method), pad_mode=str(step.pad_mode)
            )
            if step.mode not in _FILTERS:
                raise ChoriError(f"{where}: Resize resamples with {step.mode!r}, not a PIL filter")
            interpolation = _FILTERS[step.mode]
        elif isinstance(step, fv.ToTensor):
            continue
        elif isinstance(step, fv.IntToFloatTensor):
            if float(step.div) != 255.0:
                raise ChoriError(
                    f"{where}: IntToFloatTensor(div={step.div}); only div=255 is supported"
                )
        elif isinstance(step, fv.AffineCoordTfm) and resampling is None and not normalized:
            resampling = _resampling(where, step)
        elif isinstance(step, fv.Normalize) and not normalized:
            if step.mean is None or step.std is None:
                raise ChoriError(f"{where}: Normalize has no statistics yet (it was never set up)")
            mean, std = _statistics(step.mean), _statistics(step.std)
            normalized = True
        else:
            raise ChoriError(
                f"{where} has {type(step).__name__} ({step}), which chori-torch cannot reproduce: "
                "only Resize, ToTensor, IntToFloatTensor, one Normalize, training-only "
                "augmentation and aug_transforms' AffineCoordTfm run at inference. Nothing was "
                "exported, since the model would be fed differently than fastai feeds it"
            )
    if resize is None:
        raise ChoriError(
            "the learner's dls.after_item has no Resize, so its input size is unknown; "
            "export a learner whose item_tfms include Resize(size)"
        )
    spec = InputSpec(
        resize=None,
        crop=None,
        fastai_resize=resize,
        interpolation=interpolation,  # type: ignore[arg-type]
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
    )
    return spec, resampling


def _statistics(values: object) -> tuple[float, ...]:
    # fastai keeps the statistics as float32 tensors; the shortest decimal of each float32
    # (0.485, not 0.48500001430511475) is the same float32 in every pipeline and reads as given.
    return tuple(float(str(np.float32(v))) for v in torch.as_tensor(values).flatten().tolist())


def _resampling(where: str, step: object) -> Resampling:
    # At inference only its output size and resampling matter (split_idx=1: identity matrix,
    # no coordinate transforms).
    if step.size is not None:
        raise ChoriError(f"{where}: {step} resizes the batch; only size=None is supported")
    if step.mode not in ("bilinear", "nearest", "bicubic") or str(step.pad_mode) not in (
        "zeros",
        "border",
        "reflection",
    ):
        raise ChoriError(
            f"{where}: {step} resamples with mode {step.mode!r} and pad_mode "
            f"{step.pad_mode!r}, which torch's grid_sample does not take"
        )
    return Resampling(str(step.mode), str(step.pad_mode), step.align_corners)


def input_spec(dls: object) -> InputSpec:
    """The inference preprocessing of a learner's DataLoaders (see :func:`read_pipeline`)."""
    return read_pipeline(dls)[0]


def _steps(dls: object) -> list[tuple[str, Any]]:
    """The transforms that run on an item at inference, with where they come from. Those with
    split_idx 0 (data augmentation: RandTransform's default) only run on the training set."""
    found = []
    for name in ("after_item", "before_batch", "after_batch"):
        pipeline = getattr(dls, name, None)
        for step in getattr(pipeline, "fs", []) or []:
            if getattr(step, "split_idx", None) == 0:
                continue
            found.append((f"dls.{name}", step))
    return found


def build_model(arch: str, num_classes: int) -> nn.Module:
    """fastai's ``create_vision_model(arch, n_out)`` for a torchvision architecture name, with
    random weights (``pretrained=False``: nothing is downloaded; the checkpoint fills them)."""
    fv = _fastai()
    import torchvision

    factory = getattr(torchvision.models, arch, None)
    if not callable(factory):
        raise ChoriError(
            f"--fastai-arch {arch!r} is not a torchvision model builder (e.g. resnet34, as "
            "vision_learner(dls, resnet34) takes it)"
        )
    return fv.create_vision_model(factory, num_classes, pretrained=False).eval()


def checkpoint_globals() -> list[Any]:
    """What ``torch.load(weights_only=True)`` must allow in a ``learn.save`` file: the types of
    fastai's optimizer state, the same list fastai's own ``load_model`` allows."""
    fv = _fastai()
    dtypes = [getattr(np.dtypes, name) for name in np.dtypes.__all__]
    return [fv.L, np.core.multiarray.scalar, np.dtype, *dtypes]


def transform(spec: InputSpec) -> Callable[[Image.Image], torch.Tensor]:
    """fastai's own inference pipeline for ``spec``: ``Resize`` (centred, ``split_idx=1``),
    ``ToTensor``, ``IntToFloatTensor``, ``Normalize``, on an RGB PIL image → ``3 x H x W``."""
    fv = _fastai()
    f = spec.fastai_resize
    if f is None:
        raise ChoriError("not a fastai input spec")
    pil_filter = next(k for k, v in _FILTERS.items() if v == spec.interpolation)
    resize = fv.Resize(
        f.size, method=f.method, pad_mode=f.pad_mode, resamples=(pil_filter, Image.NEAREST)
    )
    to_tensor, to_float = fv.ToTensor(), fv.IntToFloatTensor()
    normalize = fv.Normalize.from_stats(list(spec.mean), list(spec.std), cuda=False)

    def run(image: Image.Image) -> torch.Tensor:
        item = resize(fv.PILImage.create(image), split_idx=1)
        batch = normalize(to_float(to_tensor(item)[None]))
        return batch[0].as_subclass(torch.Tensor)

    return run
