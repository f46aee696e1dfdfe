import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import sngan_process
from sngan.cli import main as cli_main
from sngan.study.runner import cluster_commands, plan, run_state, run_study, steps_for_budget


def test_tiny_study_builds_a_report(tiny_study):
    out, report, _ = tiny_study
    assert report.exists() and (out / "poster.pdf").exists() and (out / "poster.png").exists()
    def no_nan(constant):
        raise AssertionError(f"summary.json is not strict JSON: {constant}")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=no_nan)
    assert set(summary["quality"]) == {"mnist", "ring8"}
    assert set(summary["quality"]["mnist"]) == {"clip-wasserstein", "gp-wasserstein", "sn-wasserstein", "sn-hinge"}
    assert summary["quality"]["mnist"]["sn-hinge"]["fid"]["n"] == 1
    assert summary["quality"]["ring8"]["gp-wasserstein"]["w1_exact"]["n"] == 1
    assert list(summary)[0] == "claims" and len(summary["claims"]) == 6
    verdicts = ("supported", "not supported", "mixed", "no data")
    assert all(c["verdict"] in verdicts and c["rule"] for c in summary["claims"])
    assert summary["progress"] == {"runs_planned": 8, "runs_done": 8}
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0] == "dataset,method,metric,mean,min,max,n,values" and len(csv_lines) > 50
    page = report.read_text()
    # the claims table comes first, then the figures the claims link to
    assert page.index('id="claims"') < page.index("Quality against CPU seconds") < page.index("Final samples")
    for section in ("Training curves", "Final quality", "Cost", "Lipschitz", "Equal-effort tuning", "Theory"):
        assert section in page
    assert "±" not in page  # every seed's value and the min–max, not a t-interval
    assert page.count("data:image/png;base64,") >= 15


def test_quality_is_measured_along_every_run(tiny_study):
    out, _, device = tiny_study
    summary = json.loads((out / "summary.json").read_text())
    for ds, keys in (("mnist", ("fid", "class_kl_uniform")), ("ring8", ("modes_covered", "high_quality", "w1_exact"))):
        for label, by_seed in summary["curves"][ds].items():
            points = by_seed["0"]
            assert [p["step"] for p in points] == [2, 4, 6], (ds, label)
            assert all(all(p[k] is not None for k in keys) for p in points)
            seconds = [p["cpu_seconds"] for p in points]
            assert 0 < seconds[0] < seconds[1] < seconds[2]


def test_the_workers_evaluation_equals_one_from_disk(tiny_study, tmp_path):
    # the worker evaluates with the trainer that just finished; `sngan eval` reloads the checkpoint
    from sngan.metrics.run import evaluate_run

    out, _, device = tiny_study
    for spec in plan("tiny", 1).runs[::3]:
        run = tmp_path / spec.rel_dir
        shutil.copytree(out / spec.rel_dir, run)
        (run / "metrics.json").unlink()
        got = evaluate_run(run, n_samples=spec.eval_samples, device=device)["metrics"]
        want = json.loads((out / spec.rel_dir / "metrics.json").read_text())["metrics"]
        assert got == want, spec.rel_dir


def test_study_is_resumable_and_skips_finished_runs(tiny_study):
    out, _, device = tiny_study
    p = plan("tiny", 1)
    assert all(run_state(out / s.rel_dir) == "done" for s in p.runs)
    stamps = {s.rel_dir: (out / s.rel_dir / "metrics.json").stat().st_mtime_ns for s in p.runs}
    logs = {s.rel_dir: (out / s.rel_dir / "log.jsonl").read_bytes() for s in p.runs}
    cost = (out / "cost.json").read_bytes()
    run_study(out, "tiny", seeds=1, jobs=2, progress=False, live_report=False, device=device)
    assert cost == (out / "cost.json").read_bytes()  # measured once: a resumed study plans the same steps
    assert logs == {s.rel_dir: (out / s.rel_dir / "log.jsonl").read_bytes() for s in p.runs}
    assert stamps == {s.rel_dir: (out / s.rel_dir / "metrics.json").stat().st_mtime_ns for s in p.runs}


