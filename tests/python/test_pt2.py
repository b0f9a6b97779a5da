"""The second artifact kind: ``chori export --format pt2`` (torch.export + AOTInductor).

A package is compiled once per model for the whole module (each compile takes 10-20 s). Python's
golden run loads it with ``torch._inductor.aoti_load_package`` and Node and ``chori-predict`` with
libtorch's ``AOTIModelPackageLoader``: the same compiled ``.so`` on the same libtorch, so their
logits must agree bit for bit. Against the TorchScript artifact of the same weights a package is
a different compilation (Inductor's own kernels), so there only the decisions must agree and the
logits stay within float32 rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from chori_torch.artifact import load_artifact, read_metadata
from chori_torch.demo_model import build
from chori_torch.errors import ChoriError
from chori_torch.export import LoadedModel, export_artifact, load_model
from chori_torch.golden import compute_golden
from chori_torch.metadata import InputSpec, MetadataError
from chori_torch.pt2 import artifact_format
from conftest import (
    CHORI_PREDICT,
    DEMO_IMAGES,
    DEMO_MODEL,
    LABELS,
    LOGIT_TOLERANCE,
    ROOT,
    SMALL_FLAGS,
    SMALL_INPUT,
    node,
    real_photographs,
    run_cpp,
    run_node,
)

# Inductor and TorchScript's kernels sum in different orders: float32 rounding, far below any
# decision the demo model makes.
TORCHSCRIPT_TOLERANCE = 1e-4


def chori(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chori_torch.cli", *args], capture_output=True, text=True, cwd=ROOT
    )


def export_pt2(out: Path, *args: str) -> Path:
    r = chori("export", *args, "--format", "pt2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "torch.export + AOTInductor .pt2" in r.stdout
    return out


@pytest.fixture(scope="module")
def demo_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained demo model, the weights export/model.pt was made from, as a package."""
    folder = tmp_path_factory.mktemp("demo-pt2")
    spec = read_metadata(DEMO_MODEL).input
    resize, crop = spec.resize, spec.crop
    assert resize is not None and crop is not None
    return export_pt2(
        folder / "demo.pt2",
        "--arch",
        "chori_torch.demo_model:build",
        "--weights",
        str(ROOT / "export" / "demo" / "weights.pth"),
        "--labels",
        ",".join(read_metadata(DEMO_MODEL).labels),
        "--resize",
        ",".join(map(str, resize)),
        "--crop",
        ",".join(map(str, crop)),
    )


