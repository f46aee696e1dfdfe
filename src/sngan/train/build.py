"""What a run is made of, built from its config: the generator and critic, the critic's Lipschitz
constraint, the memory layout and the optimizers. Used by the trainer (``sngan.train.loop``) and by a
run opened from disk (``sngan.train.run``), so neither imports the other for it."""

from __future__ import annotations

import torch
from torch import nn

from sngan.constraints import make_constraint
from sngan.errors import ConfigError
from sngan.train.config import TrainConfig


def build_models(cfg: TrainConfig) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    """(generator, critic, critic input shape) for a config, initialised on the CPU from the global
    random stream (the same weights whichever device then trains them)."""
    with torch.device("cpu"):
        return _build_models(cfg)


def _build_models(cfg: TrainConfig) -> tuple[nn.Module, nn.Module, tuple[int, ...]]:
    from sngan.models import MnistCritic, MnistGenerator, ResNetCritic32, ResNetGenerator32, ToyCritic, ToyGenerator

    if cfg.is_toy:
        return ToyGenerator(cfg.latent_dim, cfg.hidden), ToyCritic(cfg.hidden), (2,)
    if cfg.dataset == "mnist":
        return MnistGenerator(cfg.latent_dim, cfg.generator_width), MnistCritic(cfg.width), (1, 28, 28)
    channels = 3 if cfg.dataset == "cifar10" else cfg.channels
    if cfg.dataset == "folder" and cfg.image_size != 32:
        raise ConfigError(f"image_size={cfg.image_size}: the ResNet models are for 32x32 images")
    ch, ch_g = (max(8, int(round(128 * w))) for w in (cfg.width, cfg.generator_width))
    return ResNetGenerator32(cfg.latent_dim, 2 * ch_g, channels), ResNetCritic32(ch, channels), (channels, 32, 32)


def memory_format(cfg: TrainConfig, input_shape: tuple[int, ...]) -> torch.memory_format:
    """channels-last for image models when the config asks (8-18% faster critic steps on a CPU,
    interleaved measurement, benchmarks/bench_options.py). Loaded models use it too: same layout,
    bit-identical outputs."""
    return torch.channels_last if cfg.channels_last and len(input_shape) == 3 else torch.contiguous_format


def constraint_for(cfg: TrainConfig):
    """The config's Lipschitz constraint (``sngan.constraints``), not yet applied to a critic."""
    return make_constraint(cfg.method, clip_value=cfg.clip_value, gp_weight=cfg.gp_weight, gp_center=cfg.gp_center,
                           gp_one_sided=cfg.gp_one_sided, n_power_iterations=cfg.n_power_iterations,
                           sn_mode=cfg.sn_mode, sn_solver=cfg.sn_solver)


# Devices with a fused Adam / SGD kernel (one pass over each parameter instead of a dozen foreach
# kernels): on the CPU it is 3.6x faster for the toy MLP's 530k parameters (3.37 -> 0.93 ms per
# step), and the same update to within rounding (1.5e-8 after 5 steps).
FUSED_OPTIMIZER_DEVICES = ("cpu", "cuda")


def optimizer_for(cfg: TrainConfig, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    fused = device.type in FUSED_OPTIMIZER_DEVICES
    if cfg.optimizer == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(params, lr=lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, fused=fused or None)
    return torch.optim.Adam(params, lr=lr, betas=(cfg.beta1, cfg.beta2), fused=fused or None)
