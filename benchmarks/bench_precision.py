"""Does bf16 autocast change quality? Same preset, same seed, same number of steps, fp32 vs bf16: wall
time, the FID of the EMA generator along the way (shipped evaluator, MNIST test subset) and the SN σ
estimate's error against the exact σ of the final weights.

    python benchmarks/bench_precision.py [--method sn] [--preset sn-fast] [--steps 3000] [--eval-every 1000]
                                          [--samples 5000] [--name precision]

Writes benchmarks/results/precision.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_quality import features

from sngan.metrics import real_reference
from sngan.metrics.fid import fid_from_features
from sngan.nn import SpectralNorm
from sngan.spectral import matrix_sigma
from sngan.train import Trainer, resolve

OUT = Path(__file__).resolve().parent / "results"


def sigma_errors(critic: torch.nn.Module) -> list[float]:
    errors = []
    for m in critic.modules():
        for p in getattr(getattr(m, "parametrizations", None), "weight", ()):
            if isinstance(p, SpectralNorm):
                exact = float(matrix_sigma(m.parametrizations.weight.original.detach().double(), p.dim))
                errors.append(abs(float(p.sigma) - exact) / exact)
    return errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="sn")
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--name", default="precision", help="result file: results/NAME.json")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    real = features(real_reference("mnist", args.samples))
    rows = {}
    for precision in ("fp32", "bf16"):
        cfg = resolve(args.method, "mnist", args.preset, {"threads": args.threads, "precision": precision,
                                                   "steps": args.steps, "eval_every": args.eval_every,
                                                   "seed": args.seed, "sample_every": 0, "diag_every": 0,
                                                   "ckpt_every": 0})
        curve, eval_s = [], [0.0]

        def evaluate(trainer: Trainer, curve=curve, eval_s=eval_s) -> dict:
            t0 = time.perf_counter()
            score = fid_from_features(real, features(trainer.sample(args.samples)))
            curve.append({"step": trainer.step, "fid": score})
            eval_s[0] += time.perf_counter() - t0
            return {"fid": score}

        with tempfile.TemporaryDirectory() as tmp:
            t = Trainer(cfg, Path(tmp) / "run", progress=False, evaluate=evaluate)
            t0 = time.perf_counter()
            t.fit()
            seconds = time.perf_counter() - t0 - eval_s[0]
            errors = sigma_errors(t.critic)
        rows[precision] = {"train_seconds": seconds, "fid": curve,
                           "sigma_rel_error_max": max(errors) if errors else None}
        print(precision, json.dumps(rows[precision]), flush=True)
    rows["speedup"] = rows["fp32"]["train_seconds"] / rows["bf16"]["train_seconds"]
    print(f"bf16 speed-up {rows['speedup']:.2f}x; FID fp32 / bf16 by step: " + ", ".join(
        f"{a['step']}: {a['fid']:.2f} / {b['fid']:.2f}" for a, b in zip(rows["fp32"]["fid"], rows["bf16"]["fid"])))
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(
        {"method": args.method, "preset": args.preset, "steps": args.steps, "samples": args.samples, "seed": args.seed,
         "threads": args.threads, "torch": torch.__version__, **rows}, indent=1))


if __name__ == "__main__":
    main()
