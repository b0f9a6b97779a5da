"""Benchmark inputs, made once under bench/.work/ (idempotent: existing outputs are kept).

- ``resnet18.pt``, ``resnet50.pt``, ``mobilenet_v3_large.pt``, ``regnet_y_400mf.pt``: seeded
  torchvision models (1000 classes) saved as a ``state_dict`` and exported with the project's own
  ``chori export``, as a user would;
- ``resnet18.pt2``: the same resnet18 weights as an AOTInductor package (``chori export --format
  pt2``), listed in ``pt2.json``;
- ``<model>.onnx``: the same weights as each TorchScript artifact, for onnxruntime-node
  (``torch.onnx.export`` of the loaded artifact, TorchScript-based exporter, batch 1);
- ``<model>.json``: the artifact's metadata (chori.json), so the onnxruntime + sharp runner can
  preprocess like the artifact says without loading libtorch;
- ``corpus.json``: the photographs scikit-image and scikit-learn ship (JPEG and PNG).

Run from the repository root: ``.venv/bin/python bench/prepare.py`` (``--skip-onnx``: only what
``bench/preprocess.js`` needs, without the onnx package).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import torch
import torchvision

from chori_torch.artifact import load_artifact

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
DEMO = ROOT / "export" / "model.pt"
# Seeded torchvision models: a residual network at two depths, one built on depthwise
# convolutions, which oneDNN handles differently, and a family nothing in the project was tuned
# on (grouped convolutions with squeeze-excite), so the defaults are also judged on a stranger.
TORCHVISION = ("resnet18", "resnet50", "mobilenet_v3_large", "regnet_y_400mf")
PT2_MODELS = ("resnet18",)  # also compiled to .pt2 (chori export --format pt2)


def log(message: str) -> None:
    print(f"prepare: {message}", flush=True)


def corpus() -> list[str]:
    import skimage
    import sklearn.datasets

    skimage_data = Path(skimage.__file__).parent / "data"
    sklearn_images = Path(sklearn.datasets.__file__).parent / "images"
    files = sorted(skimage_data.glob("*.png")) + sorted(skimage_data.glob("*.jpg"))
    files += [sklearn_images / "china.jpg", sklearn_images / "flower.jpg"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing or len(files) < 20:
        sys.exit(f"prepare: the image corpus is incomplete ({len(files)} files; missing {missing})")
    return [str(f) for f in files]


def export_torchvision(arch: str, fmt: str = "torchscript") -> Path:
    artifact = WORK / f"{arch}.{'pt2' if fmt == 'pt2' else 'pt'}"
    if artifact.is_file():
        return artifact
    weights = WORK / f"{arch}.pth"
    labels = WORK / "imagenet-like-labels.txt"
    torch.manual_seed(0)
    torch.save(getattr(torchvision.models, arch)().state_dict(), weights)
    labels.write_text("".join(f"class {i}\n" for i in range(1000)), encoding="utf-8")
    log(f"chori export --arch {arch} --format {fmt} → {artifact.relative_to(ROOT)}")
    subprocess.run(
        [sys.executable, "-m", "chori_torch.cli", "export", "--arch", arch, "--format", fmt,
         "--weights", str(weights), "--labels-file", str(labels), "--out", str(artifact)],
        check=True,
        cwd=ROOT,
    )  # fmt: skip
    return artifact


def export_onnx(name: str, artifact_path: Path) -> None:
    onnx_path = WORK / f"{name}.onnx"
    meta_path = WORK / f"{name}.json"
    fresh = artifact_path.stat().st_mtime
    if all(p.is_file() and p.stat().st_mtime >= fresh for p in (onnx_path, meta_path)):
        return  # made from this very artifact file (`make demo` rewrites export/model.pt)
    artifact = load_artifact(artifact_path)
    spec = artifact.metadata.input
    if spec.crop is None:
        sys.exit(f"prepare: {artifact_path} has no crop; the ONNX export needs a fixed input size")
    height, width = spec.crop
    sample = torch.zeros(1, 3, height, width)
    log(f"torch.onnx.export {artifact_path.name} → {onnx_path.relative_to(ROOT)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript / legacy exporter deprecation notices
        torch.onnx.export(
            artifact.module, (sample,), str(onnx_path), dynamo=False,
            input_names=["input"], output_names=["logits"], opset_version=17,
        )  # fmt: skip
    # The ONNX file must compute what the artifact computes (same weights, same graph).
    import onnx

    onnx.checker.check_model(str(onnx_path))
    meta = json.loads(_chori_json(artifact_path))
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _chori_json(path: Path) -> str:
    extra = {"chori.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    value = extra["chori.json"]
    return value.decode("utf-8") if isinstance(value, bytes) else value


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    if not DEMO.is_file():
        sys.exit(f"prepare: {DEMO.relative_to(ROOT)} is missing: run `make demo` first")
    models = {arch: export_torchvision(arch) for arch in TORCHVISION}
    models["demo"] = DEMO
    for name, path in models.items():
        if "--skip-onnx" not in sys.argv:
            export_onnx(name, path)
    (WORK / "corpus.json").write_text(json.dumps(corpus(), indent=2) + "\n", encoding="utf-8")
    models = {name: str(path) for name, path in models.items()}
    (WORK / "models.json").write_text(json.dumps(models, indent=2) + "\n", encoding="utf-8")
    # The same resnet18 weights as an AOTInductor package (about 30 s to compile).
    pt2 = {name: str(export_torchvision(name, "pt2")) for name in PT2_MODELS}
    (WORK / "pt2.json").write_text(json.dumps(pt2, indent=2) + "\n", encoding="utf-8")
    log("ready")


if __name__ == "__main__":
    main()
