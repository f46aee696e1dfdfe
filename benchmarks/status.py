"""The performance goals against the latest benchmark results: one table, each figure met or missed.

`make bench` runs this last. It reads the JSON the other scripts wrote under benchmarks/results/ (the names
`make bench` gives them) and measures nothing itself, so it takes a second and can be re-run at any time:

    python benchmarks/status.py [--results DIR] [--quality quality.json quality-seed1.json ...] [--markdown F]

A goal whose result file is missing reads "not measured", never "met". Time to quality takes one or more
`bench_quality.py` results (one per seed) and counts a goal as met only when every seed given meets it; a
run of a recipe other than the preset's as it is now (another learning rate, schedule, width, ...) is
stale and counts as not measured.
Writes the table to results/status.md (and prints it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench_spectral import CERTIFIED_GOALS
from bench_spectral import GOALS as SN_OVERHEAD_GOALS

from sngan.train import TrainConfig, resolve
from sngan.train.config import preset_values

RESULTS = Path(__file__).resolve().parent / "results"

# the overhead goals of bench_spectral.py (paired ratio to an unconstrained critic step, as the trainer runs SN)
SN_OVERHEAD = {"sngan-matrix-cached": "matrix-mode SN", "sngan-operator-cached": "operator-mode SN"}
# a time-to-quality run must have trained the preset as it is now; these keys may differ (the seed is the
# point, the rest is how it was measured or what the machine picked)
RUN_KEYS = ("seed", "eval_every", "eval_samples", "threads", "device", "precision", "data_dir")
SIGMA_GOAL = 1.01  # every normalized layer's true operator norm, at every step of the drift run
TRACKING_OVERHEAD = 1.05  # ... at operator mode's overhead goal
# which bench_spectral variant times each bench_sn_drift run: (mode, solver, iterations) -> variant
DRIFT_VARIANT = {("operator", "power", 1): "sngan-operator-cached",
                 ("operator", "lanczos", 4): "sngan-operator-lanczos4-cached",
                 ("certified", "power", 1): "sngan-certified-cached"}
# the files `make bench` writes that this reads (time to quality: --quality)
SPECTRAL, TRACKING, TRAIN = "spectral.json", "sn-tracking.json", "train.json"
SPECTRAL_NARROW = "spectral-w025.json"  # bench_spectral.py --width 0.25
CERTIFIED_TIGHT = 0.95  # certified SN: every normalized layer's true norm at the drift run's last step, at least
DRIFT_FILES = ("sn-drift.json", "sn-drift-lanczos4.json", "sn-drift-w1.json")
PRECISION = "precision-{}-ring8.json"  # per method
BF16_METHODS = ("gp", "clip")
RESULT_FILES = (SPECTRAL, SPECTRAL_NARROW, *DRIFT_FILES, TRACKING, TRAIN, *(PRECISION.format(m) for m in BF16_METHODS))


@dataclass(frozen=True)
class Row:
    goal: str
    measured: str
    verdict: str  # "met", "missed" or "not measured"


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SystemExit(f"status: {path} is not a benchmark's JSON ({e}); "
                         "re-run the benchmark that writes it") from None


def _missing(goal: str, path: Path) -> Row:
    return Row(goal, f"no {path.name}", "not measured")


def _verdict(ok: bool) -> str:
    return "met" if ok else "missed"


def recipe_changes(run: dict) -> list[str]:
    """The keys in which a bench_quality.py run's config differs from its preset now (empty: current)."""
    config = run["config"]
    now = resolve(config["method"], config["dataset"], config["preset"]).to_dict()
    return [f"{k} {config.get(k)!r} (now {v!r})" for k, v in now.items() if k not in RUN_KEYS and config.get(k) != v]


def quality_rows(paths: list[Path]) -> list[Row]:
    """Time to quality (bench_quality.py): FID <= factor x floor within the budget, on every seed given."""
    runs = [(p, _load(p)) for p in paths]
    runs = [(p, r) for p, r in runs if r is not None]
    if not runs:
        return [_missing("time to quality", paths[0] if paths else RESULTS / "quality.json")]
    stale = {p.name: changes for p, r in runs if (changes := recipe_changes(r))}
    if stale:
        return [Row("time to quality", "; ".join(f"{name} trained another recipe: {', '.join(changes)}"
                                                  for name, changes in stale.items()), "not measured")]
    rows = []
    for first in sorted(runs[0][1]["goals"], key=lambda g: g["minutes"]):
        goal = f"FID <= {first['factor']:g}x the floor in <= {first['minutes']:g} min (sn-fast)"
        parts, ok = [], True
        for path, run in runs:
            g = next((g for g in run["goals"] if (g["factor"], g["minutes"]) == (first["factor"], first["minutes"])),
                     None)
            seed = run["config"].get("seed")
            if g is None:
                parts.append(f"seed {seed}: {path.name} has no such goal")
                ok = False
                continue
            reached = g["reached"]
            how = (f"{reached['train_s'] / 60:.1f} min (FID {reached['fid']:.2f}, step {reached['step']})" if reached
                   else f"not reached (best {run['best']['fid']:.2f} = {run['best']['fid'] / run['floor_fid']:.2f}x)")
            parts.append(f"seed {seed}: {how}")
            ok = ok and g["met"]
        rows.append(Row(goal, "; ".join(parts), _verdict(ok)))
    return rows


