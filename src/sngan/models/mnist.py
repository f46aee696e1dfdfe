"""The SN-GAN paper's "standard CNN" (Miyato et al. 2018, Table 3) scaled to 28x28x1.

Critic: conv3x3 64 → conv4x4/2 64 → conv3x3 128 → conv4x4/2 128 → conv3x3 256 → linear 1,
LeakyReLU(0.1) after every conv, no normalization layer (BatchNorm would break the Lipschitz
analysis). Generator: the matching DCGAN generator, z 128 → 7x7x256 → deconv to 14x14x128 →
28x28x64 → conv3x3 to 1 channel, BatchNorm + ReLU, tanh.
"""

from __future__ import annotations

from torch import Tensor, nn


def _ch(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


class MnistCritic(nn.Sequential):
    """Standard CNN critic for [N, 1, 28, 28] images in [-1, 1]; output [N, 1].

    Args:
        width: channel multiplier (1.0 = the paper's 64/128/256 channels).
        in_channels: image channels.
        slope: LeakyReLU negative slope (0.1 in the paper).
    """

    input_shape = (1, 28, 28)

    def __init__(self, width: float = 1.0, in_channels: int = 1, slope: float = 0.1) -> None:
        c1, c2, c3 = _ch(64, width), _ch(128, width), _ch(256, width)
        def act() -> nn.Module:
            return nn.LeakyReLU(slope)

        super().__init__(
            nn.Conv2d(in_channels, c1, 3, 1, 1), act(),
            nn.Conv2d(c1, c1, 4, 2, 1), act(),        # 28 -> 14
            nn.Conv2d(c1, c2, 3, 1, 1), act(),
            nn.Conv2d(c2, c2, 4, 2, 1), act(),        # 14 -> 7
            nn.Conv2d(c2, c3, 3, 1, 1), act(),
            nn.Flatten(),
            nn.Linear(c3 * 7 * 7, 1),
        )
        self.input_shape = (in_channels, 28, 28)


class MnistGenerator(nn.Module):
    """DCGAN generator: z [N, z_dim] → images [N, 1, 28, 28] in [-1, 1].

    Args:
        z_dim: latent dimension (128 in SN-GAN).
        width: channel multiplier (1.0 = 256/128/64 channels).
        out_channels: image channels.
    """

    def __init__(self, z_dim: int = 128, width: float = 1.0, out_channels: int = 1) -> None:
        super().__init__()
        c1, c2, c3 = _ch(256, width), _ch(128, width), _ch(64, width)
        self.z_dim = z_dim
        self.c1 = c1
        self.fc = nn.Linear(z_dim, 7 * 7 * c1)
        self.net = nn.Sequential(
            nn.BatchNorm2d(c1), nn.ReLU(),
            nn.ConvTranspose2d(c1, c2, 4, 2, 1), nn.BatchNorm2d(c2), nn.ReLU(),   # 7 -> 14
            nn.ConvTranspose2d(c2, c3, 4, 2, 1), nn.BatchNorm2d(c3), nn.ReLU(),   # 14 -> 28
            nn.Conv2d(c3, out_channels, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(z.shape[0], self.c1, 7, 7))
