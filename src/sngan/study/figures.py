"""Gather a study directory's runs into tables and draw its figures (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sngan.train.run import Run

COLORS = {"clip-wasserstein": "#8c8c8c", "gp-wasserstein": "#e4572e", "sn-wasserstein": "#2e86ab",
          "sn-hinge": "#29a36a", "none-wasserstein": "#b07aa1",
          # the lipschitz study's rows
          "sn-matrix-hinge": "#29a36a", "sn-operator-hinge": "#8fbc3a", "sn-certified-hinge": "#0b5d3b",
          "sn-matrix-w": "#2e86ab", "sn-operator-w": "#7fb3d5", "sn-certified-w": "#1b3f8b"}
_PALETTE = ("#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e", "#1f77b4", "#2ca02c",
            "#7f7f7f")


def color(label: str) -> str:
    """A row's colour in every figure: fixed for the shipped studies' rows, else from a palette by its label."""
    import zlib

    return COLORS.get(label) or _PALETTE[zlib.crc32(label.encode()) % len(_PALETTE)]


NAMES = {"clip-wasserstein": "clipping (WGAN)", "gp-wasserstein": "gradient penalty (WGAN-GP)",
         "sn-wasserstein": "spectral norm (W loss)", "sn-hinge": "spectral norm (hinge)"}
QUALITY = {
    "mnist": ["fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "class_kl_uniform",
              "digits_under_1pct"],
    "toy": ["modes_covered", "high_quality", "w1_exact", "w1_critic"],
}
LIPSCHITZ = ["lipschitz_lower", "lipschitz_upper", "grad_norm_real_mean", "grad_norm_fake_mean",
             "grad_norm_interp_mean"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig, path, dpi: int, vector: bool = True) -> None:
    """A line plot: PNG for the HTML report and (``vector``: the write-up and poster show it) SVG beside it."""
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    if vector:
        fig.savefig(path.with_suffix(".svg"))


@dataclass
class StudyRun:
    """What the report needs of one run of a study (read through ``sngan.train.run.Run``)."""

    dir: Path
    dataset: str
    label: str
    seed: int
    config: dict
    status: str
    log: list[dict]
    metrics: dict = field(default_factory=dict)


def load_runs(study_dir: Path) -> list[StudyRun]:
    """Every run of a study directory, in the study file's row order (study.json; else the shipped rows'
    order, then by name), then by seed: the order of every table and figure."""
    runs = []
    for cfg_file in sorted(Path(study_dir).glob("runs/*/*/seed*/config.json")):
        run = Run(cfg_file.parent)
        cfg = run.config
        label = cfg_file.parent.parent.name  # runs/DATASET/LABEL/seedS: the study file's row label
        runs.append(StudyRun(run.dir, cfg.dataset, label, cfg.seed, cfg.to_dict(), run.status.get("status", "unknown"),
                             run.log, (run.metrics or {}).get("metrics", {})))
    try:
        order = [r["label"] for r in json.loads((Path(study_dir) / "study.json").read_text())["study"]["rows"]]
    except (OSError, ValueError, KeyError, TypeError):
        order = list(NAMES)
    runs.sort(key=lambda r: (order.index(r.label) if r.label in order else len(order), r.label, r.seed))
    return runs


def spread(values: list[float]) -> dict[str, Any]:
    """Mean, min, max and every value over seeds (few seeds: the values themselves, no t-interval)."""
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"mean": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0, "values": []}
    return {"mean": float(np.mean(v)), "min": min(v), "max": max(v), "n": len(v), "values": v}


def roughness(series: list[float]) -> float:
    """std of step-to-step changes divided by the std of the series: ~√2 for white noise, → 0 for a
    smooth trend; scale-free, so methods whose losses live on different scales compare."""
    x = np.asarray([s for s in series if s is not None], dtype=float)
    if len(x) < 3 or x.std() == 0:
        return float("nan")
    return float(np.diff(x).std() / x.std())


def groups(runs: list[StudyRun]) -> dict[str, dict[str, list[StudyRun]]]:
    out: dict[str, dict[str, list[StudyRun]]] = {}
    for r in runs:
        out.setdefault(r.dataset, {}).setdefault(r.label, []).append(r)
    return dict(sorted(out.items()))  # rows in the runs' order (load_runs: the study file's)


def grad_variation(log: list[dict], key: str = "grad_norm_fake_mean") -> float:
    """Coefficient of variation (std / mean) of the critic's ‖∇D‖ across a run's logged diagnostics."""
    x = np.asarray([line[key] for line in log if line.get(key) is not None], dtype=float)
    if len(x) < 3 or x.mean() == 0:
        return float("nan")
    return float(x.std() / x.mean())


def quality_table(runs: list[StudyRun]) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Per dataset and method: every final metric over seeds (``spread``), the roughness of the loss
    curves, the variation of ‖∇D‖ along training, the steps trained and the diverged count."""
    table: dict[str, Any] = {}
    for ds, by_label in groups(runs).items():
        keys = QUALITY["mnist" if ds == "mnist" else "toy"] + LIPSCHITZ
        table[ds] = {}
        for label, rs in by_label.items():
            rs = sorted(rs, key=lambda r: r.seed)
            row = {k: spread([r.metrics.get(k) for r in rs]) for k in keys}
            for key in ("loss_g", "loss_d", "w1_estimate"):
                row[f"roughness_{key}"] = spread([roughness([line.get(key) for line in r.log]) for r in rs if r.log])
            row["grad_cv_fake"] = spread([grad_variation(r.log) for r in rs if r.log])
            row["steps"] = spread([r.config.get("steps") for r in rs])
            row["diverged"] = {"mean": float(sum(r.status == "diverged" for r in rs)), "n": len(rs),
                               "values": [r.seed for r in rs if r.status == "diverged"]}
            table[ds][label] = row
    return table


