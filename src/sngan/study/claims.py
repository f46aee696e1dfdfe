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
# Which rows each rule compares: the clipping row, the GP row, the SN rows and the SN row with the W loss
# (the one whose cost is compared with GP's). A study file may name them (``roles``); otherwise they are
# inferred from its rows (``infer_roles``). A rule whose rows a study lacks gives "no data".
DEFAULT_ROLES: dict[str, Any] = {"clip": "clip-wasserstein", "gp": "gp-wasserstein", "sn": list(SN_ROWS),
                                 "sn_w": "sn-wasserstein"}


def infer_roles(rows: list[dict[str, Any]], declared: dict[str, Any] | None = None) -> dict[str, Any]:
    """Roles from a study's rows (``{"label", "method", "loss"}`` each): clip / gp / sn_w where exactly one
    row fits, sn = every SN row; ``declared`` (the study file's ``roles``) wins."""
    def only(match) -> str | None:
        found = [r["label"] for r in rows if match(r)]
        return found[0] if len(found) == 1 else None

    roles: dict[str, Any] = {"clip": only(lambda r: r["method"] == "clip"), "gp": only(lambda r: r["method"] == "gp"),
                             "sn": [r["label"] for r in rows if r["method"] == "sn"],
                             "sn_w": only(lambda r: r["method"] == "sn" and r["loss"] == "wasserstein")}
    for role, value in (declared or {}).items():
        roles[role] = (value if isinstance(value, list) else [value]) if role == "sn" else value
    return roles


def _roles(ev: dict) -> dict[str, Any]:
    return ev.get("roles") or DEFAULT_ROLES

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
    clip = _roles(ev)["clip"]
    for ds, rows in ev["final"].items():
        q = {k: quality_loss(ds, v) for k, v in rows.items()}
        q = {k: v for k, v in q.items() if v is not None}
        grad = rows.get(clip, {}).get("grad_norm_real_mean")
        if clip not in q or len(q) < 2 or not _finite(grad):
            verdicts.append(None)
            continue
        worst = max(q, key=q.get) == clip
        weak = grad < UNDERFIT_GRAD
        verdicts.append(True if worst and weak else False if not (worst or weak) else "half")
        name = "FID" if ds == "mnist" else "W1"
        parts.append(f"{ds}: clip {name} {_fmt(q[clip])} ({'worst' if worst else 'not worst'}; "
                     f"best {_fmt(min(q.values()))}), clip ‖∇D‖ on real {_fmt(grad, 2)}")
    return _result(verdicts, parts)


def gp_overcorrects(ev: dict) -> dict:
    """Per dataset: GP's generator loss is the roughest of the four methods (std of its step-to-step
    change over its own std) AND its critic's ‖∇D‖ on generated data varies the most over training
    (coefficient of variation across the logged diagnostics). Supported if both hold on every dataset,
    not supported if neither holds on any, mixed otherwise."""
    verdicts, parts = [], []
    gp = _roles(ev)["gp"]
    for ds, rows in ev["final"].items():
        rough = {k: v.get("roughness_loss_g") for k, v in rows.items() if _finite(v.get("roughness_loss_g"))}
        cv = {k: v.get("grad_cv_fake") for k, v in rows.items() if _finite(v.get("grad_cv_fake"))}
        if gp not in rough or gp not in cv or len(rough) < 2:
            verdicts.append(None)
            continue
        a = max(rough, key=rough.get) == gp
        b = max(cv, key=cv.get) == gp
        verdicts.append(True if a and b else False if not (a or b) else "half")
        parts.append(f"{ds}: loss roughness GP {_fmt(rough[gp], 2)} vs max other "
                     f"{_fmt(max(v for k, v in rough.items() if k != gp), 2)}; ‖∇D‖ variation GP "
                     f"{_fmt(cv[gp], 2)} vs max other "
                     f"{_fmt(max((v for k, v in cv.items() if k != gp), default=float('nan')), 2)}")
    return _result(verdicts, parts)


