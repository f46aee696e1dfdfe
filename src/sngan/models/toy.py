"""The WGAN-GP toy MLPs (Gulrajani et al. 2017, gan_toy.py): 3 hidden layers of 512, ReLU."""

from __future__ import annotations

from torch import Tensor, nn


def _mlp(n_in: int, hidden: int, depth: int, n_out: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, n_out))
    return layers


class ToyCritic(nn.Sequential):
    """Critic for 2-D points: [N, 2] → [N, 1]."""

    def __init__(self, hidden: int = 512, depth: int = 3, dim: int = 2) -> None:
        super().__init__(*_mlp(dim, hidden, depth, 1))
        self.input_shape = (dim,)


class ToyGenerator(nn.Module):
    """Generator for 2-D points: z [N, z_dim] → [N, 2]."""

    def __init__(self, z_dim: int = 2, hidden: int = 512, depth: int = 3, dim: int = 2) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(*_mlp(z_dim, hidden, depth, dim))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
