"""An artifact exported with another torch release than the addon's libtorch: it loads, and
says in ``model.warnings`` (and once on stderr, unless silenced) that parity is not promised."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from chori_torch.torchscript import deprecation_expected
from conftest import ROOT, node

OTHER_TORCH = "2.13.0"
LOAD_TWICE = """
const chori = require('chori-torch');
(async () => {
  const a = await chori.load(process.argv[1]);
  const b = await chori.load(process.argv[1]);
  console.log(JSON.stringify({ a: a.warnings, b: b.warnings, libtorch: chori.versions.libtorch }));
})();
"""


@pytest.fixture(scope="module")
def older_artifact(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session artifact with provenance.torch_version rewritten, as torch 2.13 writes it."""
    extra = {"chori.json": ""}
    out = tmp_path_factory.mktemp("older") / "older.pt"
    with deprecation_expected():
        module = torch.jit.load(str(artifact), _extra_files=extra)
        meta = json.loads(extra["chori.json"])
        meta["provenance"]["torch_version"] = OTHER_TORCH
        torch.jit.save(module, str(out), _extra_files={"chori.json": json.dumps(meta)})
    return out


def load_twice(path: Path, **env: str) -> tuple[dict, str]:
    r = subprocess.run(
        [node(), "-e", LOAD_TWICE, str(path)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout), r.stderr


def test_same_release_loads_without_warnings(artifact: Path) -> None:
    result, stderr = load_twice(artifact)
    assert result["a"] == result["b"] == []
    assert "CHORI_TORCH_VERSION_MISMATCH" not in stderr


def test_other_release_loads_with_a_warning_once_on_stderr(older_artifact: Path) -> None:
    result, stderr = load_twice(older_artifact)
    (warning,) = result["a"]
    assert result["b"] == result["a"]
    assert f"exported with torch {OTHER_TORCH}" in warning
    assert f"libtorch {result['libtorch']}" in warning
    promise = "bit-exact parity with the golden set is only promised for the same torch release"
    assert promise in warning
    assert stderr.count("CHORI_TORCH_VERSION_MISMATCH") == 1, stderr
    assert warning in stderr


def test_the_warning_is_silenced_like_any_node_warning(older_artifact: Path) -> None:
    result, stderr = load_twice(older_artifact, NODE_NO_WARNINGS="1")
    assert len(result["a"]) == 1
    assert stderr == ""


def test_doctor_shows_the_mismatch_as_a_warning(older_artifact: Path) -> None:
    r = subprocess.run(
        [node(), str(ROOT / "js" / "cli.js"), "doctor", "--model", str(older_artifact)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"torch_version {OTHER_TORCH}" in r.stdout
    warn = [line for line in r.stdout.splitlines() if line.startswith("  warn  model")]
    assert len(warn) == 1
    assert "fix: export the model with torch" in r.stdout
    assert "no problems found (1 warning)" in r.stdout
