"""The claims of "Stabilizing GANs: A Case for Spectral Normalization", each with a verdict computed
from the numbers by a stated rule.

Every rule reads only the ``evidence`` dict that ``gather`` builds from a study's summary (and the
committed tuning results), so the verdicts can be tested on summaries with known outcomes. A verdict
is "supported", "not supported", "mixed" (the rule's parts disagree, or it holds on some datasets and
not on others) or "no data". Nothing here is written by hand per study.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

SUPPORTED, NOT_SUPPORTED, MIXED, NO_DATA = "supported", "not supported", "mixed", "no data"
ROWS = ("clip-wasserstein", "gp-wasserstein", "sn-wasserstein", "sn-hinge")
SN_ROWS = ("sn-wasserstein", "sn-hinge")
SHORT = {"clip-wasserstein": "clip", "gp-wasserstein": "GP", "sn-wasserstein": "SN", "sn-hinge": "SN-hinge"}

# Thresholds of the rules (stated in each rule's text).
UNDERFIT_GRAD = 0.5        # mean ‖∇D‖ on real data below this: the critic uses under half its Lipschitz budget
CHEAPER = 1.05             # GP / SN cost per critic step at least this: SN is cheaper
CERTIFIED = 1.01           # certified upper bound at most this: 1-Lipschitz (power-iteration tolerance)
NO_TUNING_REGRET = 1.25    # SN at the papers' default point within this factor of its tuned best
MONOTONE = -0.6            # Spearman correlation of quality-loss (FID or W1) with steps at most this


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def quality_loss(dataset: str, cell: dict[str, Any]) -> float | None:
    """Lower is better: FID on MNIST, exact W1 on toys (the mean over seeds)."""
    key = "fid" if dataset == "mnist" else "w1_exact"
    value = cell.get(key)
    return value if _finite(value) else None


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties); nan for fewer than 3 points."""
    if len(x) < 3:
        return float("nan")

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r

    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def _fmt(x: Any, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if _finite(x) else "–"


# -- the rules ----------------------------------------------------------------------------------

def clip_underfits(ev: dict) -> dict:
    """Per dataset: clipping has the worst final quality of the four methods AND its critic's mean
    ‖∇D‖ on real data is below 0.5. Supported if both hold on every dataset, not supported if neither
    holds on any dataset, mixed otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev["final"].items():
        q = {k: quality_loss(ds, v) for k, v in rows.items()}
        q = {k: v for k, v in q.items() if v is not None}
        grad = rows.get("clip-wasserstein", {}).get("grad_norm_real_mean")
        if "clip-wasserstein" not in q or len(q) < 2 or not _finite(grad):
            verdicts.append(None)
            continue
        worst = max(q, key=q.get) == "clip-wasserstein"
        weak = grad < UNDERFIT_GRAD
        verdicts.append(True if worst and weak else False if not (worst or weak) else "half")
        name = "FID" if ds == "mnist" else "W1"
        parts.append(f"{ds}: clip {name} {_fmt(q['clip-wasserstein'])} ({'worst' if worst else 'not worst'}; "
                     f"best {_fmt(min(q.values()))}), clip ‖∇D‖ on real {_fmt(grad, 2)}")
    return _result(verdicts, parts)


def gp_overcorrects(ev: dict) -> dict:
    """Per dataset: GP's generator loss is the roughest of the four methods (std of its step-to-step
    change over its own std) AND its critic's ‖∇D‖ on generated data varies the most over training
    (coefficient of variation across the logged diagnostics). Supported if both hold on every dataset,
    not supported if neither holds on any, mixed otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev["final"].items():
        rough = {k: v.get("roughness_loss_g") for k, v in rows.items() if _finite(v.get("roughness_loss_g"))}
        cv = {k: v.get("grad_cv_fake") for k, v in rows.items() if _finite(v.get("grad_cv_fake"))}
        if "gp-wasserstein" not in rough or "gp-wasserstein" not in cv or len(rough) < 2:
            verdicts.append(None)
            continue
        a = max(rough, key=rough.get) == "gp-wasserstein"
        b = max(cv, key=cv.get) == "gp-wasserstein"
        verdicts.append(True if a and b else False if not (a or b) else "half")
        parts.append(f"{ds}: loss roughness GP {_fmt(rough['gp-wasserstein'], 2)} vs max other "
                     f"{_fmt(max(v for k, v in rough.items() if k != 'gp-wasserstein'), 2)}; ‖∇D‖ variation GP "
                     f"{_fmt(cv['gp-wasserstein'], 2)} vs max other "
                     f"{_fmt(max((v for k, v in cv.items() if k != 'gp-wasserstein'), default=float('nan')), 2)}")
    return _result(verdicts, parts)


