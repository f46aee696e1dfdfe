"""The ``sngan`` command line: flags → config → library call. Thin on purpose."""

from __future__ import annotations

import argparse
import sys

from sngan.errors import UserError

_DEVICE_HELP = "auto (default: CUDA when available, else CPU), cpu, cuda, cuda:N or mps"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r} (a whole number >= 0)") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"invalid seed {text} (a whole number between 0 and 2^63 - 1)")
    return value


def _path(text: str) -> str:
    if not text or "\x00" in text:
        raise argparse.ArgumentTypeError(f"invalid path {text!r}")
    return text


def _existing_dir(path: str, what: str) -> None:
    """Refuse a missing directory before anything heavy loads (torch takes seconds to import)."""
    import os

    if not os.path.exists(path):
        raise UserError(f"{path}: no such {what} directory")
    if not os.path.isdir(path):
        raise UserError(f"{path} is a file, not a {what} directory")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage too: keep it short)
        raise UserError(message)


def _cmd_certify(args: argparse.Namespace) -> int:
    import math

    import torch

    from sngan.certify import format_table, normalize_critic
    from sngan.lipschitz import layer_sigmas, lower_bound, upper_bound
    from sngan.models import MnistCritic

    if not (math.isfinite(args.width) and 1 / 64 <= args.width <= 8):
        raise UserError(f"--width {args.width}: must be between 1/64 and 8 (1 = the paper's critic)")
    if not 0 <= args.ascent_steps <= 10_000:
        raise UserError(f"--ascent-steps {args.ascent_steps}: must be between 0 and 10000")
    from sngan import device as devices

    device = devices.resolve(args.device)
    torch.manual_seed(args.seed)
    shape = (1, 28, 28)
    base = MnistCritic(width=args.width)
    print(f"SN-GAN standard CNN critic at 28x28x1, width {args.width}, seed {args.seed}\n")
    print(format_table("no normalization", layer_sigmas(base, shape)))
    x = (torch.rand(32, *shape, device="cpu") * 2 - 1).to(device)
    for mode in ("matrix", "exact", "operator", "certified"):
        critic = MnistCritic(width=args.width)
        critic.load_state_dict(base.state_dict())
        critic.to(device)
        normalize_critic(critic, mode, shape, seed=args.seed)
        critic.eval()
        print()
        print(format_table(f"sngan.spectral_norm(mode={mode!r})", layer_sigmas(critic, shape)))
        lo = lower_bound(critic, x, steps=args.ascent_steps)
        print(f"  Lipschitz constant: {lo:.4f} (empirical lower bound) <= Lip <= "
              f"{upper_bound(critic, shape):.4f} (certified upper bound)")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from sngan.data import fetch_mnist, load_mnist
    from sngan.data.mnist import LABEL_COUNTS, PICKLE_SHA256

    t0 = time.perf_counter()
    if args.idx_dir:
        where = f"IDX files in {args.idx_dir}"
    else:
        where = str(fetch_mnist(verbose=True))
    fetched = time.perf_counter() - t0
    for split in ("train", "test"):
        images, labels = load_mnist(split, idx_dir=args.idx_dir)
        counts = np.bincount(labels, minlength=10).tolist()
        ok = "matches MNIST" if tuple(counts) == LABEL_COUNTS[split] else "DIFFERS from MNIST's"
        print(f"{split}: {images.shape[0]} images {images.shape[1]}x{images.shape[2]} {images.dtype}; "
              f"label counts {counts} ({ok})")
    if not args.idx_dir:
        print(f"source sha256 {PICKLE_SHA256} verified")
    print(f"MNIST ready ({fetched:.2f} s): {where}")
    return 0


# Flags of `sngan train` that name a config field; only the ones the user typed take part in a resume.
_TRAIN_FLAGS = ("method", "dataset", "loss", "steps", "seed", "preset", "device")


def _typed(args: argparse.Namespace) -> dict:
    """The config fields the user typed, as flags or ``--set`` (a ``--set`` that contradicts a typed
    flag is an error: which one would win is not obvious)."""
    from sngan.train.config import parse_overrides

    flags = {k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k) is not None}
    sets = parse_overrides(args.set)
    for key, value in sets.items():
        if key in flags and flags[key] != value:
            raise UserError(f"--set {key}={value} contradicts --{key} {flags[key]}; give it once")
    return {**sets, **flags}