def curves(runs: list[StudyRun]) -> dict[str, dict[str, dict[int, list[dict]]]]:
    """Quality along training of every run: dataset -> method -> seed -> points (``tuning.curve``)."""
    from sngan.study.tuning import curve

    out: dict[str, Any] = {}
    for ds, by_label in groups(runs).items():
        for label, rs in by_label.items():
            for r in rs:
                out.setdefault(ds, {}).setdefault(label, {})[r.seed] = curve(r.dir, r.log, r.config.get("n_critic", 1))
    return out


def _series(rs: list[StudyRun], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean, min and max over seeds of a logged value."""
    steps = sorted({line["step"] for r in rs for line in r.log if line.get(key) is not None})
    if not steps:
        return np.array([]), np.array([]), np.array([]), np.array([])
    mat = np.full((len(rs), len(steps)), np.nan)
    index = {s: i for i, s in enumerate(steps)}
    for j, r in enumerate(rs):
        for line in r.log:
            if line.get(key) is not None:
                mat[j, index[line["step"]]] = line[key]
    return np.asarray(steps), np.nanmean(mat, 0), np.nanmin(mat, 0), np.nanmax(mat, 0)


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < k:
        return y
    kernel = np.ones(k) / k
    pad = np.pad(y, (k // 2, k - 1 - k // 2), mode="edge")
    return np.convolve(pad, kernel, mode="valid")


def _thin(n: int, most: int = 400) -> np.ndarray:
    """At most ``most`` evenly spaced indices of ``n`` points, first and last included: a smoothed curve
    drawn from them looks the same, and a long run's figure (43,000 steps) stays kilobytes, not 50 MB of SVG."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int))


LOSS_PANELS = (("loss_g", "generator loss"), ("loss_d", "critic loss"),
               ("w1_estimate", "W1 estimate E[D(real)] − E[D(fake)]"))


def plot_losses(runs: list[StudyRun], dataset: str, path: Path, rows: list[dict] | None = None) -> None:
    """The write-up's generator- and critic-loss figures, one panel per method (each on its own
    scale, so no method flattens another), mean over seeds with the min–max band, moving average. Where
    the study's ``rows`` repeat settings at several budgets: one column per setting, and each loss a band
    of rows, one per budget."""
    plt = _plt()
    by_label = groups(runs).get(dataset, {})
    if not by_label:
        return
    budgets, names, colours, cells = _layout(list(by_label), rows)
    nb, ncol = len(budgets), len(names)
    fig, axes = plt.subplots(len(LOSS_PANELS) * nb, ncol, figsize=(3.3 * ncol, 2.4 * len(LOSS_PANELS) * nb),
                             squeeze=False)
    for label, rs in by_label.items():
        b, j = cells[label]
        for i, (key, title) in enumerate(LOSS_PANELS):
            ax = axes[i * nb + b][j]
            steps, mean, lo, hi = _series(rs, key)
            if len(steps):
                k, at = max(1, len(steps) // 80), _thin(len(steps))
                ax.fill_between(steps[at], _smooth(lo, k)[at], _smooth(hi, k)[at], color=colours[j], alpha=0.2,
                                lw=0)
                ax.plot(steps[at], _smooth(mean, k)[at], color=colours[j], lw=1.1)
            if i == 0 and b == 0:
                ax.set_title(names[j], fontsize=9, color=colours[j])
            if j == 0:
                ax.set_ylabel(f"{title}\n{budgets[b]} budget" if budgets[b] else title, fontsize=8)
            if i == len(LOSS_PANELS) - 1 and b == nb - 1:
                ax.set_xlabel("generator step")
            ax.tick_params(labelsize=7)
    fig.suptitle(f"{dataset}: mean over {max(len(v) for v in by_label.values())} seed(s), band = min–max over seeds "
                 "(moving average); each panel on its own scale", fontsize=9)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9 if nb == 1 else 1 - 0.14 / nb, bottom=0.08 / nb, wspace=0.3,
                        hspace=0.3)
    _save(fig, path, dpi=100)
    plt.close(fig)


CURVE_METRICS = {"mnist": (("fid", "FID (2000 samples)", True), ("class_kl_uniform", "class KL to uniform", False)),
                 "toy": (("w1_exact", "exact W1 to the data", True), ("modes_covered", "modes covered", False),
                         ("high_quality", "high-quality share", False))}


def plot_quality_curves(runs: list[StudyRun], dataset: str, path: Path) -> None:
    """Quality along training against CPU seconds of training and against generator steps, every
    method, mean over seeds with the min–max band."""
    plt = _plt()
    data = curves(runs).get(dataset, {})
    metrics = CURVE_METRICS["mnist" if dataset == "mnist" else "toy"]
    fig, axes = plt.subplots(len(metrics), 2, figsize=(10.5, 2.9 * len(metrics)), squeeze=False)
    for label, by_seed in data.items():
        for i, (key, title, log) in enumerate(metrics):
            for j, xkey in enumerate(("cpu_seconds", "step")):
                pts = [c for c in by_seed.values() if c]
                n = min((len(c) for c in pts), default=0)
                if n == 0:
                    continue
                x = np.mean([[p[xkey] for p in c[:n]] for c in pts], 0)
                y = np.asarray([[p.get(key, np.nan) if p.get(key) is not None else np.nan for p in c[:n]]
                                for c in pts], dtype=float)
                ax = axes[i][j]
                ax.plot(x, np.nanmean(y, 0), "o-", ms=3, lw=1.3, color=color(label), label=NAMES.get(label, label))
                if len(pts) > 1:
                    ax.fill_between(x, np.nanmin(y, 0), np.nanmax(y, 0), color=color(label), alpha=0.18, lw=0)
                if log:
                    ax.set_yscale("log")
                ax.set_ylabel(title)
                ax.set_xlabel("CPU seconds of training (one core)" if xkey == "cpu_seconds" else "generator step")
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"{dataset}: quality along training (mean over seeds, band = min–max)", fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.1, wspace=0.25, hspace=0.35)
    _save(fig, path, dpi=100)
    plt.close(fig)


