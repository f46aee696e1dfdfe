"""Gather a study directory's runs into tables and draw its figures (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sngan.train.logging import read_log_lines

COLORS = {"clip-wasserstein": "#8c8c8c", "gp-wasserstein": "#e4572e", "sn-wasserstein": "#2e86ab",
          "sn-hinge": "#29a36a", "none-wasserstein": "#b07aa1"}
NAMES = {"clip-wasserstein": "clipping (WGAN)", "gp-wasserstein": "gradient penalty (WGAN-GP)",
         "sn-wasserstein": "spectral norm (W loss)", "sn-hinge": "spectral norm (hinge)"}
QUALITY = {
    "mnist": ["fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "class_kl_uniform",
              "digits_under_1pct"],
    "toy": ["modes_covered", "high_quality", "w1_exact", "w1_critic"],
}
LIPSCHITZ = ["lipschitz_lower", "lipschitz_upper", "grad_norm_real_mean", "grad_norm_fake_mean",
             "grad_norm_interp_mean"]
LOWER_IS_BETTER = {"fid", "kid", "class_kl_uniform", "digits_under_1pct", "w1_exact"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


@dataclass
class Run:
    dir: Path
    dataset: str
    label: str
    seed: int
    config: dict
    status: str
    log: list[dict]
    metrics: dict = field(default_factory=dict)


def load_runs(study_dir: Path) -> list[Run]:
    runs = []
    for cfg_file in sorted(Path(study_dir).glob("runs/*/*/seed*/config.json")):
        d = cfg_file.parent
        cfg = json.loads(cfg_file.read_text())
        label = f"{cfg['method']}-{cfg['loss']}" if (cfg["method"], cfg["loss"]) != ("sn", "hinge") else "sn-hinge"
        try:
            status = json.loads((d / "status.json").read_text())["status"]
        except (OSError, ValueError, KeyError):
            status = "unknown"
        metrics = {}
        if (d / "metrics.json").exists():
            metrics = json.loads((d / "metrics.json").read_text()).get("metrics", {})
        runs.append(Run(d, cfg["dataset"], label, cfg["seed"], cfg, status, read_log_lines(d / "log.jsonl"), metrics))
    return runs


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of a 95% t-interval (0 for a single value)."""
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), 0.0
    return float(v.mean()), float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))


def roughness(series: list[float]) -> float:
    """std of step-to-step changes divided by the std of the series: ~√2 for white noise, → 0 for a
    smooth trend; scale-free, so methods whose losses live on different scales compare."""
    x = np.asarray([s for s in series if s is not None], dtype=float)
    if len(x) < 3 or x.std() == 0:
        return float("nan")
    return float(np.diff(x).std() / x.std())


def groups(runs: list[Run]) -> dict[str, dict[str, list[Run]]]:
    out: dict[str, dict[str, list[Run]]] = {}
    for r in runs:
        out.setdefault(r.dataset, {}).setdefault(r.label, []).append(r)
    order = list(NAMES)
    return {ds: dict(sorted(g.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
            for ds, g in sorted(out.items())}


def quality_table(runs: list[Run]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    table: dict[str, Any] = {}
    for ds, by_label in groups(runs).items():
        keys = QUALITY["mnist" if ds == "mnist" else "toy"] + LIPSCHITZ
        table[ds] = {}
        for label, rs in by_label.items():
            row = {}
            for k in keys:
                vals = [r.metrics.get(k) for r in rs if r.metrics.get(k) is not None]
                mean, half = ci95(vals)
                row[k] = {"mean": mean, "ci95": half, "n": len(vals), "values": vals}
            for key in ("loss_g", "loss_d", "w1_estimate"):
                vals = [roughness([line.get(key) for line in r.log]) for r in rs if r.log]
                mean, half = ci95(vals)
                row[f"roughness_{key}"] = {"mean": mean, "ci95": half, "n": len(vals), "values": vals}
            row["diverged"] = {"mean": float(sum(r.status == "diverged" for r in rs)), "ci95": 0.0, "n": len(rs),
                               "values": []}
            table[ds][label] = row
    return table


def _series(rs: list[Run], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = sorted({line["step"] for r in rs for line in r.log if line.get(key) is not None})
    if not steps:
        return np.array([]), np.array([]), np.array([])
    mat = np.full((len(rs), len(steps)), np.nan)
    index = {s: i for i, s in enumerate(steps)}
    for j, r in enumerate(rs):
        for line in r.log:
            if line.get(key) is not None:
                mat[j, index[line["step"]]] = line[key]
    return np.asarray(steps), np.nanmean(mat, 0), np.nanstd(mat, 0)


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if k <= 1 or len(y) < k:
        return y
    kernel = np.ones(k) / k
    pad = np.pad(y, (k // 2, k - 1 - k // 2), mode="edge")
    return np.convolve(pad, kernel, mode="valid")


def plot_losses(runs: list[Run], dataset: str, path: Path) -> None:
    plt = _plt()
    by_label = groups(runs).get(dataset, {})
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, title) in zip(axes, (("loss_g", "generator loss"), ("loss_d", "critic loss"),
                                       ("w1_estimate", "W1 estimate E[D(real)] - E[D(fake)]"))):
        for label, rs in by_label.items():
            steps, mean, std = _series(rs, key)
            if len(steps) == 0:
                continue
            k = max(1, len(steps) // 60)
            m, s = _smooth(mean, k), _smooth(std, k)
            ax.plot(steps, m, color=COLORS.get(label), label=NAMES.get(label, label), lw=1.3)
            ax.fill_between(steps, m - s, m + s, color=COLORS.get(label), alpha=0.18, lw=0)
        ax.set_title(title)
        ax.set_xlabel("generator step")
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(f"{dataset}: mean over seeds (band: ± 1 std across seeds, moving average)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _first_seed(rs: list[Run]) -> Run:
    """The run with the lowest seed: the one whose samples and σ curves a figure shows."""
    return min(rs, key=lambda r: r.seed)


def plot_samples(runs: list[Run], dataset: str, path: Path) -> None:
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sigma(runs: list[Run], dataset: str, path: Path) -> None:
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_bounds(table: dict, dataset: str, path: Path) -> None:
    plt = _plt()
    rows = table.get(dataset, {})
    labels = list(rows)
    lo = [rows[k]["lipschitz_lower"]["mean"] for k in labels]
    hi = [rows[k]["lipschitz_upper"]["mean"] for k in labels]
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
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
    fig.savefig(f"{path_prefix}_js_w1.png", dpi=110)
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
    fig.savefig(f"{path_prefix}_vanishing.png", dpi=110)
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
    fig.savefig(f"{path_prefix}_power.png", dpi=110)
    plt.close(fig)
    out["power"] = {"fresh_after_1": p["fresh_error_vs_iter"][0], "fresh_after_all": p["fresh_error_vs_iter"][-1],
                    "iterations": len(p["fresh_error_vs_iter"]),
                    "persistent_median": float(np.median(p["persistent_error_vs_step"][10:])),
                    "fresh1_median": float(np.median(p["fresh1_error_vs_step"]))}
    return out
