"""Fréchet distance between Gaussians fitted to evaluator features (Heusel et al. 2017)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
from torch import Tensor

from sngan.metrics.features import features_and_logits


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1-μ2‖² + Tr(Σ1 + Σ2 - 2(Σ1Σ2)^½), in float64, with a stable matrix square root.

    The product square root is computed as Σ1^½ Σ2 Σ1^½ (symmetric PSD, so an eigen-decomposition
    is exact and never complex): Tr((Σ1Σ2)^½) = Tr((Σ1^½ Σ2 Σ1^½)^½).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = scipy.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = scipy.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_features(fa: np.ndarray, fb: np.ndarray) -> float:
    return frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))


def fid(images_a: Tensor, images_b: Tensor) -> float:
    """FID between two image sets in the shipped evaluator's features. Images: uint8 or floats in [-1, 1],
    [N, 28, 28], [N, 1, 28, 28] or NHWC (``sngan.data.load_mnist``, ``sngan sample``, a generator)."""
    fa, _ = features_and_logits(images_a, name="images_a")
    fb, _ = features_and_logits(images_b, name="images_b")
    return fid_from_features(fa.numpy(), fb.numpy())
