"""Which speed options help on this machine? Each variant of a training step is timed against the
default, interleaved in one process (medians of repeats, 2 threads), for the MNIST critic at the quick
preset's width and at width 1, and for the toy MLP:

* ``channels_first``  — the image models in the default contiguous layout (the default is channels-last)
* ``adam_for_loop`` / ``adam_foreach`` — Adam's per-tensor loop and its multi-tensor kernels (the default is
  the fused kernel)
* ``one_forward``     — the critic scores real and fake in one forward of 2B (the default is two of B)
* ``bf16``            — autocast bf16 for the networks (σ, the penalty norm and the losses stay fp32)
* ``compile``         — ``torch.compile`` of critic and generator (Inductor, C++ codegen on CPU); the
                        compile time is reported apart and the variant is marked failed where it breaks

Noise check: ``one_forward`` changes only the critic step, so its generator column measures the same
code as the default's — its distance from 1.000 is this run's noise floor.

Writes benchmarks/results/options.json and options.md.

    python benchmarks/bench_options.py [--repeats 8] [--models mnist-quick,toy,mnist-w1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch.nn.utils import parametrize

from sngan import losses
from sngan.train import Trainer, resolve

OUT = Path(__file__).resolve().parent / "results"
VARIANTS = ("default", "channels_first", "adam_for_loop", "adam_foreach", "one_forward", "bf16", "compile")


def one_forward_critic_step(tr: Trainer, real: torch.Tensor) -> None:
    """The critic step with real and fake concatenated into one forward (the variant under test)."""
    D, cfg = tr.critic, tr.cfg
    real = real.contiguous(memory_format=tr._layout)
    with torch.no_grad():
        fake = tr.generator(tr._noise(real.shape[0]))
    with parametrize.cached():
        scores = D(torch.cat([real, fake])).float()
        loss = losses.critic_loss(cfg.loss, scores[:len(real)], scores[len(real):])
        penalty = tr.constraint.penalty(D, real, fake)
    total = loss if penalty is None else loss + penalty
    tr.opt_d.zero_grad(set_to_none=True)
    total.backward()
    tr.opt_d.step()
    tr.constraint.after_step(D)
    total.item()


def make_trainer(method: str, model: str, variant: str, tmp: Path) -> tuple[Trainer, dict]:
    dataset = "mnist" if model.startswith("mnist") else "ring8"
    overrides = {"threads": 0, "sample_every": 0, "diag_every": 0, "ckpt_every": 0, "n_critic": 1}
    overrides.update(width=1.0 if model == "mnist-w1" else 0.25) if dataset == "mnist" else overrides.update(
        hidden=512, batch_size=256)
    if variant == "channels_first":
        overrides["channels_last"] = False
    if variant == "bf16":
        overrides["precision"] = "bf16"
    cfg = resolve(method, dataset, "same-budget", overrides)
    tr = Trainer(cfg, tmp / f"{method}-{model}-{variant}", progress=False)
    info: dict = {}
    if variant.startswith("adam_"):
        kw = {"foreach": False} if variant == "adam_for_loop" else {"foreach": True}
        betas = (cfg.beta1, cfg.beta2)
        tr.opt_d = torch.optim.Adam(tr.critic.parameters(), lr=cfg.lr_d, betas=betas, **kw)
        tr.opt_g = torch.optim.Adam(tr.generator.parameters(), lr=cfg.lr_g, betas=betas, **kw)
    if variant == "compile":
        t0 = time.perf_counter()
        tr.critic.compile()
        tr.generator.compile()
        tr.critic_step(next(tr.sampler))  # the first calls compile
        tr.generator_step()
        info["compile_s"] = time.perf_counter() - t0
    return tr, info


def step(tr: Trainer, variant: str, kind: str) -> None:
    if kind == "critic":
        if variant == "one_forward":
            one_forward_critic_step(tr, next(tr.sampler))
        else:
            tr.critic_step(next(tr.sampler))
    else:
        tr.generator_step()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="mnist-quick,toy,mnist-w1")
    ap.add_argument("--methods", default="sn,gp")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {"torch": torch.__version__, "threads": args.threads, "repeats": args.repeats, "rows": []}
    with tempfile.TemporaryDirectory() as tmpdir:
        for model in args.models.split(","):
            for method in args.methods.split(","):
                trainers, failed = {}, {}
                for variant in VARIANTS:
                    if variant == "channels_first" and not model.startswith("mnist"):
                        continue
                    try:
                        trainers[variant] = make_trainer(method, model, variant, Path(tmpdir))
                        step(trainers[variant][0], variant, "critic")
                        step(trainers[variant][0], variant, "generator")
                    except Exception as e:  # a variant that does not work here is a result, not a crash
                        failed[variant] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                        trainers.pop(variant, None)
                        traceback.print_exc(limit=1)
                times = {(v, k): [] for v in trainers for k in ("critic", "generator")}
                order = list(trainers)
                shuffle = random.Random(0).shuffle
                for _ in range(args.repeats):
                    shuffle(order)  # no variant always runs first (or right after another) in a round
                    for variant in order:
                        tr = trainers[variant][0]
                        for kind in ("critic", "generator"):
                            t0 = time.perf_counter()
                            for _ in range(args.steps):
                                step(tr, variant, kind)
                            times[(variant, kind)].append((time.perf_counter() - t0) / args.steps)
                base = {k: statistics.median(times[("default", k)]) for k in ("critic", "generator")}
                for variant in VARIANTS:
                    row = {"model": model, "method": method, "variant": variant}
                    if variant in failed:
                        row["failed"] = failed[variant]
                    elif variant in trainers:
                        row.update(trainers[variant][1])
                        for kind in ("critic", "generator"):
                            v = times[(variant, kind)]
                            row[f"{kind}_ms"] = 1e3 * statistics.median(v)
                            row[f"{kind}_vs_default"] = statistics.median(v) / base[kind]
                    else:
                        continue
                    results["rows"].append(row)
                    print(json.dumps(row), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "options.json").write_text(json.dumps(results, indent=1))
    lines = [f"# Speed options vs the default — torch {results['torch']}, {args.threads} threads, "
             f"{args.repeats} interleaved repeats x {args.steps} steps (median; < 1 is faster)", "",
             "| model | method | variant | critic ms | vs default | generator ms | vs default | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        if "failed" in r:
            lines.append(f"| {r['model']} | {r['method']} | {r['variant']} | – | – | – | – | failed: {r['failed']} |")
        else:
            note = f"compile took {r['compile_s']:.0f} s" if "compile_s" in r else ""
            lines.append(f"| {r['model']} | {r['method']} | {r['variant']} | {r['critic_ms']:.1f} | "
                         f"{r['critic_vs_default']:.3f} | {r['generator_ms']:.1f} | {r['generator_vs_default']:.3f} | "
                         f"{note} |")
    (OUT / "options.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
