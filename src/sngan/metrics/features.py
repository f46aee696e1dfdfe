"""Evaluator features and probabilities for image batches (cached per tensor in a call)."""

from __future__ import annotations

import torch
from torch import Tensor

from sngan.metrics.evaluator import mnist_evaluator


def _check_images(images: Tensor, name: str) -> Tensor:
    if not torch.is_tensor(images) or images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise ValueError(f"{name}: expected images float [N, 1, 28, 28] in [-1, 1], got {shape}")
    if len(images) < 2:
        raise ValueError(f"{name}: need at least 2 images, got {len(images)}")
    return images.float()


@torch.no_grad()
def features_and_logits(images: Tensor, batch_size: int = 500, name: str = "images") -> tuple[Tensor, Tensor]:
    """(features [N, 128] float64, logits [N, 10] float64) of the shipped evaluator."""
    images = _check_images(images, name)
    model = mnist_evaluator()
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i:i + batch_size])
        feats.append(f)
        logits.append(model.fc2(f))
    return torch.cat(feats).double(), torch.cat(logits).double()
