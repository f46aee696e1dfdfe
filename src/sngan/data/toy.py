"""Toy 2-D distributions of the mode-collapse literature.

* ``ring8``   — 8 Gaussians, means (cos 2πk/8, sin 2πk/8), std 0.01 (Metz et al. 2017, Unrolled
  GAN; Lin et al. 2018, PacGAN).
* ``grid25``  — 25 Gaussians, means {-4,-2,0,2,4}², std 0.05 (Lin et al. 2018, PacGAN; VEEGAN).
* ``swissroll`` — the WGAN-GP toy swiss roll (Gulrajani et al. 2017, gan_toy.py): sklearn's
  ``make_swiss_roll(noise=0.25)``, coordinates (x, z) / 7.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sngan.errors import DataError

TOY_NAMES = ("ring8", "grid25", "swissroll")


@dataclass(frozen=True)
class ToySpec:
    name: str
    modes: np.ndarray | None   # [K, 2] mode centres (None: not a mixture)
    std: float | None          # per-coordinate std of each mode


def toy_spec(name: str) -> ToySpec:
    """The modes and std of a toy distribution (for the mode-coverage metrics)."""
    if name == "ring8":
        k = np.arange(8)
        modes = np.stack([np.cos(2 * math.pi * k / 8), np.sin(2 * math.pi * k / 8)], axis=1)
        return ToySpec(name, modes, 0.01)
    if name == "grid25":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        modes = np.array([(x, y) for x in g for y in g])
        return ToySpec(name, modes, 0.05)
    if name == "swissroll":
        return ToySpec(name, None, None)
    raise DataError(f"unknown toy dataset {name!r}; choose one of {TOY_NAMES}")


def toy(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` points of the toy distribution ``name`` as float32 [n, 2]; deterministic in ``seed``."""
    spec = toy_spec(name)
    if not isinstance(n, int) or n < 0:
        raise DataError(f"number of toy points must be a non-negative integer, got {n!r}")
    rng = np.random.default_rng(seed)
    if spec.modes is not None:
        which = rng.integers(0, len(spec.modes), size=n)
        points = spec.modes[which] + spec.std * rng.standard_normal((n, 2))
    else:
        t = 1.5 * math.pi * (1 + 2 * rng.random(n))
        height = 21 * rng.random(n)
        xyz = np.stack([t * np.cos(t), height, t * np.sin(t)], axis=1)
        xyz += 0.25 * rng.standard_normal((n, 3))
        points = xyz[:, [0, 2]] / 7.5
    return torch.from_numpy(points.astype(np.float32))
