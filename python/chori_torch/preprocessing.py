"""The reference preprocessing: Pillow decoding plus torchvision transforms, nothing else.

Golden predictions are defined by this pipeline, and the addon's C++ pipeline is judged against
them, so every step is a call into Pillow or torchvision, never a re-implementation: whatever
torchvision does (rounding of ``Resize(int)``, ``CenterCrop`` offsets and padding, ``ToTensor``'s
÷255) is by definition the right answer.

Two Pillow behaviours the addon must reproduce, not "fix": the EXIF orientation tag is ignored
(``Image.open`` does not rotate), and ``convert("RGB")`` drops an alpha channel without
compositing onto a background.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from .metadata import InputSpec

ImageSource = str | os.PathLike[str] | bytes


def open_image(source: ImageSource) -> Image.Image:
    """Decode a file or encoded bytes to an RGB image, with PIL's ``convert("RGB")`` semantics."""
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(fp) as image:
        return image.convert("RGB")


def build_transform(spec: InputSpec) -> transforms.Compose:
    """The torchvision pipeline that turns an RGB image into the model's ``3 x H x W`` input."""
    steps: list[Callable[[Any], Any]] = []
    if spec.resize is not None:
        steps.append(
            transforms.Resize(
                list(spec.resize),
                interpolation=InterpolationMode(spec.interpolation),
                max_size=spec.max_size,
                antialias=True,
            )
        )
    if spec.crop is not None:
        steps.append(transforms.CenterCrop(list(spec.crop)))
    steps.append(transforms.ToTensor())
    steps.append(transforms.Normalize(list(spec.mean), list(spec.std)))
    return transforms.Compose(steps)
