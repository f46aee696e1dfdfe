"""Cost of spectral normalization in a critic update step (issue: foundation, section 6).

The SN-GAN paper's standard CNN critic at 28x28x1, batch 64 real + 64 fake, Adam, WGAN loss,
2 threads. Variants: no constraint; sngan matrix SN; torch's parametrization SN; sngan operator
SN (power iteration, and 4 Lanczos steps per forward: ``sngan-operator-lanczos4-cached``); sngan certified
SN; ``none-control``, a second unconstrained critic whose ratio to ``none`` is the benchmark's noise floor.
Repeats are interleaved (A B C D A B C D ...) so drift in machine speed hits all alike.
Prints medians, quartiles and the ratio of each median to the unconstrained step.

    python benchmarks/bench_spectral.py [--repeats 30] [--width 1.0] [--variants none sngan-operator-cached ...]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

import sngan
from sngan.models import MnistCritic

# the performance goals: SN's cost over an unconstrained step (paired ratio), as the trainer runs it (cached),
# at width 1; certified SN's per width (at 0.25 the fixed costs weigh more)
GOALS = {"sngan-matrix-cached": 1.02, "sngan-operator-cached": 1.05}
CERTIFIED_GOALS = {1.0: 1.15, 0.25: 1.25}


# none-control: a second unconstrained critic, timed like the others: its ratio to none is the benchmark's
# own noise floor (an A/A comparison), against which a 2% goal can be read.
VARIANTS = ["none", "none-control", "sngan-matrix", "sngan-matrix-cached", "torch-param", "sngan-operator",
            "sngan-operator-cached", "sngan-operator-lanczos4-cached", "sngan-certified-cached"]


def make_critic(variant: str, width: float, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    critic = MnistCritic(width=width)
    for m in critic:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if variant.startswith("sngan-matrix"):
                sngan.spectral_norm(m)
            elif variant == "torch-param":
                torch_spectral_norm(m)
            elif variant.startswith("sngan-operator-lanczos4"):
                sngan.spectral_norm(m, mode="operator", n_power_iterations=4, solver="lanczos")
            elif variant.startswith("sngan-operator"):
                sngan.spectral_norm(m, mode="operator")
            elif variant.startswith("sngan-certified"):
                sngan.spectral_norm(m, mode="certified")
    return critic.to(memory_format=torch.channels_last)  # the trainer's layout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--steps", type=int, default=3, help="critic steps per timed repeat")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    variants = ["none"] + [v for v in args.variants if v != "none"]
    critics = {v: make_critic(v, args.width) for v in variants}
    opts = {v: torch.optim.Adam(c.parameters(), lr=1e-4, betas=(0.5, 0.9)) for v, c in critics.items()}
    gen = torch.Generator().manual_seed(0)
    real = (torch.rand(64, 1, 28, 28, generator=gen) * 2 - 1).contiguous(memory_format=torch.channels_last)
    fake = (torch.rand(64, 1, 28, 28, generator=gen) * 2 - 1).contiguous(memory_format=torch.channels_last)

    def step(v: str) -> None:
        D, opt = critics[v], opts[v]
        if v.endswith("-cached"):
            # W / σ computed once per step for both forwards (one power iteration per step, as in
            # Miyato et al.'s Algorithm 1), instead of once per forward.
            with parametrize.cached():
                loss = D(fake).mean() - D(real).mean()
        else:
            loss = D(fake).mean() - D(real).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for v in variants:  # warm-up (and operator mode learns its input shapes)
        for _ in range(3):
            step(v)
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(v)
            times[v].append((time.perf_counter() - t0) / args.steps)

    base = statistics.median(times["none"])
    print(f"critic step, standard CNN width {args.width}, batch 64+64, {args.threads} threads, "
          f"{args.repeats} interleaved repeats x {args.steps} steps; torch {torch.__version__}, {platform.processor()}")
    print(f"{'variant':<22}{'median ms':>10}{'q1 ms':>9}{'q3 ms':>9}{'vs none':>9}{'paired':>9}")
    results = {}
    for v in variants:
        q1, med, q3 = statistics.quantiles(times[v], n=4)
        med = statistics.median(times[v])
        # paired: the median over repeats of (this variant / the unconstrained step of the same repeat);
        # neighbours in time share the machine's state, so this cancels slow drifts.
        paired = statistics.median(t / b for t, b in zip(times[v], times["none"]))
        results[v] = {"median_s": med, "q1_s": q1, "q3_s": q3, "ratio_to_none": med / base,
                      "paired_ratio_to_none": paired}
        goal = CERTIFIED_GOALS.get(args.width) if v == "sngan-certified-cached" else GOALS.get(v)
        verdict = "" if goal is None else f"   goal <= {goal:.2f}: {'met' if paired <= goal else 'missed'}"
        print(f"{v:<22}{med * 1e3:>10.2f}{q1 * 1e3:>9.2f}{q3 * 1e3:>9.2f}{med / base:>9.3f}{paired:>9.3f}{verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"width": args.width, "threads": args.threads, "repeats": args.repeats,
                       "torch": torch.__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
