"""The SN-GAN paper's ResNet pair for 32x32 images (Miyato et al. 2018, Table 4; the residual
architecture of Gulrajani et al. 2017). Meant for users with a GPU and CIFAR-10.

Residual critics are not covered by ``sngan.lipschitz.upper_bound`` (a layer product does not bound
a sum of branches soundly without more work); it raises instead of guessing.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class _GenBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class _DisBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.down, self.first = down, first
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (down or c_in != c_out) else None

    def forward(self, x: Tensor) -> Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.first:  # "optimized" first block: pool, then 1x1 conv
            s = self.shortcut(F.avg_pool2d(s, 2))
        elif self.shortcut is not None:
            s = self.shortcut(s)
            if self.down:
                s = F.avg_pool2d(s, 2)
        return h + s


class ResNetGenerator32(nn.Module):
    """z [N, z_dim] → images [N, channels, 32, 32] in [-1, 1]; 3 up-blocks of ``ch`` channels."""

    def __init__(self, z_dim: int = 128, ch: int = 256, channels: int = 3) -> None:
        super().__init__()
        self.z_dim, self.ch = z_dim, ch
        self.fc = nn.Linear(z_dim, 4 * 4 * ch)
        self.blocks = nn.Sequential(_GenBlock(ch, ch), _GenBlock(ch, ch), _GenBlock(ch, ch))
        self.bn = nn.BatchNorm2d(ch)
        self.out = nn.Conv2d(ch, channels, 3, 1, 1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.blocks(self.fc(z).view(z.shape[0], self.ch, 4, 4))
        return self.out(F.relu(self.bn(h))).tanh()


class ResNetCritic32(nn.Module):
    """images [N, channels, 32, 32] → [N, 1]; 2 down-blocks, 2 plain blocks, global sum pool."""

    def __init__(self, ch: int = 128, channels: int = 3) -> None:
        super().__init__()
        self.input_shape = (channels, 32, 32)
        self.blocks = nn.Sequential(
            _DisBlock(channels, ch, down=True, first=True),
            _DisBlock(ch, ch, down=True),
            _DisBlock(ch, ch, down=False),
            _DisBlock(ch, ch, down=False),
        )
        self.fc = nn.Linear(ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))
        return self.fc(h)
