"""Running a study's runs as cluster jobs through submitit (``pip install sngan[slurm]``).

``--executor slurm`` submits every run as one Slurm job; ``--executor submitit-local`` runs the same
code path with submitit's local executor (real subprocesses, no Slurm), which is how the test suite
covers it. Each job is the study worker's ``run_one`` (train or resume, then evaluate), so a job that
died is simply submitted again by the next ``sngan study``: finished runs are skipped, partial ones
resume from their checkpoint. Job logs and pickles go to STUDY/submitit/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sngan.errors import UserError

EXECUTORS = ("local", "submitit-local", "slurm")


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_min: int = 60             # wall-clock limit of one run's job
    gpus_per_run: int = 0
    cpus_per_run: int = 1


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("--executor submitit-local/slurm needs submitit: pip install 'sngan[slurm]'") from None
    return submitit


def run_job(run_dir: str, config: dict[str, Any], eval_samples: int | None) -> str:
    """One study run inside a submitit job (a picklable top-level function); the config's threads=1 is set
    by the Trainer."""
    from sngan.study.runs import run_state
    from sngan.study.worker import run_one
    from sngan.train.config import from_dict

    run_one(Path(run_dir), from_dict(config), eval_samples)
    return run_state(Path(run_dir))


def make_executor(kind: str, folder: Path, slurm: SlurmOptions, parallel: int):
    submitit = _submitit()
    if kind == "submitit-local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=slurm.time_min)
        return executor
    if kind == "slurm":
        executor = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        params: dict[str, Any] = {"timeout_min": slurm.time_min, "cpus_per_task": slurm.cpus_per_run,
                                  "slurm_array_parallelism": parallel}
        if slurm.partition:
            params["slurm_partition"] = slurm.partition
        if slurm.gpus_per_run:
            params["gpus_per_node"] = slurm.gpus_per_run
        executor.update_parameters(**params)
        return executor
    raise UserError(f"--executor {kind}: choose one of {', '.join(EXECUTORS)}")


def run_jobs_submitit(jobs: list, kind: str, study_dir: Path, slurm: SlurmOptions, parallel: int,
                      progress: bool = False, total: int | None = None, wait: bool = True,
                      on_done: Callable[[Any], None] | None = None) -> list[str]:
    """Submit every job (``runner.Job``); with ``wait``, show progress until all end and return the
    failures. Submitit's local executor starts every job at once, so with ``submitit-local`` the jobs
    go in waves of ``parallel``."""
    from tqdm import tqdm

    executor = make_executor(kind, study_dir / "submitit", slurm, parallel)
    total = len(jobs) if total is None else total
    bar = tqdm(total=total, initial=total - len(jobs), desc=f"study runs ({kind})", unit="run",
               dynamic_ncols=True, disable=not progress, smoothing=0.0)
    failures: list[str] = []
    waves = [jobs[i:i + parallel] for i in range(0, len(jobs), parallel)] if kind == "submitit-local" else [jobs]
    submitted: list = []
    try:
        for wave in waves:
            submitted = [(job, executor.submit(run_job, str(job.run_dir), job.config.to_dict(), job.eval_samples))
                         for job in wave]
            if not wait:
                continue
            pending = list(submitted)
            while pending:
                time.sleep(0.5)
                for item in list(pending):
                    job, handle = item
                    if not handle.done():
                        continue
                    pending.remove(item)
                    try:
                        handle.result()
                    except Exception as e:  # the job's own error, with its log in STUDY/submitit/
                        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                        failures.append(f"{job.run_dir} ({first[:200]}; log: {handle.paths.stderr})")
                    bar.update(1)
                    if on_done is not None:
                        on_done(job)
    except KeyboardInterrupt:
        if kind == "submitit-local":  # local jobs are this machine's processes: stop them (they resume later)
            for _, handle in submitted:
                handle.cancel(check=False)
        raise  # Slurm jobs go on; a later `sngan study` skips the runs they finish
    finally:
        bar.close()
    return failures
