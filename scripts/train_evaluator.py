"""Train the MNIST classifier shipped in sngan/metrics/weights (deterministic: fixed seed, 1 thread).

    python scripts/train_evaluator.py [--epochs 4] [--out src/sngan/metrics/weights]

Trains on the 60k MNIST train images (random ±2-pixel shifts), reports test accuracy on the 10k test
images, and writes the weights (safetensors) and a JSON with their sha256 and the accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save

from sngan.data import load_mnist, to_model_range
from sngan.metrics.evaluator import META, WEIGHTS, MnistEvaluator


def shift(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28]


@torch.no_grad()
def accuracy(model, x, y) -> float:
    model.eval()
    pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return (pred == y).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "src/sngan/metrics/weights"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_tr, y_tr = load_mnist("train")
    x_te, y_te = load_mnist("test")
    x_tr, x_te = to_model_range(x_tr), to_model_range(x_te)
    y_tr, y_te = torch.from_numpy(y_tr.copy()), torch.from_numpy(y_te.copy())
    model = MnistEvaluator()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps_per_epoch = len(x_tr) // 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=args.epochs * steps_per_epoch)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * 128:(i + 1) * 128]
            loss = F.cross_entropy(model(shift(x_tr[idx], gen)), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(model, x_te, y_te)
        print(f"epoch {epoch + 1}: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")
    data = save({k: v.contiguous() for k, v in model.state_dict().items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / WEIGHTS).write_bytes(data)
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "test_accuracy": acc, "epochs": args.epochs,
            "seed": args.seed, "threads": args.threads, "torch": torch.__version__, "bytes": len(data),
            "train_accuracy": accuracy(model, x_tr, y_tr)}
    (out / META).write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
