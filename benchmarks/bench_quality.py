"""Time to quality, the number users feel: how many minutes of training until the MNIST SN-GAN preset's
generator reaches an FID within 3x the real-data floor?

The floor is the FID of real test digits against real training digits (same evaluator, same number of
samples). The run trains ``sngan train --method sn --dataset mnist --preset PRESET`` (checkpoints and all,
as a user would run it) and evaluates the EMA generator every ``--eval-every`` steps; the evaluation time
is not counted as training time. It stops at ``--minutes`` of training, at the target, or at the end of
the preset's schedule.

    python benchmarks/bench_quality.py [--minutes 15] [--samples 5000] [--preset sn-fast] [--set key=value ...]

Writes benchmarks/results/quality.json and quality.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sngan.data import load_mnist, to_model_range
from sngan.metrics import real_reference
from sngan.metrics.features import features_and_logits
from sngan.metrics.fid import fid_from_features
from sngan.train import Trainer, resolve
from sngan.train.config import parse_value

OUT = Path(__file__).resolve().parent / "results"


class _Done(Exception):
    pass


def features(images: torch.Tensor) -> np.ndarray:
    """The shipped evaluator's features (float64) — computed once for the real set, FID per evaluation."""
    return features_and_logits(images)[0].double().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--eval-every", type=int, default=1000, help="generator steps between evaluations")
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--factor", type=float, default=3.0, help="target: FID <= factor x floor")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tag", default="", help="suffix for the result files")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    real = features(real_reference("mnist", args.samples))
    train_images, _ = load_mnist("train")
    idx = np.sort(np.random.default_rng(1).permutation(len(train_images))[:args.samples])
    floor = fid_from_features(real, features(to_model_range(train_images[idx])))
    target = args.factor * floor
    print(f"real-data floor (test vs train, {args.samples} samples): FID {floor:.2f}; target <= {target:.2f}",
          flush=True)

    overrides = {"threads": args.threads, "eval_every": args.eval_every}  # the preset's schedule
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = parse_value(key, value)
    curve: list[dict] = []
    state = {"eval_s": 0.0, "start": 0.0}

    def evaluate(trainer: Trainer) -> dict:
        t0 = time.perf_counter()
        train_s = t0 - state["start"] - state["eval_s"]
        score = fid_from_features(real, features(trainer.sample(args.samples)))
        point = {"step": trainer.step, "train_s": round(train_s, 1), "fid": score}
        curve.append(point)
        print(json.dumps(point), flush=True)
        state["eval_s"] += time.perf_counter() - t0
        if score <= target or train_s >= 60 * args.minutes:
            raise _Done
        return {"fid": score}

    with tempfile.TemporaryDirectory() as tmp:
        cfg = resolve("sn", "mnist", args.preset, overrides)
        trainer = Trainer(cfg, Path(tmp) / "run", progress=False, evaluate=evaluate)
        state["start"] = time.perf_counter()
        try:
            trainer.fit()
        except _Done:
            pass
    reached = next((p for p in curve if p["fid"] <= target), None)
    best = min(curve, key=lambda p: p["fid"])
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": args.threads, "samples": args.samples, "floor_fid": floor, "target_fid": target,
              "factor": args.factor, "minutes_budget": args.minutes, "config": cfg.to_dict(),
              "reached": reached, "best": best, "curve": curve}
    if reached:
        line = (f"time to quality: FID {reached['fid']:.2f} <= {target:.2f} ({args.factor:g}x the floor "
                f"{floor:.2f}) after {reached['train_s'] / 60:.1f} min of training (step {reached['step']})")
    else:
        line = (f"time to quality: NOT reached in {args.minutes:g} min — best FID {best['fid']:.2f} at "
                f"{best['train_s'] / 60:.1f} min (step {best['step']}); target {target:.2f} = {args.factor:g}x "
                f"the floor {floor:.2f}")
    result["summary"] = line
    print(line)
    OUT.mkdir(exist_ok=True)
    name = f"quality{args.tag}"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    rows = "\n".join(f"| {p['step']} | {p['train_s'] / 60:.2f} | {p['fid']:.2f} | {p['fid'] / floor:.1f} |"
                     for p in curve)
    (OUT / f"{name}.md").write_text(
        f"# Time to quality — MNIST, SN-GAN preset `{args.preset}`, {args.threads} threads, "
        f"torch {torch.__version__}\n\n"
        f"{line}\n\nFID of the EMA generator, {args.samples} samples vs the MNIST test set (the package's "
        f"evaluator); floor = test vs train {floor:.2f}.\n\n| step | training minutes | FID | x floor |\n"
        f"|---|---|---|---|\n{rows}\n")


if __name__ == "__main__":
    main()
