"""Time to quality, the number users feel: how many minutes of training until the MNIST SN-GAN preset's
generator reaches an FID within 3x the real-data floor (the goal: in 10 minutes), and within 2x (in 30)?

The floor is the FID of real test digits against real training digits (same evaluator, same number of
samples). The run trains ``sngan train --method sn --dataset mnist --preset PRESET`` (checkpoints and all,
as a user would run it) and evaluates the EMA generator every ``--eval-every`` steps; the evaluation time
is not counted as training time. Each ``--goal FACTOR:MINUTES`` is a target FID <= FACTOR x floor with a
time budget; the run stops when every target is reached, at the largest budget, or at the end of the
preset's schedule, and reports for each goal the first evaluation that reached it (met or missed).

    python benchmarks/bench_quality.py [--goal 3:10 --goal 2:30] [--samples 5000] [--preset sn-fast]
                                       [--set key=value ...] [--also-ema 0 0.9999 ...] [--tag SUFFIX]

``--also-ema DECAY[:C]`` keeps more averages of the same training run's generator (decay 0: the raw
generator), each with the warm-up decay min(DECAY, (1 + t) / (C + t)) (the trainer's C is 10: early on the
average spans about t / (C - 1) steps, so C sets how soon it starts to forget) and its BatchNorm re-estimated,
and reports their FID beside the preset's at every evaluation: the EMA levers measured on one trajectory.
Their upkeep is not counted as training time.

Ctrl-C (or SIGTERM) stops the run early and still writes the curve measured so far, marked interrupted.

Writes benchmarks/results/quality.json and quality.md.
"""

from __future__ import annotations

import argparse
import copy
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
from sngan.train import Trainer, resolve, sampling
from sngan.train.config import parse_overrides
from sngan.train.loop import Interrupted

OUT = Path(__file__).resolve().parent / "results"


class _Done(Exception):
    pass