def _train_config(args: argparse.Namespace, typed: dict):
    from sngan.train.config import resolve

    missing = [f"--{k}" for k in ("method", "dataset") if k not in typed]
    if missing:
        raise UserError(f"the following arguments are required: {', '.join(missing)} "
                        "(or --resume --out DIR to continue a run)")
    explicit = {k: typed[k] for k in ("loss", "steps", "seed", "device") if k in typed}
    overrides = {k: v for k, v in typed.items() if k not in _TRAIN_FLAGS}
    return resolve(typed["method"], typed["dataset"], typed.get("preset", "paper"), overrides, **explicit)


def _resume_config(out, typed: dict):
    """The stored run's config with the typed changes that a resume may make (more steps, logging);
    any other typed value that differs from the run's is an error naming it."""
    import dataclasses

    from sngan.train.config import RESUMABLE_CHANGES
    from sngan.train.run import Run

    if not out.is_dir():
        raise UserError(f"nothing to resume: {out} " + ("is a file" if out.exists() else "does not exist"))
    if not (out / "config.json").exists():
        raise UserError(f"nothing to resume: {out} holds no run (no config.json)")
    run = Run(out)
    stored = run.config
    changes = {}
    for key, value in typed.items():
        if getattr(stored, key) == value:
            continue
        flag = f"--{key} {value}" if key in _TRAIN_FLAGS else f"--set {key}={value}"
        if key not in RESUMABLE_CHANGES:
            raise UserError(f"--resume: {flag} differs from the run's {key}={getattr(stored, key)!r} "
                            f"({out}/config.json); leave it out to continue the run, or start a new one with "
                            "another --out")
        changes[key] = value
    steps = changes.get("steps", stored.steps)
    if steps < run.step:
        raise UserError(f"--steps {steps}: the run is already at step {run.step}; ask for more steps or leave "
                        "--steps out")
    return dataclasses.replace(stored, **changes), run  # replace makes a new config: checked


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    typed = _typed(args)
    if args.resume:
        if args.out is None and not {"method", "dataset"} <= set(typed):
            raise UserError("--resume needs --out DIR (the run directory to continue)")
        out = Path(args.out or _default_out(typed))
        cfg, run = _resume_config(out, typed)
        note = None if run.checkpoints else f"{out} has no checkpoint yet: training it from step 0 with its stored " \
                                            "config"
    else:
        cfg = _train_config(args, typed)
        from sngan.train.checkpoint import list_checkpoints

        out = Path(args.out or _default_out(typed, cfg))
        note = (f"{out} holds a run that died before its first checkpoint: starting it over"
                if (out / "config.json").is_file() and not list_checkpoints(out) else None)
    if args.dry_run:
        print(cfg.to_json())
        return 0
    from sngan import device as devices
    from sngan.train import Trainer
    from sngan.train.distributed import init_from_env, shutdown

    devices.resolve(cfg.device)  # a device that does not exist: one line, before anything is written
    info = init_from_env(cfg.device)  # torchrun sets WORLD_SIZE / RANK; a plain run is one process
    try:
        trainer = Trainer(cfg, out, resume=args.resume, progress=True if args.progress else None,
                          evaluate=_evaluator_for(cfg), dist=info)
        if note and info.is_main:
            print(note, file=sys.stderr)
        last = trainer.fit()
    finally:
        shutdown(info)
    if not info.is_main:
        return 0
    if last:
        print(f"step {trainer.step}/{cfg.steps}: loss_d {last['loss_d']:.4f}  loss_g {last['loss_g']:.4f}  "
              f"W1 estimate {last['w1_estimate']:.4f}")
    print(f"run finished: {out}")
    return 0


def _default_out(typed: dict, cfg=None) -> str:
    seed = cfg.seed if cfg is not None else typed.get("seed", 0)
    return f"runs/{typed['method']}-{typed['dataset']}-seed{seed}"


def _evaluator_for(cfg):
    if not cfg.eval_every:
        return None
    try:
        from sngan.metrics import training_evaluator
    except ImportError:
        return None
    return training_evaluator(cfg)


