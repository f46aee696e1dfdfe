"""Study files: the schema, its refusals, custom rows end to end (locally and through submitit), and the
claims' "no data" when a study lacks the rows a rule compares."""

import json

import numpy as np
import pytest

from conftest import sngan_process
from sngan.errors import UserError
from sngan.study import claims as C
from sngan.study.runner import plan, run_study
from sngan.study.spec import load_study, shipped

CUSTOM = """
name = "modes"
description = "matrix vs operator SN and GP with another lambda, on ring8"
datasets = ["ring8"]
eval_points = 2
diag_points = 2
ckpt_points = 2
eval_samples = { along = 64, final = 200 }

[seeds]
ring8 = 1

[budget]
ring8 = { steps = 4 }

[[rows]]
label = "sn-matrix"
method = "sn"
loss = "hinge"
preset = "tiny"

[[rows]]
label = "sn-operator"
method = "sn"
loss = "hinge"
preset = "tiny"
set = { sn_mode = "operator", n_power_iterations = 2 }

[[rows]]
label = "gp-lambda3"
method = "gp"
preset = "tiny"
set = { gp_weight = 3.0 }
"""


def test_shipped_studies_load_and_quick_is_make_runs_study():
    assert {"quick", "paper", "tiny", "lipschitz"} <= set(shipped())
    for name in shipped():
        spec = load_study(name)
        assert spec.name == name and spec.description and spec.rows
    quick = load_study("quick")
    assert [r.label for r in quick.rows] == ["clip-wasserstein", "gp-wasserstein", "sn-wasserstein", "sn-hinge"]
    assert quick.budget == {"mnist": {"cpu_seconds": 150.0}, "ring8": {"cpu_seconds": 20.0}}
    assert quick.seeds == {"mnist": 2, "ring8": 2} and quick.eval_points == 6
    modes = {r.label: dict(r.overrides).get("sn_mode", "matrix") for r in load_study("lipschitz").rows}
    assert sorted(modes.values()).count("certified") == 2 and sorted(modes.values()).count("operator") == 2


def test_a_study_file_sets_any_key_per_row(tmp_path):
    path = tmp_path / "modes.toml"
    path.write_text(CUSTOM)
    p = plan(path)
    by_label = {r.label: r.config() for r in p.runs}
    assert [r.rel_dir for r in p.runs] == ["runs/ring8/sn-matrix/seed0", "runs/ring8/sn-operator/seed0",
                                           "runs/ring8/gp-lambda3/seed0"]
    assert by_label["sn-matrix"].sn_mode == "matrix" and by_label["sn-operator"].sn_mode == "operator"
    assert by_label["sn-operator"].n_power_iterations == 2 and by_label["gp-lambda3"].gp_weight == 3.0
    assert all(c.steps == 4 and c.eval_every == 2 and c.eval_samples == 64 for c in by_label.values())
    assert p.to_dict()["study"]["rows"][1]["set"] == {"sn_mode": "operator", "n_power_iterations": 2}


@pytest.mark.parametrize("edit, message", [
    (("eval_points = 2", "eval_points = 2\nepochs = 3"), r"epochs: unknown key.*\(line 6\)"),
    (('method = "gp"', 'method = "gp"\nlr = 1'), r"rows\[2\]\.lr: unknown key"),
    (('method = "gp"', 'method = "wgan"'), r"rows\[2\]\.method: expected one of clip, gp, sn, none"),
    (("gp_weight = 3.0", "gp_wieght = 3.0"), r"rows\[2\]\.set\.gp_wieght: unknown config key .*did you mean gp_weight"),
    (("gp_weight = 3.0", "steps = 9"), r"rows\[2\]\.set\.steps: is set by the study"),
    (('label = "gp-lambda3"', 'label = "sn-matrix"'), r"rows\.label: label 'sn-matrix' is used twice"),
    (("ring8 = { steps = 4 }", "ring8 = { minutes = 4 }"), r"budget\.ring8: expected \{ cpu_seconds = S \}"),
    (('datasets = ["ring8"]', 'datasets = ["ring9"]'), r"datasets: unknown dataset 'ring9'"),
    (("[seeds]", "[seeds\n"), r"not valid TOML: .*line 10"),
    (('datasets = ["ring8"]', 'datasets = ["ring8", "folder"]'), r"datasets: dataset folder needs its images: add "
                                                                r"data_dir = \{ folder = \"PATH\" \} \(line 4\)"),
])
def test_a_wrong_study_file_is_one_error_naming_file_key_and_line(tmp_path, edit, message):
    path = tmp_path / "bad.toml"
    path.write_text(CUSTOM.replace(*edit, 1))
    with pytest.raises(UserError, match=message) as err:
        load_study(path)
    assert str(err.value).startswith(f"study file {path}: ") and "\n" not in str(err.value)


