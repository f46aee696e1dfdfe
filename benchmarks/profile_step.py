"""Where a training iteration's time goes: torch.profiler over full iterations of the Trainer (critic step,
generator step, EMA, bookkeeping), self time grouped by what the op does, and the time no op accounts for
(Python, the dispatcher between ops, the parametrization machinery).

    python benchmarks/profile_step.py [--preset sn-fast] [--method sn] [--iterations 40] [--set key=value ...]
                                      [--name NAME]

Prints a markdown table (the benchmark README quotes it) and writes results/NAME.json (default profile-PRESET-METHOD).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from sngan.train import Trainer, resolve
from sngan.train.config import parse_overrides

OUT = Path(__file__).resolve().parent / "results"

# (group, op-name predicate), first match wins
GROUPS = [
    ("conv backward", lambda n: "conv" in n and "backward" in n),
    ("conv forward", lambda n: "conv" in n),
    ("matmul (Linear, power iteration)", lambda n: n in ("aten::addmm", "aten::mm", "aten::mv", "aten::addmv_",
                                                        "aten::bmm", "aten::dot", "aten::vdot")),
    ("activations fwd+bwd", lambda n: any(k in n for k in ("leaky_relu", "tanh", "relu", "threshold", "sigmoid"))),
    ("batch norm fwd+bwd", lambda n: "batch_norm" in n),
    ("optimizer (fused Adam)", lambda n: "adam" in n.lower() or "fused" in n),
    ("copies and layout", lambda n: n in ("aten::copy_", "aten::_to_copy", "aten::clone", "aten::contiguous",
                                          "aten::empty", "aten::empty_like", "aten::resize_", "aten::empty_strided")),
    ("random numbers", lambda n: any(k in n for k in ("randn", "normal", "uniform", "randint", "randperm"))),
]


def group_of(name: str) -> str:
    return next((g for g, pred in GROUPS if pred(name)), "other ops (elementwise, reductions, views)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--method", default="sn")
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--name", default=None, help="result file results/NAME.json (default profile-PRESET-METHOD)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"threads": args.threads, "sample_every": 0, "diag_every": 0, "ckpt_every": 0, "steps": 10**6}
    overrides.update(parse_overrides(args.set))
    cfg = resolve(args.method, "mnist", args.preset, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", progress=False)
        for _ in range(10):  # warm-up
            trainer._iteration()
        t0 = time.perf_counter()
        for _ in range(args.iterations):
            trainer._iteration()
        plain = (time.perf_counter() - t0) / args.iterations
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            for _ in range(args.iterations):
                trainer._iteration()
            wall = (time.perf_counter() - t0) / args.iterations
        trainer.release()
    groups: dict[str, float] = defaultdict(float)
    for e in prof.key_averages():
        if e.key.startswith(("Optimizer.", "autograd::engine", "ProfilerStep")) or "#" in e.key:
            continue  # annotations and engine frames: their ops are counted by name
        groups[group_of(e.key)] += e.self_cpu_time_total / 1e6 / args.iterations
    ops = sum(groups.values())
    groups["not in any op (Python, dispatch, autograd engine)"] = max(wall - ops, 0.0)
    rows = sorted(groups.items(), key=lambda kv: -kv[1])
    title = (f"{args.method} / preset {args.preset}: width {cfg.width}, batch {cfg.batch_size}, n_critic "
             f"{cfg.n_critic}, precision {cfg.precision}, {args.threads} threads, torch {torch.__version__}")
    lines = [f"### {title}", "",
             f"one iteration: {plain * 1e3:.1f} ms unprofiled, {wall * 1e3:.1f} ms under the profiler "
             f"({args.iterations} iterations)", "",
             "| where | ms per iteration | share |", "|---|---|---|"]
    lines += [f"| {g} | {t * 1e3:.2f} | {100 * t / wall:.1f}% |" for g, t in rows]
    print("\n".join(lines))
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.name or f'profile-{args.preset}-{args.method}'}.json").write_text(json.dumps(
        {"config": cfg.to_dict(), "iteration_s": plain, "profiled_iteration_s": wall,
         "groups_s": dict(rows), "top_ops": [(e.key, e.count // args.iterations, e.self_cpu_time_total / 1e6 /
                                             args.iterations) for e in sorted(prof.key_averages(),
                                             key=lambda e: -e.self_cpu_time_total)[:25]]}, indent=1))


if __name__ == "__main__":
    main()
