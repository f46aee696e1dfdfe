"""GAN losses as pure functions of critic scores (critic side and generator side).

* ``wasserstein`` — WGAN (Arjovsky et al. 2017): critic minimises E[D(fake)] - E[D(real)],
  generator minimises -E[D(fake)].
* ``hinge`` — SN-GAN's best (Miyato et al. 2018; Lim & Ye 2017): critic minimises
  E[relu(1 - D(real))] + E[relu(1 + D(fake))], generator minimises -E[D(fake)].
* ``bce`` — the standard, non-saturating GAN (Goodfellow et al. 2014): D(x) are logits; critic
  minimises -E[log σ(D(real))] - E[log(1 - σ(D(fake)))], generator minimises -E[log σ(D(fake))].
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

LOSSES = ("wasserstein", "hinge", "bce")


def critic_loss(kind: str, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The critic's loss (to minimise) from scores [N] or [N, 1] on real and fake samples."""
    if kind == "wasserstein":
        return fake_scores.mean() - real_scores.mean()
    if kind == "hinge":
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
    if kind == "bce":
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")


def generator_loss(kind: str, fake_scores: Tensor) -> Tensor:
    """The generator's loss (to minimise) from the critic's scores on fake samples."""
    if kind in ("wasserstein", "hinge"):
        return -fake_scores.mean()
    if kind == "bce":
        return F.softplus(-fake_scores).mean()
    raise ValueError(f"unknown loss {kind!r}; choose one of {LOSSES}")