def test_cli_refuses_a_wrong_file_before_starting_anything(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CUSTOM.replace("[seeds]", 'roles = { clip = "nope" }\n\n[seeds]'))
    out = tmp_path / "study"
    res = sngan_process(["study", path, "--out", out])
    assert res.returncode == 2 and not out.exists()
    assert res.stderr.strip().splitlines() == [
        f"sngan: error: study file {path}: roles.clip: 'nope' is not a row label (line 10)"]
    listed = sngan_process(["study", "--list"])
    assert listed.returncode == 0 and any(line.startswith("lipschitz ") for line in listed.stdout.splitlines())


# make test runs the submitit-local path; the local executor runs every study (the tiny study fixture), so its
# variant of this test is in make test-slow.
@pytest.mark.parametrize("executor", [pytest.param("local", marks=pytest.mark.slow), "submitit-local"])
def test_a_custom_study_runs_and_its_labels_reach_summary_report_and_writeup(tmp_path, executor):
    from pypdf import PdfReader

    from sngan.study.report import build_report

    path = tmp_path / "modes.toml"
    path.write_text(CUSTOM)
    out = tmp_path / "study"
    run_study(out, path, jobs=2, progress=False, live_report=False, executor=executor)
    report = build_report(out)
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["quality"]["ring8"]) == ["sn-matrix", "sn-operator", "gp-lambda3"]  # the file's order
    assert summary["progress"] == {"runs_planned": 3, "runs_done": 3}
    configs = {r["label"]: json.loads((out / r["dir"] / "config.json").read_text()) for r in summary["runs"]}
    assert configs["sn-operator"]["sn_mode"] == "operator" and configs["gp-lambda3"]["gp_weight"] == 3.0
    assert (out / "study.toml").read_text() == CUSTOM
    page = report.read_text()
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(out / "writeup.pdf").pages).split())
    for label in ("gp-lambda3", "sn-matrix", "sn-operator"):
        assert label in page and label in text
    # each row's own knob in the write-up's settings table comes from its method, not from its label
    assert "λ = 3" in text and "2 power iteration(s), operator mode" in text
    # the study has no clipping row: that claim has no data, never a crash or a wrong verdict
    verdicts = {c["id"]: c["verdict"] for c in summary["claims"]}
    assert verdicts["clip_underfits"] == C.NO_DATA
    if executor == "submitit-local":
        assert list((out / "submitit").glob("*_result.pkl"))  # the jobs ran through submitit


def test_claims_without_the_rows_a_rule_needs_say_no_data():
    rows = [{"label": "sn-a", "method": "sn", "loss": "hinge"}, {"label": "sn-b", "method": "sn", "loss": "hinge"}]
    roles = C.infer_roles(rows)
    assert roles == {"clip": None, "gp": None, "sn": ["sn-a", "sn-b"], "sn_w": None}
    final = {"mnist": {k: {"fid": 10.0, "grad_norm_real_mean": 0.2, "roughness_loss_g": 0.3, "grad_cv_fake": 0.1,
                           "diverged": 0, "lipschitz_upper_values": [0.99], "lipschitz_lower_values": [0.5]}
                       for k in ("sn-a", "sn-b")}}
    ev = {"final": final, "trend": {"mnist": {"sn-a": -0.9, "sn-b": -0.8}},
          "cost": {"mnist": {k: {"ms_critic_step": 3.0} for k in ("sn-a", "sn-b")}}, "tuning": {}, "roles": roles}
    got = {v["id"]: v["verdict"] for v in C.verdicts(ev)}
    assert got["clip_underfits"] == got["gp_overcorrects"] == got["sn_cheaper"] == C.NO_DATA
    assert got["sn_lipschitz"] == C.SUPPORTED  # the rows it needs are there: a verdict, not "no data"
    # declared roles win over inference
    assert C.infer_roles(rows, {"sn_w": "sn-b"})["sn_w"] == "sn-b"


