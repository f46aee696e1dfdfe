"""One writer per run directory: a second writer is refused while the first runs; a killed writer's
lock never blocks (the kernel releases it)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import sngan_process
from sngan.cli import main
from sngan.errors import UserError
from sngan.train.lock import LOCK_FILE, DirectoryLock

HOLD = ("import sys, time; from sngan.train.lock import DirectoryLock; "
        "lock = DirectoryLock(sys.argv[1], 'holder test').acquire(); print('locked', flush=True); time.sleep(60)")


def test_second_lock_is_refused_and_release_frees_it(tmp_path):
    first = DirectoryLock(tmp_path / "run").acquire()
    with pytest.raises(UserError, match=rf"in use by process {os.getpid()} \(sngan train\)"):
        DirectoryLock(tmp_path / "run").acquire()
    first.release()
    with DirectoryLock(tmp_path / "run") as again:
        assert again.held
    assert not again.held


def test_lock_of_a_killed_process_never_blocks(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"in use by process {proc.pid} \(holder test\)"):
            DirectoryLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / LOCK_FILE).read_text().startswith(f"process {proc.pid}")  # stale content, no lock
    with DirectoryLock(tmp_path) as lock:
        assert lock.held


def test_second_train_on_the_same_run_is_refused_and_a_killed_one_resumes_at_once(tmp_path, device, capsys):
    def _train(out, *extra):  # `sngan train ...`'s arguments
        return ["train", "--method", "sn", "--dataset", "ring8", "--preset", "tiny", "--device", device, "--out",
                str(out), *extra]

    from sngan.study.processes import Child

    run = tmp_path / "run"
    # a process of its own, forked from a warm server (as sngan_process does)
    first = Child(main, _train(run, "--steps", "100000", "--set", "ckpt_every=20"), tmp_path / "first.log")
    try:
        deadline = time.time() + 60
        while not list((run / "checkpoints").glob("step-*")) and time.time() < deadline:
            time.sleep(0.2)
        assert list((run / "checkpoints").glob("step-*")), "the first writer wrote no checkpoint"
        first.send_signal(signal.SIGSTOP)  # it holds the lock, alive, without taking a core from the other tests
        for argv in (_train(run, "--steps", "100000", "--set", "ckpt_every=20", "--resume"), _train(run)):
            assert main(argv) == 2  # in this process
            lines = capsys.readouterr().err.strip().splitlines()
            assert len(lines) == 1 and lines[0] == (f"sngan: error: {run} is in use by process {first.pid} (sngan "
                                                    "train); wait for it to finish or stop it (one writer per "
                                                    "directory)"), lines
        assert first.poll() is None  # the first writer lives on, undisturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    from sngan.train.checkpoint import list_checkpoints

    done = int(list_checkpoints(run)[-1].name.split("-")[1])
    res = sngan_process(_train(run, "--steps", str(done + 40), "--set", "ckpt_every=20", "--resume"))
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "status.json").read_text()) == {"status": "finished", "step": done + 40,
                                                             "steps": done + 40}


def test_a_second_study_on_the_same_directory_is_refused(tmp_path):
    from sngan.study.runner import run_study

    hold = HOLD.replace("'holder test'", "'sngan study'")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UserError, match=rf"in use by process {proc.pid} \(sngan study\)"):
            run_study(tmp_path, "tiny", seeds=1, progress=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
