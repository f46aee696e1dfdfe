"""Inception Score (Salimans et al. 2016) with the shipped MNIST classifier's softmax, and class
coverage (share of each predicted digit)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sngan.metrics.features import features_and_logits


def inception_score_from_logits(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    p = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(images: Tensor, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` of exp(E KL(p(y|x) ‖ p(y))); 10 is the maximum for MNIST."""
    _, logits = features_and_logits(images)
    return inception_score_from_logits(logits.numpy(), splits)


def class_coverage_from_logits(logits: np.ndarray) -> dict:
    pred = logits.argmax(1)
    share = np.bincount(pred, minlength=10) / len(pred)
    kl = float(np.sum(np.where(share > 0, share * np.log(np.where(share > 0, share, 1) * 10), 0.0)))
    return {"share": share.tolist(), "kl_to_uniform": kl, "digits_under_1pct": int((share < 0.01).sum())}


def class_coverage(images: Tensor) -> dict:
    """Share of each predicted digit, KL(share ‖ uniform), and the number of digits under 1%."""
    _, logits = features_and_logits(images)
    return class_coverage_from_logits(logits.numpy())
