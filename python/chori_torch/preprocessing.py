"""The reference preprocessing: Pillow decoding plus torchvision (or fastai) transforms.

Golden predictions are defined by this pipeline, and the addon's C++ pipeline is judged against
them, so every step is a call into Pillow or torchvision, never a re-implementation: whatever
torchvision does (rounding of ``Resize(int)``, ``CenterCrop`` offsets and padding, ``ToTensor``'s
÷255) is by definition the right answer.

Two Pillow behaviours the addon must reproduce, not "fix": the EXIF orientation tag is ignored
(``Image.open`` does not rotate) unless the artifact's ``input.exif_orientation`` asks for
``ImageOps.exif_transpose``, and ``convert("RGB")`` drops an alpha channel without compositing
onto a background.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from typing import Any

from PIL import ExifTags, Image, ImageOps
from torchvision import transforms
from torchvision.transforms import InterpolationMode

from .metadata import InputSpec

ImageSource = str | os.PathLike[str] | bytes


def open_image(source: ImageSource, *, exif_orientation: bool = False) -> Image.Image:
    """Decode a file or encoded bytes to an RGB image, with PIL's ``convert("RGB")`` semantics.

    With ``exif_orientation`` the image is first turned upright by ``ImageOps.exif_transpose``
    (a lossless transpose of the decoded pixels, so whether it runs before or after the
    conversion changes nothing; before it, on the opened file, is where the EXIF is read).
    """
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    with Image.open(fp) as image:
        if exif_orientation:
            return _exif_transpose(image).convert("RGB")
        return image.convert("RGB")


def _exif_transpose(image: Image.Image) -> Image.Image:
    """``ImageOps.exif_transpose``, made total: broken EXIF never loses an image Pillow decoded.

    - An EXIF block without a readable TIFF header counts as none, for every format: Pillow's
      JPEG opener already swallows that error, but PNG and WebP raise ``SyntaxError`` or
      ``struct.error``.
    - After transposing, ``exif_transpose`` rewrites the EXIF of its result without the
      orientation tag, which raises (``AttributeError``, ``TypeError``, …) when some other tag's
      value does not fit its declared type. Only the pixels matter here, so the same transpose
      is then made directly, from exif_transpose's own table.
    """
    image.load()  # first, as exif_transpose does: a PNG's eXIf may follow the image data
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (SyntaxError, struct.error):
        return image
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # any failure of the metadata rewrite, see above
        method = _EXIF_TRANSPOSE.get(orientation)
        return image if method is None else image.transpose(method)


# ImageOps.exif_transpose's orientation → transpose table (Pillow 13).
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def build_transform(spec: InputSpec) -> Callable[[Image.Image], Any]:
    """The pipeline that turns an RGB image into the model's ``3 x H x W`` input: torchvision's
    transforms, or for a fastai artifact fastai's own (``fastai_learner.transform``)."""
    if spec.fastai_resize is not None:
        from .fastai_learner import transform

        return transform(spec)
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
