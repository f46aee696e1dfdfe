"""Toy-data metrics: the VEEGAN / PacGAN mode protocol and the exact Wasserstein-1 distance."""

from __future__ import annotations

import numpy as np
import torch

from sngan.data.toy import toy_spec


def _np(x) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected points [n, d], got shape {x.shape}")
    return x


def _nearest(samples, dataset: str) -> tuple[np.ndarray, np.ndarray, float, int]:
    spec = toy_spec(dataset)
    if spec.modes is None:
        raise ValueError(f"{dataset} has no modes; mode metrics are for ring8 and grid25")
    x = _np(samples)
    d = np.linalg.norm(x[:, None, :] - spec.modes[None], axis=2)
    return d.argmin(1), d.min(1), spec.std, len(spec.modes)


def high_quality(samples, dataset: str) -> float:
    """Share of samples within 3 std of their nearest mode (Srivastava et al. 2017; Lin et al. 2018)."""
    _, dist, std, _ = _nearest(samples, dataset)
    return float((dist <= 3 * std).mean())


def modes_covered(samples, dataset: str) -> int:
    """Number of modes that are the nearest mode of at least one high-quality sample."""
    nearest, dist, std, _ = _nearest(samples, dataset)
    return int(len(np.unique(nearest[dist <= 3 * std])))


def wasserstein1_exact(points_a, points_b) -> float:
    """Exact W1 between two equal-size point sets with uniform weights and Euclidean cost: the mean
    cost of the optimal matching (POT's network-simplex solver, ``ot.emd2``)."""
    import ot

    a, b = _np(points_a), _np(points_b)
    if len(a) != len(b):
        raise ValueError(f"wasserstein1_exact needs equal-size sets, got {len(a)} and {len(b)}")
    cost = ot.dist(a, b, metric="euclidean")
    w = np.full(len(a), 1.0 / len(a))
    return float(ot.emd2(w, w, cost, numItermax=10_000_000))
