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
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sngan.errors import ConfigError, UserError
from sngan.files import atomic_write_bytes
from sngan.study.cluster import EXECUTORS, SlurmOptions
from sngan.study.processes import Child
from sngan.study.runs import along_metrics, run_state  # noqa: F401 (also the runner's API)
from sngan.study.spec import Row, StudySpec, load_study
from sngan.train.config import TrainConfig, preset_values, resolve


def along_samples(dataset: str) -> int:
    """Samples per evaluation along training where the study file gives none (the final evaluation uses the
    metrics' defaults)."""
    return 2000 if dataset == "mnist" else 1000


@dataclass(frozen=True)
class RunSpec:
    dataset: str
    label: str                # the row's label: runs/DATASET/LABEL/seedS
    seed: int
    study: StudySpec
    steps: int | None = None  # from the CPU budget; None: the budget's steps or the train preset's

    @property
    def row(self) -> Row:
        return self.study.row(self.label)

    @property
    def method(self) -> str:
        return self.row.method

    @property
    def loss(self) -> str:
        return self.row.loss

    @property
    def preset(self) -> str:
        return self.study.name

    @property
    def eval_samples(self) -> int | None:
        return self.study.eval_samples_final  # None: the metrics' defaults (mnist 5000, toy 2500)

    @property
    def rel_dir(self) -> str:
        return f"runs/{self.dataset}/{self.label}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "label": self.label, "method": self.method, "loss": self.loss,
                "seed": self.seed, "preset": self.row.preset, "steps": self.steps, "dir": self.rel_dir}

    def config(self) -> TrainConfig:
        """The row's train preset and overrides, with the study's steps and measurement schedule."""
        row, study = self.row, self.study
        budget_steps = study.budget.get(self.dataset, {}).get("steps")
        steps = self.steps or (max(1, round(budget_steps * row.budget_scale)) if budget_steps else None)
        steps = steps or preset_values(row.preset, row.method, self.dataset, row.loss)["steps"]
        along = study.eval_samples_along.get(self.dataset) or along_samples(self.dataset)
        overrides: dict[str, Any] = dict(row.overrides)
        if self.dataset in study.data_dir:
            overrides["data_dir"] = study.data_dir[self.dataset]
        # ceil: the last of the eval_points evaluations falls on the last step (no extra one after it)
        overrides.update(threads=1, steps=steps, eval_every=max(1, -(-steps // study.eval_points)),
                         eval_samples=along, diag_every=max(1, steps // study.diag_points),
                         sample_every=max(1, steps // study.sample_points),
                         ckpt_every=max(1, steps // study.ckpt_points))
        try:
            return resolve(row.method, self.dataset, row.preset, overrides, loss=row.loss, seed=self.seed)
        except ConfigError as e:
            raise UserError(f"study {study.name}, row {row.label} on {self.dataset}: {e}") from None


@dataclass
class StudyPlan:
    spec: StudySpec
    seeds: dict[str, int]
    runs: list[RunSpec] = field(default_factory=list)

    @property
    def preset(self) -> str:
        return self.spec.name

    @property
    def datasets(self) -> tuple[str, ...]:
        return self.spec.datasets

    def to_dict(self) -> dict:
        budgets = {ds: self.spec.cpu_budget(ds) for ds in self.datasets if self.spec.cpu_budget(ds)}
        return {"preset": self.spec.name, "study": self.spec.to_dict(), "seeds": self.seeds,
                "datasets": list(self.datasets), "budget_cpu_seconds": budgets or None,
                "rows": [r.label for r in self.spec.rows], "runs": [r.to_dict() for r in self.runs]}


def as_spec(study: str | Path | StudySpec) -> StudySpec:
    return study if isinstance(study, StudySpec) else load_study(study)


def seeds_per_dataset(spec: StudySpec, seeds: int | None) -> dict[str, int]:
    if seeds is not None and not 1 <= seeds <= 100:
        raise UserError(f"--seeds must be between 1 and 100, got {seeds}")
    return {ds: seeds or spec.seeds[ds] for ds in spec.datasets}


def steps_for_budget(seconds: float, cost_row: dict[str, float], n_critic: int) -> int:
    """Generator steps that fit ``seconds`` of CPU: n_critic critic steps + 1 generator step each."""
    per_step_ms = n_critic * cost_row["ms_critic_step"] + cost_row["ms_generator_step"]
    return max(1, int(seconds * 1e3 / per_step_ms))


def plan(study: str | Path | StudySpec = "quick", seeds: int | None = None, cost: dict | None = None) -> StudyPlan:
    """Every run of a study. With a CPU budget, ``cost`` (``measure_cost``'s result) turns each row's budget
    into its steps; without ``cost`` the runs keep the budget's or the train preset's steps."""
    spec = as_spec(study)
    per_ds = seeds_per_dataset(spec, seeds)
    p = StudyPlan(spec, per_ds)
    for dataset in spec.datasets:
        for row in spec.rows:
            steps = None
            seconds = spec.cpu_budget(dataset)
            if seconds and cost:
                n_critic = RunSpec(dataset, row.label, 0, spec).config().n_critic
                steps = steps_for_budget(seconds * row.budget_scale, cost["datasets"][dataset][row.label], n_critic)
            for seed in range(per_ds[dataset]):
                p.runs.append(RunSpec(dataset, row.label, seed, spec, steps))
    return p


def worker_device(device: str, index: int) -> str:
    """The device of the study's ``index``-th run: with ``cuda`` on a machine with several GPUs the runs
    are spread over them round-robin (``--jobs`` at most the number of GPUs keeps one run per GPU)."""
    from sngan import device as devices

    name = devices.auto() if device == "auto" else device
    if name == "cuda" and torch.cuda.device_count() > 1:
        return f"cuda:{index % torch.cuda.device_count()}"
    return name


@dataclass(frozen=True)
class Job:
    """One run for a worker process: train ``config`` in ``run_dir`` (or resume it), then evaluate."""

    run_dir: Path
    config: TrainConfig
    eval_samples: int | None = None   # final evaluation; None: the metrics' defaults
    name: str = ""

    def argv(self) -> list[str]:
        payload = {"config": self.config.to_dict(), "eval_samples": self.eval_samples}
        return [str(self.run_dir), json.dumps(payload)]


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
    from sngan.study import worker

    running: dict[Job, tuple[Child, Path]] = {}
    failures: list[str] = []
    shown = ""
    logs.mkdir(parents=True, exist_ok=True)
    try:
        while todo or running:
            while todo and len(running) < parallel:
                job = todo.pop(0)
                log = logs / f"{job.name or job.run_dir.name}.log"
                running[job] = (Child(worker.main, job.argv(), log), log)
            current = ", ".join(j.name or j.run_dir.name for j in running)
            state = (status() + "; " if status else "") + f"now: {current}"
            if state != shown:
                bar.set_postfix_str(state, refresh=True)
                shown = state
            time.sleep(0.5)
            for job, (proc, log) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[job]
                if code != 0:
                    failures.append(f"{job.run_dir} (exit {code}; see {log.name})")
                bar.update(1)
                if on_done is not None:
                    on_done(job)
    except KeyboardInterrupt:
        for proc, _ in running.values():
            proc.send_signal(signal.SIGINT)
        for proc, _ in running.values():
            proc.wait()
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


def study_cost(study_dir: Path, spec: StudySpec, say: Callable[[str], None]) -> dict:
    """cost.json of the study: measured once (before any run, so nothing else competes for the CPU),
    then read back, so a resumed study plans the same steps."""
    from sngan.study.cost import measure_cost

    path = study_dir / "cost.json"
    if path.exists():
        try:
            cost = json.loads(path.read_text())
            if all(r.label in cost["datasets"].get(ds, {}) for ds in spec.datasets for r in spec.rows):
                return cost
            say(f"{path} lacks some of the study's rows: measuring the cost again")
        except (ValueError, KeyError, TypeError):
            say(f"{path} is not valid JSON: measuring the cost again")
    say("measuring the per-step cost of each row (one process, interleaved repeats)...")
    # rows that train the same setting (at other budgets) are measured once
    first: dict[str, tuple[str, TrainConfig]] = {}   # config JSON -> the first row that trains it
    same: dict[tuple[str, str], str] = {}
    for ds in spec.datasets:
        for r in spec.rows:
            cfg = RunSpec(ds, r.label, 0, spec).config()
            same[(ds, r.label)] = first.setdefault(cfg.to_json(), (r.label, cfg))[0]
    measured = list(first.values())
    cost = measure_cost(measured, repeats=5 if spec.name == "tiny" else 8)
    for (ds, label), source in same.items():
        cost["datasets"][ds][label] = cost["datasets"][ds][source]
    atomic_write_bytes(path, json.dumps(cost, indent=1).encode())
    return cost


def _build_report(argv: list[str]) -> int:
    """`sngan report DIR --quiet`, in a child process of the study."""
    from sngan.study.report import build_report

    build_report(Path(argv[0]))
    return 0


class _Reporter:
    """Rebuilds the report in a low-priority child process while runs go on: one build at a time, the
    first as soon as a run has finished, then at most one every ``interval`` seconds (a build costs
    CPU that the runs would otherwise get)."""

    def __init__(self, study_dir: Path, enabled: bool, interval: float = 240.0) -> None:
        self.study_dir, self.enabled, self.interval = study_dir, enabled, interval
        self.proc: Child | None = None
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
            self.proc = Child(_build_report, [str(self.study_dir)], os.devnull, nice=10)

    def status(self) -> str:
        self.poll()
        return f"report built {self.built}x" + (" (building)" if self.proc is not None else "")

    def stop(self) -> None:
        """Wait for the build in flight (the caller builds the final report itself)."""
        if self.proc is not None:
            self.proc.wait()
            self.proc = None
            self.built += 1


def run_study(study_dir: str | Path, study: str | Path | StudySpec = "quick", seeds: int | None = None,
              jobs: int | None = None, progress: bool | None = None, live_report: bool = True,
              tensorboard: bool = False, device: str = "auto", executor: str = "local",
              slurm: SlurmOptions | None = None, wait: bool = True) -> StudyPlan:
    """Run (or continue) every run of ``study`` (a shipped study's name, a study file or a StudySpec); at
    most ``jobs`` runs at a time. ``executor``: "local" (worker processes, the default), "submitit-local" or
    "slurm" (one submitit job per run; ``wait=False`` submits and returns). With ``live_report`` the report
    is rebuilt as runs finish, so it can be read while the rest train; ``tensorboard``: every run also
    writes TensorBoard event files (``tensorboard --logdir STUDY/runs``)."""
    from sngan.train.lock import DirectoryLock

    study_dir = Path(study_dir)
    spec = as_spec(study)
    if executor not in EXECUTORS:
        raise UserError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}")
    per_ds = seeds_per_dataset(spec, seeds)
    with DirectoryLock(study_dir, "sngan study", kind="study"):  # one study process per directory
        return _run_study(study_dir, spec, seeds, per_ds, jobs, progress, live_report, tensorboard, device,
                          executor, slurm or SlurmOptions(), wait)


def _run_study(study_dir: Path, spec: StudySpec, seeds: int | None, per_ds: dict[str, int], jobs: int | None,
               progress: bool | None, live_report: bool, tensorboard: bool, device: str, executor: str,
               slurm: SlurmOptions, wait: bool) -> StudyPlan:
    meta_file = study_dir / "study.json"
    if meta_file.exists():
        try:
            old = json.loads(meta_file.read_text())
        except ValueError:
            old = {}
        if (old.get("preset"), old.get("seeds")) != (spec.name, per_ds):
            raise UserError(f"{study_dir} holds a study with preset {old.get('preset')} and seeds {old.get('seeds')}; "
                            f"use another --out or the same settings")
        old_rows = (old.get("study") or {}).get("rows")
        if old_rows is not None and old_rows != [r.to_dict() for r in spec.rows]:
            raise UserError(f"{study_dir} holds study {spec.name} with other rows than its file has now; use "
                            "another --out")
    show = (sys.stderr.isatty()) if progress is None else progress

    def say(text: str) -> None:
        if show:
            print(text, file=sys.stderr, flush=True)

    cost = study_cost(study_dir, spec, say)
    p = plan(spec, seeds, cost)
    from sngan.provenance import host, source

    meta = p.to_dict() | {"host": host(), "source": source(), "executor": executor}  # where and with what code
    atomic_write_bytes(meta_file, json.dumps(meta, indent=1).encode())
    atomic_write_bytes(study_dir / "study.toml", spec.source.encode())  # the study file, as it ran

    parallel = max(1, min(jobs or os.cpu_count() or 1, os.cpu_count() or 1))
    if executor == "slurm":
        parallel = jobs or len(p.runs)
    # In plan order: MNIST first, so the longest runs start early and the toys fill the end.
    todo = [s for s in p.runs if run_state(study_dir / s.rel_dir) != "done"]
    reporter = _Reporter(study_dir, live_report and wait)
    if len(todo) < len(p.runs):
        reporter.request()
    if tensorboard:
        from sngan.train.tensorboard import check_available

        check_available()
    work = [Job(study_dir / s.rel_dir,
                dataclasses.replace(s.config(), tensorboard=tensorboard, device=worker_device(device, i)),
                s.eval_samples, f"{s.dataset}-{s.label}-seed{s.seed}") for i, s in enumerate(todo)]
    try:
        if executor == "local":
            failures = run_jobs(work, parallel, study_dir / "logs", "study runs", show,
                                lambda job: reporter.request(), total=len(p.runs), status=reporter.status)
        else:
            from sngan.study.cluster import run_jobs_submitit

            failures = run_jobs_submitit(work, executor, study_dir, slurm, parallel, show, total=len(p.runs),
                                         wait=wait, on_done=lambda job: reporter.request())
    except KeyboardInterrupt:
        reporter.stop()
        from sngan.study.spec import shipped

        ship = shipped().get(spec.name)
        name = spec.name if ship is not None and ship.read_text() == spec.source else study_dir / "study.toml"
        again = f"sngan study {name}{f' --seeds {seeds}' if seeds else ''} --out {study_dir}"
        raise UserError(f"study interrupted; finished runs are kept and partial ones resume: {again}") from None
    reporter.stop()
    if failures:
        raise UserError(f"{len(failures)} run(s) failed: {failures[0]}")
    return p
