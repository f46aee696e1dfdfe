"""Evaluate a run directory's newest checkpoint: ``sngan eval RUN_DIR`` → RUN_DIR/metrics.json."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from sngan.errors import UserError
from sngan.files import atomic_write_bytes
from sngan.train.logging import json_safe

METRICS_FILE = "metrics.json"
DEFAULT_SAMPLES = {"mnist": 5000, "ring8": 2500, "grid25": 2500, "swissroll": 2500}


MIN_SAMPLES, MAX_SAMPLES = 50, 1_000_000


def check_samples(n: int | None) -> None:
    if n is not None and not MIN_SAMPLES <= n <= MAX_SAMPLES:
        raise UserError(f"--samples {n}: must be between {MIN_SAMPLES} (FID, KID and PRDC need that many) and "
                        f"{MAX_SAMPLES}; the defaults are MNIST 5000, toys 2500")


def evaluate_run(run_dir: str | Path, n_samples: int | None = None, seed: int = 0,
                 names: list[str] | None = None, trainer=None, write: bool = True,
                 progress: bool | None = False, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Metrics of the run's newest valid checkpoint (EMA generator when present); writes metrics.json
    unless ``write`` is False (then ``write_metrics`` does it). ``trainer``: the Trainer that just
    finished this run (its state is the newest checkpoint's), so the models need not be reloaded."""
    from sngan.metrics import absent_metrics, evaluate, metrics_for, reference_for
    from sngan.train.logging import make_progress
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
        critic = run.critic(checkpoint, device=device)
        fake = generate(run.generator(checkpoint, device=device), eval_noise(cfg, n).to(device))  # = trainer.sample(n)
    torch.manual_seed(seed)
    names = names or metrics_for(cfg.dataset)
    real, real_features = reference_for(cfg, n, seed)
    bar = make_progress(len(names), 0, "eval", progress, unit="metric")
    try:
        values = evaluate(cfg.dataset, fake, critic, names, real=real, real_features=real_features, seed=seed,
                          on_metric=lambda name: (bar.set_postfix_str(name), bar.update(1)))
    finally:
        bar.close()
    absent = absent_metrics(cfg.dataset)
    if "lipschitz_upper" in values and values["lipschitz_upper"] is None:
        absent["lipschitz_upper"] = ("the certified upper bound needs a sequential critic (a product of layer "
                                     "norms); a residual critic has none — lipschitz_lower still brackets it")
    result = {
        "run": str(run_dir), "step": step, "method": cfg.method, "dataset": cfg.dataset,
        "loss": cfg.loss, "n_samples": n, "seed": seed, "generator": "ema" if cfg.ema > 0 else "generator",
        "metrics": values, "absent": absent, "seconds": time.perf_counter() - t0,
    }
    if write:
        write_metrics(run_dir, result)
    return result


def write_metrics(run_dir: str | Path, result: dict[str, Any]) -> Path:
    path = Path(run_dir) / METRICS_FILE
    atomic_write_bytes(path, json.dumps(json_safe(result), indent=1).encode())
    return path
