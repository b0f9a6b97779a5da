"""A real, reproducible classifier for the whole pipeline, trained in seconds at setup time.

"Face / Not face" on scikit-image's ``lfw_subset`` (200 grey 25x25 crops: 100 faces, then 100
background patches) is the binary analogue of "Choripan / Not Choripan" that needs no download.
Each crop is upscaled to 100x100 RGB with Pillow and then seen exactly as the reference pipeline
sees any image, so what Node is tested on is what the model was trained on.

The demo produces nothing a user could not: it saves a plain ``state_dict`` and exports it with
the same :func:`~chori_torch.export.export_artifact` as ``chori export``, through the import-path
route (``--arch chori_torch.demo_model:build``), then writes golden predictions for held-out
example files with :mod:`chori_torch.golden`.

Determinism: weights come from ``torch.manual_seed``, the split and the shuffles from explicit
seeds, training runs on one thread with ``torch.use_deterministic_algorithms(True)``; one thread
because float sums in a different order on more threads would give different weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .demo_model import build
from .errors import ChoriError
from .export import ExportResult, export_artifact, load_model
from .files import absolute
from .golden import write_golden
from .metadata import InputSpec
from .preprocessing import build_transform

DEMO_LABELS = ("Not face", "Face")
DEMO_ARCH = "chori_torch.demo_model:build"
# Small inputs keep training fast; interpolation, mean and std stay the ImageNet defaults.
DEMO_INPUT = InputSpec(resize=(64,), crop=(56, 56))

SEED = 0
EPOCHS = 20
BATCH_SIZE = 16
LEARNING_RATE = 3e-3
HELD_OUT_FRACTION = 0.25
UPSCALED_SIZE = 100
EXAMPLES_PER_CLASS = 8
FACE, NOT_FACE = DEMO_LABELS.index("Face"), DEMO_LABELS.index("Not face")
_STEM = {FACE: "face", NOT_FACE: "not_face"}

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoResult:
    held_out_accuracy: float
    held_out_count: int
    examples_correct: int
    examples: list[Path]
    export: ExportResult
    golden: Path
    seconds: float


def load_faces() -> tuple[list[Image.Image], np.ndarray]:
    """The 200 crops as 100x100 RGB images, with labels indexing :data:`DEMO_LABELS`."""
    try:
        from skimage.data import lfw_subset
        from skimage.util import img_as_ubyte
    except ImportError as e:
        raise ChoriError("chori demo needs scikit-image: pip install 'chori-torch[demo]'") from e
    grey = lfw_subset()
    size = (UPSCALED_SIZE, UPSCALED_SIZE)
    images = [
        Image.fromarray(img_as_ubyte(g)).resize(size, Image.Resampling.BICUBIC).convert("RGB")
        for g in grey
    ]
    labels = np.array([FACE] * 100 + [NOT_FACE] * (len(grey) - 100))
    return images, labels


def split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train / held-out indices, each sorted so example numbering is stable."""
    try:
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        raise ChoriError("chori demo needs scikit-learn: pip install 'chori-torch[demo]'") from e
    train, held_out = train_test_split(
        np.arange(len(labels)), test_size=HELD_OUT_FRACTION, stratify=labels, random_state=SEED
    )
    return np.sort(train), np.sort(held_out)


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch and pin threads/algorithms for the block, then restore the caller's settings."""
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(strict)


def train(inputs: torch.Tensor, targets: torch.Tensor, say: Say) -> nn.Module:
    """Fit the small CNN; random horizontal flips are the only augmentation a face needs here."""
    generator = torch.Generator().manual_seed(SEED)
    model = build(num_classes=len(DEMO_LABELS))
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
    steps_per_epoch = -(-len(inputs) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch
    )
    model.train()
    for epoch in range(1, EPOCHS + 1):
        total = 0.0
        for batch in torch.randperm(len(inputs), generator=generator).split(BATCH_SIZE):
            flip = torch.rand(len(batch), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], inputs[batch].flip(-1), inputs[batch])
            loss = nn.functional.cross_entropy(model(x), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
        if epoch % 5 == 0 or epoch == 1:
            say(f"epoch {epoch:2d}/{EPOCHS}  loss {total / len(inputs):.4f}")
    return model.eval()


def write_examples(
    images: Sequence[Image.Image], labels: np.ndarray, held_out: np.ndarray, folder: Path
) -> dict[Path, int]:
    """Held-out images as real files, alternating JPEG (quality 90) and PNG within each class.

    Returns each file's absolute path and true label.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("face_*"), *folder.glob("not_face_*")]:
        stale.unlink()
    written: dict[Path, int] = {}
    for label, stem in _STEM.items():
        chosen = [i for i in held_out if labels[i] == label][:EXAMPLES_PER_CLASS]
        for n, i in enumerate(chosen, 1):
            path = folder / f"{stem}_{n:02d}.{'jpg' if n % 2 else 'png'}"
            images[i].save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))
            written[absolute(path)] = label
    return written


def run_demo(out: Path, say: Say = print) -> DemoResult:
    """Train, save weights, export, write examples and golden predictions under ``out``."""
    start = time.perf_counter()
    images, labels = load_faces()
    train_idx, held_out = split(labels)
    transform = build_transform(DEMO_INPUT)
    inputs = torch.stack([transform(image) for image in images])
    targets = torch.from_numpy(labels)
    say(f"training on {len(train_idx)} images, {len(held_out)} held out")

    with deterministic(SEED):
        model = train(inputs[train_idx], targets[train_idx], say)
        with torch.no_grad():
            predicted = model(inputs[held_out]).argmax(1)
    accuracy = (predicted == targets[held_out]).float().mean().item()
    say(f"held-out accuracy {accuracy:.1%} ({len(held_out)} images)")

    weights = out / "demo" / "weights.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    export = export_artifact(
        load_model(weights=weights, arch=DEMO_ARCH),
        labels=DEMO_LABELS,
        input_spec=DEMO_INPUT,
        out=out / "model.pt",
    )
    say(export.summary())

    examples = write_examples(images, labels, held_out, out / "images")
    golden_path = out / "golden.json"
    golden = write_golden(export.path, list(examples), golden_path)
    correct = sum(record["index"] == examples[Path(record["path"])] for record in golden["images"])
    say(f"wrote {golden_path}: {correct}/{len(examples)} example images classified correctly")
    seconds = time.perf_counter() - start
    say(f"demo done in {seconds:.1f} s")
    return DemoResult(
        held_out_accuracy=accuracy,
        held_out_count=len(held_out),
        examples_correct=correct,
        examples=list(examples),
        export=export,
        golden=golden_path,
        seconds=seconds,
    )
