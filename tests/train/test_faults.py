"""Nothing done is lost: SIGKILL at random moments, corrupt checkpoints, full disks, planted pickles."""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import sngan_process
from sngan.errors import CheckpointError, UserError
from sngan.train import Trainer, resolve
from sngan.train import checkpoint as ckpt
from sngan.train.logging import read_log_lines

ARGS = ["--method", "gp", "--dataset", "ring8", "--preset", "tiny", "--steps", "150", "--set", "threads=1",
        "--set", "ckpt_every=1", "--set", "sample_every=0", "--set", "diag_every=0", "--set", "keep_checkpoints=2"]


def train_cmd(device, out, *extra):
    return [sys.executable, "-m", "sngan", "train", *ARGS, "--device", device, "--out", str(out), *extra]


def final_weights(run):
    return load_file(str(ckpt.list_checkpoints(run)[-1] / ckpt.TENSORS))


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path, device):
    ref = tmp_path / "ref"
    subprocess.run(train_cmd(device, ref), check=True, capture_output=True)
    run = tmp_path / "killed"
    rng = random.Random(0)
    log = run / "log.jsonl"
    kills = 0
    for _ in range(5):
        # SIGKILL after a random number (1-20) of further steps: a checkpoint is written every step,
        # so kills land before, during and after checkpoint writes
        resume = run.exists() and bool(ckpt.list_checkpoints(run))
        if run.exists() and not resume:
            import shutil

            shutil.rmtree(run)  # killed before its first checkpoint: nothing to resume
        before = len(read_log_lines(log))
        target = before + rng.randint(1, 20)
        proc = subprocess.Popen(train_cmd(device, run, "--resume") if resume else train_cmd(device, run),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline and len(read_log_lines(log)) < target:
            time.sleep(0.002)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills == 5
    res = subprocess.run(train_cmd(device, run, "--resume"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    a, b = final_weights(ref), final_weights(run)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    la, lb = read_log_lines(ref / "log.jsonl"), read_log_lines(run / "log.jsonl")
    assert [r["step"] for r in lb] == list(range(1, 151))
    assert [r["loss_d"] for r in la] == [r["loss_d"] for r in lb]


def _run(tmp_path, steps=6, device="cpu"):
    run = tmp_path / "r"
    Trainer(resolve("sn", "ring8", "tiny", {"steps": steps, "ckpt_every": 2, "device": device}), run).fit()
    return run


@pytest.mark.parametrize("damage", ["truncate", "flip", "state", "missing"])
def test_corrupt_newest_checkpoint_falls_back_with_a_warning(tmp_path, damage, device):
    run = _run(tmp_path, device=device)
    newest = ckpt.list_checkpoints(run)[-1]
    target = newest / (ckpt.STATE if damage == "state" else ckpt.TENSORS)
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        target.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "state":
        target.write_text("{not json")
    else:
        target.unlink()
    with pytest.warns(UserWarning, match="skipping invalid checkpoint"):
        path, _, state = ckpt.latest_valid_checkpoint(run)
    assert state["step"] == 4 and path.name == "step-00000004"
    with pytest.warns(UserWarning):
        t = Trainer(resolve("sn", "ring8", "tiny", {"steps": 6, "ckpt_every": 2, "device": device}), run, resume=True)
    assert t.step == 4


def test_no_valid_checkpoint_is_one_clear_error(tmp_path):
    run = _run(tmp_path)
    for p in ckpt.list_checkpoints(run):
        (p / ckpt.TENSORS).write_bytes(b"junk")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no valid checkpoint"):
        Trainer(resolve("sn", "ring8", "tiny", {"steps": 6, "ckpt_every": 2}), run, resume=True)


def test_planted_pickle_is_refused_and_runs_no_code(tmp_path):
    run = _run(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    fake = run / "checkpoints" / "step-00000099"
    fake.mkdir()
    blob = pickle.dumps({"weights": Payload()})
    (fake / ckpt.TENSORS).write_bytes(blob)
    import hashlib

    (fake / ckpt.STATE).write_text(json.dumps({"format": ckpt.FORMAT, "step": 99,
                                               "tensors_sha256": hashlib.sha256(blob).hexdigest()}))
    (run / "checkpoints" / "model.pt").write_bytes(blob)  # a torch.save-style file is never opened either
    with pytest.warns(UserWarning, match="not a safetensors file"):
        t = Trainer(resolve("sn", "ring8", "tiny", {"steps": 6, "ckpt_every": 2}), run, resume=True)
    assert t.step == 6 and not marker.exists()


def test_full_disk_is_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "r"
    cfg = resolve("sn", "ring8", "tiny", {"steps": 6, "ckpt_every": 2})
    trainer = Trainer(cfg, run)
    real_save = ckpt.save_file
    calls = {"n": 0}

    def flaky(tensors, path):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(28, "No space left on device")
        return real_save(tensors, path)

    monkeypatch.setattr(ckpt, "save_file", flaky)
    with pytest.raises(UserError, match="No space left on device.*previous checkpoint is intact"):
        trainer.fit()
    monkeypatch.setattr(ckpt, "save_file", real_save)
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-00000002"]
    assert not list((run / "checkpoints").glob(".step-*"))
    ckpt.read_checkpoint(ckpt.list_checkpoints(run)[0])  # intact


def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = sngan_process(["train", "--method", "sn", "--dataset", "ring8", "--preset", "tiny", "--out", blocker / "run"])
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "cannot create run directory" in res.stderr