def test_lipschitz_claims_compare_each_mode_with_matrix_at_the_same_loss():
    modes = {"m-h": ("matrix", "hinge"), "o-h": ("operator", "hinge"), "c-h": ("certified", "hinge"),
             "m-w": ("matrix", "wasserstein"), "c-w": ("certified", "wasserstein")}
    fid = {"m-h": 20.0, "o-h": 21.0, "c-h": 30.0, "m-w": 100.0, "c-w": 105.0}
    upper = {"m-h": 80.0, "o-h": 1.2, "c-h": 1.0, "m-w": 90.0, "c-w": 0.999}
    final = {"mnist": {k: {"fid": fid[k], "lipschitz_upper_values": [upper[k]]} for k in modes}
             | {"gp": {"fid": 50.0, "lipschitz_upper_values": [9.0]}}}
    ev = {"final": final, "cost": {"mnist": {"gp": {"ms_critic_step": 6.0}, "c-w": {"ms_critic_step": 4.5},
                                             "c-h": {"ms_critic_step": 4.4}}},
          "roles": {"gp": "gp", "sn": list(modes), "clip": None, "sn_w": "m-w"},
          "sn_modes": {k: {"mode": m, "loss": lo} for k, (m, lo) in modes.items()}}
    got = {v["id"]: v for v in C.verdicts(ev, "lipschitz")}
    assert got["certified_is_1_lipschitz"]["verdict"] == C.SUPPORTED  # 1.0 and 0.999 <= 1.01
    assert got["operator_is_1_lipschitz"]["verdict"] == C.NOT_SUPPORTED  # 1.2 > 1.05
    # certified hinge 30 vs 20 (1.5x: no), certified W 105 vs 100 (1.05x: yes) -> mixed
    assert got["certified_reaches_matrix"]["verdict"] == C.MIXED
    assert "mnist hinge: certified FID 30 vs matrix 20 (1.50x)" in got["certified_reaches_matrix"]["evidence"]
    assert got["operator_reaches_matrix"]["verdict"] == C.SUPPORTED  # hinge 21 vs 20; no operator W row
    assert got["certified_cheaper_than_gp"]["verdict"] == C.SUPPORTED  # the W-loss certified row: 4.5 < 6
    assert "certified/GP 0.75" in got["certified_cheaper_than_gp"]["evidence"]
    assert all(C.conclusion([v]) for v in got.values())


def test_claims_at_each_budget_and_quality_against_budget(tiny_study, tmp_path):
    # the tiny study's rows as if clipping and GP had trained at 1x and the SN rows at 2x the budget
    import html
    import shutil

    from sngan.study import figures as F
    from sngan.study.report import claims_by_budget
    from sngan.study.writeup import build_writeup

    out, _, _ = tiny_study
    summary = json.loads((out / "summary.json").read_text())
    scale = {"clip-wasserstein": 1, "gp-wasserstein": 1, "sn-wasserstein": 2, "sn-hinge": 2}
    rows = [{"label": k, "method": k.split("-")[0], "loss": "hinge" if k == "sn-hinge" else "wasserstein",
             "budget_scale": v} for k, v in scale.items()]
    got = claims_by_budget({"rows": rows}, summary["quality"], summary["cost"],
                           summary["evidence"]["trend"], {})
    assert list(got) == ["1x", "2x"] and all(len(v) == 6 for v in got.values())
    v1, v2 = ({c["id"]: c["verdict"] for c in got[b]} for b in ("1x", "2x"))
    assert v1["sn_lipschitz"] == v1["sn_stable"] == C.NO_DATA and v1["clip_underfits"] != C.NO_DATA
    assert v2["clip_underfits"] == v2["gp_overcorrects"] == C.NO_DATA and v2["sn_lipschitz"] != C.NO_DATA
    assert claims_by_budget({"rows": [r | {"budget_scale": 1} for r in rows]}, summary["quality"], None, {}, {}) == {}
    from sngan.study.report import _budget_html

    # a rule that reads only the cost per step judged alike at both budgets (the budget study's case)
    got = {b: [c | {"verdict": C.SUPPORTED, "evidence": "mnist: GP/SN 1.9"} if c["id"] == "sn_cheaper" else c
               for c in claims] for b, claims in got.items()}
    note = C.budget_free_note(got)
    assert note.startswith("“SN is computationally cheaper (than GP)” read only the cost per step")
    page = _budget_html(tmp_path, got, ["mnist"])  # the HTML report's table: every claim's verdict at each budget
    assert "budget 1x" in page and "budget 2x" in page and page.count("<b style=") == 2 * len(got["1x"])
    assert html.escape(note) in page
    F.plot_budget(summary["quality"], rows, "mnist", tmp_path / "budget_mnist.png")
    assert (tmp_path / "budget_mnist.png").exists() and (tmp_path / "budget_mnist.svg").exists()
    study = tmp_path / "s"
    shutil.copytree(out, study)
    F.plot_budget(summary["quality"], rows, "mnist", study / "figures" / "budget_mnist.png")
    summary["claims_by_budget"] = got
    summary["study"]["study"]["rows"] = rows
    (study / "summary.json").write_text(json.dumps(summary))
    build_writeup(study)
    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text() for p in PdfReader(study / "writeup.pdf").pages).split())
    assert "The claims at each budget" in text and "budget 1x budget 2x" in text and note in text
    # the setup and the limitations say a run's budget is the dataset's times its row's scale
    assert text.count("budget: each preset's steps times its row's budget scale (1x, 2x).") == len(summary["setup"])
    assert "Every run trained for each preset's steps times its row's budget scale (1x, 2x). " in text
    assert "given the same CPU budget (here at 1x, 2x of it), and test 6 claims" in text  # the abstract
    changes = C.budget_changes(got)
    assert changes and all(" ".join(x.split()) in text for x in changes)
    from sngan.study.poster import build_poster

    build_poster(study)  # the poster: a verdict column per budget, the budget figure, what changed
    typ = (study / "poster.typ").read_text()
    assert "[*claim*], [*1x*], [*2x*]" in typ and 'image("figures/budget_mnist.svg"' in typ
    assert "Of the 6 claims at the largest budget (2x)" in typ and "*With the budget:*" in typ
    poster = " ".join(" ".join(p.extract_text() for p in PdfReader(study / "poster.pdf").pages).split())
    assert all(" ".join(x.split()) in poster for x in changes)


