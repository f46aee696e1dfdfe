"""Evaluator features and probabilities for image batches (cached per tensor in a call)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sngan.metrics.evaluator import mnist_evaluator

ACCEPTED = ("MNIST images as uint8 (0-255) or floats in [-1, 1], shaped [N, 28, 28], [N, 1, 28, 28] or "
            "[N, 28, 28, 1] (NHWC), as a tensor or a numpy array")


def as_model_images(images, name: str = "images") -> Tensor:
    """What the data loaders, ``sngan sample`` and a generator produce → float [N, 1, 28, 28] in [-1, 1].

    uint8 is mapped by x/127.5 - 1 (as the training data); floats must already be in [-1, 1] — they are
    refused otherwise, never rescaled (a [0, 1] or [0, 255] float array is ambiguous)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images) if images.flags.writeable else images.copy())
    if not torch.is_tensor(images):
        raise ValueError(f"{name}: expected {ACCEPTED}; got {type(images).__name__}")
    x = images.detach()  # stays on its device: the evaluator runs where the images are
    if x.ndim == 3 and x.shape[1:] == (28, 28):
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1:] == (28, 28, 1):
        x = x.contiguous().reshape(len(x), 1, 28, 28)  # one channel: NHWC and NCHW share the memory layout
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"{name}: expected {ACCEPTED}; got {str(x.dtype).replace('torch.', '')} "
                         f"{list(x.shape)}")
    if len(x) < 2:
        raise ValueError(f"{name}: need at least 2 images, got {len(x)}")
    if x.dtype == torch.uint8:
        x = x.float().div_(127.5).sub_(1.0)
    elif x.is_floating_point():
        x = x.float()
        if not torch.isfinite(x).all() or x.min() < -1 or x.max() > 1:
            lo, hi = float(x.min()), float(x.max())
            raise ValueError(f"{name}: float images must be finite and in [-1, 1] (got values in [{lo:g}, {hi:g}]); "
                             "pass uint8 for 0-255 images, or map [0, 1] floats with x * 2 - 1")
    else:
        raise ValueError(f"{name}: expected {ACCEPTED}; got dtype {str(x.dtype).replace('torch.', '')}")
    return x


@torch.no_grad()
def features_and_logits(images, batch_size: int = 500, name: str = "images") -> tuple[Tensor, Tensor]:
    """(features [N, 128] float64, logits [N, 10] float64) of the shipped evaluator; ``images`` in any
    form ``as_model_images`` accepts."""
    images = as_model_images(images, name)
    model = mnist_evaluator(images.device)
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f = model.features(images[i:i + batch_size])
        feats.append(f)
        logits.append(model.fc2(f))
    return torch.cat(feats).double().cpu(), torch.cat(logits).double().cpu()  # statistics: numpy, float64
