"""Sample images written during training: an image grid, or a toy scatter over the critic's contour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn


def save_image_grid(images: Tensor, path: Path, nrow: int = 8) -> None:
    """images float [N, C, H, W] in [-1, 1] → a PNG grid (no torchvision)."""
    from PIL import Image

    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.full((c, nrows * (h + 2) + 2, ncol * (w + 2) + 2), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, 2 + r * (h + 2):2 + r * (h + 2) + h, 2 + col * (w + 2):2 + col * (w + 2) + w] = x[i]
    img = grid[0] if c == 1 else grid.transpose(1, 2, 0)
    Image.fromarray(img).save(path)


def save_toy_scatter(real: Tensor, fake: Tensor, critic: nn.Module, path: Path, title: str = "") -> None:
    """Real and generated 2-D points over the critic's contour plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = torch.cat([real, fake]).detach().cpu().numpy()
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    pad = 0.15 * (hi - lo).max() + 0.1
    xs = np.linspace(lo[0] - pad, hi[0] + pad, 120)
    ys = np.linspace(lo[1] - pad, hi[1] + pad, 120)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    was_training = critic.training
    critic.eval()
    with torch.no_grad():
        z = critic(grid).reshape(gx.shape).numpy()
    critic.train(was_training)
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    cs = ax.contourf(gx, gy, z, levels=20, cmap="viridis", alpha=0.75)
    fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04)
    r, f = real.cpu().numpy(), fake.detach().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="white", alpha=0.5, label="real")
    ax.scatter(f[:, 0], f[:, 1], s=2, c="#e4572e", alpha=0.6, label="generated")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
