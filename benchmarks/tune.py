"""Equal-effort tuning of every method of the study, at the quick study's CPU budget.

Every row — clipping, GP, SN with the W loss, SN with the hinge loss — gets the same search on each
dataset: the same base (TUNED_BASE in sngan/train/config.py), the same budget of CPU seconds per
point (turned into steps from the per-step cost measured in one process, as the study does), the
same number of points, and the same coordinate search over the grid TUNING_GRID:

  stage 1  both learning rates of the grid              (n_critic 1, beta1 0.5, the method's default knob)
  stage 2  the other n_critic, at the best point so far
  stage 3  the other beta1, at the best point so far
  stage 4  both other values of the method's own knob, at the best point so far
           (clipping: c; GP: lambda; SN: power iterations per step)

Six points per row and dataset; toy points are run with two seeds (their results vary more).
Quality along training is measured at 6 points of every run (FID on 2000 samples and class
coverage on MNIST; modes, high-quality share and exact W1 on toys) against the CPU seconds spent.

    python benchmarks/tune.py                      # all of it (about 45 minutes on 2 cores)
    python benchmarks/tune.py --datasets ring8     # one dataset

Writes src/sngan/study/tuning.json (every point, its curve, the best of each row; the study's report
reads it) and benchmarks/results/tune.md. Resumable: finished points are kept in --work.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sngan.files import atomic_write_bytes  # noqa: E402
from sngan.study.cost import measure_cost  # noqa: E402
from sngan.study.runner import (  # noqa: E402
    Job,
    along_samples,
    run_jobs,
    run_state,
    steps_for_budget,
)
from sngan.study.spec import load_study  # noqa: E402
from sngan.study.tuning import curve, score  # noqa: E402
from sngan.train.config import TUNING_GRID, resolve, row_label  # noqa: E402

# make run's study, whose rows, CPU budgets and evaluation points every method is tuned for
QUICK = load_study("quick")
ROWS = tuple((r.method, r.loss) for r in QUICK.rows)
DEFAULT_KNOB = {"clip": 0.01, "gp": 10.0, "sn": 1}    # the papers' c, lambda and power iterations
START = {"n_critic": 1, "beta1": 0.5}
SEEDS = {"mnist": 1, "ring8": 2}
EVAL_SAMPLES = 2000   # final evaluation of every point


def point_config(dataset: str, method: str, loss: str, point: dict, seed: int, cost: dict, budget: float):
    knob_key = TUNING_GRID["knob"][method][0]
    values = {"lr_d": point["lr"], "lr_g": point["lr"], "n_critic": point["n_critic"], "beta1": point["beta1"],
              knob_key: point["knob"]}
    steps = steps_for_budget(budget, cost[row_label(method, loss)], point["n_critic"])
    every = max(1, steps // QUICK.eval_points)
    values.update(steps=steps, eval_every=every, eval_samples=along_samples(dataset),
                  sample_every=max(1, steps // 3), ckpt_every=max(1, steps // 4), diag_every=max(1, steps // 8),
                  threads=1)
    return resolve(method, dataset, "tuned", values, loss=loss, seed=seed)


def point_name(point: dict) -> str:
    return f"lr{point['lr']:g}-nc{point['n_critic']}-b{point['beta1']:g}-k{point['knob']:g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "ring8"], choices=["mnist", "ring8"])
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "tune")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--budget", nargs="+", default=[], metavar="DATASET=SECONDS",
                    help="override the study's budget (smoke tests); the results are then not the study's")
    ap.add_argument("--json", type=Path, default=ROOT / "src" / "sngan" / "study" / "tuning.json")
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks" / "results" / "tune.md")
    args = ap.parse_args()

    budgets = {ds: QUICK.cpu_budget(ds) for ds in QUICK.datasets}
    budgets.update({k: float(v) for k, v in (item.split("=") for item in args.budget)})
    args.work.mkdir(parents=True, exist_ok=True)
    cost_file = args.work / "cost.json"
    cost = json.loads(cost_file.read_text()) if cost_file.exists() else {"datasets": {}}
    missing = [ds for ds in args.datasets if ds not in cost["datasets"]]
    if missing:  # measured first, while nothing else runs; then fixed, so a resumed tuning plans the same steps
        print(f"measuring per-step cost on {', '.join(missing)} ...", flush=True)
        configs = [resolve(m, ds, "tuned", {"threads": 1}, loss=lo) for ds in missing for m, lo in ROWS]
        cost["datasets"].update(measure_cost(configs)["datasets"])
        atomic_write_bytes(cost_file, json.dumps(cost, indent=1).encode())

    lrs = TUNING_GRID["shared"]["lr"]
    other = {"n_critic": TUNING_GRID["shared"]["n_critic"], "beta1": TUNING_GRID["shared"]["beta1"]}
    start = {(ds, m, lo): [dict(lr=lr, **START, knob=DEFAULT_KNOB[m]) for lr in lrs]
             for ds in args.datasets for m, lo in ROWS}
    results: dict[tuple, list[dict]] = {key: [] for key in start}

    def run_stage(stage: int, points: dict[tuple, list[dict]]) -> None:
        jobs = []
        for (ds, m, lo), pts in points.items():
            for pt in pts:
                for seed in range(SEEDS[ds]):
                    cfg = point_config(ds, m, lo, pt, seed, cost["datasets"][ds], budgets[ds])
                    run_dir = args.work / ds / row_label(m, lo) / f"{point_name(pt)}-seed{seed}"
                    if run_state(run_dir) != "done":
                        jobs.append(Job(run_dir, cfg, EVAL_SAMPLES, f"{ds}-{row_label(m, lo)}-{run_dir.name}"))
        t0 = time.perf_counter()
        failures = run_jobs(jobs, args.jobs, args.work / "logs", f"stage {stage}", progress=True)
        print(f"stage {stage}: {len(jobs)} runs in {time.perf_counter() - t0:.0f} s", flush=True)
        for msg in failures:
            print(f"  failed: {msg}", flush=True)
        for (ds, m, lo), pts in points.items():
            for pt in pts:
                dirs = [args.work / ds / row_label(m, lo) / f"{point_name(pt)}-seed{s}" for s in range(SEEDS[ds])]
                results[(ds, m, lo)].append(dict(point=pt, stage=stage, **summarize(ds, dirs)))

    def best(key) -> dict:
        return max(results[key], key=lambda r: r["score"])

    run_stage(1, start)
    run_stage(2, {k: [dict(best(k)["point"], n_critic=_other(other["n_critic"], best(k)["point"]["n_critic"]))]
                  for k in start})
    run_stage(3, {k: [dict(best(k)["point"], beta1=_other(other["beta1"], best(k)["point"]["beta1"]))]
                  for k in start})
    run_stage(4, {k: [dict(best(k)["point"], knob=v) for v in TUNING_GRID["knob"][k[1]][1]] for k in start})

    out = write_results(args, cost, results, budgets)
    print(f"written: {args.json}\nwritten: {args.md}")
    print("best point of each row (paste into TUNED in src/sngan/train/config.py):")
    for ds, rows in out["best"].items():
        for label, b in rows.items():
            print(f"  {ds:6s} {label:17s} {b['config']}  score {b['score']:.4g}")
    return 0


def _other(values: tuple, current):
    return next(v for v in values if v != current)


def summarize(dataset: str, run_dirs: list[Path]) -> dict:
    """Final metrics (mean over seeds), the score the search maximises and each seed's curve of quality
    against CPU seconds."""
    finals, curves, statuses = [], [], []
    for d in run_dirs:
        status = json.loads((d / "status.json").read_text())["status"] if (d / "status.json").exists() else "missing"
        statuses.append(status)
        metrics = json.loads((d / "metrics.json").read_text())["metrics"] if (d / "metrics.json").exists() else {}
        finals.append(metrics)
        curves.append(curve(d))
    keys = ["fid", "class_kl_uniform"] if dataset == "mnist" else ["modes_covered", "high_quality", "w1_exact"]
    final = {}
    for k in keys:
        vals = [m[k] for m in finals if m.get(k) is not None]
        final[k] = sum(vals) / len(vals) if len(vals) == len(finals) else None
    cfg_file = run_dirs[0] / "config.json"
    steps = json.loads(cfg_file.read_text())["steps"] if cfg_file.exists() else None
    return {"final": final, "score": score(dataset, final), "status": statuses, "steps": steps, "curves": curves}


def write_results(args, cost: dict, results: dict, budgets: dict) -> dict:
    old = json.loads(args.json.read_text()) if args.json.exists() else {}
    out = {"budget_cpu_seconds": budgets, "grid": TUNING_GRID,
           "start": START, "default_knob": DEFAULT_KNOB, "seeds": SEEDS, "eval_samples": EVAL_SAMPLES,
           "cost": cost, "points": old.get("points", {}), "best": old.get("best", {})}
    for (ds, m, lo), rows in results.items():
        label = row_label(m, lo)
        out["points"].setdefault(ds, {})[label] = rows
        b = max(rows, key=lambda r: r["score"])
        knob_key = TUNING_GRID["knob"][m][0]
        pt = b["point"]
        out["best"].setdefault(ds, {})[label] = {
            "config": {"lr_d": pt["lr"], "lr_g": pt["lr"], "n_critic": pt["n_critic"], "beta1": pt["beta1"],
                       knob_key: pt["knob"]},
            "score": b["score"], "final": b["final"], "steps": b["steps"]}
    atomic_write_bytes(args.json, (json.dumps(out, indent=1) + "\n").encode())
    atomic_write_bytes(args.md, markdown(out).encode())
    return out


def markdown(out: dict) -> str:
    lines = ["# Equal-effort tuning (benchmarks/tune.py)", "",
             "Every method gets the same coordinate search (6 points) at the same CPU budget per point "
             f"(MNIST {out['budget_cpu_seconds']['mnist']:g} s, ring8 {out['budget_cpu_seconds']['ring8']:g} s of one "
             "core, turned into steps from the per-step cost measured in one process). Grid: "
             f"learning rate {list(out['grid']['shared']['lr'])}, n_critic {list(out['grid']['shared']['n_critic'])}, "
             f"beta1 {list(out['grid']['shared']['beta1'])}; own knob: "
             + "; ".join(f"{m} {k} {list(v)}" for m, (k, v) in out["grid"]["knob"].items())
             + f" (papers' defaults {out['default_knob']}). MNIST: FID of the EMA generator on {out['eval_samples']} "
             "samples (the package's evaluator; lower is better). ring8: modes covered of 8, high-quality share, exact "
             f"W1 (mean of {out['seeds']['ring8']} seeds; score = modes + high-quality share).", ""]
    for ds, rows in out["points"].items():
        lines += [f"## {ds}", ""]
        head = ("| row | stage | lr | n_critic | beta1 | knob | steps | FID | class KL |" if ds == "mnist" else
                "| row | stage | lr | n_critic | beta1 | knob | steps | modes | high quality | W1 |")
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        for label, pts in rows.items():
            best_score = max(r["score"] for r in pts)
            for r in pts:
                p, f = r["point"], r["final"]
                mark = " **best**" if r["score"] == best_score else ""
                cells = [f"{label}{mark}", str(r["stage"]), f"{p['lr']:g}", str(p["n_critic"]), f"{p['beta1']:g}",
                         f"{p['knob']:g}", str(r["steps"])]
                if ds == "mnist":
                    cells += [_f(f.get("fid"), 1), _f(f.get("class_kl_uniform"), 3)]
                else:
                    cells += [_f(f.get("modes_covered"), 1), _f(f.get("high_quality"), 3), _f(f.get("w1_exact"), 3)]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"### {ds}: quality against CPU seconds, best point of each row (seed 0)", ""]
        for label, pts in rows.items():
            b = max(pts, key=lambda r: r["score"])
            c = b["curves"][0] if b["curves"] else []
            key = "fid" if ds == "mnist" else "w1_exact"
            lines.append(f"- {label}: " + ", ".join(f"{pt['cpu_seconds']:.0f} s → {pt.get(key, float('nan')):.3g}"
                                                  for pt in c if pt.get(key) is not None))
        lines.append("")
    return "\n".join(lines)


def _f(v, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


if __name__ == "__main__":
    raise SystemExit(main())