def overhead_rows(spectral: dict | None, path: Path) -> list[Row]:
    """SN's cost over an unconstrained critic step (bench_spectral.py), beside the A/A control's ratio."""
    if spectral is None:
        return [_missing(f"{label} <= {SN_OVERHEAD_GOALS[v]:.2f}x", path) for v, label in SN_OVERHEAD.items()]
    results = spectral["results"]
    control = results.get("none-control")
    noise = f"; A/A control {control['paired_ratio_to_none']:.3f}" if control else ""
    rows = []
    for variant, label in SN_OVERHEAD.items():
        goal = SN_OVERHEAD_GOALS[variant]
        r = results.get(variant)
        name = f"{label} <= {goal:.2f}x an unconstrained step (width {spectral['width']:g})"
        if r is None:
            rows.append(_missing(name, path))
            continue
        paired = r["paired_ratio_to_none"]
        rows.append(Row(name, f"paired {paired:.3f} (medians {r['ratio_to_none']:.3f}{noise})",
                        _verdict(paired <= goal)))
    return rows


def sigma_row(drift: list[dict], spectral: dict | None, tracking: dict | None, path: Path) -> Row:
    """σ <= 1.01 at every step while training (bench_sn_drift.py runs), at operator mode's overhead goal."""
    goal = f"true σ <= {SIGMA_GOAL} at every step while training, at <= {TRACKING_OVERHEAD:.2f}x"
    if not drift:
        return _missing(goal, path)
    spectral_results = (spectral or {}).get("results", {})
    parts, ok = [], False
    for run in drift:
        if run["mode"] == "certified":  # no solver: the bound is computed afresh
            key, label = ("certified", "power", 1), "certified"
        else:
            key = (run["mode"], run["solver"], run["iterations"])
            label = f"{key[0]} ({key[1]} {key[2]})"
        timed = spectral_results.get(DRIFT_VARIANT.get(key, ""))
        cost = timed["paired_ratio_to_none"] if timed else None
        parts.append(f"{label}: largest σ {run['max_sigma']:.4f} over {run['steps']} steps at width {run['width']:g}"
                     + (f", {cost:.3f}x a step at width {spectral['width']:g}" if cost is not None else ""))
        ok = ok or (run["max_sigma"] <= SIGMA_GOAL and cost is not None and cost <= TRACKING_OVERHEAD)
    if tracking:  # the offline replay: which estimator would hold it
        holding = [(name, e["max"]) for name, e in tracking["estimators"].items() if e["max"] <= SIGMA_GOAL]
        if holding:
            costs = tracking.get("fourier_cost_ms", {})
            parts.append("replay: " + ", ".join(
                f"{name} holds it (largest {m:.4f}" + "".join(
                    f", {ms:.1f} ms at {w.replace('_', ' ')}" for w, ms in costs.get(name, {}).items()) + ")"
                for name, m in holding))
    return Row(goal, "; ".join(parts), _verdict(ok))


def certified_rows(spectral: list[tuple[dict | None, Path]], drift: list[dict], drift_path: Path) -> list[Row]:
    """Certified SN at the price of SN: its step cost at widths 1 and 0.25 (bench_spectral.py, beside the A/A
    control), and in the drift run σ <= 1 at every step with every layer >= 0.95 at the last (the bound tight)."""
    rows = []
    for width, goal in CERTIFIED_GOALS.items():
        name = f"certified SN <= {goal:.2f}x an unconstrained step (width {width:g})"
        run, path = next(((s, p) for s, p in spectral if s and s["width"] == width), (None, spectral[0][1]))
        r = run and run["results"].get("sngan-certified-cached")
        if not r:
            rows.append(_missing(name, path))
            continue
        control = run["results"].get("none-control")
        noise = f"; A/A control {control['paired_ratio_to_none']:.3f}" if control else ""
        paired = r["paired_ratio_to_none"]
        rows.append(Row(name, f"paired {paired:.3f} (medians {r['ratio_to_none']:.3f}{noise})",
                        _verdict(paired <= goal)))
    name = f"certified SN: true σ <= 1 at every step, every layer >= {CERTIFIED_TIGHT} at the last (drift run)"
    runs = [run for run in drift if run["mode"] == "certified"]
    if not runs:
        return [*rows, _missing(name, drift_path)]
    parts, ok = [], True
    for run in runs:
        last = min(run["rows"][-1]["sigma"].values())
        parts.append(f"width {run['width']:g}: largest σ {run['max_sigma']:.4f} over {run['steps']} steps, "
                     f"smallest at step {run['steps']} {last:.4f}")
        ok = ok and run["max_sigma"] <= 1.0 and last >= CERTIFIED_TIGHT
    return [*rows, Row(name, "; ".join(parts), _verdict(ok))]


