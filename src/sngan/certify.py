"""Per-layer σ table of a critic under each spectral-norm mode: the demonstration that the
reshaped-kernel σ is not the operator norm of a convolution, and what that does to the bound."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import sngan
from sngan.spectral import LINEAR_TYPES, default_dim, matrix_sigma


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    input_shape: tuple[int, ...]
    matrix_sigma: float     # σ of the reshaped kernel (exact SVD)
    operator_sigma: float   # σ of the layer's linear map at its input shape


def layer_table(critic: nn.Sequential, input_shape) -> list[LayerRow]:
    """σ of every Linear/Conv layer of ``critic`` (current, possibly normalized weights)."""
    rows: list[LayerRow] = []
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        def hook(module, args):
            shapes.setdefault(name, tuple(args[0].shape[1:]))
        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in critic.named_modules()
             if isinstance(m, LINEAR_TYPES)]
    was_training = critic.training
    critic.eval()
    with torch.no_grad():
        critic(torch.zeros((1, *input_shape)))
    critic.train(was_training)
    for h in hooks:
        h.remove()
    for name, m in critic.named_modules():
        if isinstance(m, LINEAR_TYPES):
            w = m.weight.detach()
            rows.append(LayerRow(
                name, type(m).__name__.removeprefix("Parametrized"), shapes[name],
                float(matrix_sigma(w.double(), default_dim(m))),
                sngan.operator_norm(m, shapes[name]),
            ))
    return rows


def normalize_critic(critic: nn.Module, mode: str, input_shape, warmup: int = 50, seed: int = 0) -> nn.Module:
    """Apply ``sngan.spectral_norm(mode=...)`` to every layer and converge u by ``warmup`` forwards."""
    for m in critic.modules():
        if isinstance(m, LINEAR_TYPES):
            sngan.spectral_norm(m, mode=mode)
    gen = torch.Generator().manual_seed(seed)
    critic.train()
    with torch.no_grad():
        for _ in range(warmup):
            critic(torch.randn((2, *input_shape), generator=gen))
    return critic


def format_table(title: str, rows: list[LayerRow]) -> str:
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
