"""A trained run, opened from its directory: config, log, metrics, checkpoints and the models.

The one way to open a run — ``sngan sample``, ``sngan eval``, the study's report and the Python API
(``sngan.Run``, ``sngan.load_generator``, ``sngan.load_critic``) all read a run through this class.
Reading takes no lock and writes nothing, so it works while the run is still training and on a
read-only copy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sngan import device as devices
from sngan.errors import CheckpointError, ConfigError, UserError
from sngan.train import checkpoint as ckpt
from sngan.train import sampling
from sngan.train.config import TrainConfig, from_dict, read_config
from sngan.train.logging import LOG, read_log_lines

STATUS = "status.json"
METRICS = "metrics.json"
MAX_SAMPLES = 10_000_000  # `sngan sample --n`: beyond this a typo is likelier than a wish


@dataclass(frozen=True)
class Checkpoint:
    """One verified checkpoint: its step, the config it was trained with, its tensors and state."""

    step: int
    path: Path
    config: TrainConfig
    tensors: dict[str, Tensor]
    state: dict[str, Any]

    def module_state(self, prefix: str) -> dict[str, Tensor]:
        return {k[len(prefix) + 1:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}


class Run:
    """A run directory (``sngan train --out DIR``), read-only.

    >>> run = sngan.Run("runs/sn-mnist-seed0")
    >>> run.config.method, run.status["step"], run.checkpoints    # ('sn', 2000, [1500, 2000])
    >>> G = run.generator()                                         # EMA generator, eval mode
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        if not self.dir.exists():
            raise UserError(f"{self.dir}: no such run directory")
        if not self.dir.is_dir():
            raise UserError(f"{self.dir} is a file, not a run directory")
        self.config = read_config(self.dir)

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r}: {self.config.method}/{self.config.dataset}, step {self.step})"

    # -- what is on disk ---------------------------------------------------------------------------

    @property
    def status(self) -> dict[str, Any]:
        """status.json: ``{"status": "running" | "finished" | "interrupted" | "diverged", "step", "steps"}``."""
        return _read_json(self.dir / STATUS) or {}

    @property
    def log(self) -> list[dict[str, Any]]:
        """log.jsonl as rows, one per logged step (a torn last line is dropped)."""
        return read_log_lines(self.dir / LOG)

    @property
    def metrics(self) -> dict[str, Any] | None:
        """metrics.json written by ``sngan eval`` (None before the first evaluation)."""
        return _read_json(self.dir / METRICS)

    @property
    def checkpoints(self) -> list[int]:
        """Steps of the completed checkpoints, oldest first."""
        return [int(p.name.split("-")[1]) for p in ckpt.list_checkpoints(self.dir)]

    @property
    def step(self) -> int:
        """The newest checkpoint's step (0 if none)."""
        steps = self.checkpoints
        return steps[-1] if steps else 0

    def checkpoint(self, step: int | None = None) -> Checkpoint:
        """The newest valid checkpoint (an invalid one is skipped with a warning), or the one of ``step``."""
        if step is None:
            found = ckpt.latest_valid_checkpoint(self.dir)
            if found is None:
                raise CheckpointError(f"{self.dir} has no checkpoint yet (the run saves one every ckpt_every="
                                      f"{self.config.ckpt_every} steps and when it ends)")
            path, tensors, state = found
        else:
            path = self.dir / ckpt.CKPT_DIR / f"step-{step:08d}"
            if not path.is_dir():
                have = ", ".join(map(str, self.checkpoints)) or "none"
                raise CheckpointError(f"{self.dir} has no checkpoint at step {step} (checkpoints: {have})")
            tensors, state = ckpt.read_checkpoint(path)
        try:
            config = from_dict(state["config"])
        except (KeyError, TypeError, ConfigError) as e:
            raise CheckpointError(f"{path}: the checkpoint's config is unreadable ({e})") from None
        return Checkpoint(int(state["step"]), path, config, tensors, state)

    # -- models ------------------------------------------------------------------------------------

    def generator(self, step: int | Checkpoint | None = None, ema: bool = True,
                  device: torch.device | str | None = None) -> nn.Module:
        """The generator in eval mode, without gradients: the EMA copy when ``ema`` and the run kept one
        (its BatchNorm statistics re-estimated as the trainer does), else the trained generator."""
        from sngan.train.build import build_models, memory_format

        c = step if isinstance(step, Checkpoint) else self.checkpoint(step)
        with torch.random.fork_rng(devices=[]):  # the weights are loaded: their random init must not use
            generator, _, input_shape = build_models(c.config)  # up the caller's random stream
        use_ema = ema and c.config.ema > 0
        _load(generator, c, "generator_ema" if use_ema else "generator")
        generator.to(devices.reproducible(device or "cpu"), memory_format=memory_format(c.config, input_shape))
        generator.eval().requires_grad_(False)
        if use_ema:
            sampling.recalibrate_batchnorm(generator, c.config, c.step)
        return generator

    def critic(self, step: int | Checkpoint | None = None, device: torch.device | str | None = None) -> nn.Module:
        """The critic in eval mode, with its constraint applied (a spectrally normalized critic keeps its
        u, v and σ, so it computes exactly what the trainer's critic computed in eval mode)."""
        from sngan.lipschitz import layer_input_shapes
        from sngan.train.build import build_models, constraint_for, memory_format

        c = step if isinstance(step, Checkpoint) else self.checkpoint(step)
        with torch.random.fork_rng(devices=[]):  # random init and SN's initial u, v: overwritten by the load
            _, critic, input_shape = build_models(c.config)
            critic = constraint_for(c.config).prepare(critic)
            layer_input_shapes(critic, input_shape)  # fixes operator-mode SN's input shapes, as the trainer does
        _load(critic, c, "critic")
        critic.to(devices.reproducible(device or "cpu"), memory_format=memory_format(c.config, input_shape))
        return critic.eval().requires_grad_(False)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _load(module: nn.Module, c: Checkpoint, prefix: str) -> None:
    try:
        module.load_state_dict(c.module_state(prefix))
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{c.path}: the {prefix} weights do not fit the model of its config "
                              f"({first[1].strip() if len(first) > 1 else first[0]})") from None


