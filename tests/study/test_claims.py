"""The claim rules on summaries with known outcomes: every verdict of every claim."""

import math

import pytest
from scipy.stats import spearmanr

from sngan.study import claims as C

ROWS = C.ROWS


def final(mnist_fid=None, ring_w1=None, **per_row):
    """Evidence['final'] with FID / W1 per row and any other per-row value (dict row -> value)."""
    out = {}
    for ds, q, key in (("mnist", mnist_fid, "fid"), ("ring8", ring_w1, "w1_exact")):
        if q is None:
            continue
        out[ds] = {row: {key: q[row]} for row in q}
        for name, values in per_row.items():
            for row, v in values.get(ds, {}).items():
                out[ds][row][name] = v
    return out


GOOD = {"clip-wasserstein": 300.0, "gp-wasserstein": 60.0, "sn-wasserstein": 50.0, "sn-hinge": 40.0}
GOOD_W1 = {"clip-wasserstein": 0.9, "gp-wasserstein": 0.2, "sn-wasserstein": 0.1, "sn-hinge": 0.15}


def verdict(rule, ev):
    return rule(ev)["verdict"]


def test_clip_underfits_every_outcome():
    weak = {"mnist": {"clip-wasserstein": 0.1}, "ring8": {"clip-wasserstein": 0.2}}
    assert verdict(C.clip_underfits, {"final": final(GOOD, GOOD_W1, grad_norm_real_mean=weak)}) == C.SUPPORTED
    strong = {"mnist": {"clip-wasserstein": 0.9}, "ring8": {"clip-wasserstein": 0.8}}
    better = dict(GOOD, **{"clip-wasserstein": 45.0})
    better_w1 = dict(GOOD_W1, **{"clip-wasserstein": 0.12})
    assert verdict(C.clip_underfits, {"final": final(better, better_w1, grad_norm_real_mean=strong)}) == C.NOT_SUPPORTED
    # worst but with a strong critic: half of the rule
    assert verdict(C.clip_underfits, {"final": final(GOOD, GOOD_W1, grad_norm_real_mean=strong)}) == C.MIXED
    # holds on MNIST, fails entirely on ring8
    mixed = {"mnist": {"clip-wasserstein": 0.1}, "ring8": {"clip-wasserstein": 0.8}}
    assert verdict(C.clip_underfits, {"final": final(GOOD, better_w1, grad_norm_real_mean=mixed)}) == C.MIXED
    assert verdict(C.clip_underfits, {"final": {}}) == C.NO_DATA
    assert "clip FID 300" in C.clip_underfits({"final": final(GOOD, None, grad_norm_real_mean=weak)})["evidence"]


def test_gp_overcorrects_every_outcome():
    rough_gp = {ds: {"clip-wasserstein": 0.5, "gp-wasserstein": 1.3, "sn-wasserstein": 0.4, "sn-hinge": 0.6}
                for ds in ("mnist", "ring8")}
    cv_gp = {ds: {"clip-wasserstein": 0.1, "gp-wasserstein": 0.9, "sn-wasserstein": 0.2, "sn-hinge": 0.3}
             for ds in ("mnist", "ring8")}
    ev = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough_gp, grad_cv_fake=cv_gp)}
    assert verdict(C.gp_overcorrects, ev) == C.SUPPORTED
    rough_sn = {ds: dict(v, **{"gp-wasserstein": 0.3}) for ds, v in rough_gp.items()}
    cv_sn = {ds: dict(v, **{"gp-wasserstein": 0.05}) for ds, v in cv_gp.items()}
    ev = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough_sn, grad_cv_fake=cv_sn)}
    assert verdict(C.gp_overcorrects, ev) == C.NOT_SUPPORTED
    ev = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough_gp, grad_cv_fake=cv_sn)}
    assert verdict(C.gp_overcorrects, ev) == C.MIXED
    assert verdict(C.gp_overcorrects, {"final": final(GOOD, GOOD_W1)}) == C.NO_DATA


def test_sn_stable_every_outcome():
    rough = {ds: {"clip-wasserstein": 0.5, "gp-wasserstein": 1.3, "sn-wasserstein": 0.4, "sn-hinge": 0.2}
             for ds in ("mnist", "ring8")}
    trend = {ds: {"sn-wasserstein": -0.9, "sn-hinge": -0.8} for ds in ("mnist", "ring8")}
    ev = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough), "trend": trend}
    assert verdict(C.sn_stable, ev) == C.SUPPORTED
    diverged = {"mnist": {"sn-hinge": 1.0}}
    ev_div = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough, diverged=diverged), "trend": trend}
    assert verdict(C.sn_stable, ev_div) == C.MIXED  # fails on MNIST, holds on ring8
    ev_div["final"]["ring8"]["sn-wasserstein"]["diverged"] = 1.0
    assert verdict(C.sn_stable, ev_div) == C.NOT_SUPPORTED
    flat = {ds: {"sn-wasserstein": -0.9, "sn-hinge": -0.2} for ds in ("mnist", "ring8")}
    assert verdict(C.sn_stable, {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough), "trend": flat}) == C.MIXED
    rough_bad = {ds: dict(v, **{"sn-wasserstein": 2.0, "sn-hinge": 2.0}) for ds, v in rough.items()}
    ev = {"final": final(GOOD, GOOD_W1, roughness_loss_g=rough_bad), "trend": flat}
    assert verdict(C.sn_stable, ev) == C.NOT_SUPPORTED


