"""The script a researcher would write instead of using sngan: plain PyTorch, same architecture,
batch, optimizer and loss, with ``torch.nn.utils.parametrizations.spectral_norm`` for SN,
``torch.autograd.grad(create_graph=True)`` for GP and ``clamp_`` for clipping, fake batches made with
gradients off, and the critic's parameters frozen during the generator step (as the public WGAN-GP
ports do). It is written to be fast and correct, not weakened: it is what sngan is measured against.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ReferenceWGAN:
    def __init__(self, method: str, generator: nn.Module, critic: nn.Module, z_dim: int, batch_size: int,
                 lr: float = 1e-4, betas=(0.5, 0.9), clip_value: float = 0.01, gp_weight: float = 10.0,
                 data: torch.Tensor | None = None, seed: int = 0) -> None:
        self.method, self.G, self.D = method, generator, critic
        if method == "sn":
            for m in list(self.D.modules()):
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    spectral_norm(m)
        self.z_dim, self.batch_size = z_dim, batch_size
        self.clip_value, self.gp_weight = clip_value, gp_weight
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.data = data
        self.gen = torch.Generator().manual_seed(seed)  # the data order: a CPU generator, as sngan's
        self.device = next(self.G.parameters()).device  # noise on the models' device, from its generator

    def next_real(self) -> torch.Tensor:
        idx = torch.randint(len(self.data), (self.batch_size,), generator=self.gen)
        return self.data[idx.to(self.data.device)]

    def critic_step(self, real: torch.Tensor) -> float:
        z = torch.randn(real.shape[0], self.z_dim, device=self.device)
        with torch.no_grad():
            fake = self.G(z)
        loss = self.D(fake).mean() - self.D(real).mean()
        if self.method == "gp":
            alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=self.device)
            x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(self.D(x_hat).sum(), x_hat, create_graph=True)
            loss = loss + self.gp_weight * ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if self.method == "clip":
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-self.clip_value, self.clip_value)
        return loss.item()

    def generator_step(self) -> float:
        for p in self.D.parameters():
            p.requires_grad_(False)
        loss = -self.D(self.G(torch.randn(self.batch_size, self.z_dim, device=self.device))).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        return loss.item()
