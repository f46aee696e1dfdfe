"""One study run in its own process: train (or resume) with quality measured along training, then
evaluate the end. The study runner (and benchmarks/tune.py through it) calls ``main(argv)`` in a process
forked from its warm server (``sngan.study.processes``), submitit jobs call ``run_one``; by hand:
``python -m sngan.study.worker RUN_DIR '{"config": {...}, "eval_samples": N}'``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sngan.errors import TrainingDiverged, UserError
from sngan.study.runs import along_metrics, run_state
from sngan.train import Trainer
from sngan.train.config import TrainConfig, from_dict


def run_one(run_dir: Path, cfg: TrainConfig, eval_samples: int | None = None) -> None:
    from sngan.metrics import training_evaluator
    from sngan.metrics.run import evaluate_run

    state = run_state(run_dir)  # "partial" without a checkpoint: the Trainer trains it again from step 0
    trainer = None
    if state in ("new", "partial"):
        hook = training_evaluator(cfg, along_metrics(cfg.dataset)) if cfg.eval_every else None
        trainer = Trainer(cfg, run_dir, resume=(state == "partial"), progress=False, evaluate=hook)
        try:
            trainer.fit()
        except TrainingDiverged as e:
            print(f"run diverged: {e}", file=sys.stderr)
            return
    if run_state(run_dir) == "trained":
        # the trainer that just finished holds the final checkpoint's state: no second load from disk
        evaluate_run(run_dir, n_samples=eval_samples, trainer=trainer)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir, payload = Path(argv[0]), json.loads(argv[1])
    try:
        run_one(run_dir, from_dict(payload["config"]), payload.get("eval_samples"))
    except UserError as e:
        print(f"sngan: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