def _cost(gp, sn):
    return {"gp-wasserstein": {"ms_critic_step": gp}, "sn-wasserstein": {"ms_critic_step": sn},
            "clip-wasserstein": {"ms_critic_step": sn}}


def test_sn_cheaper_every_outcome():
    assert verdict(C.sn_cheaper, {"cost": {"mnist": _cost(130, 70), "ring8": _cost(6.3, 5.4)}}) == C.SUPPORTED
    assert verdict(C.sn_cheaper, {"cost": {"mnist": _cost(60, 70), "ring8": _cost(5.0, 5.4)}}) == C.NOT_SUPPORTED
    assert verdict(C.sn_cheaper, {"cost": {"mnist": _cost(130, 70), "ring8": _cost(5.0, 5.4)}}) == C.MIXED
    assert verdict(C.sn_cheaper, {"cost": {"mnist": _cost(72, 70)}}) == C.MIXED  # costlier, but under 5%
    assert verdict(C.sn_cheaper, {}) == C.NO_DATA
    assert "GP/SN 1.86" in C.sn_cheaper({"cost": {"mnist": _cost(130, 70)}})["evidence"]


def _bounds(mnist, ring8):
    out = {}
    for ds, ups in (("mnist", mnist), ("ring8", ring8)):
        out[ds] = {row: {"lipschitz_upper_values": ups, "lipschitz_lower_values": [0.5]} for row in C.SN_ROWS}
    return out


def test_sn_lipschitz_every_outcome():
    assert verdict(C.sn_lipschitz, {"final": _bounds([1.0, 1.005], [0.99])}) == C.SUPPORTED
    assert verdict(C.sn_lipschitz, {"final": _bounds([11.2, 9.0], [1.0])}) == C.MIXED
    assert verdict(C.sn_lipschitz, {"final": _bounds([11.2], [1.3])}) == C.NOT_SUPPORTED
    assert verdict(C.sn_lipschitz, {"final": _bounds([], [])}) == C.NO_DATA
    # the boundary: 1.01 is certified (power-iteration tolerance), 1.0101 is not
    assert verdict(C.sn_lipschitz, {"final": _bounds([1.01], [1.01])}) == C.SUPPORTED
    assert verdict(C.sn_lipschitz, {"final": _bounds([1.0101], [1.0101])}) == C.NOT_SUPPORTED
    # near the threshold the bound is printed with 4 digits (a 1.0021 that reads "1" would hide the test)
    evidence = C.sn_lipschitz({"final": _bounds([85.04, 102.1], [1.0002, 1.0021])})["evidence"]
    assert "mnist: SN certified upper bound 85–102," in evidence
    assert "ring8: SN certified upper bound 1–1.002," in evidence


def _tuning(ds, label, fids, lrs=(5e-4, 2e-3)):
    """A tuning result: stage 1 at both learning rates, then more points."""
    pts = []
    for i, f in enumerate(fids):
        stage = 1 if i < 2 else 2
        lr = lrs[i] if i < 2 else lrs[1]
        key = "fid" if ds == "mnist" else "w1_exact"
        pts.append({"stage": stage, "point": {"lr": lr}, "final": {key: f}})
    return pts


def test_tuning_evidence_is_exact():
    t = {"points": {"mnist": {"sn-hinge": _tuning("mnist", "sn-hinge", [40.0, 20.0, 30.0, 80.0])}}}
    ev = C.tuning_evidence(t)["mnist"]["sn-hinge"]
    assert ev["best"] == 20.0
    assert ev["default_regret"] == 2.0          # the lower learning rate of stage 1: 40 / 20
    assert ev["spread"] == pytest.approx(35.0 / 20.0)   # median of 20, 30, 40, 80 = 35


def test_sn_no_tuning_every_outcome():
    def tuning(sn, other):
        return {"mnist": {"sn-wasserstein": sn, "sn-hinge": sn, "clip-wasserstein": other, "gp-wasserstein": other}}

    flat = {"spread": 1.1, "default_regret": 1.05}
    steep = {"spread": 3.0, "default_regret": 4.0}
    assert verdict(C.sn_no_tuning, {"tuning": tuning(flat, steep)}) == C.SUPPORTED
    assert verdict(C.sn_no_tuning, {"tuning": tuning(steep, flat)}) == C.NOT_SUPPORTED
    assert verdict(C.sn_no_tuning, {"tuning": tuning({"spread": 1.1, "default_regret": 2.0}, steep)}) == C.MIXED
    assert verdict(C.sn_no_tuning, {"tuning": {}}) == C.NO_DATA


