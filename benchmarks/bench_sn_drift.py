"""Operator-mode SN while the weights move: the true σ of every normalized layer at every step.

A power-iteration estimate σ̂ is a lower bound on σ, so W/σ̂ has norm ≥ 1; with one iteration per
step and weights that move fast (early training, Adam), the normalized layers drift above 1. This
trains the standard CNN critic on MNIST (sngan's Trainer, operator-mode SN, the drift run's setting: Adam
2e-4, betas (0.5, 0.999), one power iteration per step, n_critic 1) and after every critic forward
records the operator norm of the normalized weight that forward used, computed independently
(Lanczos in float64 through the layer and its adjoint: ``sngan.spectral.operator_norm_of_weight``).

``--solvers lanczos`` measures operator mode with Golub–Kahan–Lanczos steps instead of power
iterations (``sn_solver=lanczos``; ``--iterations`` steps per forward).

The ``certified`` mode divides by a guaranteed upper bound instead (Gram iteration), so its σ <= 1
at every step by construction; this measures that too, and how far below 1 it sits.

    python benchmarks/bench_sn_drift.py [--steps 100] [--width 0.25] [--modes operator certified]
        [--solvers power lanczos] [--iterations 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

from sngan.nn import SpectralNorm
from sngan.spectral import operator_norm_of_weight
from sngan.train.config import resolve
from sngan.train.loop import Trainer


def drift_config(mode: str, steps: int, width: float, lr: float, iterations: int, seed: int = 0,
                 solver: str = "power"):
    """The drift run: the standard critic on MNIST, Adam (0.5, 0.999) at ``lr``, n_critic 1, fp32, no EMA,
    nothing written but the run itself (``bench_sn_tracking.py`` records the same run)."""
    return resolve("sn", "mnist", "paper", overrides={
        "sn_mode": mode, "n_power_iterations": iterations, "sn_solver": solver, "width": width, "steps": steps,
        "lr_d": lr, "lr_g": lr, "beta1": 0.5, "beta2": 0.999, "n_critic": 1, "seed": seed, "threads": 0,
        "diag_every": 0, "sample_every": 0, "ckpt_every": 0, "precision": "fp32", "ema": 0.0})


def drift(mode: str, steps: int, width: float, lr: float, iterations: int, seed: int = 0,
          solver: str = "power") -> dict:
    """Per step, the largest true σ over the normalized layers (and each layer's). Runs on the CPU with the
    caller's thread count (``tests/test_nn.py`` runs it too)."""
    cfg = drift_config(mode, steps, width, lr, iterations, seed, solver)
    captured: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, f"{tmp}/run", progress=False)
        layers = {}
        for name, m in trainer.critic.named_modules():
            plists = getattr(m, "parametrizations", None)
            for p in (plists["weight"] if plists is not None and "weight" in plists else ()):
                if isinstance(p, SpectralNorm) and p.mode in ("operator", "certified"):
                    layers[name] = (m, p)
                    p.register_forward_hook(
                        lambda mod, args, out, name=name: captured.__setitem__(name, out.detach().clone())
                        if mod.training else None)
        rows = []
        for step in range(1, steps + 1):
            t0 = time.perf_counter()
            trainer.critic_step(next(trainer.sampler))
            t1 = time.perf_counter()
            sig = {name: operator_norm_of_weight(m, captured[name], tuple(p.input_shape.tolist()))
                   for name, (m, p) in layers.items()}
            trainer.step += 1
            trainer.generator_step()
            rows.append({"step": step, "max_sigma": max(sig.values()), "sigma": sig, "sec_critic_step": t1 - t0})
        trainer.release()
    return {"mode": mode, "solver": solver, "steps": steps, "width": width, "lr": lr, "iterations": iterations,
            "rows": rows, "max_sigma": max(r["max_sigma"] for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--iterations", type=int, default=1)
    ap.add_argument("--solvers", nargs="+", default=["power"], choices=["power", "lanczos"],
                    help="how operator mode estimates σ (each solver runs once per non-certified mode)")
    ap.add_argument("--modes", nargs="+", default=["operator", "certified"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    results = []
    runs = [(mode, solver) for mode in args.modes for solver in (["power"] if mode == "certified" else args.solvers)]
    for mode, solver in runs:
        result = drift(mode, args.steps, args.width, args.lr, args.iterations, solver=solver)
        results.append(result)
        how = "n/a" if mode == "certified" else f"{args.iterations} {solver} step(s)/forward"
        print(f"mode {mode}, width {args.width}, lr {args.lr}, {how}; true operator σ of each normalized layer")
        for r in result["rows"]:
            if r["step"] <= 10 or r["step"] % 10 == 0:
                layers = " ".join(f"{v:.4f}" for v in r["sigma"].values())
                print(f"  step {r['step']:4d}: max {r['max_sigma']:.4f}  [{layers}]")
        low = min(min(r["sigma"].values()) for r in result["rows"])
        step_ms = statistics.median(r["sec_critic_step"] for r in result["rows"]) * 1e3
        print(f"  over {args.steps} steps: largest σ {result['max_sigma']:.4f}, smallest {low:.4f}; median critic step "
              f"{step_ms:.1f} ms; goal σ <= 1.01 at every step: {'met' if result['max_sigma'] <= 1.01 else 'missed'}")
    if args.json:
        out = {"results": results, "machine": {"platform": platform.platform(), "torch": torch.__version__}}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
