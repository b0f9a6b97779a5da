"""Node's load() is one native call: it reads the artifact once, in the precision the artifact
records, and the native checks of chori.json say what js/metadata.js says."""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from chori_torch.demo_model import build
from conftest import CHORI_PREDICT, DEMO_IMAGES, ROOT, node, run_cpp, run_node

IN_CLOSE_NOWRITE = 0x10
IN_OPEN = 0x20
IN_NONBLOCK = 0o4000

METADATA = {
    "schema_version": 1,
    "labels": ["a", "b"],
    "input": {
        "color_mode": "RGB",
        "resize": [40],
        "crop": [32, 32],
        "interpolation": "bilinear",
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
    },
    "output": {"kind": "logits", "num_classes": 2},
}

INFO = (
    "require('chori-torch').load(process.argv[1])"
    ".then(async (m) => { console.log(JSON.stringify(m.info)); await m.dispose(); },"
    " (e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); })"
)

# load()'s error next to what js/metadata.js says of the same text.
BOTH = (
    "const { parseMetadata } = require('./js/metadata');"
    "const path = process.argv[1];"
    "const text = require('node:fs').readFileSync(process.argv[2], 'utf8');"
    "let js = null; try { parseMetadata(text, path); } catch (e) { js = e.message; }"
    "require('chori-torch').load(path).then("
    " async (m) => { await m.dispose(); console.log(JSON.stringify({ js, native: null })); },"
    " (e) => console.log(JSON.stringify({ js, native: e.message, code: e.code })));"
)


def artifact(path: Path, metadata: dict | str) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation notice
        module = torch.jit.trace(build(num_classes=2).eval(), torch.zeros(1, 3, 32, 32))
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        torch.jit.save(module, str(path), _extra_files={"chori.json": text})
    return path


def opens_while_loading(path: Path) -> tuple[int, dict]:
    """How many times the Node process opened `path` while loading it (inotify), and model.info."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK)
    if fd < 0:
        pytest.fail(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
    try:
        # Opens and closes alternate, so inotify never merges two opens into one event.
        if libc.inotify_add_watch(fd, str(path).encode(), IN_OPEN | IN_CLOSE_NOWRITE) < 0:
            pytest.fail(f"inotify_add_watch: {os.strerror(ctypes.get_errno())}")
        out = subprocess.run(
            [node(), "-e", INFO, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
        )
        opens = 0
        while True:
            try:
                events = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(events):
                _, mask, _, length = struct.unpack_from("iIII", events, offset)
                opens += bool(mask & IN_OPEN)
                offset += 16 + length
        return opens, json.loads(out.stdout)
    finally:
        os.close(fd)


def test_an_artifact_that_records_bf16_is_read_once(tmp_path: Path) -> None:
    """It used to be loaded in fp32, read, disposed and loaded again in bf16."""
    fp32_opens, fp32 = opens_while_loading(artifact(tmp_path / "fp32.pt", METADATA))
    bf16_opens, bf16 = opens_while_loading(
        artifact(tmp_path / "bf16.pt", {**METADATA, "precision": "bf16"})
    )
    assert fp32["precision"] == "fp32", fp32
    assert bf16["precision"] == "bf16", bf16
    assert fp32_opens > 0
    assert bf16_opens == fp32_opens, (bf16_opens, fp32_opens)


def test_both_front_ends_run_an_artifact_in_the_precision_it_records(tmp_path: Path) -> None:
    """The loading policy is the core's (model/loader.cc): chori-predict, given no --precision,
    runs an artifact that records bf16 in bf16, bit for bit as Node's load() does."""
    if not CHORI_PREDICT.exists():
        pytest.fail(
            f"{CHORI_PREDICT} is missing; run the tests through `make test` (or `make cpp`)"
        )
    images = sorted(DEMO_IMAGES.glob("*.*"))[:4]
    fp32 = artifact(tmp_path / "fp32.pt", METADATA)
    bf16 = artifact(tmp_path / "bf16.pt", {**METADATA, "precision": "bf16"})
    cpp = {f: r["logits"] for f, r in run_cpp(bf16, images).items()}
    by_node = {f: r["logits"] for f, r in run_node(bf16, images, precision=None).items()}
    assert {str(Path(f).resolve()): v for f, v in cpp.items()} == {
        str(Path(f).resolve()): v for f, v in by_node.items()
    }
    cpp_fp32 = {f: r["logits"] for f, r in run_cpp(fp32, images).items()}
    assert cpp != cpp_fp32, "bf16 changes the last bits, so this test can tell the precisions apart"


def bad(**changes: object) -> dict:
    doc = json.loads(json.dumps(METADATA))
    for key, value in changes.items():
        target, _, field = key.rpartition("__")
        (doc[target] if target else doc)[field] = value
    return doc


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        "[1, 2]",
        bad(schema_version=3),
        bad(labels=[]),
        bad(labels=["a", ""]),
        bad(input__color_mode="L"),
        bad(input__resize=[0]),
        bad(input__max_size=30),
        bad(input__crop=[32]),
        bad(input__interpolation="cubic"),
        bad(input__mean=[1, 2]),
        bad(input__std=[1, 0, 1]),
        bad(input__exif_orientation="yes"),
        bad(output={"kind": "scores", "num_classes": 2}),
        bad(output={"kind": "logits", "num_classes": 3}),
        bad(precision="fp16"),
        {key: value for key, value in METADATA.items() if key != "labels"},
    ],
)
def test_native_metadata_checks_say_what_js_says(tmp_path: Path, metadata: dict | str) -> None:
    path = artifact(tmp_path / "bad.pt", metadata)
    text = tmp_path / "chori.json"
    text.write_text(metadata if isinstance(metadata, str) else json.dumps(metadata))
    out = json.loads(
        subprocess.run(
            [node(), "-e", BOTH, str(path), str(text)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert out["js"] is not None, "the case must be one js/metadata.js refuses"
    assert out["code"] == "CHORI_MODEL_METADATA", out
    if metadata == "not json":  # the parser's own words follow, V8's or nlohmann's
        assert out["native"].split(" (")[0] == out["js"].split(" (")[0], out
    else:
        assert out["native"] == out["js"], out
