"""A new user's first hour: each case below is a command a careless or unlucky user ran, and
what it must do now — resume continues the stored run, no dead ends, one error line instead of a
traceback, metrics for every dataset."""

import errno
import json
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sngan.cli import main
from sngan.train import Trainer, resolve


def status(run):
    return json.loads((run / "status.json").read_text())


def snapshot(directory):
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def stop_at(step):
    """An evaluate hook that asks the trainer to stop (as Ctrl-C does) after ``step``."""
    def hook(trainer):
        if trainer.step == step:
            trainer._stop_signal = signal.SIGINT
        return {}
    return hook


# -- 1, 2: resume continues the stored run --------------------------------------------------------

def test_resume_without_repeating_flags_continues_the_stored_run(tmp_path, capsys, device):
    run = tmp_path / "ci"
    cfg = resolve("sn", "mnist", "tiny", {"eval_every": 12, "ckpt_every": 100, "device": device}, steps=20)
    from sngan.train import Interrupted

    with pytest.raises(Interrupted, match=f"Resume with: sngan train --resume --out {run}"):
        Trainer(cfg, run, evaluate=stop_at(12)).fit()
    assert status(run) == {"status": "interrupted", "step": 12, "steps": 20}
    # the hint printed on Ctrl-C, as written: no --method, --dataset or --steps
    assert main(["train", "--resume", "--out", str(run)]) == 0
    assert status(run) == {"status": "finished", "step": 20, "steps": 20}
    assert json.loads((run / "config.json").read_text())["steps"] == 20


