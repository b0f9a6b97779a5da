"""File helpers shared by export and golden: content hashes and all-or-nothing writes."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


def absolute(path: Path) -> Path:
    """Absolute and normalised, but not resolved: a symlink's own name is the one the user chose."""
    return Path(os.path.abspath(path))  # noqa: PTH100 - resolve() would follow symlinks


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, so a record names exactly what it was computed from."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only if the block succeeds.

    A failed export or golden run therefore never leaves a half-written or unverified file
    where the addon and the parity tests look for one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its 0600 mode would survive the rename and hide the artifact from other users.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
