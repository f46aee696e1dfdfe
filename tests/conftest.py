import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch

# Tests are small; keep them deterministic and off the second core's toes.
torch.set_num_threads(int(os.environ.get("SNGAN_TEST_THREADS", "1")))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def dense_jacobian(fn, input_shape, dtype=torch.float64, device="cpu"):
    """Matrix of a linear map on inputs of ``input_shape`` (batch excluded): rows = inputs."""
    n = 1
    for s in input_shape:
        n *= s
    eye = torch.eye(n, dtype=dtype, device=device).reshape(n, *input_shape)
    return fn(eye).reshape(n, -1)


# The devices this machine has: every test that takes the `device` fixture runs once per device, so the
# assertions of training, resume and the NaN guard run on a GPU wherever one exists (CI: the CPU only).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# Data-parallel tests need one device per process: NCCL refuses two ranks on one GPU.
DIST_DEVICES = ["cpu"] + (["cuda"] if torch.cuda.device_count() >= 2 else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture(scope="session", params=DEVICES)
def tiny_study(tmp_path_factory, request):
    """The tiny study, trained and evaluated on each device present (its workers on that device), with its
    report, write-up and poster; shared by the study, write-up and poster tests.

    Built once per test session: under pytest-xdist the first worker to need it builds it (the others wait
    on a lock) in the session's shared temporary directory, and every worker gets its own copy, which its
    tests may resume, refuse or rebuild without touching another's (mtimes are kept)."""
    from filelock import FileLock

    from sngan.study.report import build_report
    from sngan.study.runner import run_study

    base = tmp_path_factory.getbasetemp()
    xdist_worker = hasattr(request.config, "workerinput")  # the workers' temp dirs share a parent per session
    shared = (base.parent if xdist_worker else base) / f"tiny-study-{request.param}"
    with FileLock(str(shared) + ".lock"):
        if not (shared / "report.html").exists():
            building = shared.with_name(shared.name + ".building")
            shutil.rmtree(building, ignore_errors=True)
            run_study(building, "tiny", seeds=1, jobs=2, progress=False, live_report=False, device=request.param)
            build_report(building)
            building.rename(shared)
    out = tmp_path_factory.mktemp("study")
    shutil.copytree(shared, out, dirs_exist_ok=True)
    return out, out / "report.html", request.param


def sngan_process(argv: list[str], cwd=None, env=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`sngan ARGV` as a process of its own (own exit status, stdout, stderr, signals), forked from the
    warm server the study's runs start from (sngan.study.processes) instead of a new interpreter, which
    would spend ~3 s importing torch first. `python -m sngan` itself is run by test_cli's end-to-end test."""
    import tempfile

    from sngan.cli import main
    from sngan.study.processes import Child

    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = Child(main, [str(a) for a in argv], out, err, cwd=cwd, env=env)
        code = child.wait(timeout)
        if code is None:
            child.send_signal(signal.SIGKILL)
            child.wait()
            raise subprocess.TimeoutExpired(["sngan", *map(str, argv)], timeout)
        return subprocess.CompletedProcess(["sngan", *map(str, argv)], code, out.read_text(), err.read_text())
