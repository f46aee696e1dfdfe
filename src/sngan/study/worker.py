"""One study run in its own process: train (or resume) then evaluate. Used by the study runner."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from sngan.errors import TrainingDiverged, UserError
from sngan.study.runner import RunSpec, run_state
from sngan.train import Trainer
from sngan.train.checkpoint import list_checkpoints


def run_one(run_dir: Path, spec: RunSpec) -> None:
    from sngan.metrics.run import evaluate_run

    cfg = spec.config()
    state = run_state(run_dir)
    if state == "partial" and not list_checkpoints(run_dir):
        shutil.rmtree(run_dir)  # killed before its first checkpoint: nothing to keep
        state = "new"
    if state in ("new", "partial"):
        try:
            Trainer(cfg, run_dir, resume=(state == "partial"), progress=False).fit()
        except TrainingDiverged as e:
            print(f"run diverged: {e}", file=sys.stderr)
            return
    if run_state(run_dir) == "trained":
        evaluate_run(run_dir, n_samples=spec.eval_samples)


def main() -> int:
    run_dir, spec = Path(sys.argv[1]), RunSpec(**json.loads(sys.argv[2]))
    try:
        run_one(run_dir, spec)
    except UserError as e:
        print(f"sngan: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
