import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from sngan.data import load_cifar10, load_image_folder, to_model_range
from sngan.errors import DataError


def test_to_model_range():
    x = to_model_range(np.array([[[0, 255], [127, 128]]], dtype=np.uint8))
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x.flatten(), torch.tensor([-1.0, 1.0, 127 / 127.5 - 1, 128 / 127.5 - 1]))
    with pytest.raises(DataError, match="uint8"):
        to_model_range(np.zeros((1, 2, 2), dtype=np.float32))


def _cifar(tmp_path, n=4):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        with open(tmp_path / name, "wb") as f:
            pickle.dump(batch, f)
    return tmp_path


def test_cifar10_python_batches(tmp_path):
    d = _cifar(tmp_path)
    x, y = load_cifar10(d, "train")
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (20,)
    assert load_cifar10(d, "test")[0].shape == (4, 3, 32, 32)


def test_cifar10_planted_pickle_runs_no_code(tmp_path):
    d = _cifar(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    with open(d / "test_batch", "wb") as f:
        pickle.dump({b"data": Payload(), b"labels": []}, f)
    with pytest.raises(DataError, match="not a CIFAR-10"):
        load_cifar10(d, "test")
    assert not marker.exists()


def test_png_folder_gray_and_rgb_resized(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.full((10, 12, 3), 200, np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 8), 50, np.uint8)).save(tmp_path / "sub" / "b.png")
    rgb = load_image_folder(tmp_path, size=16, channels=3)
    assert rgb.shape == (2, 3, 16, 16) and rgb.dtype == np.uint8
    assert rgb[0].min() == 200 and rgb[1].max() == 50
    gray = load_image_folder(tmp_path, size=8, channels=1)
    assert gray.shape == (2, 1, 8, 8)
    (tmp_path / "c.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="c.png"):
        load_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .png"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