def load_generator(run_dir: str | Path, step: int | None = None, ema: bool = True,
                   device: torch.device | str | None = None) -> nn.Module:
    """A trained run's generator in eval mode (``Run(run_dir).generator``): ``generator(z)`` with
    ``z`` of shape ``[N, latent_dim]`` gives images ``[N, C, H, W]`` in [-1, 1] or toy points ``[N, 2]``."""
    return Run(run_dir).generator(step, ema, device)


def load_critic(run_dir: str | Path, step: int | None = None, device: torch.device | str | None = None) -> nn.Module:
    """A trained run's critic in eval mode (``Run(run_dir).critic``): scores ``[N, 1]``."""
    return Run(run_dir).critic(step, device)


def export_samples(run: Run, out: str | Path, n: int = 64, *, seed: int = 0, step: int | None = None,
                   ema: bool = True, batch_size: int | None = None, progress: bool | None = None,
                   device: torch.device | str = "cpu") -> dict[str, Any]:
    """Write ``n`` samples of a trained run to ``out`` (format from its suffix, see ``samples.write_samples``).

    The noise is drawn batch by batch from one generator seeded with ``seed``, so the same seed gives
    the same file, byte for byte. Returns what was written (for the command's message)."""
    from sngan.train.logging import make_progress
    from sngan.train.samples import output_kind, write_samples

    if not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
        raise UserError(f"--n {n}: must be a whole number between 1 and {MAX_SAMPLES}")
    out = Path(out)
    toy = run.config.is_toy
    kind = output_kind(out, toy)  # a wrong suffix fails before the checkpoint is read
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: the folder {out.parent} does not exist")
    c = run.checkpoint(step)
    generator = run.generator(c, ema, device)
    cfg = c.config
    batch_size = batch_size or (10_000 if toy else 500)
    bar = make_progress(n, 0, f"sample {cfg.method}/{cfg.dataset}", progress, unit="sample")

    def batches():
        for z in sampling.noise_batches(n, cfg.latent_dim, seed, batch_size, device):
            x = sampling.generate(generator, z)
            bar.update(len(z))
            yield x

    real = None
    if toy and kind == ".png":
        from sngan.data import toy as toy_points

        real = toy_points(cfg.dataset, min(n, 2500), seed=seed + 1)
    title = f"{cfg.method}/{cfg.dataset} step {c.step}, {n} samples"
    try:
        write_samples(batches(), n, out, kind, toy=toy, real=real, title=title)
    except OSError as e:
        raise UserError(f"--out {out}: cannot write ({e.strerror or e})") from None
    finally:
        bar.close()
    return {"path": out, "n": n, "step": c.step, "generator": "ema" if ema and cfg.ema > 0 else "generator",
            "format": kind or "folder", "seed": seed}