def sn_stable(ev: dict) -> dict:
    """Per dataset, for the SN rows: no SN run diverged, the smoother SN row's generator loss is
    smoother than every non-SN method's, AND SN's quality improves along training (Spearman
    correlation of FID/W1 with the step ≤ −0.6 for every SN row, mean over seeds). Supported if all
    hold on every dataset; not supported if an SN run diverged or none of the parts holds; mixed
    otherwise."""
    verdicts, parts = [], []
    for ds, rows in ev["final"].items():
        sn = [k for k in _roles(ev)["sn"] if k in rows]
        if not sn:
            verdicts.append(None)
            continue
        diverged = sum(rows[k].get("diverged", 0) for k in sn)
        rough = {k: v.get("roughness_loss_g") for k, v in rows.items() if _finite(v.get("roughness_loss_g"))}
        sn_best = min((rough[k] for k in sn if k in rough), default=float("nan"))
        others = [v for k, v in rough.items() if k not in sn]
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
    roles = _roles(ev)
    for ds, rows in ev.get("cost", {}).items():
        gp, sn, clip = (rows.get(k, {}).get("ms_critic_step") if k else None
                        for k in (roles["gp"], roles["sn_w"], roles["clip"]))
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
    sn = _roles(ev)["sn"]
    for ds, rows in ev["final"].items():
        uppers = [u for k in sn for u in rows.get(k, {}).get("lipschitz_upper_values", []) if _finite(u)]
        lowers = [u for k in sn for u in rows.get(k, {}).get("lipschitz_lower_values", []) if _finite(u)]
        if not uppers:
            verdicts.append(None)
            continue
        verdicts.append(max(uppers) <= CERTIFIED)
        near = max(uppers) < 10  # near the threshold: 4 digits, so that 1.002 is not printed as 1
        lo, hi = _fmt(min(uppers), 3 + near), _fmt(max(uppers), 3 + near)
        parts.append(f"{ds}: SN certified upper bound {lo}–{hi}, empirical lower "
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


# -- the lipschitz study: does an exactly 1-Lipschitz critic help? ---------------------------------
# ``ev["sn_modes"]``: each SN row's sn_mode and loss, from the study file's rows.

SAME_QUALITY = 1.10        # a mode "reaches" matrix SN's quality when its FID/W1 is at most this times matrix's
OPERATOR_LIP = 1.05        # operator SN tracks the true norm by power iteration: 1-Lipschitz within this


def _mode_rows(ev: dict, mode: str) -> list[str]:
    return [label for label, m in ev.get("sn_modes", {}).items() if m["mode"] == mode]


def _bound_rule(ev: dict, mode: str, limit: float) -> dict:
    verdicts, parts = [], []
    labels = _mode_rows(ev, mode)
    for ds, rows in ev["final"].items():
        uppers = [u for k in labels for u in rows.get(k, {}).get("lipschitz_upper_values", []) if _finite(u)]
        if not uppers:
            verdicts.append(None)
            continue
        verdicts.append(max(uppers) <= limit)
        parts.append(f"{ds}: {mode} SN certified upper bound {_fmt(min(uppers), 4)}–{_fmt(max(uppers), 4)}")
    return _result(verdicts, parts)


def certified_is_1_lipschitz(ev: dict) -> dict:
    """Per dataset: every final critic of a certified-mode SN row has a certified upper bound (product of
    each layer's exact operator norm) of at most 1.01. Supported if so on every dataset, not supported
    on none, mixed otherwise."""
    return _bound_rule(ev, "certified", CERTIFIED)


def operator_is_1_lipschitz(ev: dict) -> dict:
    """Per dataset: every final critic of an operator-mode SN row has a certified upper bound of at most
    1.05 (power iteration tracks the true norm, from below, between steps). Supported if so on every
    dataset, not supported on none, mixed otherwise."""
    return _bound_rule(ev, "operator", OPERATOR_LIP)


def _quality_rule(ev: dict, mode: str) -> dict:
    verdicts, parts = [], []
    modes = ev.get("sn_modes", {})
    for ds, rows in ev["final"].items():
        for loss in sorted({m["loss"] for m in modes.values()}):
            pair = {m["mode"]: label for label, m in modes.items() if m["loss"] == loss and label in rows}
            if mode not in pair or "matrix" not in pair:
                continue
            q, base = quality_loss(ds, rows[pair[mode]]), quality_loss(ds, rows[pair["matrix"]])
            if q is None or base is None or base <= 0:
                continue
            verdicts.append(q <= SAME_QUALITY * base)
            name = "FID" if ds == "mnist" else "W1"
            parts.append(f"{ds} {loss}: {mode} {name} {_fmt(q)} vs matrix {_fmt(base)} ({q / base:.2f}x)")
    return _result(verdicts or [None], parts)


def certified_reaches_matrix(ev: dict) -> dict:
    """Per dataset and loss: the certified-mode SN row's final FID (MNIST) / exact W1 (toys), mean over
    seeds, is at most 1.1x the matrix-mode row's with the same loss, each trained for the same CPU budget
    (certified SN costs more per step, so it trains fewer steps). Supported if so for every pair, not
    supported for none, mixed otherwise."""
    return _quality_rule(ev, "certified")


def operator_reaches_matrix(ev: dict) -> dict:
    """Per dataset and loss: the operator-mode SN row's final FID / exact W1 (mean over seeds) is at most
    1.1x the matrix-mode row's with the same loss at the same CPU budget. Supported if so for every pair,
    not supported for none, mixed otherwise."""
    return _quality_rule(ev, "operator")


def certified_cheaper_than_gp(ev: dict) -> dict:
    """Per dataset: a certified-mode SN critic step (W loss where there is one) costs less than a GP
    critic step (medians of interleaved repeats in one process). Supported if so on every dataset, not
    supported on none, mixed otherwise."""
    verdicts, parts = [], []
    gp = _roles(ev)["gp"]
    modes = ev.get("sn_modes", {})
    certified = sorted(_mode_rows(ev, "certified"), key=lambda k: modes[k]["loss"] != "wasserstein")
    for ds, rows in ev.get("cost", {}).items():
        g = rows.get(gp, {}).get("ms_critic_step") if gp else None
        c = rows.get(certified[0], {}).get("ms_critic_step") if certified else None
        if not (_finite(g) and _finite(c)):
            verdicts.append(None)
            continue
        verdicts.append(c < g)
        parts.append(f"{ds}: critic step certified SN {_fmt(c)} ms, GP {_fmt(g)} ms (certified/GP {c / g:.2f})")
    return _result(verdicts, parts)


LIPSCHITZ_CLAIMS: tuple[tuple[str, str, Any, str], ...] = (
    ("certified_is_1_lipschitz", "Certified SN makes the critic 1-Lipschitz", certified_is_1_lipschitz,
     "fig-bounds"),
    ("operator_is_1_lipschitz", "Operator SN keeps the critic 1-Lipschitz within 5%", operator_is_1_lipschitz,
     "fig-bounds"),
    ("certified_reaches_matrix", "Exactly 1-Lipschitz SN reaches matrix SN's quality at equal CPU",
     certified_reaches_matrix, "fig-quality"),
    ("operator_reaches_matrix", "Operator SN reaches matrix SN's quality at equal CPU", operator_reaches_matrix,
     "fig-quality"),
    ("certified_cheaper_than_gp", "Certified SN is cheaper than GP", certified_cheaper_than_gp, "table-cost"),
)
CLAIM_SETS = {"write-up": CLAIMS, "lipschitz": LIPSCHITZ_CLAIMS}


# Rules that read only what a study measures once, not its runs' training: the same verdict at every budget.
BUDGET_FREE = {"sn_cheaper": "the cost per step", "sn_no_tuning": "the equal-effort tuning",
               "certified_cheaper_than_gp": "the cost per step"}


def budget_free_note(by_budget: dict[str, list[dict[str, str]]]) -> str:
    """One sentence naming the claims whose verdicts do not change with the budget because their rules read
    nothing of the training (``BUDGET_FREE``; judged, with the same evidence, at every budget), or ""."""
    def same(cid: str) -> bool:
        at = {(c["verdict"], c["evidence"]) for claims in by_budget.values() for c in claims if c["id"] == cid}
        return len(at) == 1 and next(iter(at))[0] != NO_DATA

    rows = [c for c in next(iter(by_budget.values()), []) if c["id"] in BUDGET_FREE and same(c["id"])]
    if not rows:
        return ""
    names = " and ".join(f"“{c['claim']}”" for c in rows)
    what = " and ".join(dict.fromkeys(BUDGET_FREE[c["id"]] for c in rows))
    return (f"{names} read only {what}, measured once for the whole study, not the runs' training: "
            f"{'its verdict is' if len(rows) == 1 else 'their verdicts are'} the same at every budget by construction.")


def budget_changes(by_budget: dict[str, list[dict[str, str]]]) -> list[str]:
    """One sentence per claim whose verdict differs between budgets ("mixed at 1x, supported at 4x and 16x"),
    then one naming the claims whose verdict held at every budget. Empty for a study at one budget."""
    if len(by_budget) < 2:
        return []
    changed, held = [], []
    for claim, at in at_each_budget(by_budget):
        runs: list[tuple[str, list[str]]] = []  # (verdict, budgets) for each stretch of budgets with one verdict
        for budget, row in zip(by_budget, at):
            if runs and runs[-1][0] == row["verdict"]:
                runs[-1][1].append(budget)
            else:
                runs.append((row["verdict"], [budget]))
        if len(runs) == 1:
            held.append(f"“{claim['claim']}” ({runs[0][0]})")
            continue
        parts = [f"{v} at {', '.join(b[:-1]) + ' and ' + b[-1] if len(b) > 1 else b[0]}" for v, b in runs]
        changed.append(f"“{claim['claim']}”: {', '.join(parts)}.")
    if held:
        changed.append(f"The same verdict at every budget: {', '.join(held)}.")
    return changed


def at_each_budget(by_budget: dict[str, list[dict[str, str]]]) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    """``claims_by_budget`` turned around: per claim, its verdict row at every budget (in the budgets' order)."""
    return list(zip(next(iter(by_budget.values()), []), zip(*by_budget.values())))


def verdicts(evidence: dict, claim_set: str = "write-up") -> list[dict[str, str]]:
    """One row per claim of ``claim_set``: id, claim, verdict, evidence (one line of numbers), rule, ref."""
    out = []
    for cid, text, rule, ref in CLAIM_SETS[claim_set]:
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


CONCLUSIONS.update({
    "certified_is_1_lipschitz": {
        SUPPORTED: "Certified spectral normalization made every critic 1-Lipschitz: its certified bound is at "
                   f"most {CERTIFIED:g} on every dataset.",
        NOT_SUPPORTED: "Certified spectral normalization did not keep the critics' certified bound at 1.",
        MIXED: "Certified spectral normalization kept the bound at 1 on some datasets only."},
    "operator_is_1_lipschitz": {
        SUPPORTED: f"Operator-mode spectral normalization kept every critic within {OPERATOR_LIP:g} of "
                   "1-Lipschitz.",
        NOT_SUPPORTED: "Operator-mode spectral normalization let the critics' true Lipschitz bound drift above "
                       f"{OPERATOR_LIP:g}: power iteration estimates the norm from below.",
        MIXED: "Operator-mode spectral normalization stayed near 1-Lipschitz on some datasets only."},
    "certified_reaches_matrix": {
        SUPPORTED: "An exactly 1-Lipschitz critic did not cost quality: certified SN came within "
                   f"{SAME_QUALITY:g}x of matrix SN at the same CPU budget, for every loss and dataset.",
        NOT_SUPPORTED: "An exactly 1-Lipschitz critic cost quality here: certified SN trailed matrix SN at the "
                       "same CPU budget for every loss and dataset.",
        MIXED: "An exactly 1-Lipschitz critic matched matrix SN's quality for some losses or datasets only."},
    "operator_reaches_matrix": {
        SUPPORTED: f"Operator SN came within {SAME_QUALITY:g}x of matrix SN's quality at the same CPU budget.",
        NOT_SUPPORTED: "Operator SN trailed matrix SN's quality at the same CPU budget everywhere.",
        MIXED: "Operator SN matched matrix SN's quality for some losses or datasets only."},
    "certified_cheaper_than_gp": {
        SUPPORTED: "Certified SN's critic step is cheaper than the gradient penalty's on every dataset.",
        NOT_SUPPORTED: "Certified SN's critic step costs more than the gradient penalty's.",
        MIXED: "Certified SN's critic step is cheaper than the gradient penalty's on some datasets only."},
})
