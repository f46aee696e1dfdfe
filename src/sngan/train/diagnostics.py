"""What a run measures about its critic at a diagnostic step, without touching training: ‖∇ₓD‖ on
real, fake and interpolated points, each layer's σ (reshaped kernel and true operator norm, and SN's
running estimate) and the certified Lipschitz bound. Its random draws come from a generator seeded
by the step, so diagnostics at more or fewer steps never change a run."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sngan.constraints import gradient_norm_stats
from sngan.lipschitz import layer_bounds, layer_sigmas
from sngan.nn import SpectralNorm
from sngan.spectral import LINEAR_TYPES, default_dim, matrix_sigma
from sngan.train import sampling

if TYPE_CHECKING:
    from sngan.train.loop import Trainer


def diag_rng(trainer: Trainer) -> torch.Generator:
    # Stateless in the step: diagnostics at extra steps never shift later ones (or training).
    return torch.Generator().manual_seed(trainer.cfg.seed * 1_000_003 + trainer.step + 104729)

def measure(trainer: Trainer, real: Tensor) -> dict[str, Any]:
    """‖∇ₓD‖ on real, fake and interpolated points; each layer's σ; the certified bound."""
    D = trainer.critic
    rng = diag_rng(trainer)
    D.eval()
    try:
        # the fakes of a critic step (BatchNorm on the batch's statistics), without moving the
        # generator's running statistics: diagnostics at a step must not change the run
        with torch.no_grad(), sampling.buffers_restored(trainer.generator):
            z = torch.randn(real.shape[0], trainer.cfg.latent_dim, generator=rng, device="cpu")
            fake = trainer.generator(z.to(trainer.device))
        out: dict[str, Any] = gradient_norm_stats(D, real, fake, generator=rng)
        out["sigma"], out["lipschitz_upper"] = layer_sigma_log(trainer)
    finally:
        D.train()
    return out

def layer_sigma_log(trainer: Trainer) -> tuple[dict[str, dict[str, float]], float | None]:
    D = trainer.critic
    try:  # the certified bound needs a Sequential critic; residual critics get σ only
        factors = {name: f for name, _, f in layer_bounds(D, trainer.input_shape)}
        upper = math.prod(factors.values())
    except ValueError:
        factors = {r.name: r.operator_sigma for r in layer_sigmas(D, trainer.input_shape, trainer.layer_shapes)}
        upper = None
    table: dict[str, dict[str, float]] = {}
    for name, m in D.named_modules():
        if isinstance(m, LINEAR_TYPES):
            row = {"matrix": float(matrix_sigma(m.weight.detach().double(), default_dim(m))),
                   "operator": float(factors[name])}
            plist = getattr(getattr(m, "parametrizations", None), "weight", None)
            for p in plist or ():
                if isinstance(p, SpectralNorm):
                    row["estimate"] = float(p.sigma)  # SN's running estimate of the raw σ
            table[name] = row
    return table, upper
