"""Peak memory (RSS) of training, per method and model, sngan vs the plain reference script: each
measurement is its own process (peak RSS is per process), which builds the models, runs a few critic
and generator steps and reports its own ru_maxrss. Writes benchmarks/results/memory.json / memory.md.

    python benchmarks/bench_memory.py [--steps 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results"

CHILD = """
import resource, sys, tempfile, torch
from pathlib import Path
sys.path.insert(0, {here!r})
from bench_train import make_pair
torch.set_num_threads({threads})
with tempfile.TemporaryDirectory() as tmp:
    tr, ref, _, _ = make_pair({method!r}, {model!r}, Path(tmp), precision={precision!r})
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range({steps}):
        if {who!r} == "reference":
            ref.critic_step(ref.next_real()); ref.generator_step()
        else:
            tr.critic_step(next(tr.sampler)); tr.generator_step()
    print(base / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for model in ("mnist-quick", "mnist-w1", "toy"):
        for method in ("clip", "gp", "sn"):
            row = {"model": model, "method": method}
            for who, precision in (("sngan", "fp32"), ("reference", "fp32"), ("sngan_bf16", "bf16")):
                code = CHILD.format(here=str(HERE), threads=args.threads, method=method, model=model,
                                    precision=precision, steps=args.steps, who=who)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
                before, peak = map(float, out.stdout.split()[-2:])
                row[f"{who}_peak_mb"] = peak
                row[f"{who}_training_mb"] = peak - before  # growth once training runs
            rows.append(row)
            print(json.dumps(row), flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "memory.json").write_text(json.dumps({"steps": args.steps, "threads": args.threads, "rows": rows},
                                                indent=1))
    lines = ["# Peak RSS per training process (MB) — both trainers share the process's imports, data and models;",
             "'growth' is the peak minus the RSS before the first step", "",
             "| model | method | sngan peak | reference peak | sngan bf16 peak | sngan growth | reference growth |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['method']} | {r['sngan_peak_mb']:.0f} | {r['reference_peak_mb']:.0f} | "
                     f"{r['sngan_bf16_peak_mb']:.0f} | {r['sngan_training_mb']:.0f} | "
                     f"{r['reference_training_mb']:.0f} |")
    (OUT / "memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