def _cmd_eval(args: argparse.Namespace) -> int:
    _existing_dir(args.run_dir, "run")
    from sngan import device as devices
    from sngan.metrics.run import check_samples, evaluate_run, write_metrics

    check_samples(args.samples)
    device = devices.resolve(args.device)
    result = evaluate_run(args.run_dir, n_samples=args.samples, seed=args.seed, write=False,
                          progress=True if args.progress else None, device=device)
    print(f"{result['method']}/{result['dataset']} at step {result['step']} "
          f"({result['n_samples']} samples, seed {result['seed']}, {result['generator']}):")
    for key, value in result["metrics"].items():
        if isinstance(value, float):
            print(f"  {key:<24}{value:>12.4f}")
        elif isinstance(value, int) or value is None:
            print(f"  {key:<24}{value!s:>12}")
    by_reason: dict[str, list[str]] = {}
    for name, why in result["absent"].items():
        by_reason.setdefault(why, []).append(name)
    for why, names in by_reason.items():
        print(f"  not computed: {', '.join(names)} — {why}")
    sys.stdout.flush()
    try:
        path = write_metrics(args.run_dir, result)
    except OSError as e:
        raise UserError(f"the metrics above could not be written to {args.run_dir}/metrics.json "
                        f"({e.strerror or e})") from None
    print(f"written: {path}")
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    _existing_dir(args.run_dir, "run")
    from sngan import device as devices
    from sngan.train.run import Run, export_samples

    device = devices.resolve(args.device)
    run = Run(args.run_dir)
    done = export_samples(run, args.out, args.n, seed=args.seed, step=args.step, ema=not args.no_ema,
                          progress=True if args.progress else None, device=device)
    what = "points" if run.config.is_toy else "images"
    gen = "EMA generator" if done['generator'] == "ema" else "generator"
    print(f"{done['n']} {what} from the {gen} at step {done['step']} (seed {done['seed']}) "
          f"-> {done['path']}")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from sngan.study.spec import load_study, shipped  # no torch: a listing or a wrong file answers at once

    if args.list:
        for name, path in shipped().items():
            print(f"{name:<10} {load_study(path).description}")
        return 0
    if args.study and args.preset and args.study != args.preset:
        raise UserError(f"give the study once: {args.study!r} and --preset {args.preset!r} disagree")
    spec = load_study(args.study or args.preset or "quick")
    if args.jobs is not None and args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: must be >= 1")
    if args.no_wait and args.executor != "slurm":
        raise UserError("--no-wait is for --executor slurm (local runs are waited for)")
    from sngan import device as devices
    from sngan.study.cluster import SlurmOptions
    from sngan.study.runner import cluster_commands, plan, run_study

    devices.resolve(args.device)
    out = Path(args.out or f"runs/study-{spec.name}")
    if args.plan:
        if (out / "cost.json").exists():
            import json

            cost = json.loads((out / "cost.json").read_text())
        else:
            cost = None
            print("# no cost.json yet: a CPU budget's steps below are the presets'; `sngan study` first measures "
                  "each row's "
                  "cost and gives every run the same CPU budget", file=sys.stderr)
        for line in cluster_commands(out, plan(spec, args.seeds, cost)):
            print(line)
        return 0
    t0 = time.perf_counter()
    if "mnist" in spec.datasets and spec.name != "tiny":
        from sngan.data import fetch_mnist

        fetch_mnist(verbose=True)
    print(f"study {spec.name}: {out}/report.html, writeup.pdf and poster.pdf are written when the first runs "
          "finish and refreshed as the rest do", flush=True)
    slurm = SlurmOptions(partition=args.partition, time_min=args.time, gpus_per_run=args.gpus_per_run)
    p = run_study(out, spec, args.seeds, jobs=args.jobs, progress=True if args.progress else None,
                  tensorboard=args.tensorboard, device=args.device, executor=args.executor, slurm=slurm,
                  wait=not args.no_wait)
    if args.no_wait:
        print(f"submitted {len(p.runs)} runs; when they end: sngan report {out}")
        return 0
    from sngan.study.report import build_report

    report = build_report(out)
    print(f"study finished in {time.perf_counter() - t0:.0f} s ({len(p.runs)} runs)")
    print(f"report: {report.resolve()}")
    print(f"write-up: {report.parent.resolve() / 'writeup.pdf'}, poster: {report.parent.resolve() / 'poster.pdf'}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _existing_dir(args.study_dir, "study")
    from sngan.study.report import build_report

    report = build_report(args.study_dir)
    if not args.quiet:
        print(f"report: {report.resolve()}")
        print(f"write-up: {report.parent.resolve() / 'writeup.pdf'}, poster: {report.parent.resolve() / 'poster.pdf'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sngan", description="Lipschitz-constrained GAN training around spectral normalization.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train one GAN run (resumable)")
    p.add_argument("--method", default=None, choices=["clip", "gp", "sn", "none"],
                   help="required for a new run (a resumed run knows its own)")
    p.add_argument("--dataset", default=None, choices=["mnist", "ring8", "grid25", "swissroll", "cifar10", "folder"],
                   help="required for a new run")
    p.add_argument("--loss", choices=["wasserstein", "hinge", "bce"], default=None,
                   help="default: the preset's (paper sn: hinge; others: wasserstein)")
    p.add_argument("--steps", type=int, default=None, help="generator updates")
    p.add_argument("--seed", type=_seed, default=None)
    p.add_argument("--out", type=_path, default=None, help="run directory (default runs/METHOD-DATASET-seedS)")
    p.add_argument("--preset", default=None,
                   choices=["paper", "same-budget", "tuned", "sn-ndis5", "sn-fast", "quick", "tiny"],
                   help="paper (default): each method with its paper's settings; same-budget: equal optimizer, "
                        "loss and critic updates; tuned: each method's best point of the equal-effort search")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest checkpoint with its stored config (flags you "
                        "type may only raise --steps or change logging)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--device", default=None, help=_DEVICE_HELP)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("study", help="the main job: a comparison study (clip vs GP vs SN by default) with its "
                                     "report, write-up and poster")
    p.add_argument("study", nargs="?", default=None,
                   help="a shipped study's name (see --list) or a study file (.toml); default: quick")
    p.add_argument("--list", action="store_true", help="list the shipped studies, one line each, and exit")
    p.add_argument("--preset", default=None,
                   help="the same as giving the study's name (quick, paper, tiny, ...)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per row on every dataset (default: the study file's)")
    p.add_argument("--out", type=_path, default=None, help="study directory (default runs/study-NAME)")
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: CPU cores)")
    p.add_argument("--plan", action="store_true", help="print one train+eval command per run (cluster jobs) and exit")
    p.add_argument("--executor", default="local", choices=["local", "submitit-local", "slurm"],
                   help="local worker processes (default); slurm: one Slurm job per run through submitit "
                        "(pip install 'sngan[slurm]'); submitit-local: the same jobs as local subprocesses")
    p.add_argument("--partition", default=None, help="Slurm partition (--executor slurm)")
    p.add_argument("--time", type=int, default=60, help="minutes per run's job (--executor slurm/submitit-local)")
    p.add_argument("--gpus-per-run", type=int, default=0, help="GPUs per run's job (--executor slurm)")
    p.add_argument("--no-wait", action="store_true",
                   help="submit the jobs and return (--executor slurm); then `sngan report DIR` when they end")
    p.add_argument("--tensorboard", action="store_true",
                   help="every run also writes TensorBoard event files (tensorboard --logdir STUDY/runs)")
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=_cmd_study)

    p = sub.add_parser("report", help="(re)build STUDY_DIR/report.html from what is on disk")
    p.add_argument("study_dir", type=_path)
    p.add_argument("--quiet", action="store_true", help="print nothing (the study refreshes its report this way)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("eval", help="metrics of a run's newest checkpoint -> RUN_DIR/metrics.json")
    p.add_argument("run_dir", type=_path)
    p.add_argument("--samples", type=int, default=None, help="generated samples (default mnist 5000, toy 2500)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("sample", help="samples of a trained run: a PNG grid, a PNG folder (for FID tools), "
                                      "an npz/npy array; toy runs csv/npy/png")
    p.add_argument("run_dir", type=_path)
    p.add_argument("--out", type=_path, required=True,
                   help="x.png: a grid (toy: a scatter); DIR: one PNG per image; x.npz / x.npy: uint8 NHWC "
                        "(toy: float32 [N, 2]); x.csv: toy points")
    p.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
    p.add_argument("--seed", type=_seed, default=0, help="noise seed: the same seed writes the same bytes")
    p.add_argument("--step", type=int, default=None, help="the checkpoint of this step (default: the newest)")
    p.add_argument("--no-ema", action="store_true", help="the trained generator, not its EMA copy")
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("data", help="fetch, verify and cache a dataset; prints where")
    p.add_argument("name", choices=["mnist"])
    p.add_argument("--idx-dir", type=_path, default=None, help="read the standard IDX files from this folder instead")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("certify", help="per-layer σ (reshaped kernel vs true operator) and Lipschitz "
                                       "bounds of the standard MNIST critic under each SN mode")
    p.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = the paper's)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--device", default="auto", help=_DEVICE_HELP)
    p.add_argument("--ascent-steps", type=int, default=20, help="gradient-ascent steps of the lower bound")
    p.set_defaults(func=_cmd_certify)
    return parser


def _one_line(text: str) -> str:
    """An error message as one printable line (user input echoed in it may hold newlines or controls)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except UserError as e:
        from sngan.errors import TrainingDiverged

        print(f"sngan: error: {_one_line(str(e))}", file=sys.stderr)
        return 3 if isinstance(e, TrainingDiverged) else 2
    except BrokenPipeError:
        # the reader went away (`sngan certify | head -1`): stop quietly, as other Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:
        from sngan.train import Interrupted

        if isinstance(e, Interrupted):
            print(f"sngan: {e}", file=sys.stderr)
            return 130
        raise
    except KeyboardInterrupt:
        print("sngan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
