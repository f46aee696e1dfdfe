"""Quality along training and the tuning results the study cites.

``curve(run_dir)`` reads a run's log: the metrics measured every ``eval_every`` steps, with the CPU
seconds of training spent up to that step (n_critic critic steps + 1 generator step per step, as
timed by the trainer; evaluation time is not counted). ``score`` is what benchmarks/tune.py
maximises. ``tuning_results()`` is the committed result of that script (tuning.json, package data).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Any

from sngan.train.logging import read_log_lines

TUNING_FILE = "tuning.json"


def curve(run_dir: str | Path, log: list[dict] | None = None, n_critic: int | None = None) -> list[dict[str, Any]]:
    """``[{"step", "cpu_seconds", <metric>: value, ...}]`` at every evaluation point of a run."""
    run_dir = Path(run_dir)
    if n_critic is None:
        try:
            n_critic = json.loads((run_dir / "config.json").read_text())["n_critic"]
        except (OSError, ValueError, KeyError):
            return []
    lines = read_log_lines(run_dir / "log.jsonl") if log is None else log
    out, spent = [], 0.0
    for line in lines:
        spent += n_critic * line.get("sec_critic_step", 0.0) + line.get("sec_gen_step", 0.0)
        metrics = line.get("metrics")
        if metrics:
            point = {"step": line["step"], "cpu_seconds": spent}
            point.update({k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None})
            out.append(point)
    return out


def score(dataset: str, final: dict[str, Any]) -> float:
    """Higher is better. MNIST: −FID. Toys with modes: modes covered + high-quality share (coverage
    first, then sharpness), minus a hundredth of W1 to break ties. Missing values score −inf."""
    try:
        if dataset == "mnist":
            value = -final["fid"]
        elif final.get("modes_covered") is not None:
            value = final["modes_covered"] + final["high_quality"] - 0.01 * final["w1_exact"]
        else:
            value = -final["w1_exact"]
    except (KeyError, TypeError):
        return -math.inf
    return value if value is not None and math.isfinite(value) else -math.inf


def tuning_results() -> dict[str, Any]:
    """The committed tuning results (empty if the package was built without them)."""
    try:
        return json.loads(resources.files("sngan.study").joinpath(TUNING_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
