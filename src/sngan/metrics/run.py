"""Evaluate a run directory's newest checkpoint: ``sngan eval RUN_DIR`` → RUN_DIR/metrics.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from sngan.files import atomic_write_bytes

METRICS_FILE = "metrics.json"
DEFAULT_SAMPLES = {"mnist": 5000, "ring8": 2500, "grid25": 2500, "swissroll": 2500}


def evaluate_run(run_dir: str | Path, n_samples: int | None = None, seed: int = 0,
                 names: list[str] | None = None, trainer=None) -> dict[str, Any]:
    """Metrics of the run's newest valid checkpoint (EMA generator when present); writes metrics.json.
    ``trainer``: the Trainer that just finished this run (its state is the newest checkpoint's), so
    the models need not be rebuilt and reloaded from disk."""
    from sngan.metrics import evaluate, metrics_for
    from sngan.train.run import Run
    from sngan.train.sampling import eval_noise, generate

    run_dir = Path(run_dir)
    t0 = time.perf_counter()
    if trainer is not None:
        cfg, step, critic = trainer.cfg, trainer.step, trainer.critic
        n = n_samples or DEFAULT_SAMPLES.get(cfg.dataset, 5000)
        fake = trainer.sample(n)
    else:
        run = Run(run_dir)
        checkpoint = run.checkpoint()
        cfg, step = checkpoint.config, checkpoint.step
        n = n_samples or DEFAULT_SAMPLES.get(cfg.dataset, 5000)
        critic = run.critic(checkpoint)
        fake = generate(run.generator(checkpoint), eval_noise(cfg, n))  # what trainer.sample(n) gives
    torch.manual_seed(seed)
    names = names or metrics_for(cfg.dataset)
    values = evaluate(cfg.dataset, fake, critic, names, seed=seed)
    result = {
        "run": str(run_dir), "step": step, "method": cfg.method, "dataset": cfg.dataset,
        "loss": cfg.loss, "n_samples": n, "seed": seed, "generator": "ema" if cfg.ema > 0 else "generator",
        "metrics": values, "seconds": time.perf_counter() - t0,
    }
    atomic_write_bytes(run_dir / METRICS_FILE, json.dumps(result, indent=1).encode())
    return result