@pytest.fixture(scope="module")
def resnet18_pt2(resnet18_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded resnet18 of the TorchScript parity tests, from the same state_dict."""
    folder = tmp_path_factory.mktemp("resnet18-pt2")
    labels = read_metadata(resnet18_artifact).labels
    return export_pt2(
        folder / "resnet18.pt2",
        "--arch",
        "resnet18",
        "--weights",
        str(resnet18_artifact.parent / "resnet18.pth"),
        "--labels",
        ",".join(labels),
    )


@pytest.fixture(scope="module")
def photographs() -> list[Path]:
    return [p.resolve() for p in real_photographs() + sorted(DEMO_IMAGES.glob("*.*"))]


def golden_by_file(model: Path, files: list[Path], optimize: str = "auto") -> dict[str, dict]:
    golden = compute_golden(model, files, threads=1, optimize_form=optimize, relative_to=ROOT)
    assert golden["rejected"] == []
    return {str((ROOT / g["path"]).resolve()): g for g in golden["images"]} | {
        "": {"form": golden["optimize"]["form"]}
    }


def compare(results: dict[str, dict], golden: dict[str, dict]) -> tuple[int, float]:
    """(top-1 agreements, max |Δlogit|) of ``results`` against ``golden``, by file."""
    top1, delta = 0, 0.0
    for file, expected in golden.items():
        if file == "":
            continue
        got = results[file]
        assert "error" not in got, f"{file}: {got['error']}"
        top1 += got["index"] == expected["index"]
        diff = np.abs(np.float32(got["logits"]) - np.float32(expected["logits"])).max()
        delta = max(delta, float(diff))
    return top1, delta


def test_export_writes_a_package_with_its_metadata(demo_pt2: Path) -> None:
    assert artifact_format(demo_pt2) == "pt2"
    assert artifact_format(DEMO_MODEL) == "torchscript"
    with zipfile.ZipFile(demo_pt2) as archive:
        names = archive.namelist()
    assert any(n.endswith("/extra/chori.json") for n in names)
    assert any("/data/aotinductor/model/" in n and n.endswith(".so") for n in names)
    meta = read_metadata(demo_pt2)
    assert meta.provenance.format == "pt2"
    assert meta.provenance.method == "export"
    assert meta.provenance.torch_version == torch.__version__
    assert meta.labels == read_metadata(DEMO_MODEL).labels
    assert meta.input == read_metadata(DEMO_MODEL).input
    artifact = load_artifact(demo_pt2)
    assert artifact.format == "pt2"
    # The dynamic batch dimension: one compiled model serves batches of 1 and of 8.
    for batch in (1, 8):
        assert artifact.module(torch.zeros(batch, 3, 56, 56)).shape == (batch, 2)


@pytest.mark.parametrize("model_name", ["demo", "resnet18"])
def test_node_and_cpp_match_the_pt2_golden_bit_for_bit(
    model_name: str, request: pytest.FixtureRequest, photographs: list[Path]
) -> None:
    model = request.getfixturevalue(f"{model_name}_pt2")
    golden = golden_by_file(model, photographs)
    assert golden[""]["form"] == "none", "a package's passes are compiled in"
    files = [Path(f) for f in golden if f]
    node_top1, node_delta = compare(run_node(model, files, expect_form="none"), golden)
    cpp_top1, cpp_delta = compare(run_cpp(model, files), golden)
    print(
        f"\npt2 parity[{model_name}]: {len(files)} images; Node top-1 {node_top1}/{len(files)}, "
        f"max |Δlogit| {node_delta:.3g}; C++ top-1 {cpp_top1}/{len(files)}, "
        f"max |Δlogit| {cpp_delta:.3g}"
    )
    assert node_top1 == cpp_top1 == len(files)
    assert node_delta <= LOGIT_TOLERANCE and cpp_delta <= LOGIT_TOLERANCE


def test_two_threads_give_the_same_bits(demo_pt2: Path, photographs: list[Path]) -> None:
    golden = golden_by_file(demo_pt2, photographs)
    _, delta = compare(run_node(demo_pt2, [Path(f) for f in golden if f], threads=2), golden)
    assert delta == 0.0


def test_package_decides_what_torchscript_decides(demo_pt2: Path, photographs: list[Path]) -> None:
    torchscript = golden_by_file(DEMO_MODEL, photographs, optimize="none")
    package = golden_by_file(demo_pt2, photographs)
    top1, delta = compare({f: g for f, g in package.items() if f}, torchscript)
    print(f"\npt2 vs TorchScript[demo]: top-1 {top1}/{len(photographs)}, max |Δlogit| {delta:.3g}")
    assert top1 == len(photographs)
    assert delta <= TORCHSCRIPT_TOLERANCE


def test_a_saved_exported_program_is_compiled_as_it_is(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build(num_classes=len(LABELS)).eval()
    batch = torch.export.Dim("batch", min=1, max=16)
    program = torch.export.export(
        model, (torch.zeros(2, 3, 32, 32),), dynamic_shapes={"x": {0: batch}}
    )
    saved = tmp_path / "program.pt2"
    torch.export.save(program, saved)
    out = export_pt2(
        tmp_path / "model.pkg",  # any name: the contents decide
        "--exported-program",
        str(saved),
        "--labels",
        ",".join(LABELS),
        *SMALL_FLAGS,
    )
    assert read_metadata(out).provenance.arch == "torch.export.ExportedProgram"
    files = sorted(p.resolve() for p in DEMO_IMAGES.glob("*.*"))
    golden = golden_by_file(out, files)
    top1, delta = compare(run_node(out, files, expect_form="none"), golden)
    assert top1 == len(files) and delta == 0.0

    fixed = torch.export.export(model, (torch.zeros(2, 3, 32, 32),))
    torch.export.save(fixed, tmp_path / "fixed.pt2")
    r = chori(
        "export",
        "--exported-program",
        str(tmp_path / "fixed.pt2"),
        "--labels",
        ",".join(LABELS),
        *SMALL_FLAGS,
        "--format",
        "pt2",
        "--out",
        str(tmp_path / "fixed-model.pt2"),
    )
    assert r.returncode != 0
    assert "fixed batch size of 2" in r.stderr
    assert not (tmp_path / "fixed-model.pt2").exists()


def test_what_cannot_become_a_package_is_refused_before_compiling(
    demo_weights: Path, tmp_path: Path
) -> None:
    loaded = load_model(weights=demo_weights, arch="chori_torch.demo_model:build")
    out = tmp_path / "model.pt2"
    for kwargs, message in [
        ({"input_spec": InputSpec(resize=(40,), crop=None)}, "needs a fixed input size"),
        ({"input_spec": SMALL_INPUT, "method": "script"}, "--script is TorchScript's"),
        ({"input_spec": SMALL_INPUT, "format": "onnx"}, "--format must be one of"),
    ]:
        options = {"format": "pt2", **kwargs}
        with pytest.raises(ChoriError, match=message):
            export_artifact(loaded, labels=LABELS, out=out, **options)  # type: ignore[arg-type]
        assert not out.exists()
    program = tmp_path / "program.pt2"
    torch.export.save(
        torch.export.export(loaded.module.eval(), (torch.zeros(1, 3, 32, 32),)), program
    )
    with pytest.raises(ChoriError, match="add --format pt2"):
        export_artifact(
            load_model(exported_program=program), labels=LABELS, input_spec=SMALL_INPUT, out=out
        )


class Gated(nn.Module):
    """Picks a head by the batch's mean brightness: a trace records one branch for good."""

    def __init__(self) -> None:
        super().__init__()
        self.dark, self.bright = nn.Linear(3, len(LABELS)), nn.Linear(3, len(LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        colour = x.mean(dim=(2, 3))
        return self.bright(colour) if colour.sum() > 0 else self.dark(colour)


def test_data_dependent_control_flow_is_refused_in_one_sentence(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "gated.pth"
    source.write_bytes(b"the model is built in memory")
    loaded = LoadedModel(module=Gated(), arch="test:Gated", source=source)
    with pytest.raises(ChoriError) as raised:
        export_artifact(
            loaded, labels=LABELS, input_spec=SMALL_INPUT, out=tmp_path / "m.pt2", format="pt2"
        )
    message = str(raised.value)
    assert message.startswith("torch.export could not capture the model: ")
    assert "data-dependent" in message and "in forward" in message
    assert "torch.cond" in message
    assert len(message) < 600, message
    assert "No stacktrace found" not in capfd.readouterr().err
    assert not (tmp_path / "m.pt2").exists()


def rewrite(
    package: Path, out: Path, *, drop: str = "", replace: dict[str, bytes] | None = None
) -> Path:
    """A copy of ``package`` without the entries containing ``drop``, with ``replace``d ones."""
    replace = replace or {}
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if drop and drop in info.filename:
                continue
            inner = info.filename.partition("/")[2]
            dst.writestr(info, replace.get(inner, src.read(info)))
    return out


LOAD = (
    "require('chori-torch').load(process.argv[1], JSON.parse(process.argv[2]))"
    ".then(() => console.log('LOADED'), (e) => console.log(e.code, e.message))"
)


def node_load(path: Path, **options: str) -> str:
    return subprocess.run(
        [node(), "-e", LOAD, str(path), json.dumps(options)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_broken_packages_are_refused_with_a_code(demo_pt2: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(demo_pt2.read_bytes()[: demo_pt2.stat().st_size // 2])
    no_model = rewrite(demo_pt2, tmp_path / "no-model.pt2", drop="/data/aotinductor/")
    no_metadata = rewrite(demo_pt2, tmp_path / "no-metadata.pt2", drop="/extra/chori.json")
    meta = json.loads(read_metadata(demo_pt2).to_json())
    meta["provenance"]["torch_version"] = "2.9.0+cpu"
    old_torch = rewrite(
        demo_pt2,
        tmp_path / "old-torch.pt2",
        replace={"extra/chori.json": json.dumps(meta).encode()},
    )
    cases = [
        (truncated, {}, "CHORI_MODEL_LOAD", ""),
        (no_model, {}, "CHORI_MODEL_LOAD", ""),
        (no_metadata, {}, "CHORI_MODEL_METADATA", "chori export"),
        (old_torch, {}, "CHORI_MODEL_LOAD", "compiled with torch 2.9.0+cpu"),
        (demo_pt2, {"optimize": "onednn"}, "CHORI_INVALID_ARGUMENT", "compiled"),
        (demo_pt2, {"precision": "bf16"}, "CHORI_INVALID_ARGUMENT", "bf16"),
    ]
    for path, options, code, words in cases:
        out = node_load(path, **options)
        assert out.startswith(code), (path.name, options, out)
        assert words in out, (path.name, options, out)
        if not options:
            cpp = subprocess.run(
                [str(CHORI_PREDICT), "--model", str(path), str(next(DEMO_IMAGES.glob("*.*")))],
                capture_output=True,
                text=True,
            )
            assert cpp.returncode == 1 and code in cpp.stderr, (path.name, cpp.stderr)
    assert node_load(demo_pt2, optimize="none") == "LOADED"

    for path, error in [
        (truncated, ChoriError),
        (no_model, ChoriError),
        (no_metadata, MetadataError),
    ]:
        with pytest.raises(error):
            load_artifact(path)
    r = chori(
        "golden",
        "--model",
        str(demo_pt2),
        "--images",
        str(DEMO_IMAGES),
        "--optimize",
        "onednn",
        "--out",
        str(tmp_path / "golden.json"),
    )
    assert r.returncode != 0 and "does not apply" in r.stderr