def test_spearman_matches_scipy():
    x = [1, 2, 3, 4, 5, 6]
    for y in ([5.0, 4.0, 4.0, 2.0, 1.0, 0.5], [1.0, 3.0, 2.0, 5.0, 4.0, 6.0], [2.0, 2.0, 2.0, 1.0, 3.0, 3.0]):
        assert C.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert math.isnan(C.spearman([1, 2], [2, 1]))


def test_verdicts_cover_every_claim_with_its_rule():
    rows = C.verdicts({"final": {}, "cost": {}, "trend": {}, "tuning": {}})
    assert [r["id"] for r in rows] == ["clip_underfits", "gp_overcorrects", "sn_stable", "sn_cheaper",
                                       "sn_lipschitz", "sn_no_tuning"]
    assert all(r["verdict"] == C.NO_DATA and r["rule"] and r["ref"] for r in rows)


def test_conclusion_is_written_from_the_verdicts():
    rows = [{"id": "sn_cheaper", "claim": "SN is computationally cheaper (than GP)", "verdict": C.SUPPORTED,
             "evidence": "mnist: GP/SN 1.38"},
            {"id": "sn_lipschitz", "claim": "SN directly enforces global Lipschitz-1", "verdict": C.NOT_SUPPORTED,
             "evidence": "mnist: SN certified upper bound 67.5–107"},
            {"id": "gp_overcorrects", "claim": "GP over-corrects", "verdict": C.NO_DATA, "evidence": ""}]
    out = C.conclusion(rows)
    assert out[0] == C.CONCLUSIONS["sn_cheaper"][C.SUPPORTED] + " Measured: mnist: GP/SN 1.38."
    assert out[0].startswith("Spectral normalization is cheaper than the gradient penalty")
    # a claim that did not hold says what was measured instead
    assert out[1].startswith("Spectral normalization as the study applies it") and out[1].endswith("67.5–107.")
    assert out[2] == "“GP over-corrects” could not be judged: this study has no runs with the numbers its rule needs."
    assert C.conclusion(rows, measured=False)[0] == C.CONCLUSIONS["sn_cheaper"][C.SUPPORTED]
    assert C.tally(rows) == "1 supported, 1 not supported, 1 no data"
    # every claim has a sentence for every verdict a rule can give
    assert {cid for claims in C.CLAIM_SETS.values() for cid, *_ in claims} == set(C.CONCLUSIONS)
    assert all(set(s) == {C.SUPPORTED, C.NOT_SUPPORTED, C.MIXED} for s in C.CONCLUSIONS.values())


def test_the_budget_free_note_names_only_rules_judged_alike_at_every_budget():
    def claim(cid, verdict, evidence):
        return {"id": cid, "claim": cid.replace("_", " "), "verdict": verdict, "evidence": evidence}

    by = {"1x": [claim("clip_underfits", C.MIXED, "FID 442"), claim("sn_cheaper", C.SUPPORTED, "GP/SN 1.9"),
                 claim("sn_no_tuning", C.MIXED, "spread 1.2"), claim("certified_cheaper_than_gp", C.NO_DATA, "-")],
          "4x": [claim("clip_underfits", C.SUPPORTED, "FID 365"), claim("sn_cheaper", C.SUPPORTED, "GP/SN 1.9"),
                 claim("sn_no_tuning", C.MIXED, "spread 1.2"), claim("certified_cheaper_than_gp", C.NO_DATA, "-")]}
    assert C.budget_free_note(by) == (
        "“sn cheaper” and “sn no tuning” read only the cost per step and the equal-effort tuning, measured once "
        "for the whole study, not the runs' training: their verdicts are the same at every budget by construction.")
    by["4x"][2] = claim("sn_no_tuning", C.MIXED, "spread 1.3")  # other evidence at 4x: not named, never assumed
    assert C.budget_free_note(by).startswith("“sn cheaper” read only the cost per step, ")
    assert "its verdict is the same" in C.budget_free_note(by)
    by["4x"][1] = claim("sn_cheaper", C.MIXED, "GP/SN 1.9")
    assert C.budget_free_note(by) == "" and C.budget_free_note({}) == ""


def test_budget_changes_say_which_verdicts_moved_and_at_which_budgets():
    def at(*verdicts):
        return [{"id": f"c{i}", "claim": f"claim {i}", "verdict": v, "evidence": ""} for i, v in enumerate(verdicts)]

    by = {"1x": at(C.MIXED, C.SUPPORTED, C.NOT_SUPPORTED), "4x": at(C.SUPPORTED, C.SUPPORTED, C.MIXED),
          "16x": at(C.SUPPORTED, C.SUPPORTED, C.NOT_SUPPORTED)}
    assert C.budget_changes(by) == [
        "“claim 0”: mixed at 1x, supported at 4x and 16x.",
        "“claim 2”: not supported at 1x, mixed at 4x, not supported at 16x.",
        "The same verdict at every budget: “claim 1” (supported)."]
    assert C.budget_changes({"1x": by["1x"]}) == [] and C.budget_changes({}) == []
