"""The Lipschitz constraints, applied to a critic from outside.

The training loop calls ``prepare(critic)`` once, adds ``penalty(critic, real, fake)`` to the critic
loss, and calls ``after_step(critic)`` after each critic optimizer step. It never learns what
clipping, a gradient penalty or spectral normalization are.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

import sngan
from sngan.spectral import LINEAR_TYPES

__all__ = [
    "Constraint",
    "NoConstraint",
    "WeightClip",
    "GradientPenalty",
    "SpectralNormalization",
    "interpolate",
    "input_gradient_norms",
    "gradient_norm_stats",
]


@runtime_checkable
class Constraint(Protocol):
    name: str

    def prepare(self, critic: nn.Module) -> nn.Module: ...

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor | None: ...

    def after_step(self, critic: nn.Module) -> None: ...

    def describe(self) -> str: ...


class NoConstraint:
    """An unconstrained critic (the baseline)."""

    name = "none"

    def prepare(self, critic: nn.Module) -> nn.Module:
        return critic

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor | None:
        return None

    def after_step(self, critic: nn.Module) -> None:
        pass

    def describe(self) -> str:
        return "no constraint"


class WeightClip(NoConstraint):
    """WGAN weight clipping (Arjovsky et al. 2017, Algorithm 1): after every critic optimizer step
    clamp every critic parameter to [-clip_value, clip_value]."""

    name = "clip"

    def __init__(self, clip_value: float = 0.01) -> None:
        if not clip_value > 0:
            raise ValueError(f"clip_value must be > 0, got {clip_value!r}")
        self.clip_value = float(clip_value)

    @torch.no_grad()
    def after_step(self, critic: nn.Module) -> None:
        params = list(critic.parameters())
        # Two multi-tensor kernels (as torch's optimizers use) instead of one clamp per parameter.
        torch._foreach_clamp_min_(params, -self.clip_value)
        torch._foreach_clamp_max_(params, self.clip_value)

    def describe(self) -> str:
        return f"weight clipping to ±{self.clip_value:g} (Arjovsky et al. 2017)"


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                shard: tuple[int, int] = (0, 1)) -> Tensor:
    """x̂ = α·real + (1-α)·fake with one α ~ U[0,1] per sample (any number of dims/channels).

    ``shard=(rank, world_size)``: α is drawn for the global batch and this rank's share is used, so a
    data-parallel run draws the same numbers as a single process."""
    rank, world = shard
    n = real.shape[0]
    where = generator.device if generator is not None else real.device  # a CPU generator: draw there, move
    alpha = torch.rand((n * world,) + (1,) * (real.ndim - 1), dtype=real.dtype, device=where,
                       generator=generator)[rank * n:(rank + 1) * n].to(real.device)
    return torch.lerp(fake, real, alpha)


def input_gradient_norms(critic: nn.Module, x: Tensor, create_graph: bool = False) -> Tensor:
    """Per-sample ‖∇ₓ D(x)‖₂ over all non-batch dimensions, shape [N]."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = critic(x)
        (grad,) = torch.autograd.grad(out.float().sum(), x, create_graph=create_graph)
    return grad.float().flatten(1).norm(2, dim=1)


def gradient_norm_stats(critic: nn.Module, real: Tensor, fake: Tensor,
                        generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean and max of ‖∇ₓ D‖ on real, fake and interpolated points (for logs and reports)."""
    out: dict[str, float] = {}
    for name, x in (("real", real), ("fake", fake), ("interp", interpolate(real, fake, generator=generator))):
        norms = input_gradient_norms(critic, x)
        out[f"grad_norm_{name}_mean"] = norms.mean().item()
        out[f"grad_norm_{name}_max"] = norms.max().item()
    return out


class GradientPenalty(NoConstraint):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): weight · E[(‖∇D(x̂)‖ - center)²] on random
    interpolates x̂. ``one_sided=True`` penalises only norms above ``center`` (the Lipschitz penalty,
    LP-WGAN, Petzka et al. 2018)."""

    name = "gp"

    def __init__(self, weight: float = 10.0, center: float = 1.0, one_sided: bool = False) -> None:
        if not weight >= 0:
            raise ValueError(f"gradient penalty weight must be >= 0, got {weight!r}")
        self.weight, self.center, self.one_sided = float(weight), float(center), bool(one_sided)
        self.shard = (0, 1)  # (rank, world_size) when data-parallel

    def penalty(self, critic: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
        norms = input_gradient_norms(critic, interpolate(real, fake, shard=self.shard), create_graph=True)
        gap = norms - self.center
        if self.one_sided:
            gap = gap.clamp_min(0.0)
        return self.weight * gap.pow(2).mean()

    def describe(self) -> str:
        kind = "one-sided (Petzka et al. 2018)" if self.one_sided else "two-sided (Gulrajani et al. 2017)"
        return f"gradient penalty λ={self.weight:g}, centre {self.center:g}, {kind}"


class SpectralNormalization(NoConstraint):
    """SN-GAN (Miyato et al. 2018): ``sngan.spectral_norm`` on every Linear / Conv* / ConvTranspose*
    layer of the critic, ``n_power_iterations`` per training forward, σ by ``mode``."""

    name = "sn"

    def __init__(self, n_power_iterations: int = 1, mode: str = "matrix", solver: str = "power") -> None:
        if mode not in sngan.nn.MODES:
            raise ValueError(f"spectral norm mode must be one of {sngan.nn.MODES}, got {mode!r}")
        if solver not in sngan.nn.SOLVERS:
            raise ValueError(f"spectral norm solver must be one of {sngan.nn.SOLVERS}, got {solver!r}")
        if n_power_iterations < 1:
            raise ValueError(f"n_power_iterations must be >= 1, got {n_power_iterations!r}")
        self.n_power_iterations, self.mode, self.solver = int(n_power_iterations), mode, solver

    def prepare(self, critic: nn.Module) -> nn.Module:
        for module in critic.modules():
            if isinstance(module, LINEAR_TYPES):
                sngan.spectral_norm(module, n_power_iterations=self.n_power_iterations, mode=self.mode,
                                    solver=self.solver)
        return critic

    def describe(self) -> str:
        if self.mode == "certified":
            return "spectral normalization, certified σ (a guaranteed upper bound on each layer's operator norm)"
        steps = "Lanczos step(s)" if self.solver == "lanczos" else "power iteration(s)"
        return f"spectral normalization, {self.mode} σ, {self.n_power_iterations} {steps}/forward"


def make_constraint(method: str, *, clip_value: float = 0.01, gp_weight: float = 10.0, gp_center: float = 1.0,
                    gp_one_sided: bool = False, n_power_iterations: int = 1, sn_mode: str = "matrix",
                    sn_solver: str = "power") -> Constraint:
    """The constraint for a method name: ``none`` | ``clip`` | ``gp`` | ``sn``."""
    if method == "none":
        return NoConstraint()
    if method == "clip":
        return WeightClip(clip_value)
    if method == "gp":
        return GradientPenalty(gp_weight, gp_center, gp_one_sided)
    if method == "sn":
        return SpectralNormalization(n_power_iterations, sn_mode, sn_solver)
    raise ValueError(f"unknown method {method!r}; choose one of none, clip, gp, sn")