def test_resume_refuses_fewer_steps_and_changed_fields(tmp_path, capsys):
    run = tmp_path / "r"
    Trainer(resolve("gp", "ring8", "tiny", steps=6), run).fit()
    before = snapshot(run)
    for argv, needle in [
        (["--steps", "3"], "already at step 6"),
        (["--method", "sn", "--dataset", "ring8"], "--method sn differs from the run's method='gp'"),
        (["--set", "lr_d=0.5"], "--set lr_d=0.5 differs"),
        (["--seed", "4"], "--seed 4 differs"),
    ]:
        assert main(["train", "--resume", "--out", str(run), *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err
    assert snapshot(run) == before
    assert main(["train", "--resume", "--out", str(run), "--steps", "8"]) == 0  # more steps: allowed
    assert status(run)["step"] == 8


# -- 3: no dead ends --------------------------------------------------------------------------------

def crashed_run(path):
    """A run that died before its first checkpoint (an exception at step 3, status left 'running')."""
    def crash(trainer):
        if trainer.step == 3:
            raise RuntimeError("simulated crash")
        return {}
    cfg = resolve("gp", "ring8", "tiny", {"ckpt_every": 100, "eval_every": 1}, steps=5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Trainer(cfg, path, evaluate=crash).fit()
    assert status(path)["status"] == "running" and not (path / "checkpoints").exists()


def test_a_run_without_checkpoint_can_be_resumed_from_step_0(tmp_path, capsys):
    run = tmp_path / "dead"
    crashed_run(run)
    assert main(["train", "--resume", "--out", str(run)]) == 0
    assert "training it from step 0 with its stored config" in capsys.readouterr().err
    assert status(run) == {"status": "finished", "step": 5, "steps": 5}
    assert [row["step"] for row in map(json.loads, (run / "log.jsonl").read_text().splitlines())] == [1, 2, 3, 4, 5]


def test_a_run_without_checkpoint_can_be_started_over_with_other_settings(tmp_path, capsys):
    run = tmp_path / "dead"
    crashed_run(run)
    assert main(["train", "--method", "sn", "--dataset", "ring8", "--preset", "tiny", "--out", str(run)]) == 0
    assert "starting it over" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["method"] == "sn"
    assert status(run)["status"] == "finished"


def test_a_run_with_checkpoints_is_never_started_over(tmp_path, capsys):
    run = tmp_path / "r"
    Trainer(resolve("gp", "ring8", "tiny"), run).fit()
    before = snapshot(run)
    assert main(["train", "--method", "sn", "--dataset", "ring8", "--preset", "tiny", "--out", str(run)]) == 2
    assert f"sngan train --resume --out {run}" in capsys.readouterr().err
    assert snapshot(run) == before


# -- 4: eval on datasets without an evaluator -------------------------------------------------------

def png_folder(path, n=40):
    path.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path / f"{i:03d}.png")
    return path


def cifar_batches(path, n=60):
    path.mkdir()
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 255, (n, 3072), dtype=np.uint8), b"labels": list(range(10)) * (n // 10)}
        with open(path / name, "wb") as f:
            pickle.dump(batch, f)
    return path


@pytest.mark.parametrize("dataset", ["folder", "cifar10"])
def test_eval_and_training_evaluation_work_on_datasets_without_an_evaluator(tmp_path, capsys, dataset, device):
    data = png_folder(tmp_path / "pngs") if dataset == "folder" else cifar_batches(tmp_path / "cifar-10-batches-py")
    run = tmp_path / "run"
    assert main(["train", "--method", "sn", "--dataset", dataset, "--preset", "tiny", "--out", str(run), "--device",
                 device, "--set", f"data_dir={data}", "--set", "eval_every=2", "--set", "eval_samples=50"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert np.isfinite(log[1]["metrics"]["w1_critic"])  # evaluation along training
    capsys.readouterr()
    assert main(["eval", str(run), "--samples", "60", "--device", device]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "metrics.json").read_text())
    m = result["metrics"]
    for key in ("w1_critic", "grad_norm_real_mean", "grad_norm_fake_mean", "grad_norm_interp_mean",
                "lipschitz_lower"):
        assert np.isfinite(m[key]), key
    assert m["lipschitz_lower"] >= m["grad_norm_real_max"] - 1e-6  # the ascent only raises the bound
    for name in ("fid", "kid", "prdc", "inception_score", "class_coverage"):
        assert "pytorch-fid" in result["absent"][name]
    assert "residual critic" in result["absent"]["lipschitz_upper"]
    assert "not computed: fid" in out


# -- 5, 6: errors are one line -----------------------------------------------------------------------

def test_eval_prints_the_metrics_before_failing_to_write_them(tmp_path, capsys, monkeypatch):
    run = tmp_path / "r"
    Trainer(resolve("gp", "ring8", "tiny"), run).fit()

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr("sngan.metrics.run.atomic_write_bytes", read_only)
    assert main(["eval", str(run), "--samples", "100"]) == 2
    captured = capsys.readouterr()
    assert "w1_exact" in captured.out and "modes_covered" in captured.out
    assert captured.err.count("\n") == 1 and "could not be written" in captured.err
    assert "Read-only file system" in captured.err


def test_eval_uses_the_checkpoints_own_config(tmp_path, capsys):
    run = tmp_path / "r"
    Trainer(resolve("sn", "mnist", "tiny"), run).fit()
    (run / "config.json").write_text('{"method": "sn"}')  # hand-edited: dataset ring8 by default
    assert main(["eval", str(run), "--samples", "64"]) == 0
    assert json.loads((run / "metrics.json").read_text())["dataset"] == "mnist"


@pytest.mark.parametrize("argv, needle", [
    (["eval", "{file}"], "is a file, not a run directory"),
    (["eval", "{run}", "--samples", "-3"], "--samples -3"),
    (["eval", "{run}", "--samples", "0"], "--samples 0"),
    (["eval", "{run}", "--samples", "1"], "--samples 1"),
    (["eval", "{run}", "--samples", "3"], "--samples 3"),
    (["eval", "{empty_run}"], "has no checkpoint yet"),
    (["train", "--resume", "--out", "{garbage}"], "is not valid JSON"),
    (["train", "--method", "sn", "--dataset", "ring8", "--set", "method=gp"], "--set method=gp contradicts"),
    (["train", "--method", "sn", "--dataset", "ring8", "--seed", "5", "--set", "seed=3"], "contradicts --seed 5"),
    (["train", "--method", "sn", "--dataset", "ring8", "--set", "=3"], "the key is missing"),
    (["train", "--method", "sn", "--dataset", "ring8", "--set", "lr_dd=1"], "did you mean lr_d"),
    (["train", "--method", "sn", "--dataset", "ring8", "--set", "lr_d=1e30"], "must be in (0, 1000]"),
    (["train", "--method", "sn", "--dataset", "ring8", "--out", "{file}"], "is a file"),
    (["certify", "--width", "0"], "--width 0.0"),
    (["certify", "--width", "-1"], "--width -1.0"),
])
def test_careless_commands_get_one_clear_line(tmp_path, capsys, argv, needle):
    (tmp_path / "file").write_text("x")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("{not json")
    empty_run = tmp_path / "empty"
    empty_run.mkdir()
    (empty_run / "config.json").write_text(resolve("gp", "ring8", "tiny").to_json())
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(resolve("gp", "ring8", "tiny").to_json())
    paths = {"file": tmp_path / "file", "garbage": garbage, "empty_run": empty_run, "run": run}
    assert main([a.format(**paths) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sngan: error: ") and needle in err, err
    assert len(err) < 300


def test_a_closed_pipe_is_not_a_traceback():
    res = subprocess.run(f"{sys.executable} -m sngan certify --width 0.125 | head -1", shell=True,
                         capture_output=True, text=True)
    assert res.stdout.startswith("SN-GAN standard CNN critic") and res.stderr == ""


# -- 9: the rest -------------------------------------------------------------------------------------

def test_run_files_are_world_readable(tmp_path):
    run = tmp_path / "r"
    Trainer(resolve("gp", "ring8", "tiny"), run).fit()
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert set(modes.values()) == {0o644}, modes
    assert "tensors.safetensors" in modes


def test_long_jobs_off_a_terminal_print_progress_lines(capsys):
    from sngan.train.logging import LineProgress

    bar = LineProgress(100, 0, "sn/mnist", first=0.0, every=0.0)
    bar.set_postfix(loss_d="0.5")
    for _ in range(3):
        bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and lines[0].startswith("sn/mnist: 1/100 it (1%)") and "ETA" in lines[0]
    assert lines[0].endswith("loss_d=0.5")


def test_loading_a_generator_leaves_the_callers_random_stream_alone(tmp_path):
    run = tmp_path / "r"
    Trainer(resolve("gp", "ring8", "tiny"), run).fit()
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    from sngan import load_generator

    load_generator(run)
    assert torch.equal(torch.rand(3), expected)