def sn_stable(ev: dict) -> dict:
    """Per dataset, for the SN rows: no SN run diverged, the smoother SN row's generator loss is
    smoother than every non-SN method's, AND SN's quality improves along training (Spearman
    correlation of FID/W1 with the step ≤ −0.6 for every SN row, mean over seeds). Supported if all
    hold on every dataset; not supported if an SN run diverged or none of the parts holds; mixed
    otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev["final"].items():
        sn = [k for k in SN_ROWS if k in rows]
        if not sn:
            verdicts.append(None)
            continue
        diverged = sum(rows[k].get("diverged", 0) for k in sn)
        rough = {k: v.get("roughness_loss_g") for k, v in rows.items() if _finite(v.get("roughness_loss_g"))}
        sn_best = min((rough[k] for k in sn if k in rough), default=float("nan"))
        others = [v for k, v in rough.items() if k not in SN_ROWS]
        smooth = _finite(sn_best) and bool(others) and sn_best < min(others)
        trend = [ev.get("trend", {}).get(ds, {}).get(k) for k in sn]
        improving = all(_finite(t) and t <= MONOTONE for t in trend)
        if diverged:
            verdicts.append(False)
        else:
            verdicts.append(True if smooth and improving else False if not (smooth or improving) else "half")
        parts.append(f"{ds}: SN diverged runs {int(diverged)}; smoothest SN loss roughness {_fmt(sn_best, 2)} vs "
                     f"smoothest other {_fmt(min(others) if others else float('nan'), 2)}; quality trend ρ "
                     + "/".join(_fmt(t, 2) for t in trend))
    return _result(verdicts, parts)


def sn_cheaper(ev: dict) -> dict:
    """Per dataset: a GP critic step costs at least 1.05x an SN (W loss) critic step (medians of
    interleaved repeats in one process). Supported if so on every dataset, not supported if GP is
    not costlier on any, mixed otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev.get("cost", {}).items():
        gp, sn, clip = (rows.get(k, {}).get("ms_critic_step") for k in ("gp-wasserstein", "sn-wasserstein",
                                                                         "clip-wasserstein"))
        if not (_finite(gp) and _finite(sn)):
            verdicts.append(None)
            continue
        ratio = gp / sn
        verdicts.append(True if ratio >= CHEAPER else False if ratio <= 1.0 else "half")
        parts.append(f"{ds}: critic step GP {_fmt(gp)} ms, SN {_fmt(sn)} ms (GP/SN {ratio:.2f})"
                     + (f", clip {_fmt(clip)} ms" if _finite(clip) else ""))
    return _result(verdicts, parts)


def sn_lipschitz(ev: dict) -> dict:
    """Per dataset: every final SN critic's certified upper bound (product of each layer's exact
    operator norm) is at most 1.01. Supported if so on every dataset, not supported on none, mixed
    otherwise (e.g. an MLP critic certified, a conv critic whose reshaped-kernel σ underestimates
    the convolution's norm not)."""
    verdicts, parts = [], []
    for ds, rows in ev["final"].items():
        uppers = [u for k in SN_ROWS for u in rows.get(k, {}).get("lipschitz_upper_values", []) if _finite(u)]
        lowers = [u for k in SN_ROWS for u in rows.get(k, {}).get("lipschitz_lower_values", []) if _finite(u)]
        if not uppers:
            verdicts.append(None)
            continue
        verdicts.append(max(uppers) <= CERTIFIED)
        parts.append(f"{ds}: SN certified upper bound {_fmt(min(uppers))}–{_fmt(max(uppers))}, empirical lower "
                     f"bound {_fmt(min(lowers, default=float('nan')))}–{_fmt(max(lowers, default=float('nan')))}")
    return _result(verdicts, parts)