def budget_grid(labels: list[str], rows: list[dict] | None
                ) -> tuple[list[str], list[str], list[str], dict[str, tuple[int, int]]] | None:
    """Where a study's rows repeat settings at several budget scales (the ``budget`` study): the budgets'
    titles ("1x", "4x", ...), the settings' names and colours, and each label's (budget, setting) cell, so
    that a figure puts one budget per row and one setting per column (a setting keeps its colour). None
    where the rows are one budget, or a label is not among ``rows``, or two rows would share a cell."""
    from sngan.train.config import row_label

    spec = {r["label"]: r for r in rows or ()}
    if not labels or any(label not in spec for label in labels):
        return None
    scales = sorted({float(spec[label].get("budget_scale", 1.0)) for label in labels})
    if len(scales) < 2:
        return None
    settings: list[tuple] = []
    cells: dict[str, tuple[int, int]] = {}
    for label in labels:
        r = spec[label]
        setting = (r["method"], r["loss"], r.get("preset"), json.dumps(r.get("set") or {}, sort_keys=True))
        if setting not in settings:
            settings.append(setting)
        cell = (scales.index(float(r.get("budget_scale", 1.0))), settings.index(setting))
        if cell in cells.values():
            return None
        cells[label] = cell
    keys = [row_label(m, loss) for m, loss, *_ in settings]
    if len(set(keys)) < len(keys):  # settings that differ in preset or keys: the rows' own labels
        keys = [next(label for label, (_, j) in cells.items() if j == k) for k in range(len(settings))]
    return [f"{x:g}x" for x in scales], [NAMES.get(k, k) for k in keys], [color(k) for k in keys], cells