def test_a_long_runs_loss_figure_draws_its_smoothed_curve_at_few_points(tmp_path, monkeypatch):
    # 43,000 logged steps drawn whole made a 48 MB SVG (the budget study's 16x rows): the figure draws the
    # moving average at most 400 evenly spaced steps, from the first step to the last
    from sngan.study import figures as F

    n = 43_000
    rng = np.random.default_rng(0)
    runs = [F.StudyRun(tmp_path, "ring8", "sn-hinge", seed, {}, "finished",
                       [{"step": s, "loss_g": float(v), "loss_d": float(-v), "w1_estimate": 1.0}
                        for s, v in enumerate(rng.normal(size=n), 1)]) for seed in (0, 1)]
    drawn = []
    monkeypatch.setattr(F, "_save", lambda fig, path, dpi: drawn.extend(
        line for ax in fig.axes for line in ax.get_lines()))
    F.plot_losses(runs, "ring8", tmp_path / "losses.png")
    steps, mean, _, _ = F._series(runs, "loss_g")
    smooth = F._smooth(mean, n // 80)
    assert len(drawn) == 3 and all(len(line.get_xdata()) == 400 for line in drawn)
    x, y = drawn[0].get_xdata(), drawn[0].get_ydata()
    assert x[0] == 1 and x[-1] == n and np.all(np.diff(x) > 0)
    np.testing.assert_allclose(y, smooth[np.asarray(x) - 1], rtol=0, atol=1e-12)
    assert F._thin(5).tolist() == [0, 1, 2, 3, 4] and F._thin(1).tolist() == [0]


def test_a_budget_study_figures_put_one_budget_per_row_and_one_setting_per_column():
    from sngan.study import figures as F

    rows = [{"label": f"{m}-{b}x", "method": m.split("-")[0], "loss": m.split("-")[1], "preset": "tuned", "set": {},
             "budget_scale": float(b)} for b in (16, 1, 4) for m in ("gp-wasserstein", "sn-hinge")]
    labels = [r["label"] for r in rows]
    budgets, names, colours, cells = F.budget_grid(labels, rows)
    assert budgets == ["1x", "4x", "16x"]
    assert names == ["gradient penalty (WGAN-GP)", "spectral norm (hinge)"]
    assert colours == [F.color("gp-wasserstein"), F.color("sn-hinge")]
    assert cells["gp-wasserstein-16x"] == (2, 0) and cells["sn-hinge-1x"] == (0, 1) and cells["sn-hinge-4x"] == (1, 1)
    # the same method and loss with other keys: a column each, named by its first row's label
    other = [r | {"label": r["label"] + "-op", "set": {"sn_mode": "operator"}} for r in rows if r["method"] == "sn"]
    _, names, _, cells = F.budget_grid(labels + [r["label"] for r in other], rows + other)
    assert names[1:] == ["sn-hinge-16x", "sn-hinge-16x-op"] and cells["sn-hinge-1x-op"] == (0, 2)
    # one budget, a label the rows do not name, or two rows in one cell: no grid (one row of panels)
    assert F.budget_grid(labels[:2], rows[:2]) is None
    assert F.budget_grid(labels + ["extra"], rows) is None
    twin = rows + [rows[0] | {"label": "twin"}]
    assert F.budget_grid(labels + ["twin"], twin) is None