def sn_no_tuning(ev: dict) -> dict:
    """From the equal-effort tuning (the same search and CPU budget per point for every method), per
    dataset: each SN row's result at the search's point nearest the SN paper's setting (the lower
    learning rate of the grid, n_critic 1, beta1 0.5, one power iteration) is within 1.25x of its tuned
    best in FID/W1, AND SN's spread over the search (median point / best) is smaller than both
    clipping's and GP's. Supported if both hold on every dataset, not supported if neither holds on
    any, mixed otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev.get("tuning", {}).items():
        spread = {k: v["spread"] for k, v in rows.items() if _finite(v.get("spread"))}
        regret = [rows[k]["default_regret"] for k in SN_ROWS if _finite(rows.get(k, {}).get("default_regret"))]
        if not regret or not all(k in spread for k in ("clip-wasserstein", "gp-wasserstein")):
            verdicts.append(None)
            continue
        a = max(regret) <= NO_TUNING_REGRET
        b = all(spread[k] < min(spread["clip-wasserstein"], spread["gp-wasserstein"]) for k in SN_ROWS if k in spread)
        verdicts.append(True if a and b else False if not (a or b) else "half")
        parts.append(f"{ds}: SN default/tuned {'/'.join(_fmt(r, 3) for r in regret)}; spread over the search "
                     + ", ".join(f"{SHORT[k]} {_fmt(v, 3)}" for k, v in spread.items()))
    return _result(verdicts, parts)


def _result(per_dataset: list, parts: list[str]) -> dict:
    """Combine per-dataset outcomes: True (the rule holds), False (none of its parts holds), "half"
    (some parts hold) or None (no data)."""
    known = [v for v in per_dataset if v is not None]
    if not known:
        verdict = NO_DATA
    elif all(v is True for v in known):
        verdict = SUPPORTED
    elif all(v is False for v in known):
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    return {"verdict": verdict, "evidence": "; ".join(parts) if parts else "no runs with the numbers this rule needs"}


CLAIMS: tuple[tuple[str, str, Any, str], ...] = (
    ("clip_underfits", "Weight clipping underfits", clip_underfits, "fig-quality"),
    ("gp_overcorrects", "GP over-corrects with highly variable gradients", gp_overcorrects, "fig-losses"),
    ("sn_stable", "SN reduces the loss gradually and stably", sn_stable, "fig-losses"),
    ("sn_cheaper", "SN is computationally cheaper (than GP)", sn_cheaper, "table-cost"),
    ("sn_lipschitz", "SN directly enforces global Lipschitz-1", sn_lipschitz, "fig-bounds"),
    ("sn_no_tuning", "SN needs no hyperparameter tuning", sn_no_tuning, "table-tuning"),
)


def verdicts(evidence: dict) -> list[dict[str, str]]:
    """One row per claim: id, claim, verdict, evidence (one line of numbers), rule, ref (figure id)."""
    out = []
    for cid, text, rule, ref in CLAIMS:
        r = rule(evidence)
        out.append({"id": cid, "claim": text, "verdict": r["verdict"], "evidence": r["evidence"],
                    "rule": " ".join(rule.__doc__.split()), "ref": ref})
    return out


def tuning_evidence(tuning: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Per dataset and row, from tuning.json: ``spread`` (median over the searched points of FID/W1,
    divided by the best) and ``default_regret`` (the default point's FID/W1 over the best's)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for ds, rows in tuning.get("points", {}).items():
        for label, pts in rows.items():
            losses = [(quality_loss(ds, p["final"]), p) for p in pts]
            losses = [(q, p) for q, p in losses if q is not None and q > 0]
            if not losses:
                continue
            best = min(q for q, _ in losses)
            default = [q for q, p in losses if p["stage"] == 1 and p["point"]["lr"] == min(
                pp["point"]["lr"] for pp in pts if pp["stage"] == 1)]
            out.setdefault(ds, {})[label] = {
                "spread": statistics.median(q for q, _ in losses) / best,
                "default_regret": default[0] / best if default else float("nan"),
                "best": best, "points": len(losses)}
    return out


# The conclusion, written from the verdicts: one sentence per claim and verdict, then the measured
# evidence. A claim that held says so; one that did not says what was measured instead.
CONCLUSIONS: dict[str, dict[str, str]] = {
    "clip_underfits": {
        SUPPORTED: "Weight clipping underfits: on every dataset it ended with the worst quality of the methods "
                   f"while its critic used under {UNDERFIT_GRAD:g} of its Lipschitz budget (mean gradient norm on "
                   "real data).",
        NOT_SUPPORTED: "Weight clipping did not underfit as claimed: on no dataset was it both the worst method and "
                       "a weak critic.",
        MIXED: "Weight clipping underfit only in part.",
    },
    "gp_overcorrects": {
        SUPPORTED: "The gradient penalty over-corrects: on every dataset its generator loss was the roughest and "
                   "its critic's gradient norm varied the most along training.",
        NOT_SUPPORTED: "The gradient penalty did not over-correct here: on no dataset were its loss or its critic's "
                       "gradient norm the most variable.",
        MIXED: "The gradient penalty over-corrected only in part.",
    },
    "sn_stable": {
        SUPPORTED: "Spectral normalization trained stably: no SN run diverged, an SN generator loss was the "
                   "smoothest, and SN's quality improved along every run.",
        NOT_SUPPORTED: "Spectral normalization did not train more stably than the other methods here.",
        MIXED: "Spectral normalization trained stably only in part.",
    },
    "sn_cheaper": {
        SUPPORTED: f"Spectral normalization is cheaper than the gradient penalty: a GP critic step cost at least "
                   f"{CHEAPER:g}x an SN critic step on every dataset.",
        NOT_SUPPORTED: "Spectral normalization was not cheaper than the gradient penalty here.",
        MIXED: "Spectral normalization was cheaper than the gradient penalty on some datasets only.",
    },
    "sn_lipschitz": {
        SUPPORTED: f"Spectral normalization enforced a global Lipschitz constant of 1: every SN critic's certified "
                   f"bound is at most {CERTIFIED:g}.",
        NOT_SUPPORTED: "Spectral normalization as the study applies it (to each layer's reshaped kernel) did not "
                       "enforce global Lipschitz-1: the certified bounds of its critics are above 1.",
        MIXED: "Spectral normalization certified Lipschitz-1 on some datasets only: a convolution's operator norm is "
               "not the σ of its reshaped kernel.",
    },
    "sn_no_tuning": {
        SUPPORTED: f"Spectral normalization needed no tuning: its default point came within {NO_TUNING_REGRET:g}x of "
                   "its tuned best and its results varied least over the equal-effort search.",
        NOT_SUPPORTED: "Spectral normalization did need tuning here: its default point was far from its best and its "
                       "results varied over the search at least as much as the others'.",
        MIXED: "Spectral normalization's freedom from tuning held only in part.",
    },
}


def conclusion(rows: list[dict[str, str]], measured: bool = True) -> list[str]:
    """One sentence per claim from its verdict (``verdicts``' rows), then (``measured``) what was measured."""
    out = []
    for row in rows:
        if row["verdict"] == NO_DATA:
            out.append(f"“{row['claim']}” could not be judged: this study has no runs with the numbers its rule needs.")
            continue
        sentence = CONCLUSIONS.get(row["id"], {}).get(row["verdict"], f"“{row['claim']}”: {row['verdict']}.")
        out.append(f"{sentence} Measured: {row['evidence']}." if measured else sentence)
    return out


def tally(rows: list[dict[str, str]]) -> str:
    """"2 supported, 3 mixed, 1 not supported" (verdicts that occur, in a fixed order)."""
    counts = [(sum(r["verdict"] == v for r in rows), v) for v in (SUPPORTED, MIXED, NOT_SUPPORTED, NO_DATA)]
    return ", ".join(f"{n} {v}" for n, v in counts if n)