def _layout(labels: list[str], rows: list[dict] | None
            ) -> tuple[list[str], list[str], list[str], dict[str, tuple[int, int]]]:
    """``budget_grid`` where the rows repeat settings at several budgets, else one row of panels: a label
    per column, with its own name and colour (budget title "")."""
    return budget_grid(labels, rows) or ([""], [NAMES.get(label, label) for label in labels],
                                          [color(label) for label in labels],
                                          {label: (0, j) for j, label in enumerate(labels)})


def plot_final_samples(runs: list[StudyRun], dataset: str, path: Path, rows: list[dict] | None = None) -> None:
    """The last sample image of every method (seed 0), side by side and large; where the study's ``rows``
    repeat settings at several budgets, one budget per row of the figure."""
    plt = _plt()
    from PIL import Image

    by_label = groups(runs).get(dataset, {})
    panels = []
    for label, rs in by_label.items():
        files = sorted((_first_seed(rs).dir / "samples").glob("step-*.png"))
        if files:
            panels.append((label, files[-1]))
    if not panels:
        return
    budgets, names, _, cells = _layout([label for label, _ in panels], rows)
    nb = len(budgets)
    fig, axes = plt.subplots(nb, len(names), figsize=(4.2 * len(names), 4.6 * nb), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for label, file in panels:
        i, j = cells[label]
        ax = axes[i][j]
        ax.imshow(np.asarray(Image.open(file)), cmap="gray", interpolation="nearest")
        budget = f"{budgets[i]} budget: " if budgets[i] else ""
        ax.set_title(f"{names[j]}\n{budget}step {int(file.stem.split('-')[1])}", fontsize=12, weight="bold")
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.12 / nb, bottom=0.01, wspace=0.04,
                        hspace=0.12 * nb / (nb - 1) if nb > 1 else 0)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _first_seed(rs: list[StudyRun]) -> StudyRun:
    """The run with the lowest seed: the one whose samples and σ curves a figure shows."""
    return min(rs, key=lambda r: r.seed)


def plot_samples(runs: list[StudyRun], dataset: str, path: Path) -> None:
    """Sample images of seed 0 of each method at three points of training (first, middle, last)."""
    plt = _plt()
    from PIL import Image

    by_label = groups(runs).get(dataset, {})
    rows = []
    for label, rs in by_label.items():
        files = sorted((_first_seed(rs).dir / "samples").glob("step-*.png"))
        if files:
            pick = [files[0], files[len(files) // 2], files[-1]] if len(files) >= 3 else files
            rows.append((label, pick))
    if not rows:
        return
    ncol = max(len(p) for _, p in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.6 * ncol, 2.7 * len(rows)), squeeze=False)
    for i, (label, pick) in enumerate(rows):
        for j in range(ncol):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(pick):
                ax.imshow(np.asarray(Image.open(pick[j])), cmap="gray")
                ax.set_title(f"{NAMES.get(label, label)}\n{pick[j].stem.replace('-', ' ')}", fontsize=7)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.05, hspace=0.25)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sigma(runs: list[StudyRun], dataset: str, path: Path) -> None:
    """Per-layer σ of the critic's effective weights over training: reshaped kernel vs operator."""
    plt = _plt()
    by_label = groups(runs).get(dataset, {})
    fig, axes = plt.subplots(1, max(1, len(by_label)), figsize=(3.4 * max(1, len(by_label)), 3.2), squeeze=False)
    for ax, (label, rs) in zip(axes[0], by_label.items()):
        lines = [line for line in _first_seed(rs).log if line.get("sigma")]
        if not lines:
            continue
        layers = list(lines[0]["sigma"])
        cmap = plt.get_cmap("viridis", len(layers))
        for i, layer in enumerate(layers):
            steps = [line["step"] for line in lines]
            ax.plot(steps, [line["sigma"][layer]["operator"] for line in lines], color=cmap(i), lw=1.2,
                    label=f"layer {layer}")
            ax.plot(steps, [line["sigma"][layer]["matrix"] for line in lines], color=cmap(i), lw=1, ls="--")
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_title(NAMES.get(label, label), fontsize=8)
        ax.set_xlabel("generator step")
    axes[0][0].set_ylabel("σ (solid: operator, dashed: reshaped kernel)")
    axes[0][0].legend(fontsize=6, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.15, wspace=0.3)
    _save(fig, path, dpi=110, vector=False)
    plt.close(fig)