def never_slower_row(train: dict | None, path: Path) -> Row:
    """sngan / the plain reference script <= 1.00 per iteration for every method and model (bench_train.py)."""
    goal = "sngan / plain reference <= 1.00 per iteration, every method and model"
    if train is None:
        return _missing(goal, path)
    worst = max(train["rows"], key=lambda r: r["ratio_iter5_s"])
    return Row(goal, f"largest {worst['ratio_iter5_s']:.3f} ({worst['model']} {worst['method']}; "
                     f"{len(train['rows'])} rows)", _verdict(worst["ratio_iter5_s"] <= 1.0))


def bf16_rows(results: Path) -> list[Row]:
    """bf16 quality equal to fp32 over a full run for GP and clipping (bench_precision.py, 2 seeds), and the
    comparison presets following it: precision=auto where equal, fp32 where not."""
    rows = []
    for method in BF16_METHODS:
        path = results / PRECISION.format(method)
        run = _load(path)
        goal = f"bf16 quality = fp32 for {method} (ring8, tuned, 2 seeds), presets following it"
        if run is None or run["equal"] is None:  # None: one seed, no spread to compare with
            rows.append(_missing(goal, path) if run is None else Row(goal, "one seed only", "not measured"))
            continue
        finals = {p: [run[p][s]["curve"][-1] for s in run[p]] for p in ("fp32", "bf16")}
        share = " vs ".join("/".join(f"{f['high_quality']:.3f}" for f in finals[p]) for p in ("fp32", "bf16"))
        presets = {d: preset_values("tuned", method, d).get("precision", TrainConfig.precision)
                   for d in ("mnist", "ring8")}
        wanted = "auto" if run["equal"] else "fp32"
        follows = all(p == wanted for p in presets.values())
        what = (f"{'equal' if run['equal'] else 'not equal'}; tuned presets: "
                + ", ".join(f"{d} {p}" for d, p in presets.items()))
        rows.append(Row(goal, f"high-quality share fp32 vs bf16 {share}; {what}", _verdict(follows)))
    return rows


def _drift_runs(results: Path) -> list[dict]:
    """The drift runs of every file `make bench` writes (empty when there is none)."""
    return [run for name in DRIFT_FILES if (data := _load(results / name)) for run in data["results"]]


def status(results: Path, quality: list[Path]) -> list[Row]:
    spectral, drift = _load(results / SPECTRAL), _drift_runs(results)
    return [
        *quality_rows(quality),
        *overhead_rows(spectral, results / SPECTRAL),
        sigma_row(drift, spectral, _load(results / TRACKING), results / DRIFT_FILES[0]),
        *certified_rows([(spectral, results / SPECTRAL), (_load(results / SPECTRAL_NARROW), results / SPECTRAL_NARROW)],
                        drift, results / DRIFT_FILES[0]),
        never_slower_row(_load(results / TRAIN), results / TRAIN),
        *bf16_rows(results),
    ]


def provenance(path: Path) -> str:
    """When a result file was written: its last commit's date, or "uncommitted" where the working tree changed it
    (files from different runs can sit side by side under results/, and ratios only compare within one run)."""
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--", path.name], cwd=path.parent,
                                 capture_output=True, text=True, check=True).stdout.strip()
        date = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path.name], cwd=path.parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "date unknown (not in a git checkout)"
    return "uncommitted" if changed or not date else f"committed {date}"


def sources(results: Path, quality: list[Path]) -> list[Path]:
    return [p for p in [*quality, *(results / n for n in RESULT_FILES)] if p.exists()]


def markdown(rows: list[Row], files: list[Path]) -> str:
    lines = ["| performance goal | measured | verdict |", "|---|---|---|"]
    lines += [f"| {r.goal} | {r.measured} | **{r.verdict}** |" for r in rows]
    lines += ["", "From: " + "; ".join(f"{p.name} ({provenance(p)})" for p in files) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS, help="where the benchmarks wrote their JSON")
    ap.add_argument("--quality", nargs="+", default=["quality.json", "quality-seed1.json", "quality-seed2.json"],
                    help="bench_quality.py results (names under --results), one per seed; missing ones are skipped "
                         "(`make bench` writes the first, `make bench-seeds` the others)")
    ap.add_argument("--markdown", type=Path, default=None, help="where to write the table (default results/status.md)")
    args = ap.parse_args(argv)
    quality = [args.results / q for q in args.quality]
    rows = status(args.results, quality)
    text = markdown(rows, sources(args.results, quality))
    (args.markdown or args.results / "status.md").write_text(text)
    print(text, end="")
    print(f"{sum(r.verdict == 'met' for r in rows)} of {len(rows)} goals met, "
          f"{sum(r.verdict == 'not measured' for r in rows)} not measured")


if __name__ == "__main__":
    main()
