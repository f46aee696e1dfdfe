"""The study: methods x datasets x seeds, each an ordinary ``sngan train`` run directory, run in
parallel worker processes, resumable (finished runs are skipped, partial ones resumed).

Layout of a study directory::

    STUDY/study.json                          the study's own resolved settings
    STUDY/runs/DATASET/METHOD-LOSS/seedS/     ordinary run directories (config.json, log.jsonl, ...)
    STUDY/cost.json                           per-step cost of each method, measured in one process
    STUDY/summary.json, summary.csv, figures/, report.html, poster.pdf, poster.png

To run on a cluster, give every run its own job: ``sngan study --plan STUDY`` prints one
``sngan train ... && sngan eval ...`` command line per run; then ``sngan report STUDY`` gathers them.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sngan.data.cache import atomic_write_bytes
from sngan.errors import UserError
from sngan.train.config import TrainConfig, resolve

ROWS = (("clip", "wasserstein"), ("gp", "wasserstein"), ("sn", "wasserstein"), ("sn", "hinge"))
STUDY_PRESETS = ("quick", "paper", "tiny")
DATASETS = {"quick": ("mnist", "ring8"), "paper": ("mnist", "ring8", "grid25"), "tiny": ("mnist", "ring8")}
DEFAULT_SEEDS = {"quick": 2, "paper": 3, "tiny": 2}


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    method: str
    loss: str
    seed: int
    preset: str

    @property
    def label(self) -> str:
        return f"{self.method}-{self.loss}" if (self.method, self.loss) != ("sn", "hinge") else "sn-hinge"

    @property
    def eval_samples(self) -> int | None:
        return 200 if self.preset == "tiny" else None  # None: the metrics' defaults (mnist 5000, toy 2500)

    @property
    def rel_dir(self) -> str:
        return f"runs/{self.dataset}/{self.method}-{self.loss}/seed{self.seed}"

    def config(self) -> TrainConfig:
        # quick / tiny: the same-budget comparison (same architecture, optimizer, n_critic; only the
        # constraint and, for the fourth row, the loss differ). paper: same-budget at full schedule.
        train_preset = {"quick": "quick", "tiny": "tiny", "paper": "same-budget"}[self.preset]
        overrides: dict[str, Any] = {"threads": 1}
        if self.preset == "tiny":
            overrides.update(steps=6, diag_every=3, sample_every=3, ckpt_every=3)
        return resolve(self.method, self.dataset, train_preset, overrides, loss=self.loss, seed=self.seed)


@dataclass
class StudyPlan:
    preset: str
    seeds: int
    datasets: tuple[str, ...]
    runs: list[RunSpec] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"preset": self.preset, "seeds": self.seeds, "datasets": list(self.datasets),
                "rows": [list(r) for r in ROWS], "runs": [asdict(r) | {"dir": r.rel_dir} for r in self.runs]}


def plan(preset: str = "quick", seeds: int | None = None) -> StudyPlan:
    if preset not in STUDY_PRESETS:
        raise UserError(f"unknown study preset {preset!r}; choose one of {', '.join(STUDY_PRESETS)}")
    seeds = DEFAULT_SEEDS[preset] if seeds is None else seeds
    if not 1 <= seeds <= 100:
        raise UserError(f"--seeds must be between 1 and 100, got {seeds}")
    p = StudyPlan(preset, seeds, DATASETS[preset])
    for dataset in p.datasets:
        for method, loss in ROWS:
            for seed in range(seeds):
                p.runs.append(RunSpec(dataset, method, loss, seed, preset))
    return p


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


def worker_command(study_dir: Path, spec: RunSpec) -> list[str]:
    return [sys.executable, "-m", "sngan.study.worker", str(study_dir / spec.rel_dir), json.dumps(asdict(spec))]


def cluster_commands(study_dir: Path, p: StudyPlan) -> list[str]:
    """One shell command per run: an ordinary ``sngan train`` then ``sngan eval``."""
    lines = []
    for spec in p.runs:
        cfg = spec.config()
        sets = " ".join(f"--set {k}={v}" for k, v in cfg.to_dict().items()
                        if k not in ("method", "dataset", "loss", "seed", "preset") and v is not None)
        out = shlex.quote(str(study_dir / spec.rel_dir))
        lines.append(f"sngan train --method {cfg.method} --dataset {cfg.dataset} --loss {cfg.loss} --seed {cfg.seed} "
                     f"--preset {cfg.preset} {sets} --out {out} && sngan eval {out}")
    return lines


def run_study(study_dir: str | Path, preset: str = "quick", seeds: int | None = None, jobs: int | None = None,
              progress: bool | None = None) -> StudyPlan:
    """Run (or continue) every run of the study; at most ``jobs`` worker processes at a time."""
    from tqdm import tqdm

    study_dir = Path(study_dir)
    p = plan(preset, seeds)
    study_dir.mkdir(parents=True, exist_ok=True)
    meta_file = study_dir / "study.json"
    if meta_file.exists():
        old = json.loads(meta_file.read_text())
        if (old.get("preset"), old.get("seeds")) != (p.preset, p.seeds):
            raise UserError(f"{study_dir} holds a study with preset {old.get('preset')} and {old.get('seeds')} seeds; "
                            f"use another --out or the same settings")
    atomic_write_bytes(meta_file, json.dumps(p.to_dict(), indent=1).encode())

    jobs = max(1, min(jobs or os.cpu_count() or 1, os.cpu_count() or 1))
    todo = [s for s in p.runs if run_state(study_dir / s.rel_dir) != "done"]
    done = len(p.runs) - len(todo)
    bar = tqdm(total=len(p.runs), initial=done, desc="study runs", unit="run", dynamic_ncols=True,
               disable=(not sys.stderr.isatty()) if progress is None else not progress, smoothing=0.0)
    running: dict[RunSpec, tuple[subprocess.Popen, Any]] = {}
    failures: list[str] = []
    shown = ""
    logs = study_dir / "logs"
    logs.mkdir(exist_ok=True)
    try:
        while todo or running:
            while todo and len(running) < jobs:
                spec = todo.pop(0)
                log = open(logs / f"{spec.dataset}-{spec.label}-seed{spec.seed}.log", "a")
                running[spec] = (subprocess.Popen(worker_command(study_dir, spec), stdout=log, stderr=subprocess.STDOUT,
                                                  env={**os.environ, "OMP_NUM_THREADS": "1"}), log)
            current = ", ".join(f"{s.dataset}/{s.label}/s{s.seed}" for s in running)
            if current != shown:
                bar.set_postfix_str(current, refresh=False)
                shown = current
            time.sleep(0.5)
            for spec, (proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del running[spec]
                if proc.returncode != 0:
                    failures.append(f"{spec.rel_dir} (exit {proc.returncode}; see {log.name})")
                bar.update(1)
    except KeyboardInterrupt:
        for proc, _ in running.values():
            proc.send_signal(signal.SIGINT)
        for proc, log in running.values():
            proc.wait()
            log.close()
        bar.close()
        raise UserError(f"study interrupted; finished runs are kept and partial ones resume: "
                        f"sngan study --preset {preset} --seeds {p.seeds} --out {study_dir}") from None
    bar.close()
    if failures:
        raise UserError(f"{len(failures)} run(s) failed: {failures[0]}")
    return p
