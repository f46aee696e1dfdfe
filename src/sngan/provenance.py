"""Where a result came from: the machine (CPU model, cores, GPU, torch) and the code (sngan's version
and git commit). Written beside a study's results, so a reader can place every timing."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name as ``lscpu`` shows it (``platform.processor()`` where /proc is absent)."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def host() -> dict[str, Any]:
    """The machine a study ran on: CPU model, its instruction extensions that change speed, cores,
    GPU (if CUDA is present), and the versions of Python and torch."""
    import torch

    from sngan.train.config import native_bf16

    flags = ""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_model(), "avx512": " avx512f" in flags, "native_bf16": native_bf16(),
            "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__}


def source() -> dict[str, Any]:
    """sngan's version and, when it runs from a git checkout, the commit (``dirty``: uncommitted changes
    to the package's source)."""
    from sngan import __version__

    out: dict[str, Any] = {"version": __version__, "commit": None, "dirty": None}
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            out["commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True,
                                    text=True, timeout=10)
            out["dirty"] = bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out
