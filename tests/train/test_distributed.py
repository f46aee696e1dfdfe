"""Data-parallel training with torchrun (gloo on the CPU; NCCL, one GPU per rank, wherever a machine has two
GPUs): same weights as one process."""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from safetensors.torch import load_file

from conftest import DIST_DEVICES
from sngan.train import checkpoint as ckpt
from sngan.train.logging import read_log_lines

# One torchrun launch at a time across the suite's workers (make test runs two): once in five parallel suite
# runs a rank died with SIGABRT while the two workers may have launched torchrun side by side (not reproduced
# alone); two `--standalone` launches at once may race for a free port.
TORCHRUN_LOCK = Path(tempfile.gettempdir()) / "sngan-tests-torchrun.lock"


@pytest.fixture(params=DIST_DEVICES)
def dist_device(request):
    return request.param


def _torchrun(nproc, out, *args):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "sngan", "train", *args, "--out", str(out)]
    with FileLock(str(TORCHRUN_LOCK)):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def _weights(run):
    return load_file(str(ckpt.list_checkpoints(run)[-1] / ckpt.TENSORS))


@pytest.mark.parametrize("method,extra", [("sn", ()), pytest.param("gp", (), marks=pytest.mark.slow),
                                          pytest.param("clip", (), marks=pytest.mark.slow),
                                          pytest.param("sn", ("--set", "reuse_fakes=true"), marks=pytest.mark.slow)],
                         ids=["sn", "gp", "clip", "sn-reuse-fakes"])
def test_two_processes_equal_one_process(tmp_path, method, extra, dist_device):
    # SGD: the update is linear in the averaged gradient, so 2 ranks must match 1 process to float
    # rounding. (Adam divides by sqrt(v): on units whose gradient is at rounding-noise level it turns
    # a 1e-9 difference into a full ±lr step; the Adam run below is compared through its losses.)
    args = ["--method", method, "--dataset", "ring8", "--preset", "tiny", "--steps", "5", "--set", "batch_size=32",
            "--set", "threads=1", "--set", "sample_every=0", "--set", "optimizer=sgd", "--set", "lr_d=0.005",
            "--set", "lr_g=0.005", "--device", dist_device, *extra]
    one, two = tmp_path / "one", tmp_path / "two"
    _torchrun(1, one, *args)
    _torchrun(2, two, *args)
    a, b = _weights(one), _weights(two)
    assert set(a) == set(b)
    for k in a:
        if k.startswith(("critic", "generator")):
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_processes_adam_losses_match_one_process(tmp_path, dist_device):
    args = ["--method", "gp", "--dataset", "ring8", "--preset", "tiny", "--steps", "5", "--set", "batch_size=32",
            "--set", "threads=1", "--set", "sample_every=0", "--device", dist_device]
    _torchrun(1, tmp_path / "one", *args)
    _torchrun(2, tmp_path / "two", *args)
    la, lb = (read_log_lines(tmp_path / d / "log.jsonl") for d in ("one", "two"))
    assert len(la) == len(lb) == 5
    for ra, rb in zip(la, lb):
        for key in ("loss_d", "loss_g", "w1_estimate", "penalty"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-3, abs=1e-6), (ra["step"], key)


def test_ranks_end_identical_including_sn_buffers(tmp_path, dist_device):
    # each rank dumps its own final state; rank 0 also writes the run
    script = tmp_path / "dump.py"
    script.write_text(
        "import os, sys, torch\n"
        "from safetensors.torch import save_file\n"
        "from sngan.train import Trainer, resolve\n"
        "from sngan.train.distributed import init_from_env, shutdown\n"
        "info = init_from_env(sys.argv[3])  # NCCL: this rank's GPU\n"
        "cfg = resolve('sn', 'ring8', 'tiny', {'steps': 6, 'batch_size': 32, 'threads': 1, 'sample_every': 0,\n"
        "                                      'device': sys.argv[3]})\n"
        "t = Trainer(cfg, sys.argv[1], dist=info)\n"
        "t.fit()\n"
        "sd = {f'critic.{k}': v.cpu().contiguous() for k, v in t.critic.state_dict().items()}\n"
        "save_file(sd, os.path.join(sys.argv[2], f'rank{info.rank}.safetensors'))\n"
        "shutdown(info)\n")
    dump = tmp_path / "dump"
    dump.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(tmp_path / "run"), str(dump), dist_device]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, r1 = load_file(str(dump / "rank0.safetensors")), load_file(str(dump / "rank1.safetensors"))
    assert any(k.endswith(".u") for k in r0)
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k


def test_two_process_mnist_smoke_and_resume(tmp_path, dist_device):
    args = ["--method", "sn", "--dataset", "mnist", "--preset", "tiny", "--device", dist_device]
    _torchrun(2, tmp_path / "m", *args, "--steps", "4", "--set", "threads=1")
    res = _torchrun(2, tmp_path / "m", *args, "--steps", "6", "--set", "threads=1", "--resume")
    assert "run finished" in res.stdout
    shutil.rmtree(tmp_path / "m")


def _diverge_on_one_rank(rank, init_file, run, result_dir, device):
    import torch.distributed as dist

    from sngan.errors import TrainingDiverged
    from sngan.train import Trainer, resolve
    from sngan.train.distributed import DistInfo

    torch.set_num_threads(1)
    where = torch.device(f"cuda:{rank}" if device == "cuda" else "cpu")  # NCCL: one GPU per rank
    dist.init_process_group("nccl" if device == "cuda" else "gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=2)
    cfg = resolve("gp", "ring8", "tiny", {"steps": 20, "batch_size": 16, "n_critic": 1, "sample_every": 0,
                                          "device": str(where)})
    trainer = Trainer(cfg, run, dist=DistInfo(rank, 2, where))
    step = trainer.critic_step

    def poisoned(real, **kw):  # corrupt data on rank 1 only, after step 3
        if rank == 1 and trainer.step == 3:
            real = real.clone()
            real[0, 0] = float("nan")
        return step(real, **kw)

    trainer.critic_step = poisoned
    try:
        trainer.fit()
        outcome = "finished"
    except TrainingDiverged as e:
        outcome = str(e)
    (result_dir / f"rank{rank}.txt").write_text(outcome)
    dist.destroy_process_group()


def test_a_nan_on_one_rank_stops_every_rank(tmp_path, dist_device):
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_diverge_on_one_rank,
                         args=(r, tmp_path / "init", tmp_path / "run", tmp_path, dist_device)) for r in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    alive = [p.is_alive() for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert not any(alive), "a rank hung: the ranks did not agree to stop"
    assert (tmp_path / "rank1.txt").read_text().startswith("step 4: the critic loss (wasserstein) is nan")
    assert (tmp_path / "rank0.txt").read_text().startswith("step 4: the loss on another process is nan")
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "diverged"
