"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial
kernel k(x, y) = (xᵀy / d + 1)³, mean and std over random subsets."""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sngan.metrics.features import features_and_logits


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid_from_features(fa: np.ndarray, fb: np.ndarray, n_subsets: int = 50, subset_size: int = 1000,
                      seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(fa), len(fb))
    vals = [mmd2_unbiased(fa[rng.choice(len(fa), size, replace=False)], fb[rng.choice(len(fb), size, replace=False)])
            for _ in range(n_subsets)]
    return float(np.mean(vals)), float(np.std(vals))


def kid(images_a: Tensor, images_b: Tensor, n_subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD² over ``n_subsets`` random subsets of ``subset_size``."""
    fa, _ = features_and_logits(images_a, name="images_a")
    fb, _ = features_and_logits(images_b, name="images_b")
    return kid_from_features(fa.numpy(), fb.numpy(), n_subsets, subset_size, seed)
