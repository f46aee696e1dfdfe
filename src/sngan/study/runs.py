"""The state of one study run on disk, and what is measured along it (shared by the runner, its
worker processes and the cluster executors)."""

from __future__ import annotations

import json
from pathlib import Path


def run_state(run_dir: Path) -> str:
    """"done" (trained and evaluated), "trained", "partial", or "new"."""
    status_file = run_dir / "status.json"
    if not status_file.exists():
        return "partial" if (run_dir / "checkpoints").exists() else "new"
    try:
        status = json.loads(status_file.read_text())["status"]
    except (OSError, ValueError, KeyError):
        return "partial"
    if status == "finished":
        return "done" if (run_dir / "metrics.json").exists() else "trained"
    if status == "diverged":
        return "done"  # a diverged run is a result too; the report says so
    return "partial"


def along_metrics(dataset: str) -> list[str]:
    """The metrics measured along training: FID and class coverage (MNIST); modes, high quality and
    exact W1 and the critic's W1 estimate (toys)."""
    return ["fid", "class_coverage"] if dataset == "mnist" else ["modes", "wasserstein1", "critic_w1"]
