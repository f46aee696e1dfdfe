"""Does bf16 autocast change quality? Same preset, same seeds, same number of steps, fp32 vs bf16: wall
time, quality along the way (MNIST: the FID of the EMA generator, shipped evaluator, test subset; the toy
sets: modes covered, high-quality share and the exact W1 to the data) and the SN σ estimate's error against
the exact σ of the final weights.

    python benchmarks/bench_precision.py [--method sn] [--dataset mnist] [--preset sn-fast] [--steps 3000]
                                          [--eval-every 1000] [--samples 5000] [--seeds 0 1] [--loss L]
                                          [--name precision]

bf16 is emulated on a CPU without native bf16 (AVX2): the timings then say nothing, the quality does (the
same roundings happen). Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_quality import features

from sngan.metrics import evaluate as evaluate_metrics
from sngan.metrics import real_reference
from sngan.metrics.fid import fid_from_features
from sngan.nn import SpectralNorm
from sngan.spectral import matrix_sigma
from sngan.train import Trainer, resolve
from sngan.train.config import TOY, native_bf16

OUT = Path(__file__).resolve().parent / "results"


def sigma_errors(critic: torch.nn.Module) -> list[float]:
    errors = []
    for m in critic.modules():
        for p in getattr(getattr(m, "parametrizations", None), "weight", ()):
            if isinstance(p, SpectralNorm):
                exact = float(matrix_sigma(m.parametrizations.weight.original.detach().double(), p.dim))
                errors.append(abs(float(p.sigma) - exact) / exact)
    return errors


def quality(dataset: str, trainer: Trainer, samples: int, real) -> dict:
    """MNIST: FID; toy: modes, high-quality share and exact W1 (the study's toy metrics)."""
    if dataset in TOY:
        out = evaluate_metrics(dataset, trainer.sample(samples), names=["modes", "wasserstein1"])
        return {k: out[k] for k in ("modes_covered", "high_quality", "w1_exact")}
    return {"fid": fid_from_features(real, features(trainer.sample(samples)))}


HIGHER_IS_BETTER = {"modes_covered", "high_quality"}  # fid and w1_exact: lower is better


def equal_quality(rows: dict, seeds: list[str]) -> bool | None:
    """bf16 counts as equal when no final metric of any seed is worse than fp32's by more than the spread
    of that metric between the fp32 seeds (None with one seed: no spread to compare with)."""
    if len(seeds) < 2:
        return None
    finals = {p: [rows[p][s]["curve"][-1] for s in seeds] for p in ("fp32", "bf16")}
    for key in finals["fp32"][0]:
        if key == "step":
            continue
        values = [f[key] for f in finals["fp32"]]
        spread = max(values) - min(values)
        sign = -1.0 if key in HIGHER_IS_BETTER else 1.0
        if any(sign * (b[key] - a[key]) > spread for a, b in zip(finals["fp32"], finals["bf16"])):
            return False
    return True


def run(args: argparse.Namespace, precision: str, seed: int, real) -> dict:
    overrides = {"threads": args.threads, "precision": precision, "eval_every": args.eval_every, "seed": seed,
                 "sample_every": 0, "diag_every": 0, "ckpt_every": 0}
    if args.steps:
        overrides["steps"] = args.steps
    cfg = resolve(args.method, args.dataset, args.preset, overrides, **({"loss": args.loss} if args.loss else {}))
    curve, eval_s = [], [0.0]

    def evaluate(trainer: Trainer) -> dict:
        t0 = time.perf_counter()
        score = quality(args.dataset, trainer, args.samples, real)
        curve.append({"step": trainer.step, **score})
        eval_s[0] += time.perf_counter() - t0
        return score

    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, Path(tmp) / "run", progress=False, evaluate=evaluate)
        t0 = time.perf_counter()
        t.fit()
        seconds = time.perf_counter() - t0 - eval_s[0]
        errors = sigma_errors(t.critic)
    return {"train_seconds": seconds, "curve": curve, "sigma_rel_error_max": max(errors) if errors else None,
            "steps": cfg.steps, "n_critic": cfg.n_critic, "lr": cfg.lr_d}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="sn")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--loss", default=None, help="the tuned preset's row (default: the preset's loss)")
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--name", default="precision", help="result file: results/NAME.json")
    ap.add_argument("--steps", type=int, default=0, help="0: the preset's schedule")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    real = None if args.dataset in TOY else features(real_reference("mnist", args.samples))
    rows: dict = {"fp32": {}, "bf16": {}}
    for seed in args.seeds:
        for precision in ("fp32", "bf16"):
            rows[precision][str(seed)] = run(args, precision, seed, real)
            print(precision, seed, json.dumps(rows[precision][str(seed)]["curve"][-1]), flush=True)
    print("final quality, fp32 / bf16 by seed:")
    for seed in map(str, args.seeds):
        a, b = rows["fp32"][seed]["curve"][-1], rows["bf16"][seed]["curve"][-1]
        print(f"  seed {seed}: " + ", ".join(f"{k} {a[k]:.4g} / {b[k]:.4g}" for k in a if k != "step"))
    rows["equal"] = equal_quality(rows, [str(seed) for seed in args.seeds])
    print(f"bf16 quality equal to fp32 (no metric worse, in any seed, by more than the spread between the fp32 "
          f"seeds): {rows['equal']}")
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(
        {"method": args.method, "dataset": args.dataset, "preset": args.preset, "loss": args.loss,
         "samples": args.samples, "seeds": args.seeds, "threads": args.threads, "torch": torch.__version__,
         "native_bf16": native_bf16(),
         **rows}, indent=1))


if __name__ == "__main__":
    main()
