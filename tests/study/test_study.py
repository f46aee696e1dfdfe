import json
import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from sngan.study.report import build_report
from sngan.study.runner import cluster_commands, plan, run_state, run_study


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    t0 = time.perf_counter()
    run_study(out, "tiny", seeds=1, jobs=2, progress=False)
    report = build_report(out)
    return out, report, time.perf_counter() - t0


def test_tiny_study_builds_a_report_in_under_a_minute(tiny_study):
    out, report, seconds = tiny_study
    assert seconds < 60, seconds
    assert report.exists() and (out / "poster.pdf").exists() and (out / "poster.png").exists()
    def no_nan(constant):
        raise AssertionError(f"summary.json is not strict JSON: {constant}")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=no_nan)
    assert set(summary["quality"]) == {"mnist", "ring8"}
    assert set(summary["quality"]["mnist"]) == {"clip-wasserstein", "gp-wasserstein", "sn-wasserstein", "sn-hinge"}
    assert summary["quality"]["mnist"]["sn-hinge"]["fid"]["n"] == 1
    assert summary["quality"]["ring8"]["gp-wasserstein"]["w1_exact"]["n"] == 1
    assert summary["findings"] and all(f["text"] for f in summary["findings"])
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0] == "dataset,method,metric,mean,ci95,n" and len(csv_lines) > 50
    page = report.read_text()
    for section in ("Findings", "Training curves", "Samples", "Quality", "Cost", "Lipschitz", "Theory"):
        assert section in page
    assert page.count("data:image/png;base64,") >= 11


def test_study_is_resumable_and_skips_finished_runs(tiny_study):
    out, _, _ = tiny_study
    p = plan("tiny", 1)
    assert all(run_state(out / s.rel_dir) == "done" for s in p.runs)
    stamps = {s.rel_dir: (out / s.rel_dir / "metrics.json").stat().st_mtime_ns for s in p.runs}
    t0 = time.perf_counter()
    run_study(out, "tiny", seeds=1, jobs=2, progress=False)
    assert time.perf_counter() - t0 < 5
    assert stamps == {s.rel_dir: (out / s.rel_dir / "metrics.json").stat().st_mtime_ns for s in p.runs}


def test_partial_run_is_resumed(tiny_study, tmp_path):
    out, _, _ = tiny_study
    study = tmp_path / "s"
    shutil.copytree(out, study)
    run = study / plan("tiny", 1).runs[-1].rel_dir
    (run / "metrics.json").unlink()
    (run / "status.json").write_text(json.dumps({"status": "interrupted", "step": 3}))
    assert run_state(run) == "partial"
    run_study(study, "tiny", seeds=1, jobs=1, progress=False)
    assert run_state(run) == "done"


def test_other_settings_in_the_same_directory_are_refused(tiny_study):
    from sngan.errors import UserError

    with pytest.raises(UserError, match="preset tiny"):
        run_study(tiny_study[0], "tiny", seeds=2)


def test_cluster_plan_and_report_gathers_separate_jobs(tmp_path):
    lines = cluster_commands(tmp_path, plan("tiny", 1))
    assert len(lines) == 8 and all(line.startswith("sngan train ") and "&& sngan eval" in line for line in lines)
    # run one ring8 job exactly as a cluster would, then gather it with `sngan report`
    cmd = next(line for line in lines if "--dataset ring8" in line and "--method gp" in line)
    train, ev = cmd.split(" && ")
    py = [sys.executable, "-m"]
    subprocess.run(py + shlex.split(train), check=True, capture_output=True)
    subprocess.run(py + shlex.split(ev), check=True, capture_output=True)
    res = subprocess.run(py + ["sngan", "report", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["quality"]["ring8"]) == ["gp-wasserstein"]


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
    assert n_images >= 11
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("Error" in line or
                                                                                        "Uncaught" in line)]
    assert console_errors == []
    shot = out / "report-screenshot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("SNGAN_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SNGAN_KEEP_SCREENSHOT"])
