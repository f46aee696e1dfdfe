"""The data cache: a directory (``$SNGAN_CACHE``, default ``$XDG_CACHE_HOME/sngan`` or
``~/.cache/sngan``), files written atomically (``sngan.files``) under a lock."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sngan.errors import DataError


def cache_dir() -> Path:
    """The cache directory (not created)."""
    env = os.environ.get("SNGAN_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sngan"


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True)
        probe.close()
    except OSError as e:
        raise DataError(
            f"cache directory {path} is not writable ({e.strerror}); set SNGAN_CACHE to a writable directory"
        ) from None
    return path

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
