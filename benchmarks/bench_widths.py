"""What an iteration of the fastest MNIST preset costs at other widths and batch sizes: the clock side of the
time-to-quality levers (bench_quality measures the other side, progress per step).

Full ``Trainer`` iterations (critic step, generator step, EMA, log record) of ``--preset`` with each
``WIDTH,BATCH`` pair, no diagnostics, samples or checkpoints; the median of ``--repeats`` blocks of 20
iterations after a warm-up, the pairs interleaved so that a slow spell of the machine hits all of them.

    python benchmarks/bench_widths.py [--preset sn-fast] [--pairs 0.25,32 0.25,16 0.125,32 ...] [--repeats 5]

Writes benchmarks/results/widths.json and widths.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sngan.train import Trainer, resolve

OUT = Path(__file__).resolve().parent / "results"
PAIRS = ["0.25,32", "0.25,16", "0.25,24", "0.125,32", "0.125,64", "0.1875,32", "0.375,32"]
BLOCK = 20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="sn-fast")
    ap.add_argument("--pairs", nargs="+", default=PAIRS, metavar="WIDTH,BATCH")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pairs = [(float(w), int(b)) for w, b in (p.split(",") for p in args.pairs)]
    with tempfile.TemporaryDirectory() as tmp:
        trainers = []
        for i, (width, batch) in enumerate(pairs):
            cfg = resolve("sn", "mnist", args.preset, {"threads": args.threads, "sample_every": 0, "diag_every": 0,
                                                       "ckpt_every": 0, "steps": 10**6, "width": width,
                                                       "batch_size": batch})
            trainer = Trainer(cfg, Path(tmp) / f"run{i}", progress=False)
            for _ in range(15):  # warm-up
                trainer._iteration()
            trainers.append(trainer)
        times: list[list[float]] = [[] for _ in pairs]
        for _ in range(args.repeats):
            for trainer, bucket in zip(trainers, times):
                t0 = time.perf_counter()
                for _ in range(BLOCK):
                    trainer._iteration()
                bucket.append((time.perf_counter() - t0) / BLOCK)
        for trainer in trainers:
            trainer.release()
    base = statistics.median(times[0])
    rows = []
    for (width, batch), bucket in zip(pairs, times):
        ms = statistics.median(bucket) * 1e3
        rows.append({"width": width, "batch_size": batch, "ms_per_iteration": ms,
                     "iterations_per_minute": 60e3 / ms, "vs_first": ms / (base * 1e3)})
        print(f"width {width:g}, batch {batch}: {ms:.1f} ms per iteration ({60e3 / ms:.0f}/min, "
              f"{ms / (base * 1e3):.2f}x the first)", flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "widths.json").write_text(json.dumps(
        {"preset": args.preset, "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
         "rows": rows}, indent=1))
    table = "\n".join(f"| {r['width']:g} | {r['batch_size']} | {r['ms_per_iteration']:.1f} | "
                      f"{r['iterations_per_minute']:.0f} | {r['vs_first']:.2f} |" for r in rows)
    (OUT / "widths.md").write_text(
        f"# One iteration of `{args.preset}` (MNIST) by width and batch size, {args.threads} threads, torch "
        f"{torch.__version__}\n\nMedian of {args.repeats} interleaved blocks of {BLOCK} full Trainer iterations.\n\n"
        f"| width | batch | ms per iteration | iterations per minute | vs the first row |\n|---|---|---|---|---|\n"
        f"{table}\n")


if __name__ == "__main__":
    main()
