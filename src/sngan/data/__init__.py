"""Datasets: real MNIST (offline, verified), toy 2-D distributions, image data from disk."""

from __future__ import annotations

import torch

from sngan.data.batches import BatchSampler
from sngan.data.images import load_cifar10, load_image_folder, to_model_range
from sngan.data.mnist import fetch_mnist, load_mnist
from sngan.data.toy import TOY_NAMES, ToySpec, toy, toy_spec
from sngan.errors import DataError

DATASETS = ("mnist", *TOY_NAMES, "cifar10", "folder")
TOY_DATASET_SIZE = 100_000  # fixed pool of toy points, shuffled like any dataset (resumable)


def load_dataset(name: str, data_dir: str | None = None, seed: int = 0, image_size: int = 32,
                 channels: int = 3) -> torch.Tensor:
    """A training set as a float32 tensor: images [N, C, H, W] in [-1, 1], toy points [N, 2]."""
    if name == "mnist":
        images, _ = load_mnist("train", idx_dir=data_dir)
        return to_model_range(images)
    if name in TOY_NAMES:
        return toy(name, TOY_DATASET_SIZE, seed=seed)
    if name == "cifar10":
        if not data_dir:
            raise DataError("dataset cifar10 needs data_dir (the cifar-10-batches-py folder)")
        return to_model_range(load_cifar10(data_dir, "train")[0])
    if name == "folder":
        if not data_dir:
            raise DataError("dataset folder needs data_dir (a folder of .png images)")
        return to_model_range(load_image_folder(data_dir, image_size, channels))
    raise DataError(f"unknown dataset {name!r}; choose one of {DATASETS}")


__all__ = [
    "BatchSampler", "DATASETS", "DataError", "ToySpec", "TOY_NAMES", "fetch_mnist", "load_cifar10",
    "load_dataset", "load_image_folder", "load_mnist", "to_model_range", "toy", "toy_spec",
]
