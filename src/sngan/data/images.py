"""Image datasets from disk: CIFAR-10 (python pickle batches) and any folder of PNG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sngan.data import safe_pickle
from sngan.errors import DataError

CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = ("test_batch",)


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images [N, H, W] or [N, C, H, W] → float32 [N, C, H, W] in [-1, 1] (x/127.5 - 1)."""
    x = torch.from_numpy(np.array(images, copy=True)) if isinstance(images, np.ndarray) else images
    if x.dtype != torch.uint8:
        raise DataError(f"expected uint8 images, got {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise DataError(f"expected images [N,H,W] or [N,C,H,W], got shape {tuple(x.shape)}")
    return x.float().div_(127.5).sub_(1.0)


def load_cifar10(directory: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 from its python batches (``cifar-10-batches-py``): uint8 [N,3,32,32], int64 [N].

    Pickles are read with a restricted unpickler (numpy arrays and plain containers only).
    """
    directory = Path(directory)
    if split not in ("train", "test"):
        raise DataError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    names = CIFAR_TRAIN if split == "train" else CIFAR_TEST
    images, labels = [], []
    for name in names:
        path = directory / name
        if not path.exists():
            raise DataError(f"CIFAR-10 batch {path} not found (expected the python version, cifar-10-batches-py)")
        try:
            with open(path, "rb") as f:
                batch = safe_pickle.load(f, encoding="bytes")
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            lab = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as e:  # noqa: BLE001 - any failure means the file is not a CIFAR batch
            raise DataError(f"{path} is not a CIFAR-10 python batch ({type(e).__name__}: {e})") from None
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(lab) != len(data):
            raise DataError(f"{path}: data {data.shape} / labels {lab.shape} are not CIFAR-10 shaped")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)


def load_image_folder(directory: str | Path, size: int = 32, channels: int = 3) -> np.ndarray:
    """Every ``*.png`` under ``directory`` (sorted), converted to ``channels`` (1 or 3), resized to
    ``size`` x ``size`` (bicubic): uint8 [N, channels, size, size]."""
    from PIL import Image, UnidentifiedImageError

    directory = Path(directory)
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if not directory.is_dir():
        raise DataError(f"image folder {directory} does not exist")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() == ".png")
    if not files:
        raise DataError(f"no .png images in {directory}")
    out = np.empty((len(files), channels, size, size), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                im = im.convert("L" if channels == 1 else "RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BICUBIC)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as e:
            raise DataError(f"{path} is not a readable PNG ({e})") from None
        out[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    return out
