"""Precision / recall (Kynkäänniemi et al. 2019, k = 3) and density / coverage (Naeem et al. 2020,
k = 5) from k-nearest-neighbour balls in evaluator feature space."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sngan.metrics.features import features_and_logits


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def prdc_from_features(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    d_rf = _pairwise(real, fake)                           # [n_real, n_fake]
    r_real_pr, r_fake_pr = _kth_radius(real, k_pr), _kth_radius(fake, k_pr)
    precision = (d_rf < r_real_pr[:, None]).any(axis=0).mean()
    recall = (d_rf.T < r_fake_pr[:, None]).any(axis=0).mean()
    r_real_dc = r_real_pr if k_dc == k_pr else _kth_radius(real, k_dc)
    density = (d_rf < r_real_dc[:, None]).sum(axis=0).mean() / k_dc
    coverage = (d_rf.min(axis=1) < r_real_dc).mean()
    return {"precision": float(precision), "recall": float(recall), "density": float(density),
            "coverage": float(coverage)}


def prdc(images_real: Tensor, images_fake: Tensor, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of ``images_fake`` against ``images_real``."""
    fr, _ = features_and_logits(images_real, name="images_real")
    ff, _ = features_and_logits(images_fake, name="images_fake")
    return prdc_from_features(fr.numpy(), ff.numpy(), k_pr, k_dc)
