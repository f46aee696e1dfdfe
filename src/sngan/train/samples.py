"""Sample files: the image grids and toy scatters written during training, and the formats of
``sngan sample`` (PNG grid, PNG folder, npz/npy arrays, toy csv/npy/png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn


def save_image_grid(images: Tensor, path, nrow: int = 8) -> None:
    """images float [N, C, H, W] in [-1, 1] → a PNG grid (no torchvision); ``path``: a path or a binary file."""
    from PIL import Image

    x = to_uint8(images).cpu().numpy()
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    grid = np.full((c, nrows * (h + 2) + 2, ncol * (w + 2) + 2), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, 2 + r * (h + 2):2 + r * (h + 2) + h, 2 + col * (w + 2):2 + col * (w + 2) + w] = x[i]
    img = grid[0] if c == 1 else grid.transpose(1, 2, 0)
    Image.fromarray(img).save(path, format="PNG")


def save_toy_scatter(real: Tensor, fake: Tensor, critic: nn.Module | None, path, title: str = "") -> None:
    """Real and generated 2-D points, over the critic's contour plot when a critic is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = torch.cat([real, fake]).detach().cpu().numpy()
    lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
    pad = 0.15 * (hi - lo).max() + 0.1
    xs = np.linspace(lo[0] - pad, hi[0] + pad, 120)
    ys = np.linspace(lo[1] - pad, hi[1] + pad, 120)
    gx, gy = np.meshgrid(xs, ys)
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    if critic is not None:
        where = next(critic.parameters()).device
        grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=where)
        was_training = critic.training
        critic.eval()
        with torch.no_grad():
            z = critic(grid).reshape(gx.shape).cpu().numpy()
        critic.train(was_training)
        cs = ax.contourf(gx, gy, z, levels=20, cmap="viridis", alpha=0.75)
        fig.colorbar(cs, ax=ax, fraction=0.046, pad=0.04)
    else:
        ax.set_facecolor("#2b2b3a")
    r, f = real.detach().cpu().numpy(), fake.detach().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="white", alpha=0.5, label="real")
    ax.scatter(f[:, 0], f[:, 1], s=2, c="#e4572e", alpha=0.6, label="generated")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})  # no version stamp: same points, same bytes
    plt.close(fig)


# -- exporting a trained generator's samples (`sngan sample`) -----------------------------------------

IMAGE_FORMATS = {".png": "a grid", "": "one PNG per image", ".npz": "uint8 NHWC under arr_0",
                 ".npy": "uint8 NHWC"}
POINT_FORMATS = {".csv": "x,y rows", ".npy": "float32 [N, 2]", ".npz": "float32 [N, 2] under arr_0",
                 ".png": "a scatter over the real data"}


def to_uint8(images: Tensor) -> Tensor:
    """float images in [-1, 1] → uint8 (0-255), the inverse of the data loaders' x/127.5 - 1."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_uint8_nhwc(images: Tensor) -> np.ndarray:
    """float [N, C, H, W] in [-1, 1] → uint8 [N, H, W, C] (the layout FID tools read)."""
    return to_uint8(images).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def output_kind(path: Path, toy: bool) -> str:
    """The format ``path`` asks for: its suffix, or "" for a folder. UserError if it does not fit."""
    from sngan.errors import UserError

    suffix = "" if path.is_dir() or not path.suffix else path.suffix.lower()
    formats = POINT_FORMATS if toy else IMAGE_FORMATS
    if suffix not in formats:
        what = "toy runs give points" if toy else "image runs give images"
        choices = "; ".join(f"{s or 'a folder (no suffix)'}: {d}" for s, d in formats.items())
        raise UserError(f"--out {path}: {what} — choose {choices}")
    if suffix == "" and path.exists() and any(path.iterdir()):
        raise UserError(f"--out {path}: the folder is not empty (samples would mix with its files); "
                        "choose a new or empty folder")
    return suffix


class _NpyStream:
    """Writes a .npy array batch by batch into an open binary file (only the header knows the total)."""

    def __init__(self, fh, shape: tuple[int, ...], dtype: np.dtype) -> None:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                  "shape": shape}
        np.lib.format.write_array_header_1_0(fh, header)
        self.fh, self.dtype = fh, np.dtype(dtype)

    def write(self, batch: np.ndarray) -> None:
        self.fh.write(np.ascontiguousarray(batch, dtype=self.dtype).tobytes())


def write_samples(batches, n: int, path: Path, kind: str, *, toy: bool, real: Tensor | None = None,
                  title: str = "") -> None:
    """Write ``n`` samples, arriving as float tensors from ``batches``, in format ``kind``
    (``output_kind(path, toy)``). Files appear atomically (complete or not at all); batches are written
    as they come, so memory stays bounded by one batch (a PNG grid or scatter holds its ``n`` samples)."""
    import contextlib
    import zipfile

    from sngan.files import atomic_directory, atomic_open

    if kind == "":
        with atomic_directory(path) as tmp:
            width, i = max(6, len(str(n - 1))), 0
            for batch in batches:
                for img in to_uint8_nhwc(batch):
                    _png(img, tmp / f"{i:0{width}d}.png")
                    i += 1
        return
    if kind == ".png":
        got = torch.cat([b.detach().float().cpu() for b in batches])
        with atomic_open(path, "wb") as fh:
            if toy:
                save_toy_scatter(real, got, None, fh, title=title)
            else:
                save_image_grid(got, fh, nrow=max(1, int(np.ceil(np.sqrt(n)))))
        return
    if kind == ".csv":
        with atomic_open(path, "w") as fh:
            fh.write("x,y\n")
            for batch in batches:
                np.savetxt(fh, batch.detach().float().cpu().numpy(), fmt="%.9g", delimiter=",")
        return
    convert = (lambda b: b.detach().float().cpu().numpy()) if toy else to_uint8_nhwc  # noqa: E731
    with atomic_open(path, "wb") as fh, contextlib.ExitStack() as stack:
        out = fh
        if kind == ".npz":
            # one stored (uncompressed) member arr_0.npy, streamed; a fixed timestamp, so the same samples
            # give the same bytes
            info = zipfile.ZipInfo("arr_0.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf = stack.enter_context(zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED))
            out = stack.enter_context(zf.open(info, "w", force_zip64=True))
        stream = None
        for batch in batches:
            array = convert(batch)
            if stream is None:  # the first batch tells the sample shape; the header needs the total
                stream = _NpyStream(out, (n, *array.shape[1:]), array.dtype)
            stream.write(array)


def _png(img: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(path)
