"""fastai learners, as the seed trained them: ``chori export --fastai`` (a ``learn.export()``
pickle) and ``--fastai-arch`` (a ``learn.save()`` checkpoint), against fastai itself.

Tiny resnet18 learners are trained here for one epoch on the demo images, offline
(``pretrained=False``), one per Resize method, at a square and two non-square sizes. fastai is
the reference: Node's model input must equal the tensor fastai's own ``dls.test_dl`` makes, bit
for bit, on the parity photographs and the generated corpus, and Node's top-1 must equal
``learn.predict``'s on every photograph.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from chori_torch import fastai_learner
from chori_torch.artifact import read_metadata
from chori_torch.errors import ChoriError
from chori_torch.preprocessing import open_image
from conftest import DEMO_IMAGES, ROOT, real_photographs, run_cpp, run_node
from image_corpus import write_corpus

fv = pytest.importorskip("fastai.vision.all")

# (Resize size as (height, width), method, pad_mode, aug_transforms or not): a square crop and
# two non-square ones, one squished, one padded by reflection (fastai's default pad_mode). With
# aug_transforms, fastai resamples every batch at inference too (see BatchTransforms).
LEARNERS = {
    "crop": ((48, 48), "crop", "reflection", True),
    "squish": ((40, 56), "squish", "reflection", False),
    "pad": ((56, 40), "pad", "reflection", True),
}


@dataclass(frozen=True)
class Trained:
    learn: object  # the fastai Learner, as load_learner gives it back
    pickle: Path  # learn.export()
    checkpoint: Path  # learn.save(), with the optimizer state
    artifact: Path  # chori export --fastai pickle
    size: tuple[int, int]
    method: str
    pad_mode: str
    augmented: bool  # trained with batch_tfms=aug_transforms()


def chori(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chori_torch.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def train(
    folder: Path, size: tuple[int, int], method: str, pad_mode: str, augmented: bool
) -> object:
    files = sorted(DEMO_IMAGES.glob("*.*"))
    labels = ["face" if f.name.startswith("face") else "not face" for f in files]
    augment = fv.aug_transforms() if augmented else []
    torch.manual_seed(0)
    dls = fv.ImageDataLoaders.from_lists(
        folder, [str(f) for f in files], labels, valid_pct=0.25, seed=0, bs=4, num_workers=0,
        item_tfms=fv.Resize(size, method=method, pad_mode=pad_mode),
        batch_tfms=[*augment, fv.Normalize.from_stats(*fv.imagenet_stats)],
    )  # fmt: skip
    learn = fv.vision_learner(dls, fv.resnet18, pretrained=False, path=folder)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1)
    return learn


@pytest.fixture(scope="module", params=list(LEARNERS))
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    size, method, pad_mode, augmented = LEARNERS[request.param]
    folder = tmp_path_factory.mktemp(f"fastai-{request.param}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learn = train(folder, size, method, pad_mode, augmented)
        learn.export(folder / "export.pkl")
        checkpoint = Path(learn.save("stage1"))
        learn = fv.load_learner(folder / "export.pkl", cpu=True)
    artifact = folder / "model.pt"
    r = chori("export", "--fastai", str(folder / "export.pkl"), "--out", str(artifact))
    assert r.returncode == 0, r.stderr
    return Trained(
        learn, folder / "export.pkl", checkpoint, artifact, size, method, pad_mode, augmented
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The parity photographs, the demo images and every corpus file PIL decodes."""
    corpus = write_corpus(tmp_path_factory.mktemp("fastai-corpus"))
    decodable = [
        s.path for s in corpus if s.category == "valid" and not s.extreme and s.format != "tiff"
    ]
    return [*real_photographs(), *sorted(DEMO_IMAGES.glob("*.*")), *decodable]


