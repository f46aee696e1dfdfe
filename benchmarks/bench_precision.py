"""Does bf16 autocast change quality? Same seed, same steps, fp32 vs bf16: wall time, FID of the
final generator (shipped evaluator, MNIST test subset) and the SN σ estimate's error vs the exact σ.

    python benchmarks/bench_precision.py [--steps 200] [--method sn] [--samples 2000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sngan.metrics import fid, real_reference
from sngan.nn import SpectralNorm
from sngan.spectral import matrix_sigma
from sngan.train import Trainer, resolve

OUT = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--method", default="sn")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = {}
    real = real_reference("mnist", args.samples)
    for precision in ("fp32", "bf16"):
        cfg = resolve(args.method, "mnist", "quick", {"threads": args.threads, "precision": precision,
                                                      "steps": args.steps, "sample_every": 0, "diag_every": 0,
                                                      "ckpt_every": 0})
        with tempfile.TemporaryDirectory() as tmp:
            t = Trainer(cfg, Path(tmp) / "run", progress=False)
            t0 = time.perf_counter()
            t.fit()
            seconds = time.perf_counter() - t0
            errors = []
            for m in t.critic.modules():
                for p in getattr(getattr(m, "parametrizations", None), "weight", ()):
                    if isinstance(p, SpectralNorm):
                        exact = float(matrix_sigma(m.parametrizations.weight.original.detach().double(), p.dim))
                        errors.append(abs(float(p.sigma) - exact) / exact)
            rows[precision] = {"seconds": seconds, "fid": fid(real, t.sample(args.samples)),
                               "sigma_rel_error_max": max(errors) if errors else None}
        print(precision, rows[precision], flush=True)
    rows["speedup"] = rows["fp32"]["seconds"] / rows["bf16"]["seconds"]
    print(json.dumps(rows, indent=1))
    OUT.mkdir(exist_ok=True)
    (OUT / "precision.json").write_text(json.dumps({"steps": args.steps, "method": args.method, **rows}, indent=1))


if __name__ == "__main__":
    main()
