"""Per-step cost of each method, measured in one process with interleaved repeats (so machine
drift hits every method alike): milliseconds per critic step and per generator update. The study
turns these into each run's steps under an equal CPU budget (``runner.steps_for_budget``)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from sngan.train.config import TrainConfig, row_label


def measure_cost(configs: list[TrainConfig] | list[tuple[str, TrainConfig]], repeats: int = 12, steps: int = 3,
                 threads: int = 1) -> dict[str, Any]:
    """``{"datasets": {dataset: {row label: {ms_critic_step, ms_generator_step, ...}}}}`` for each config
    (one per dataset and row, given as (label, config) or as a config labelled method-loss; their schedules
    do not matter, only the models, batch and constraint)."""
    from sngan.train import Trainer

    torch.set_num_threads(threads)
    out: dict[str, Any] = {"threads": threads, "repeats": repeats, "steps_per_repeat": steps, "datasets": {}}
    by_dataset: dict[str, list[tuple[str, TrainConfig]]] = {}
    for item in configs:
        label, cfg = item if isinstance(item, tuple) else (row_label(item.method, item.loss), item)
        by_dataset.setdefault(cfg.dataset, []).append((label, cfg))
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, cfgs in by_dataset.items():
            trainers = {label: Trainer(c, Path(tmp) / dataset / label, progress=False) for label, c in cfgs}
            times: dict[str, dict[str, list[float]]] = {k: {"critic": [], "generator": []} for k in trainers}
            for t in trainers.values():  # warm-up
                t.critic_step(next(t.sampler))
                t.generator_step()
            for _ in range(repeats):
                for label, t in trainers.items():
                    t0 = time.perf_counter()
                    for _ in range(steps):
                        t.critic_step(next(t.sampler))
                    t1 = time.perf_counter()
                    for _ in range(steps):
                        t.generator_step()
                    t2 = time.perf_counter()
                    times[label]["critic"].append((t1 - t0) / steps * 1e3)
                    times[label]["generator"].append((t2 - t1) / steps * 1e3)
            res = {}
            for label, d in times.items():
                res[label] = {}
                for kind, vals in d.items():
                    q1, _, q3 = statistics.quantiles(vals, n=4)
                    res[label][f"ms_{kind}_step"] = statistics.median(vals)
                    res[label][f"ms_{kind}_step_q1"] = q1
                    res[label][f"ms_{kind}_step_q3"] = q3
                cfg = trainers[label].cfg
                res[label]["n_critic"] = cfg.n_critic
                res[label]["batch_size"] = cfg.batch_size
                res[label]["ms_iteration"] = (cfg.n_critic * res[label]["ms_critic_step"]
                                              + res[label]["ms_generator_step"])
            base = res.get("sn-wasserstein", next(iter(res.values())))["ms_critic_step"]
            for label in res:
                res[label]["critic_step_ratio_to_sn"] = res[label]["ms_critic_step"] / base
            out["datasets"][dataset] = res
    return out