def test_partial_run_is_resumed(tiny_study, tmp_path):
    out, _, device = tiny_study
    study = tmp_path / "s"
    shutil.copytree(out, study)
    run = study / plan("tiny", 1).runs[-1].rel_dir
    (run / "metrics.json").unlink()
    (run / "status.json").write_text(json.dumps({"status": "interrupted", "step": 3}))
    assert run_state(run) == "partial"
    run_study(study, "tiny", seeds=1, jobs=1, progress=False, live_report=False, device=device)
    assert run_state(run) == "done"


def test_other_settings_in_the_same_directory_are_refused(tiny_study):
    from sngan.errors import UserError

    with pytest.raises(UserError, match="preset tiny"):
        run_study(tiny_study[0], "tiny", seeds=2)


def test_cluster_plan_and_report_gathers_separate_jobs(tmp_path):
    lines = cluster_commands(tmp_path, plan("tiny", 1))
    assert len(lines) == 8 and all(line.startswith("sngan train ") and "&& sngan eval" in line for line in lines)
    assert all("--set eval_every=2" in line for line in lines)
    # run one ring8 job exactly as a cluster would, then gather it with `sngan report`
    cmd = next(line for line in lines if "--dataset ring8" in line and "--method gp" in line)
    train, ev = cmd.split(" && ")
    assert sngan_process(shlex.split(train)[1:]).returncode == 0  # a process of its own, as a cluster job
    # the job's evaluation and the gathering report: the commands' own code, in this process
    assert cli_main(shlex.split(ev)[1:]) == 0
    assert cli_main(["report", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["quality"]["ring8"]) == ["gp-wasserstein"]


def test_equal_cpu_budget_turns_each_methods_cost_into_its_steps():
    # a known cost table: n_critic * ms per critic step + ms per generator step = ms per step
    cost = {"datasets": {ds: {label: {"ms_critic_step": c, "ms_generator_step": g} for label, (c, g) in
                              {"clip-wasserstein": (70.0, 60.0), "gp-wasserstein": (130.0, 60.0),
                               "sn-wasserstein": (71.0, 59.0), "sn-hinge": (72.0, 61.0)}.items()}
                         for ds in ("mnist", "ring8")}}
    p = plan("quick", cost=cost)
    assert p.seeds == {"mnist": 2, "ring8": 2} and len(p.runs) == 4 * 2 + 4 * 2
    for spec in p.runs:
        cfg = spec.config()
        row = cost["datasets"][spec.dataset][spec.label]
        per_step_ms = cfg.n_critic * row["ms_critic_step"] + row["ms_generator_step"]
        budget_ms = {"mnist": 150.0, "ring8": 20.0}[spec.dataset] * 1e3  # quick.toml's CPU seconds
        assert cfg.steps == int(budget_ms / per_step_ms)
        assert cfg.steps * per_step_ms <= budget_ms < (cfg.steps + 1) * per_step_ms
        points = {k * cfg.eval_every for k in range(1, cfg.steps // cfg.eval_every + 1)} | {cfg.steps}
        assert len(points) == 6  # quality at 6 points along training, the last at the end
        assert cfg.preset == "tuned" and cfg.threads == 1
    assert steps_for_budget(1.0, {"ms_critic_step": 10.0, "ms_generator_step": 5.0}, 5) == 18
    # a resumed study plans the same runs from the same cost.json
    assert plan("quick", cost=cost).runs == p.runs


def test_report_is_refreshed_while_runs_go_on(tiny_study, tmp_path):
    out, _, device = tiny_study
    study = tmp_path / "s"
    shutil.copytree(out, study)
    (study / "report.html").unlink()
    run = study / plan("tiny", 1).runs[0].rel_dir
    shutil.rmtree(run)
    # one run to train: the report is rebuilt from the seven finished ones while it trains (the caller
    # builds the final one, as `sngan study` does)
    run_study(study, "tiny", seeds=1, jobs=1, progress=False, live_report=True, device=device)
    summary = json.loads((study / "summary.json").read_text())
    assert (study / "report.html").exists() and (study / "poster.pdf").exists()
    assert summary["progress"]["runs_planned"] == 8 and summary["progress"]["runs_done"] >= 7


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed for the report test: `make test` installs Debian's chromium")


def test_report_in_headless_chromium(tiny_study, tmp_path):
    out, report, _ = tiny_study
    probe = tmp_path / "probe.html"
    script = ("<script>window.addEventListener('load',()=>{const imgs=[...document.images];"
              "document.body.setAttribute('data-images',imgs.length);"
              "document.body.setAttribute('data-broken',imgs.filter(i=>!i.complete||i.naturalWidth===0).length);"
              "});</script>")
    probe.write_text(report.read_text().replace("</body>", script + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    chromium = _chromium()
    dom = subprocess.run([chromium, *flags, "--enable-logging=stderr", "--v=0", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert 'data-broken="0"' in dom.stdout, dom.stderr[-2000:]
    n_images = int(dom.stdout.split('data-images="')[1].split('"')[0])
    assert n_images >= 15
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or
                                                                                        "Uncaught" in line)]
    assert console_errors == []
    shot = out / "report-screenshot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("SNGAN_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SNGAN_KEEP_SCREENSHOT"])


INTERRUPTIBLE = """name = "interruptible"
datasets = ["ring8"]
eval_points = 2
ckpt_points = 3
[seeds]
ring8 = 1
[budget]
ring8 = { steps = 600 }
[[rows]]
label = "sn-hinge"
method = "sn"
loss = "hinge"
preset = "tiny"
"""


def test_ctrl_c_stops_a_study_with_one_line_that_resumes_it(tmp_path):
    # Ctrl-C reaches the whole foreground process group: the runner and its run processes
    (tmp_path / "s.toml").write_text(INTERRUPTIBLE)
    out = tmp_path / "out"
    study = subprocess.Popen([sys.executable, "-m", "sngan", "study", str(tmp_path / "s.toml"), "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    run = out / "runs" / "ring8" / "sn-hinge" / "seed0"
    deadline = time.time() + 120
    while not list((run / "checkpoints").glob("step-*")) and study.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(study.pid, signal.SIGINT)
    err = study.communicate(timeout=120)[1]
    assert study.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"
    again = err.split("partial ones resume: ")[1].split()
    assert again[:2] == ["sngan", "study"] and again[2] == str(out / "study.toml")  # a file study: its copy
    run_study(out, again[2], progress=False, live_report=False)  # what that command runs, but the report
    assert json.loads((run / "status.json").read_text()) == {"status": "finished", "step": 600, "steps": 600}
    assert run_state(run) == "done"


def test_theory_figures_are_drawn_once_then_copied_from_the_cache(tmp_path, monkeypatch):
    from sngan.study import figures
    from sngan.study import report as R

    monkeypatch.setenv("SNGAN_CACHE", str(tmp_path / "cache"))
    first, second, third = (tmp_path / name for name in ("a", "b", "c"))
    for d in (first, second, third):
        d.mkdir()
    drawn = R._theory(first)
    assert drawn["js_w1"]["log2"] == pytest.approx(math.log(2))

    def no_drawing(prefix):
        raise AssertionError("drawn again")

    monkeypatch.setattr(figures, "plot_theory", no_drawing)
    assert R._theory(second) == drawn
    assert {p.name: p.read_bytes() for p in second.iterdir()} == {p.name: p.read_bytes() for p in first.iterdir()}
    # a damaged cache is never trusted: the figures are drawn again (here: copied from the first study)
    next(R._theory_cache().glob("*.png")).unlink()
    calls = []

    def redraw(prefix):
        calls.append(prefix)
        for p in first.glob("theory_*"):
            shutil.copyfile(p, prefix.parent / p.name)
        return drawn

    monkeypatch.setattr(figures, "plot_theory", redraw)
    assert R._theory(third) == drawn and calls == [third / "theory"] and len(list(third.iterdir())) == 7
    # and the redrawn figures replace the damaged copy: the next study copies them again
    fourth = tmp_path / "d"
    fourth.mkdir()
    monkeypatch.setattr(figures, "plot_theory", no_drawing)
    assert R._theory(fourth) == drawn and len(list(fourth.iterdir())) == 7