def plot_bounds(table: dict, dataset: str, path: Path) -> None:
    plt = _plt()
    rows = table.get(dataset, {})
    labels = list(rows)
    lo = [rows[k]["lipschitz_lower"]["mean"] for k in labels]
    hi = [rows[k]["lipschitz_upper"]["mean"] for k in labels]
    if not labels:
        return
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(x - 0.18, lo, 0.36, label="empirical lower bound", color="#9ecae1")
    ax.bar(x + 0.18, hi, 0.36, label="certified upper bound", color="#08519c")
    ax.axhline(1.0, color="k", lw=0.7, ls=":")
    ax.set_yscale("log")
    ax.set_xticks(x, [NAMES.get(k, k) for k in labels], rotation=12, fontsize=7)
    ax.set_ylabel("Lipschitz constant of the final critic")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(f"{dataset}: lower ≤ Lip(D) ≤ upper (1 = the WGAN target)")
    fig.subplots_adjust(left=0.12, right=0.98, top=0.9, bottom=0.22)
    _save(fig, path, dpi=110, vector=False)
    plt.close(fig)


def plot_budget(table: dict, rows: list[dict], dataset: str, path: Path, base: dict | None = None) -> None:
    """Final FID (MNIST) / exact W1 (toys) against each row's budget multiple, one line per method-loss
    (rows that repeat a setting at several budgets), every seed a dot, the mean a line. ``base``: the
    dataset's budget in the study file ({"cpu_seconds": 150} or {"steps": 500}), named on the x axis."""
    from sngan.train.config import row_label

    plt = _plt()
    key = "fid" if dataset == "mnist" else "w1_exact"
    lines: dict[str, list[tuple[float, list[float]]]] = {}
    for r in rows:
        cell = table.get(dataset, {}).get(r["label"], {}).get(key) or {}
        if cell.get("values"):
            lines.setdefault(row_label(r["method"], r["loss"]), []).append((r.get("budget_scale", 1.0), cell["values"]))
    if not lines:
        return
    fig, ax = plt.subplots(figsize=(6.4, 3.3))
    for name, pts in lines.items():
        pts.sort()
        ax.plot([x for x, _ in pts], [float(np.mean(v)) for _, v in pts], "o-", color=color(name),
                label=NAMES.get(name, name))
        for x, v in pts:
            ax.scatter([x] * len(v), v, s=10, color=color(name), alpha=0.5)
    ax.set_xscale("log", base=2)
    scales = sorted({x for pts in lines.values() for x, _ in pts})
    ax.set_xticks(scales, [f"{x:g}×" for x in scales])
    ax.minorticks_off()
    ax.set_yscale("log")
    unit = (f"{base['cpu_seconds']:g} CPU-seconds of one core" if (base or {}).get("cpu_seconds")
            else f"{base['steps']:g} steps" if (base or {}).get("steps") else "the study's [budget]")
    ax.set_xlabel(f"training budget (multiple of {unit} per run)")
    ax.set_ylabel("final FID" if dataset == "mnist" else "final exact W1")
    ax.set_title(f"{dataset}: does the ranking hold as training grows?", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    _save(fig, path, dpi=110)
    plt.close(fig)


def plot_theory(path_prefix: Path) -> dict[str, Any]:
    from sngan.study import theory

    plt = _plt()
    out = {}
    lines = theory.parallel_lines(np.linspace(-1, 1, 41))
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    ax.plot(lines["theta"], lines["js"], "o-", ms=3, color="#e4572e", label="JS(P, Q_θ)")
    ax.plot(lines["theta"], lines["w1"], "o-", ms=3, color="#2e86ab", label="W1(P, Q_θ)")
    ax.axhline(lines["log2"], color="k", lw=0.6, ls=":")
    ax.set_xlabel("θ (distance between the two lines)")
    ax.set_title("disjoint supports: JS is flat at log 2, W1 = |θ|", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    _save(fig, f"{path_prefix}_js_w1.png", dpi=110)
    plt.close(fig)
    out["js_w1"] = lines

    x = np.linspace(-2, 6, 801)
    v = theory.vanishing_gradient(x)
    fig, ax = plt.subplots(1, 2, figsize=(8.6, 3.2))
    ax[0].plot(x, v["d_star"], color="#e4572e", label="optimal BCE discriminator D*(x)")
    ax[0].plot(x, np.asarray(v["critic"]) / np.ptp(v["critic"]) + 0.5, color="#2e86ab",
               label="optimal 1-Lipschitz critic (scaled)")
    ax[0].axvline(v["mu_real"], color="k", lw=0.5, ls=":")
    ax[0].axvline(v["mu_fake"], color="k", lw=0.5, ls="--")
    ax[0].legend(fontsize=7, frameon=False)
    ax[0].set_title("real at 0 (dotted), fake at 4 (dashed)", fontsize=8)
    ax[1].semilogy(x, np.maximum(v["grad_bce"], 1e-12), color="#e4572e", label="|∇ log(1 - D*)| (saturating GAN)")
    ax[1].semilogy(x, np.maximum(v["grad_critic"], 1e-12), color="#2e86ab", label="|∇ f| (WGAN critic)")
    ax[1].axvline(v["mu_fake"], color="k", lw=0.5, ls="--")
    ax[1].set_ylim(1e-8, 1e3)
    ax[1].legend(fontsize=7, frameon=False)
    ax[1].set_title("gradient the generator receives", fontsize=8)
    fig.tight_layout()
    _save(fig, f"{path_prefix}_vanishing.png", dpi=110)
    plt.close(fig)
    i4 = int(np.argmin(np.abs(x - v["mu_fake"])))
    out["vanishing"] = {"grad_bce_at_fake": v["grad_bce"][i4], "grad_critic_at_fake": v["grad_critic"][i4]}

    p = theory.power_iteration_convergence()
    fig, ax = plt.subplots(1, 2, figsize=(8.6, 3.2))
    ax[0].semilogy(range(1, len(p["fresh_error_vs_iter"]) + 1), p["fresh_error_vs_iter"], color="#e4572e")
    ax[0].set_xlabel("power iterations from a fresh random u")
    ax[0].set_ylabel("relative σ error")
    ax[0].set_title(f"fixed W {p['shape'][0]}x{p['shape'][1]}", fontsize=8)
    ax[1].semilogy(p["persistent_error_vs_step"], color="#2e86ab", label="persistent u, 1 iteration/step")
    ax[1].semilogy(p["fresh1_error_vs_step"], color="#e4572e", alpha=0.7, label="fresh u, 1 iteration/step")
    ax[1].set_xlabel("training step (W drifts each step)")
    ax[1].legend(fontsize=7, frameon=False)
    ax[1].set_title("why SN keeps u between steps", fontsize=8)
    fig.tight_layout()
    _save(fig, f"{path_prefix}_power.png", dpi=110)
    plt.close(fig)
    out["power"] = {"fresh_after_1": p["fresh_error_vs_iter"][0], "fresh_after_all": p["fresh_error_vs_iter"][-1],
                    "iterations": len(p["fresh_error_vs_iter"]),
                    "persistent_median": float(np.median(p["persistent_error_vs_step"][10:])),
                    "fresh1_median": float(np.median(p["fresh1_error_vs_step"]))}
    return out
