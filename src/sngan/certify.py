"""Per-layer σ table of a critic under each spectral-norm mode: the demonstration that the
reshaped-kernel σ is not the operator norm of a convolution, and what that does to the bound."""

from __future__ import annotations

import torch
from torch import nn

import sngan
from sngan.lipschitz import LayerSigma
from sngan.spectral import LINEAR_TYPES


def normalize_critic(critic: nn.Module, mode: str, input_shape, warmup: int = 50, seed: int = 0) -> nn.Module:
    """Apply ``sngan.spectral_norm(mode=...)`` to every layer and converge u by ``warmup`` forwards."""
    for m in critic.modules():
        if isinstance(m, LINEAR_TYPES):
            sngan.spectral_norm(m, mode=mode)
    gen = torch.Generator().manual_seed(seed)
    critic.train()
    where = next(critic.parameters()).device
    with torch.no_grad():
        for _ in range(warmup):
            critic(torch.randn((2, *input_shape), generator=gen, device="cpu").to(where))
    return critic


def format_table(title: str, rows: list[LayerSigma]) -> str:
    lines = [title, f"  {'layer':<8}{'type':<8}{'input':<14}{'matrix σ':>10}{'operator σ':>12}{'op/mat':>8}"]
    prod_m = prod_o = 1.0
    for r in rows:
        prod_m *= r.matrix_sigma
        prod_o *= r.operator_sigma
        shape = "x".join(str(s) for s in r.input_shape)
        lines.append(
            f"  {r.name:<8}{r.kind:<8}{shape:<14}{r.matrix_sigma:>10.4f}{r.operator_sigma:>12.4f}"
            f"{r.operator_sigma / r.matrix_sigma:>8.2f}"
        )
    lines.append(f"  product of matrix σ: {prod_m:.4f}   certified bound (product of operator σ): {prod_o:.4f}")
    return "\n".join(lines)