def features(images: torch.Tensor) -> np.ndarray:
    """The shipped evaluator's features (float64) — computed once for the real set, FID per evaluation."""
    return features_and_logits(images)[0].double().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--eval-every", type=int, default=1000, help="generator steps between evaluations")
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--goal", action="append", default=[], metavar="FACTOR:MINUTES",
                    help="target FID <= FACTOR x floor within MINUTES of training (default 3:10 and 2:30)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tag", default="", help="result files results/quality-TAG.json and .md (default quality.json)")
    ap.add_argument("--also-ema", nargs="+", default=[], metavar="DECAY[:C]",
                    help="more generator averages to evaluate beside the preset's (0 = the raw generator; "
                         "C: warm-up constant, default 10 as the trainer)")
    args = ap.parse_args()
    goals = sorted((float(f), float(m)) for f, m in (g.split(":") for g in args.goal or ["3:10", "2:30"]))
    minutes = max(m for _, m in goals)
    torch.set_num_threads(args.threads)

    real = features(real_reference("mnist", args.samples))
    train_images, _ = load_mnist("train")
    idx = np.sort(np.random.default_rng(1).permutation(len(train_images))[:args.samples])
    floor = fid_from_features(real, features(to_model_range(train_images[idx])))
    print(f"real-data floor (test vs train, {args.samples} samples): FID {floor:.2f}; targets "
          + ", ".join(f"<= {f * floor:.2f} ({f:g}x) in {m:g} min" for f, m in goals), flush=True)

    overrides = {"threads": args.threads, "eval_every": args.eval_every}  # the preset's schedule
    overrides.update(parse_overrides(args.set))
    curve: list[dict] = []
    state = {"eval_s": 0.0, "start": 0.0}

    def evaluate(trainer: Trainer) -> dict:
        t0 = time.perf_counter()
        train_s = t0 - state["start"] - state["eval_s"]
        score = fid_from_features(real, features(trainer.sample(args.samples)))
        point = {"step": trainer.step, "train_s": round(train_s, 1), "fid": score}
        for name, (_, _, G) in extra.items():
            point[f"fid_ema_{name}"] = fid_from_features(real, features(sample(trainer, G)))
        curve.append(point)
        print(json.dumps(point), flush=True)
        state["eval_s"] += time.perf_counter() - t0
        if score <= goals[0][0] * floor or train_s >= 60 * minutes:
            raise _Done
        return {"fid": score}

    def sample(trainer: Trainer, G: torch.nn.Module) -> torch.Tensor:
        if G is not trainer.generator:  # the raw generator keeps its running statistics, as `--no-ema` samples
            sampling.recalibrate_batchnorm(G, trainer.cfg, trainer.step)
        return sampling.generate(G, sampling.eval_noise(trainer.cfg, args.samples).to(trainer.device))

    extra: dict[str, tuple[float, float, torch.nn.Module]] = {}  # name: (decay, warm-up constant, generator)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = resolve("sn", "mnist", args.preset, overrides)
        trainer = Trainer(cfg, Path(tmp) / "run", progress=False, evaluate=evaluate)
        for spec in args.also_ema:
            decay, _, c = spec.partition(":")
            G = trainer.generator if float(decay) == 0 else copy.deepcopy(trainer.generator)
            extra[spec] = (float(decay), float(c or sampling.EMA_WARMUP), G)
        update_ema = trainer._update_ema

        def update_all() -> None:  # after each generator step, as the trainer's own average
            update_ema()
            t0 = time.perf_counter()
            for decay, warmup, G in extra.values():
                if G is not trainer.generator:
                    sampling.update_average_(G, trainer.generator, trainer.step, decay, warmup)
            state["eval_s"] += time.perf_counter() - t0

        trainer._update_ema = update_all
        state["start"] = time.perf_counter()
        interrupted = ""
        try:
            trainer.fit()
        except _Done:
            pass
        except Interrupted as stop:  # the trainer's checkpoint goes with the temporary directory; the curve stays
            interrupted = f" (interrupted at step {stop.step})"
    if not curve:
        raise SystemExit("bench_quality: stopped before the first evaluation; nothing to write")
    best = min(curve, key=lambda p: p["fid"])
    report = []
    for factor, budget in goals:
        target = factor * floor
        reached = next((p for p in curve if p["fid"] <= target), None)
        met = reached is not None and reached["train_s"] <= 60 * budget
        if reached:
            line = (f"FID <= {factor:g}x the floor ({target:.2f}): reached after {reached['train_s'] / 60:.1f} min "
                    f"(step {reached['step']}, FID {reached['fid']:.2f}); goal {budget:g} min "
                    f"{'met' if met else 'missed'}")
        else:
            line = (f"FID <= {factor:g}x the floor ({target:.2f}): NOT reached in {curve[-1]['train_s'] / 60:.1f} min; "
                    f"goal {budget:g} min missed")
        report.append({"factor": factor, "minutes": budget, "target_fid": target, "reached": reached, "met": met,
                       "line": line})
    at_budget = {m: min((p for p in curve if p["train_s"] <= 60 * m), key=lambda p: p["fid"], default=None)
                 for _, m in goals}
    line = "; ".join(r["line"] for r in report) + "".join(
        f"; best within {m:g} min: FID {p['fid']:.2f} ({p['fid'] / floor:.1f}x) at step {p['step']}"
        for m, p in at_budget.items() if p)
    result = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "threads": args.threads, "samples": args.samples, "floor_fid": floor, "goals": report,
              "minutes_budget": minutes, "config": cfg.to_dict(), "best": best, "curve": curve}
    line += interrupted
    result["summary"] = line
    print(line)
    OUT.mkdir(exist_ok=True)
    tag = args.tag.lstrip("-")  # "-seed1" (as earlier runs were tagged) and "seed1" name the same files
    name = f"quality-{tag}" if tag else "quality"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
    others = [f"fid_ema_{spec}" for spec in extra]
    rows = "\n".join(f"| {p['step']} | {p['train_s'] / 60:.2f} | {p['fid']:.2f} | {p['fid'] / floor:.1f} |"
                     + "".join(f" {p[k]:.2f} |" for k in others) for p in curve)
    columns = "".join(f" FID, EMA {k[8:]} |" if k != "fid_ema_0" else " FID, raw generator |" for k in others)
    (OUT / f"{name}.md").write_text(
        f"# Time to quality — MNIST, SN-GAN preset `{args.preset}`"
        f"{''.join(f' `--set {item}`' for item in args.set)}, {args.threads} threads, "
        f"torch {torch.__version__}\n\n"
        f"{line}\n\nFID of the EMA generator, {args.samples} samples vs the MNIST test set (the package's "
        f"evaluator); floor = test vs train {floor:.2f}.\n\n| step | training minutes | FID | x floor |{columns}\n"
        f"|---|---|---|---|{'---|' * len(others)}\n{rows}\n")


if __name__ == "__main__":
    main()