def fastai_batches(learn: object, files: list[Path]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """What fastai's own test DataLoader makes of each image (one per batch): the batch after
    IntToFloatTensor, where an artifact with aug_transforms hands over from the image pipeline
    to the graph, and after the whole of after_batch, which is what learn.model sees."""
    dl = learn.dls.test_dl([str(f) for f in files], bs=1, num_workers=0)  # type: ignore[attr-defined]
    for i, (x,) in enumerate(dl):
        image = dl.do_item(i)[0]  # after_item: Resize (centred), ToTensor
        yield (
            fv.IntToFloatTensor()(image[None]).as_subclass(torch.Tensor),
            x.as_subclass(torch.Tensor),
        )


def node_tensors(model: Path, files: list[Path]) -> dict[str, np.ndarray]:
    results = run_node(model, files, tensors=True)
    return {
        f: np.frombuffer(base64.b64decode(r["tensor"]), dtype=np.float32).reshape(r["shape"])
        for f, r in results.items()
    }


def test_export_reads_labels_and_preprocessing_from_the_learner(trained: Trained) -> None:
    meta = read_metadata(trained.artifact)
    assert meta.labels == ("face", "not face")
    f = meta.input.fastai_resize
    assert f is not None and (f.size, f.method, f.pad_mode) == (
        trained.size,
        trained.method,
        trained.pad_mode,
    )
    assert meta.input.resize is None and meta.input.crop is None
    # With aug_transforms, Normalize runs in the graph after fastai's resampling.
    mean, std = ((0.0,) * 3, (1.0,) * 3) if trained.augmented else fv.imagenet_stats
    assert meta.input.mean == pytest.approx(mean) and meta.input.std == pytest.approx(std)
    assert meta.provenance.arch == "fastai:resnet18"
    assert '"schema_version": 2' in meta.to_json()


def test_node_input_is_fastais_bit_for_bit(trained: Trained, images: list[Path]) -> None:
    node = node_tensors(trained.artifact, images)
    mismatched = [
        f.name
        for f, (handed_over, batch) in zip(
            images, fastai_batches(trained.learn, images), strict=True
        )
        if not np.array_equal(
            node[str(f)], (handed_over if trained.augmented else batch)[0].numpy()
        )
    ]
    print(
        f"\nfastai tensors[{trained.method} {trained.size[0]}x{trained.size[1]}]: "
        f"{len(images) - len(mismatched)}/{len(images)} bit-identical"
    )
    assert mismatched == []


def test_the_graph_runs_fastais_batch_transforms(trained: Trained) -> None:
    """With aug_transforms, the exported module's front (resampling, Normalize) gives the model
    what fastai's after_batch gives it, bit for bit."""
    if not trained.augmented:
        pytest.skip("no after_batch step in the graph: Normalize is the image pipeline's")
    files = [*real_photographs(), *sorted(DEMO_IMAGES.glob("*.*"))]
    module, *_ = fastai_learner.load_export(trained.pickle)
    model = trained.learn.model.eval()  # type: ignore[attr-defined]
    with torch.inference_mode():
        for f, (handed_over, batch) in zip(
            files, fastai_batches(trained.learn, files), strict=True
        ):
            assert torch.equal(module(handed_over), model(batch)), f.name


def test_node_top1_is_learn_predict(trained: Trained) -> None:
    files = [*real_photographs(), *sorted(DEMO_IMAGES.glob("*.*"))]
    results = run_node(trained.artifact, files)
    agree, max_delta = 0, 0.0
    for f in files:
        with trained.learn.no_bar():  # type: ignore[attr-defined]
            _, index, probs = trained.learn.predict(str(f))  # type: ignore[attr-defined]
        got = results[str(f)]
        agree += got["index"] == int(index)
        scores = {t["index"]: t["score"] for t in got["topk"]}
        max_delta = max(max_delta, *(abs(scores[i] - float(p)) for i, p in enumerate(probs)))
    print(
        f"\nlearn.predict[{trained.method}]: top-1 {agree}/{len(files)}, "
        f"max |Δprob| {max_delta:.3g}"
    )
    assert agree == len(files)


def test_the_golden_set_is_fastais_and_node_matches_it(trained: Trained, tmp_path: Path) -> None:
    golden = tmp_path / "golden.json"
    r = chori("golden", "--model", str(trained.artifact), "--images", str(DEMO_IMAGES),
              "--threads", "1", "--out", str(golden))  # fmt: skip
    assert r.returncode == 0, r.stderr
    entries = json.loads(golden.read_text())["images"]
    files = [ROOT / e["path"] for e in entries]
    node = run_node(trained.artifact, files)
    for e, f in zip(entries, files, strict=True):
        assert node[str(f)]["logits"] == e["logits"], f.name


def test_the_cpp_command_answers_what_node_answers(trained: Trained, images: list[Path]) -> None:
    node, cpp = run_node(trained.artifact, images), run_cpp(trained.artifact, images)
    assert [cpp[str(f)]["logits"] for f in images] == [node[str(f)]["logits"] for f in images]


def test_a_checkpoint_exports_to_the_same_artifact(trained: Trained, tmp_path: Path) -> None:
    """learn.save() (optimizer state included) + --fastai-arch: the same model and input."""
    out = tmp_path / "from-checkpoint.pt"
    h, w = trained.size
    r = chori(
        "export", "--fastai-arch", "resnet18", "--weights", str(trained.checkpoint),
        "--labels", "face,not face", "--resize", f"{h},{w}", "--resize-method", trained.method,
        "--pad-mode", trained.pad_mode, "--out", str(out),
        *(["--aug-transforms"] if trained.augmented else []),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert read_metadata(out).input == read_metadata(trained.artifact).input
    files = sorted(DEMO_IMAGES.glob("*.*"))
    a, b = run_node(out, files), run_node(trained.artifact, files)
    assert all(a[str(f)]["logits"] == b[str(f)]["logits"] for f in files)


@pytest.mark.parametrize("pad_mode", ["zeros", "border"])
def test_every_pad_mode_is_fastais(pad_mode: str, tmp_path: Path, images: list[Path]) -> None:
    """The other two padding modes, on a checkpoint: Node against fastai's own Resize."""
    folder = tmp_path / "learner"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checkpoint = Path(train(folder, (56, 40), "pad", pad_mode, False).save("stage1"))
    out = tmp_path / "model.pt"
    r = chori(
        "export", "--fastai-arch", "resnet18", "--weights", str(checkpoint), "--labels", "a,b",
        "--resize", "56,40", "--resize-method", "pad", "--pad-mode", pad_mode, "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    reference = fastai_learner.transform(read_metadata(out).input)
    node = node_tensors(out, images)
    mismatched = [
        f.name for f in images if not np.array_equal(node[str(f)], reference(open_image(f)).numpy())
    ]
    assert mismatched == []


def test_steps_that_cannot_be_reproduced_are_refused_by_name(tmp_path: Path) -> None:
    files = sorted(DEMO_IMAGES.glob("*.*"))
    labels = ["face" if f.name.startswith("face") else "not face" for f in files]
    for item_tfms, named in [
        ([fv.Resize(48), fv.CropPad(40)], "CropPad"),
        ([fv.ToTensor()], "no Resize"),
    ]:
        dls = fv.ImageDataLoaders.from_lists(
            tmp_path, [str(f) for f in files], labels, item_tfms=item_tfms, bs=4, num_workers=0
        )
        with pytest.raises(ChoriError, match=named):
            fastai_learner.input_spec(dls)
    # Training-only augmentation (split_idx 0) does not run at inference: accepted.
    dls = fv.ImageDataLoaders.from_lists(
        tmp_path, [str(f) for f in files], labels, bs=4, num_workers=0,
        item_tfms=[fv.Resize(48), fv.FlipItem(p=0.5)], batch_tfms=fv.aug_transforms(),
    )  # fmt: skip
    assert fastai_learner.input_spec(dls).fastai_resize is not None


def test_without_fastai_the_message_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fastai.vision.all", None)
    with pytest.raises(ChoriError, match=r"pip install 'chori-torch\[fastai\]'"):
        fastai_learner.load_export(Path("export.pkl"))


def test_a_dill_pickled_model_exports(tmp_path: Path) -> None:
    import dill

    from chori_torch.demo_model import build

    torch.manual_seed(0)
    model = build(num_classes=2)
    # A lambda of __main__, as a training script's would be: pickle cannot store it, dill
    # stores it by value, so the exporting process needs nothing but dill to load it.
    model.describe = eval('lambda: "made in a script"', {"__name__": "__main__"})  # type: ignore[assignment]
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        torch.save(model, tmp_path / "plain.pt")
    path = tmp_path / "whole.pt"
    torch.save(model, path, pickle_module=dill)
    r = chori("export", "--model", str(path), "--labels", "a,b", "--resize", "40", "--crop", "32",
              "--out", str(tmp_path / "m.pt"))  # fmt: skip
    assert r.returncode == 0, r.stderr
