"""Sampling from a generator: the noise, the EMA generator's BatchNorm statistics and batched
generation. The one implementation behind the Trainer's sample grids and evaluations, ``sngan
sample`` and ``sngan.load_generator`` — so a loaded generator gives the trainer's own samples."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

# Seeds are offsets from the run's seed, so sample grids, evaluation noise and BatchNorm re-estimation
# each draw from a private stream and never touch training's random numbers.
FIXED_NOISE_SEED = 7919            # the fixed noise of the sample grids written during training
EVAL_NOISE_SEED = 15485863         # the noise of evaluations (metrics along training, `sngan eval`)
BATCHNORM_SEED = 31337             # re-estimation of the EMA generator's BatchNorm statistics
BATCHNORM_BATCHES = 16
EMA_WARMUP = 10.0                  # the EMA's decay is min(decay, (1 + t) / (EMA_WARMUP + t)) at step t


@torch.no_grad()
def update_average_(average: nn.Module, model: nn.Module, step: int, decay: float,
                    warmup: float = EMA_WARMUP) -> None:
    """One EMA step of ``average`` towards ``model`` at generator step ``step``, in place. Warm-up (as
    TensorFlow's ExponentialMovingAverage with num_updates): early on the average would otherwise be mostly
    the random initialisation for ~1/(1-decay) steps; it spans about step / (warmup - 1) steps until the
    configured decay takes over. Buffers are copied (the BatchNorm statistics are re-estimated before the
    average samples: :func:`recalibrate_batchnorm`)."""
    d = min(decay, (1.0 + step) / (warmup + step))
    for pa, p in zip(average.parameters(), model.parameters()):
        pa.lerp_(p, 1.0 - d)
    for ba, b in zip(average.buffers(), model.buffers()):
        ba.copy_(b)


def autocast(precision: str, device_type: str = "cpu"):
    """The autocast context for a config's ``precision`` (bf16 or a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def noise(n: int, latent_dim: int, seed: int, device: torch.device | str = "cpu") -> Tensor:
    """``[n, latent_dim]`` standard normal noise from a private generator seeded with ``seed``, drawn on
    the CPU (the same numbers on every device) and moved to ``device``."""
    return next(noise_batches(n, latent_dim, seed, n, device))


def noise_batches(n: int, latent_dim: int, seed: int, batch_size: int,
                  device: torch.device | str = "cpu") -> Iterator[Tensor]:
    """The noise of ``n`` samples, ``batch_size`` rows at a time, from one CPU generator seeded with
    ``seed`` (memory stays bounded however large ``n`` is; the numbers do not depend on ``device``)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for start in range(0, n, batch_size):
        yield torch.randn(min(batch_size, n - start), latent_dim, generator=gen, device="cpu").to(device)


def fixed_noise(cfg) -> Tensor:
    """The noise of the sample grids written during training (64 images; 1000 toy points)."""
    return noise(1000 if cfg.is_toy else 64, cfg.latent_dim, cfg.seed + FIXED_NOISE_SEED)


def eval_noise(cfg, n: int) -> Tensor:
    """The noise of an evaluation with ``n`` samples (the same at every evaluation of a run)."""
    return noise(n, cfg.latent_dim, cfg.seed + EVAL_NOISE_SEED)


@torch.no_grad()
def recalibrate_batchnorm(generator: nn.Module, cfg, step: int, batches: int = BATCHNORM_BATCHES) -> None:
    """Re-estimate an EMA generator's BatchNorm statistics at training step ``step``.

    The running statistics copied from the training generator describe other weights' activations (a
    known EMA pitfall: the averaged generator then samples worse than the raw one). They are re-estimated
    from fresh noise as a cumulative average over ``batches`` batches, from a stream seeded by the run's
    seed and ``step`` — a function of the weights and the step only, so a generator loaded from a
    checkpoint gets the statistics the trainer had. Leaves the generator in eval mode."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    device = next(generator.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed * 7 + step + BATCHNORM_SEED)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    generator.train()
    try:
        with autocast(cfg.precision, device.type):
            for _ in range(batches):
                z = torch.randn(max(cfg.batch_size, 64), cfg.latent_dim, generator=gen, device="cpu")
                generator(z.to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.eval()


@torch.no_grad()
@contextlib.contextmanager
def buffers_restored(module: nn.Module) -> Iterator[None]:
    """Run ``module`` in its own mode (a generator in training mode: BatchNorm on the batch's statistics)
    and put its buffers (running statistics, batch counters) back as they were on exit."""
    saved = [(b, b.clone()) for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, value in saved:
                b.copy_(value)


def generate(generator: nn.Module, z: Tensor) -> Tensor:
    """``generator(z)`` in eval mode, without gradients (the generator's mode is restored)."""
    was = generator.training
    generator.eval()
    try:
        return generator(z)
    finally:
        generator.train(was)
