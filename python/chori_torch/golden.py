"""Golden predictions: what Python answers for each image, for Node to reproduce exactly.

Each image goes through the reference pipeline (:mod:`chori_torch.preprocessing`: PIL and
torchvision, or fastai's own transforms for a fastai artifact) described by the artifact's own
metadata, then through the artifact itself as loaded by ``torch.jit.load``
with the addon's load-time optimisation applied (:mod:`chori_torch.optimize`), or for a .pt2
package as loaded by ``torch._inductor.aoti_load_package`` (no passes: they were compiled in at
export time, so its form is always ``none``), one image at a
time (batch 1) under ``torch.inference_mode()`` with a fixed thread count, so the numbers depend
on nothing but the artifact, the optimisation, the image bytes and the torch build.

Schema (``schema_version`` 2; version 1 had no ``optimize``; ``precision`` is absent from files
written before it existed, which were all ``fp32``)::

    {
      "schema_version": 2,
      "model": {
        "path": "/abs/export/model.pt",   # absolute path of the artifact
        "file": "model.pt",               # the same, relative to the JSON file's directory
        "sha256": "…",                    # of the artifact file
        "labels": ["Not face", "Face"]
      },
      "torch_version": "2.14.1+cpu",
      "threads": 1,                       # torch.set_num_threads during the run
      "device": "cpu",                    # --device: where the model ran ("cuda:0"; the
      "device_name": "cpu",               #   image pipeline is on the CPU either way), the GPU's
      "deterministic": false,             #   name, and --deterministic (cuDNN, no TF32)
      "optimize": {                       # the load-time passes (chori_torch.optimize)
        "requested": "auto",              # --optimize
        "form": "onednn",                 # what it resolved to: Node's model.info.optimize
        "warmup_runs": 3                  # forwards on zeros before the first image
      },
      "precision": "fp32",                # --precision: "bf16" converts the module first, as
                                          # Node's precision: 'bf16' does (optimize.py)
      "topk": 5,                          # requested; each list holds min(topk, num_classes)
      "images": [                         # sorted by "file"
        {
          "file": "images/face_01.jpg",   # relative to the JSON file's directory, "/"-separated
          "path": "/abs/export/images/face_01.jpg",
          "sha256": "…",                  # of the image file's bytes
          "label": "Face", "index": 1, "score": 0.97,   # the top-1 entry
          "topk": [{"label": "Face", "index": 1, "score": 0.97}, …],
          "logits": [-1.2, 2.3]           # the raw model output row, num_classes floats
        }
      ],
      "rejected": [{"file": "images/notes.txt", "error": "cannot identify image file …"}]
    }

An *embedded* golden set (:func:`write_embedded_golden`, ``chori export --golden DIR``) is the
same document written beside the artifact as ``<artifact stem>.golden.json`` (``model.pt`` →
``model.golden.json``) with ``"embedded": true`` and each image's bytes in ``"data"`` (base64),
so it travels with the model into a container: ``chori-torch serve`` predicts it at start and
compares the logits (``--verify``). It is kept small (at most ``EMBEDDED_MAX_IMAGES`` images,
``EMBEDDED_MAX_BYTES`` of image bytes) because every replica runs it before it takes traffic.

Scores are ``softmax(logits)``, or the outputs as they are when the artifact's ``output.kind``
is ``"probabilities"``. ``topk`` is sorted by descending score, ties by ascending index. All
numbers are float32 values written through ``Tensor.tolist()``: JSON's shortest round-trip
decimal of a float32 widened to double reads back as exactly that float32, so consumers can
compare bit for bit.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .artifact import load_artifact
from .device import device_name, parse_device, require_device, set_deterministic
from .errors import ChoriError
from .files import absolute, replacing, sha256_file
from .metadata import InputSpec
from .optimize import WARMUP_RUNS, check_precision, optimize, resolve, static_input_size
from .preprocessing import build_transform, open_image

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
PROGRESS_MIN_IMAGES = 20
EMBEDDED_MAX_IMAGES = 32
EMBEDDED_MAX_BYTES = 8 << 20


def collect_images(inputs: Iterable[Path]) -> list[Path]:
    """Every file named or found (recursively) under a named directory, deduplicated.

    Nothing is filtered by extension: whether a file is an image is PIL's call, and a file it
    rejects is reported rather than silently skipped.
    """
    found: dict[Path, None] = {}
    for item in inputs:
        if item.is_dir():
            found.update(dict.fromkeys(absolute(p) for p in item.rglob("*") if p.is_file()))
        elif item.is_file():
            found[absolute(item)] = None
        else:
            raise ChoriError(f"--images: no such file or directory: {item}")
    if not found:
        raise ChoriError("--images: no files found")
    return list(found)


def _relative(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def compute_golden(
    model_path: Path,
    inputs: Sequence[Path],
    *,
    topk: int = 5,
    threads: int = 1,
    optimize_form: str = "auto",
    precision: str | None = None,
    relative_to: Path | None = None,
    progress: bool = False,
    device: str = "cpu",
    deterministic: bool = False,
) -> dict[str, Any]:
    """The golden document for ``inputs``; ``file`` names are relative to ``relative_to`` (cwd).

    ``precision`` None takes the artifact's recorded one (``chori.json`` ``precision``), as Node's
    ``load()`` does when its ``precision`` option is left out.

    With ``progress``, a counter is drawn on stderr when it is a terminal and there are many
    images; it stays off otherwise so logs and CI output are not filled with carriage returns.
    """
    if topk < 1:
        raise ChoriError(f"--topk must be at least 1, got {topk}")
    if threads < 1:
        raise ChoriError(f"--threads must be at least 1, got {threads}")
    base = absolute(relative_to or Path.cwd())
    target = parse_device(device)
    require_device(target)  # before anything loads: the message says what this machine lacks
    artifact = load_artifact(model_path)
    meta = artifact.metadata
    if artifact.format == "pt2" and target.type != "cpu":
        raise ChoriError(
            f"--device {target} does not apply to {model_path}: a .pt2 package is compiled for "
            "the CPU"
        )
    if deterministic and target.type != "cpu":
        set_deterministic()
    form = resolve(optimize_form, meta.input, target)  # validates the name for either format
    precision = check_precision(precision or meta.precision or "fp32")
    if artifact.format == "pt2" and precision != "fp32":
        raise ChoriError(
            f"--precision {precision} does not apply to {model_path}: a .pt2 package runs the "
            "precision it was compiled in"
        )
    if artifact.format == "pt2" and optimize_form not in ("auto", "none"):
        raise ChoriError(
            f"--optimize {optimize_form} does not apply to {model_path}: the passes of a .pt2 "
            "package are compiled into it at export time (use --optimize auto or none)"
        )
    if artifact.format == "pt2":
        form = "none"
    transform = build_transform(meta.input)
    files = sorted(collect_images(inputs), key=lambda p: _relative(p, base))
    show_counter = progress and sys.stderr.isatty() and len(files) >= PROGRESS_MIN_IMAGES
    counter = sys.stderr if show_counter else None

    images: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        # After set_num_threads: the addon warms up with the model's own thread count too.
        model = (
            _warmed_up(artifact.module, meta.input)
            if artifact.format == "pt2"
            else optimize(artifact.module, form, meta.input, target, precision)
        )
        for n, path in enumerate(files, 1):
            name = _relative(path, base)
            try:
                image = open_image(path, exif_orientation=meta.input.exif_orientation)
            except (OSError, Image.DecompressionBombError) as e:
                log.warning("skipping %s: %s", name, e)
                rejected.append({"file": name, "error": str(e)})
                continue
            with torch.inference_mode():
                # Contiguous NCHW, as the addon's input always is: fastai's ToTensor gives a
                # permuted view, and oneDNN Graph's fused partitions, compiled on the contiguous
                # warm-up, read such a view as if it were contiguous rather than falling back
                # (torch 2.14: wrong logits, no error).
                batch = transform(image).unsqueeze(0).contiguous().to(target)
                # Scores from the logits on the CPU, as the addon computes them on any device.
                logits = model(batch)[0].cpu()
                scores = logits if meta.output.kind == "probabilities" else logits.softmax(0)
            images.append(_record(name, path, logits, scores, meta.labels, topk))
            if counter is not None:
                counter.write(f"\rgolden: {n}/{len(files)}")
    finally:
        torch.set_num_threads(previous_threads)
        if counter is not None:
            counter.write("\n")

    return {
        "schema_version": SCHEMA_VERSION,
        "model": {
            "path": str(absolute(model_path)),
            "file": _relative(absolute(model_path), base),
            "sha256": sha256_file(model_path),
            "labels": list(meta.labels),
        },
        "torch_version": torch.__version__,
        "threads": threads,
        "device": str(target),
        "device_name": device_name(target),
        "deterministic": deterministic,
        "optimize": {"requested": optimize_form, "form": form, "warmup_runs": model.warmup_runs},
        "precision": precision,
        "topk": topk,
        "images": images,
        "rejected": rejected,
    }


class _Package:
    """A loaded .pt2 runner with the interface :class:`~chori_torch.optimize.Optimized` has."""

    form = "none"

    def __init__(self, runner: Callable[[torch.Tensor], torch.Tensor], warmup_runs: int) -> None:
        self.runner = runner
        self.warmup_runs = warmup_runs

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.runner(batch)


def _warmed_up(runner: Callable[[torch.Tensor], torch.Tensor], spec: InputSpec) -> _Package:
    """The addon warms a package up like a TorchScript model (zeros, same count); it changes no
    output, but the golden run then does what Node does."""
    size = static_input_size(spec)
    if size is None:
        return _Package(runner, 0)
    with torch.inference_mode():
        for _ in range(WARMUP_RUNS):
            runner(torch.zeros(1, 3, *size))
    return _Package(runner, WARMUP_RUNS)


def _record(
    name: str,
    path: Path,
    logits: torch.Tensor,
    scores: torch.Tensor,
    labels: Sequence[str],
    topk: int,
) -> dict[str, Any]:
    order = torch.sort(scores, descending=True, stable=True).indices[:topk].tolist()
    values = scores.tolist()
    top = [{"label": labels[i], "index": i, "score": values[i]} for i in order]
    return {
        "file": name,
        "path": str(path),
        "sha256": sha256_file(path),
        **top[0],
        "topk": top,
        "logits": logits.tolist(),
    }


def write_golden(
    model_path: Path,
    inputs: Sequence[Path],
    out: Path,
    *,
    topk: int = 5,
    threads: int = 1,
    optimize_form: str = "auto",
    precision: str | None = None,
    device: str = "cpu",
    deterministic: bool = False,
) -> dict[str, Any]:
    """Compute golden predictions and write them to ``out``, all or nothing."""
    document = compute_golden(
        model_path,
        inputs,
        topk=topk,
        threads=threads,
        optimize_form=optimize_form,
        precision=precision,
        relative_to=out.parent,
        progress=True,
        device=device,
        deterministic=deterministic,
    )
    with replacing(out) as tmp:
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return document


def golden_path_for(model_path: Path) -> Path:
    """Where ``chori-torch serve`` looks for a golden set: ``model.pt`` → ``model.golden.json``."""
    return model_path.with_suffix(".golden.json")


def write_embedded_golden(
    model_path: Path,
    inputs: Sequence[Path],
    *,
    topk: int = 5,
    threads: int = 1,
    optimize_form: str = "auto",
) -> tuple[Path, dict[str, Any]]:
    """Compute the golden set for ``inputs`` and write it, images included, beside the artifact.

    Fails, writing nothing, when no image could be read or the set is larger than a start-up
    check should be.
    """
    document = compute_golden(
        model_path,
        inputs,
        topk=topk,
        threads=threads,
        optimize_form=optimize_form,
        relative_to=model_path.parent,
    )
    images = document["images"]
    if not images:
        raise ChoriError(f"--golden: none of the {len(document['rejected'])} files is an image")
    if len(images) > EMBEDDED_MAX_IMAGES:
        raise ChoriError(
            f"--golden: {len(images)} images; a golden set checked at every start holds at most "
            f"{EMBEDDED_MAX_IMAGES} (pick a few that cover the classes)"
        )
    total = 0
    for record in images:
        data = Path(record["path"]).read_bytes()
        total += len(data)
        record["data"] = base64.b64encode(data).decode("ascii")
    if total > EMBEDDED_MAX_BYTES:
        raise ChoriError(
            f"--golden: the images take {total} bytes; an embedded golden set holds at most "
            f"{EMBEDDED_MAX_BYTES} (use smaller images)"
        )
    document["embedded"] = True
    out = golden_path_for(model_path)
    with replacing(out) as tmp:
        tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, document
