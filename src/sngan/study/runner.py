"""The study: methods x datasets x seeds, each an ordinary ``sngan train`` run directory, run in
parallel worker processes, resumable (finished runs are skipped, partial ones resumed).

Equal CPU budget: before any run starts, the per-step cost of every method is measured in one
process (``cost.json``), and each run's CPU-seconds budget is turned into its number of generator
steps. Each run therefore stays an ordinary, deterministic, resumable run whose config.json records
its steps; a resumed study reads the same cost.json and so plans the same steps.

Layout of a study directory::

    STUDY/study.json                          the study's own resolved settings (runs, steps, budgets)
    STUDY/cost.json                           per-step cost of each method, measured in one process
    STUDY/runs/DATASET/METHOD-LOSS/seedS/     ordinary run directories (config.json, log.jsonl, ...)
    STUDY/summary.json, summary.csv, figures/, report.html, poster.pdf, poster.png

To run on a cluster, give every run its own job: ``sngan study --plan STUDY`` prints one
``sngan train ... && sngan eval ...`` command line per run; then ``sngan report STUDY`` gathers them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from sngan.errors import UserError
from sngan.files import atomic_write_bytes
from sngan.train.config import TrainConfig, preset_values, resolve, row_label

ROWS = (("clip", "wasserstein"), ("gp", "wasserstein"), ("sn", "wasserstein"), ("sn", "hinge"))
STUDY_PRESETS = ("quick", "paper", "tiny")
DATASETS = {"quick": ("mnist", "ring8"), "paper": ("mnist", "ring8", "grid25"), "tiny": ("mnist", "ring8")}
# Seeds per method: more where runs are cheap (the toys).
DEFAULT_SEEDS = {"quick": {"mnist": 2, "ring8": 2}, "paper": {"mnist": 3, "ring8": 5, "grid25": 5},
                 "tiny": {"mnist": 1, "ring8": 1}}
# CPU seconds (one thread) of training per run: every method gets the same. None: the train preset's
# steps. The quick budgets are what benchmarks/tune.py tuned every method for.
BUDGETS: dict[str, dict[str, float] | None] = {"quick": {"mnist": 150.0, "ring8": 20.0}, "paper": None, "tiny": None}
TRAIN_PRESET = {"quick": "tuned", "paper": "paper", "tiny": "tiny"}
EVAL_POINTS = 6           # quality measured at this many points along every run (and at its end)

def along_samples(preset: str, dataset: str) -> int:
    """Samples per evaluation along training (the final evaluation uses the metrics' defaults)."""
    if preset == "tiny":
        return 64
    return 2000 if dataset == "mnist" else 1000


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    method: str
    loss: str
    seed: int
    preset: str               # the study preset
    steps: int | None = None  # from the CPU budget; None: the train preset's

    @property
    def label(self) -> str:
        return row_label(self.method, self.loss)

    @property
    def eval_samples(self) -> int | None:
        return 200 if self.preset == "tiny" else None  # None: the metrics' defaults (mnist 5000, toy 2500)

    @property
    def rel_dir(self) -> str:
        return f"runs/{self.dataset}/{self.method}-{self.loss}/seed{self.seed}"

    def config(self) -> TrainConfig:
        """quick: each method's tuned preset; paper: each paper's settings; tiny: a smoke test."""
        preset_steps = 6 if self.preset == "tiny" else preset_values(TRAIN_PRESET[self.preset], self.method,
                                                                       self.dataset, self.loss)["steps"]
        steps = self.steps or preset_steps
        tiny = self.preset == "tiny"  # a smoke test: fewer evaluation and diagnostic points
        # ceil: the last of the EVAL_POINTS evaluations falls on the last step (no extra one after it)
        every = max(1, -(-steps // (3 if tiny else EVAL_POINTS)))
        overrides: dict[str, Any] = dict(
            threads=1, steps=steps, eval_every=every, eval_samples=along_samples(self.preset, self.dataset),
            diag_every=max(1, steps // (2 if tiny else 6)), sample_every=max(1, steps // 3),
            ckpt_every=max(1, steps // (2 if tiny else 4)))
        return resolve(self.method, self.dataset, TRAIN_PRESET[self.preset], overrides, loss=self.loss,
                       seed=self.seed)


@dataclass
class StudyPlan:
    preset: str
    seeds: dict[str, int]
    datasets: tuple[str, ...]
    budgets: dict[str, float] | None = None
    runs: list[RunSpec] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"preset": self.preset, "seeds": self.seeds, "datasets": list(self.datasets),
                "budget_cpu_seconds": self.budgets, "rows": [list(r) for r in ROWS],
                "runs": [asdict(r) | {"dir": r.rel_dir} for r in self.runs]}


def seeds_per_dataset(preset: str, seeds: int | None) -> dict[str, int]:
    if preset not in STUDY_PRESETS:
        raise UserError(f"unknown study preset {preset!r}; choose one of {', '.join(STUDY_PRESETS)}")
    if seeds is not None and not 1 <= seeds <= 100:
        raise UserError(f"--seeds must be between 1 and 100, got {seeds}")
    return {ds: seeds or DEFAULT_SEEDS[preset][ds] for ds in DATASETS[preset]}


def steps_for_budget(seconds: float, cost_row: dict[str, float], n_critic: int) -> int:
    """Generator steps that fit ``seconds`` of CPU: n_critic critic steps + 1 generator step each."""
    per_step_ms = n_critic * cost_row["ms_critic_step"] + cost_row["ms_generator_step"]
    return max(1, int(seconds * 1e3 / per_step_ms))


def plan(preset: str = "quick", seeds: int | None = None, cost: dict | None = None) -> StudyPlan:
    """Every run of a study. With a CPU budget (quick), ``cost`` (``measure_cost``'s result) turns each
    method's budget into its steps; without ``cost`` the runs keep the train preset's steps."""
    per_ds = seeds_per_dataset(preset, seeds)
    budgets = BUDGETS[preset]
    p = StudyPlan(preset, per_ds, DATASETS[preset], budgets)
    for dataset in p.datasets:
        for method, loss in ROWS:
            steps = None
            if budgets and cost:
                n_critic = RunSpec(dataset, method, loss, 0, preset).config().n_critic
                steps = steps_for_budget(budgets[dataset], cost["datasets"][dataset][row_label(method, loss)], n_critic)
            for seed in range(per_ds[dataset]):
                p.runs.append(RunSpec(dataset, method, loss, seed, preset, steps))
    return p


def worker_device(device: str, index: int) -> str:
    """The device of the study's ``index``-th run: with ``cuda`` on a machine with several GPUs the runs
    are spread over them round-robin (``--jobs`` at most the number of GPUs keeps one run per GPU)."""
    from sngan import device as devices

    name = devices.auto() if device == "auto" else device
    if name == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return name


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


@dataclass(frozen=True)
class Job:
    """One run for a worker process: train ``config`` in ``run_dir`` (or resume it), then evaluate."""

    run_dir: Path
    config: TrainConfig
    eval_samples: int | None = None   # final evaluation; None: the metrics' defaults
    name: str = ""

    def command(self) -> list[str]:
        payload = {"config": self.config.to_dict(), "eval_samples": self.eval_samples}
        return [sys.executable, "-m", "sngan.study.worker", str(self.run_dir), json.dumps(payload)]


def run_jobs(jobs: list[Job], parallel: int, logs: Path, desc: str = "runs", progress: bool = False,
             on_done: Callable[[Job], None] | None = None, total: int | None = None,
             status: Callable[[], str] | None = None) -> list[str]:
    """Run the jobs, ``parallel`` worker processes at a time (one thread each); returns the failures.
    Ctrl-C stops every worker (each writes a checkpoint) and raises KeyboardInterrupt."""
    from tqdm import tqdm

    total = len(jobs) if total is None else total
    bar = tqdm(total=total, initial=total - len(jobs), desc=desc, unit="run", dynamic_ncols=True,
               disable=not progress, smoothing=0.0)
    todo = list(jobs)
    running: dict[Job, tuple[subprocess.Popen, Any]] = {}
    failures: list[str] = []
    shown = ""
    logs.mkdir(parents=True, exist_ok=True)
    try:
        while todo or running:
            while todo and len(running) < parallel:
                job = todo.pop(0)
                log = open(logs / f"{job.name or job.run_dir.name}.log", "a")
                running[job] = (subprocess.Popen(job.command(), stdout=log, stderr=subprocess.STDOUT,
                                                 env={**os.environ, "OMP_NUM_THREADS": "1"}), log)
            current = ", ".join(j.name or j.run_dir.name for j in running)
            state = (status() + "; " if status else "") + f"now: {current}"
            if state != shown:
                bar.set_postfix_str(state, refresh=True)
                shown = state
            time.sleep(0.5)
            for job, (proc, log) in list(running.items()):
                if proc.poll() is None:
                    continue
                log.close()
                del running[job]
                if proc.returncode != 0:
                    failures.append(f"{job.run_dir} (exit {proc.returncode}; see {log.name})")
                bar.update(1)
                if on_done is not None:
                    on_done(job)
    except KeyboardInterrupt:
        for proc, _ in running.values():
            proc.send_signal(signal.SIGINT)
        for proc, log in running.values():
            proc.wait()
            log.close()
        raise
    finally:
        bar.close()
    return failures


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


def study_cost(study_dir: Path, preset: str, datasets: tuple[str, ...], say: Callable[[str], None]) -> dict:
    """cost.json of the study: measured once (before any run, so nothing else competes for the CPU),
    then read back, so a resumed study plans the same steps."""
    from sngan.study.cost import measure_cost

    path = study_dir / "cost.json"
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            say(f"{path} is not valid JSON: measuring the cost again")
    say("measuring the per-step cost of each method (one process, interleaved repeats)...")
    cost = measure_cost([RunSpec(ds, m, lo, 0, preset).config() for ds in datasets for m, lo in ROWS],
                        repeats=5 if preset == "tiny" else 8)
    atomic_write_bytes(path, json.dumps(cost, indent=1).encode())
    return cost


class _Reporter:
    """Rebuilds the report in a low-priority child process while runs go on: one build at a time, the
    first as soon as a run has finished, then at most one every ``interval`` seconds (a build costs
    CPU that the runs would otherwise get)."""

    def __init__(self, study_dir: Path, enabled: bool, interval: float = 240.0) -> None:
        self.study_dir, self.enabled, self.interval = study_dir, enabled, interval
        self.proc: subprocess.Popen | None = None
        self.pending = False
        self.built = 0
        self.started = -math.inf

    def request(self) -> None:
        self.pending = self.enabled
        self.poll()

    def poll(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.proc = None
            self.built += 1
        if self.pending and self.proc is None and time.monotonic() - self.started >= self.interval:
            self.pending = False
            self.started = time.monotonic()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sngan", "report", str(self.study_dir), "--quiet"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: os.nice(10),
                env={**os.environ, "OMP_NUM_THREADS": "1"})

    def status(self) -> str:
        self.poll()
        return f"report built {self.built}x" + (" (building)" if self.proc is not None else "")

    def stop(self) -> None:
        """Wait for the build in flight (the caller builds the final report itself)."""
        if self.proc is not None:
            self.proc.wait()
            self.proc = None
            self.built += 1


def run_study(study_dir: str | Path, preset: str = "quick", seeds: int | None = None, jobs: int | None = None,
              progress: bool | None = None, live_report: bool = True, tensorboard: bool = False,
              device: str = "auto") -> StudyPlan:
    """Run (or continue) every run of the study; at most ``jobs`` worker processes at a time. With
    ``live_report`` the report is rebuilt as runs finish, so it can be read while the rest train;
    ``tensorboard``: every run also writes TensorBoard event files (``tensorboard --logdir STUDY/runs``)."""
    from sngan.train.lock import DirectoryLock

    study_dir = Path(study_dir)
    per_ds = seeds_per_dataset(preset, seeds)
    with DirectoryLock(study_dir, "sngan study", kind="study"):  # one study process per directory
        return _run_study(study_dir, preset, seeds, per_ds, jobs, progress, live_report, tensorboard, device)


def _run_study(study_dir: Path, preset: str, seeds: int | None, per_ds: dict[str, int], jobs: int | None,
               progress: bool | None, live_report: bool, tensorboard: bool = False,
               device: str = "auto") -> StudyPlan:
    meta_file = study_dir / "study.json"
    if meta_file.exists():
        try:
            old = json.loads(meta_file.read_text())
        except ValueError:
            old = {}
        if (old.get("preset"), old.get("seeds")) != (preset, per_ds):
            raise UserError(f"{study_dir} holds a study with preset {old.get('preset')} and seeds {old.get('seeds')}; "
                            f"use another --out or the same settings")
    show = (sys.stderr.isatty()) if progress is None else progress

    def say(text: str) -> None:
        if show:
            print(text, file=sys.stderr, flush=True)

    cost = study_cost(study_dir, preset, DATASETS[preset], say)
    p = plan(preset, seeds, cost)
    from sngan.provenance import host, source

    meta = p.to_dict() | {"host": host(), "source": source()}  # where and with what code it ran
    atomic_write_bytes(meta_file, json.dumps(meta, indent=1).encode())

    parallel = max(1, min(jobs or os.cpu_count() or 1, os.cpu_count() or 1))
    # In plan order: MNIST first, so the longest runs start early and the toys fill the end.
    todo = [s for s in p.runs if run_state(study_dir / s.rel_dir) != "done"]
    reporter = _Reporter(study_dir, live_report)
    if len(todo) < len(p.runs):
        reporter.request()
    if tensorboard:
        from sngan.train.tensorboard import check_available

        check_available()
    work = [Job(study_dir / s.rel_dir,
                dataclasses.replace(s.config(), tensorboard=tensorboard, device=worker_device(device, i)),
                s.eval_samples, f"{s.dataset}-{s.label}-seed{s.seed}") for i, s in enumerate(todo)]
    try:
        failures = run_jobs(work, parallel, study_dir / "logs", "study runs", show, lambda job: reporter.request(),
                            total=len(p.runs), status=reporter.status)
    except KeyboardInterrupt:
        reporter.stop()
        again = f"sngan study --preset {preset}{f' --seeds {seeds}' if seeds else ''} --out {study_dir}"
        raise UserError(f"study interrupted; finished runs are kept and partial ones resume: {again}") from None
    reporter.stop()
    if failures:
        raise UserError(f"{len(failures)} run(s) failed: {failures[0]}")
    return p
