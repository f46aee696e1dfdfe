"""The training loop. It owns the schedule (critic steps, generator steps, logging, checkpoints);
the loss owns the maths (``sngan.losses``) and the constraint owns the Lipschitz control
(``sngan.constraints``: ``prepare`` / ``penalty`` / ``after_step``)."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from sngan import device as devices
from sngan import losses
from sngan.data import BatchSampler, load_dataset
from sngan.errors import ConfigError, TrainingDiverged, UserError
from sngan.files import atomic_write_bytes
from sngan.lipschitz import layer_input_shapes
from sngan.train import checkpoint as ckpt
from sngan.train import diagnostics, rundir, sampling, state
from sngan.train.build import build_models, constraint_for, memory_format, optimizer_for
from sngan.train.config import CONFIG, TrainConfig, from_dict
from sngan.train.distributed import DistInfo, any_rank, average_gradients, barrier, mean_across_ranks
from sngan.train.lock import LOCK_FILE, DirectoryLock
from sngan.train.logging import LOG, JsonlLog, make_progress
from sngan.train.rundir import SAMPLES
from sngan.train.samples import save_image_grid, save_toy_scatter
from sngan.train.tensorboard import TensorBoardLog, check_available

STATUS = "status.json"


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written. ``step`` is where the run stopped."""

    def __init__(self, run_dir: Path, step: int, signum: int) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint written. Resume with: "
                         f"sngan train --resume --out {run_dir}")
        self.run_dir, self.step, self.signum = run_dir, step, signum


def _finite(value: float, step: int, term: str) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"step {step}: the {term} is {value} (non-finite); training stopped, the last good "
            "checkpoint is kept — lower the learning rate or change the constraint"
        )


class Trainer:
    """Trains one GAN run in ``run_dir`` (see ``sngan train``).

    Args:
        config: the resolved configuration.
        run_dir: output directory (config.json, log.jsonl, checkpoints/, samples/, status.json).
        resume: continue from the newest valid checkpoint (error if there is none).
        progress: show a progress bar (None = only on a terminal).
        evaluate: optional ``fn(trainer) -> dict`` called every ``config.eval_every`` steps; its
            numbers go into the log (the metrics registry plugs in here).
    """

    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
                 progress: bool | None = None, evaluate: Callable[[Trainer], dict] | None = None,
                 dist: DistInfo | None = None, read_only: bool = False) -> None:
        self.cfg = config  # checked when it was made (TrainConfig.__post_init__)
        self.run_dir = Path(run_dir)
        self.dist = dist or DistInfo()
        # the one place the device is decided (a data-parallel CUDA run: this rank's GPU)
        self.device = (self.dist.device if self.dist.enabled and self.cfg.device.startswith("cuda")
                       else devices.resolve(self.cfg.device))
        # read_only (evaluation): restore the newest checkpoint but touch nothing on disk — a run that
        # is still training keeps its temporary checkpoint, its log and its config.
        self.read_only = read_only
        if self.cfg.batch_size % self.dist.world_size:
            raise ConfigError(f"batch_size={self.cfg.batch_size} is the global batch: it must be divisible by the "
                              f"{self.dist.world_size} processes")
        self.progress_enabled = progress
        self.evaluate = evaluate
        self._stop_signal: int | None = None
        self._kept_fakes: Tensor | None = None  # critic_step(keep_fakes=True) -> the next generator_step
        # One writer per run directory, held until fit() ends (the kernel releases it if the process dies).
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise UserError(f"--out {self.run_dir} is a file; choose a directory path for the run")
        if not resume and self.dist.is_main and not read_only:
            DirectoryLock(self.run_dir).check_free()
            rundir.refuse_to_overwrite(self.run_dir)  # before the lock: a refused start touches nothing
        self._lock = DirectoryLock(self.run_dir) if self.dist.is_main and not read_only else None
        created = self._lock is not None and not self.run_dir.exists()
        if self._lock is not None:
            self._lock.acquire()
        try:
            self._setup(resume)
        except BaseException:
            self.release()
            if created:  # a failed start leaves nothing behind: only the lock file was made
                with contextlib.suppress(OSError):
                    (self.run_dir / LOCK_FILE).unlink()
                    self.run_dir.rmdir()
            raise

    def _setup(self, resume: bool) -> None:
        self.tensorboard: TensorBoardLog | None = None
        if self.cfg.tensorboard and self.dist.is_main and not self.read_only:
            check_available()  # before anything is written
        restore = rundir.prepare(self, resume)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        torch.manual_seed(self.cfg.seed)

        # MNIST and the toy sets are small: the whole set lives on the device, batches are indexed there
        self.data = load_dataset(self.cfg.dataset, self.cfg.data_dir, seed=self.cfg.seed,
                                 image_size=self.cfg.image_size, channels=self.cfg.channels).to(self.device)
        self.sampler = BatchSampler(self.data, self.cfg.batch_size, seed=self.cfg.seed, rank=self.dist.rank,
                                    world_size=self.dist.world_size)
        self.generator, self.critic, self.input_shape = build_models(self.cfg)  # initialised on the CPU
        self._layout = memory_format(self.cfg, self.input_shape)
        self.generator.to(self.device, memory_format=self._layout)
        self.critic.to(self.device, memory_format=self._layout)
        if self._layout is torch.channels_last:
            self.data = self.data.contiguous(memory_format=self._layout)
        self.constraint = constraint_for(self.cfg)
        self.critic = self.constraint.prepare(self.critic)
        if hasattr(self.constraint, "shard"):  # random draws of the global batch, this rank's share
            self.constraint.shard = (self.dist.rank, self.dist.world_size)
        self.layer_shapes = layer_input_shapes(self.critic, self.input_shape)  # also fixes operator-SN shapes
        self.opt_d = optimizer_for(self.cfg, self.critic.parameters(), self.cfg.lr_d, self.device)
        self.opt_g = optimizer_for(self.cfg, self.generator.parameters(), self.cfg.lr_g, self.device)
        self.generator_ema = copy.deepcopy(self.generator).eval() if self.cfg.ema > 0 else None
        for p in (self.generator_ema.parameters() if self.generator_ema is not None else ()):
            p.requires_grad_(False)
        # Fixed noise for sample grids and a private RNG for diagnostics: neither touches the
        # training random stream, so logging more or less never changes the result.
        self.fixed_z = sampling.fixed_noise(self.cfg).to(self.device)
        self.step = 0
        self._bn_calibrated_at: int | None = None  # the step the EMA generator's BatchNorm was re-estimated at
        self.log = JsonlLog(self.run_dir / LOG)
        if restore:
            state.restore_trainer(self)
        else:
            rundir.create(self)
        if self.cfg.tensorboard and self.dist.is_main and not self.read_only:
            self.tensorboard = TensorBoardLog(self.run_dir, purge_step=self.step + 1 if resume else None)

    # -- run directory -------------------------------------------------------------------------

    def _check(self, terms: dict[str, float], step: int) -> None:
        """Stop on the first non-finite term (plain floats: the guard costs no extra tensor op).
        Data-parallel: every rank stops together, also the ranks whose own values are finite."""
        bad = next((name for name, v in terms.items() if not math.isfinite(v)), None)
        anywhere = any_rank(bad is not None, self.dist)  # the collective runs on every rank before any raises
        if bad is not None:
            _finite(terms[bad], step, bad)
        if anywhere:
            _finite(float("nan"), step, "loss on another process")

    def write_status(self, status: str, **extra: Any) -> None:
        if not self.dist.is_main:
            return
        payload = {"status": status, "step": self.step, "steps": self.cfg.steps, **extra}
        atomic_write_bytes(self.run_dir / STATUS, json.dumps(payload, indent=1).encode())

    # -- checkpoints -----------------------------------------------------------------------------

    def save(self) -> Path | None:
        """Write a checkpoint of the whole training state (main process only)."""
        return state.save_trainer(self) if self.dist.is_main else None

    # -- one iteration    # -- one iteration ---------------------------------------------------------------------------

    def _noise(self, n: int) -> Tensor:
        """This rank's share of a global noise batch (the same numbers a single process would draw)."""
        r, w = self.dist.rank, self.dist.world_size
        z = torch.randn(n * w, self.cfg.latent_dim, device=self.device)  # the device's generator
        return z[r * n:(r + 1) * n] if w > 1 else z

    def _amp(self):
        return sampling.autocast(self.cfg.precision, self.device.type)

    def critic_step(self, real: Tensor, keep_fakes: bool = False) -> dict[str, float]:
        """One critic update on ``real`` and as many fresh fakes. ``keep_fakes``: the fakes are generated with
        their graph and kept for the generator step (``cfg.reuse_fakes``) instead of under no_grad."""
        G, D, cfg = self.generator, self.critic, self.cfg
        real = real.contiguous(memory_format=self._layout)
        with torch.set_grad_enabled(keep_fakes), self._amp():
            fake = G(self._noise(real.shape[0]))
        self._kept_fakes = fake if keep_fakes else None
        fake = fake.detach().float()
        # Two forwards of B rather than one of 2B: on CPU the smaller activations stay in cache and it
        # is faster (benchmarks/bench_train.py). parametrize.cached(): a spectrally normalized
        # weight W/σ (and its power iteration) is computed once per critic step, not once per forward.
        with parametrize.cached(), self._amp():
            s_real, s_fake = D(real).float(), D(fake).float()
            loss = losses.critic_loss(cfg.loss, s_real, s_fake)
            penalty = self.constraint.penalty(D, real, fake)
        total = loss if penalty is None else loss + penalty
        # One host transfer per step for the log and the NaN guard, before any weight changes.
        terms = torch.stack([loss.detach(), penalty.detach() if penalty is not None else torch.zeros_like(loss),
                             s_real.detach().mean() - s_fake.detach().mean()]).tolist()
        self._check({f"critic loss ({cfg.loss})": terms[0], "gradient penalty": terms[1]}, self.step + 1)
        self.opt_d.zero_grad(set_to_none=True)
        total.backward()
        average_gradients(D, self.dist)
        self.opt_d.step()
        self.constraint.after_step(D)
        return {"loss_d": terms[0], "penalty": terms[1], "w1_estimate": terms[2]}

    def generator_step(self) -> float:
        """One generator update: on fresh noise, or on the fakes the last critic step kept (``keep_fakes``)."""
        G, D = self.generator, self.critic
        fake, self._kept_fakes = self._kept_fakes, None
        D.eval()  # no power iteration in the generator's pass: u moves once per critic step
        for p in D.parameters():
            p.requires_grad_(False)
        try:
            with self._amp():
                if fake is None:
                    fake = G(self._noise(self.cfg.batch_size // self.dist.world_size))
                scores = D(fake).float()
            loss = losses.generator_loss(self.cfg.loss, scores)
            value = loss.item()  # as in the critic step: one host transfer, checked before any weight changes
            self._check({f"generator loss ({self.cfg.loss})": value}, self.step)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(G, self.dist)
            self.opt_g.step()
        finally:
            for p in D.parameters():
                p.requires_grad_(True)
            D.train()
        if self.generator_ema is not None:
            self._update_ema()
        return value

    def _update_ema(self) -> None:
        sampling.update_average_(self.generator_ema, self.generator, self.step, self.cfg.ema)

    # -- diagnostics and samples -----------------------------------------------------------------

    def diagnostics(self, real: Tensor) -> dict[str, Any]:
        """‖∇ₓD‖ on real, fake and interpolated points; each layer's σ; the certified bound."""
        return diagnostics.measure(self, real)

    def sample(self, n: int | None = None) -> Tensor:
        """Samples from the EMA generator if on, else the generator (eval mode): the fixed noise of the
        sample grids, or ``n`` samples of the evaluation noise (``sngan.train.sampling``)."""
        G = self.generator_ema if self.generator_ema is not None else self.generator
        if G is self.generator_ema and self._bn_calibrated_at != self.step:
            sampling.recalibrate_batchnorm(G, self.cfg, self.step)  # once per step
            self._bn_calibrated_at = self.step
        return sampling.generate(G, self.fixed_z if n is None else sampling.eval_noise(self.cfg, n).to(self.device))

    def write_samples(self) -> Path:
        path = self.run_dir / SAMPLES / f"step-{self.step:08d}.png"
        samples = self.sample()
        if self.cfg.is_toy:
            gen = torch.Generator().manual_seed(self.cfg.seed + 3)
            real = self.data[torch.randint(len(self.data), (len(samples),), generator=gen, device="cpu")]
            save_toy_scatter(real, samples, self.critic, path, title=f"{self.cfg.method} step {self.step}")
        else:
            save_image_grid(samples, path)
        if self.tensorboard is not None:
            self.tensorboard.image(path, self.step)
        return path

    # -- the loop --------------------------------------------------------------------------------

    def _on_signal(self, signum, frame) -> None:
        self._stop_signal = signum

    def fit(self) -> dict[str, Any]:
        """Train until ``config.steps`` generator updates; returns the last log record."""
        if self.read_only:
            raise RuntimeError("a read-only Trainer (load_run) evaluates; it does not train")
        cfg = self.cfg
        handlers = {}
        if _main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self._on_signal)
        bar = make_progress(cfg.steps, self.step, f"{cfg.method}/{cfg.dataset}",
                            self.progress_enabled if self.dist.is_main else False)
        record: dict[str, Any] = {}
        try:
            if self.step == 0 and cfg.sample_every and self.dist.is_main:
                self.write_samples()
            while self.step < cfg.steps:
                if any_rank(self._stop_signal is not None, self.dist):
                    self.save()
                    self.write_status("interrupted")
                    raise Interrupted(self.run_dir, self.step, self._stop_signal or signal.SIGTERM)
                record = self._iteration()
                bar.update(1)
                bar.set_postfix(loss_d=f"{record['loss_d']:.3f}", loss_g=f"{record['loss_g']:.3f}",
                                w1=f"{record['w1_estimate']:.3f}", refresh=False)
            if self.dist.is_main and (not ckpt.list_checkpoints(self.run_dir)
                                      or ckpt.list_checkpoints(self.run_dir)[-1].name != f"step-{self.step:08d}"):
                self.save()
            self.write_status("finished")
            barrier(self.dist)
        except TrainingDiverged as e:
            self.write_status("diverged", error=str(e))
            raise
        finally:
            bar.close()
            self.log.close()
            if self.tensorboard is not None:
                self.tensorboard.close()
            self.release()
            for sig, h in handlers.items():
                signal.signal(sig, h)
        return record

    def release(self) -> None:
        """Give up the run directory (fit() does this when it ends); the Trainer no longer writes."""
        if self._lock is not None:
            self._lock.release()

    def _set_learning_rates(self) -> None:
        # Constant until `lr_decay_start`, then linear to `lr_decay_floor` at `steps`; a function of the step
        # alone, so a resumed run follows it. A start at or past `steps` (a preset run for fewer steps) keeps
        # the rates constant.
        start, floor = self.cfg.lr_decay_start, self.cfg.lr_decay_floor
        scale = 1.0 - (1.0 - floor) * max(self.step - start, 0) / max(self.cfg.steps - start, 1)
        for opt, lr in ((self.opt_d, self.cfg.lr_d), (self.opt_g, self.cfg.lr_g)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def _iteration(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.lr_schedule != "constant":
            self._set_learning_rates()
        t0 = time.perf_counter()
        stats = [self.critic_step(next(self.sampler), keep_fakes=cfg.reuse_fakes and i == cfg.n_critic - 1)
                 for i in range(cfg.n_critic)]
        t1 = time.perf_counter()
        self.step += 1
        loss_g = self.generator_step()
        t2 = time.perf_counter()
        means = mean_across_ranks([sum(s[k] for s in stats) / len(stats) for k in ("loss_d", "w1_estimate", "penalty")]
                                  + [loss_g], self.dist)
        record: dict[str, Any] = {
            "step": self.step,
            "loss_d": means[0],
            "loss_g": means[3],
            "w1_estimate": means[1],
            "penalty": means[2],
            "sec_critic_step": (t1 - t0) / cfg.n_critic,
            "sec_gen_step": t2 - t1,
        }
        last = self.step == cfg.steps
        if not self.dist.is_main:
            return record
        if cfg.diag_every and (self.step % cfg.diag_every == 0 or last):
            rng = diagnostics.diag_rng(self)
            idx = torch.randint(len(self.data), (min(256, len(self.data)),), generator=rng, device="cpu")
            real = self.data[idx]
            record.update(self.diagnostics(real))
        if self.evaluate is not None and cfg.eval_every and (self.step % cfg.eval_every == 0 or last):
            # on its own random stream: a run's result must not depend on how often it was measured
            with devices.fork_rng(self.device):
                record["metrics"] = self.evaluate(self)
        self.log.write(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)
        if cfg.sample_every and (self.step % cfg.sample_every == 0 or last):
            self.write_samples()
        if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 or last:
            self.save()
        return record


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread() and os.name == "posix"


def load_run(run_dir: str | Path) -> Trainer:
    """A Trainer restored from a run directory's newest valid checkpoint (for eval and reports)."""
    run_dir = Path(run_dir)
    try:
        cfg = from_dict(json.loads((run_dir / CONFIG).read_text()))
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a run directory (no {CONFIG})") from None
    except ValueError as e:
        raise UserError(f"{run_dir / CONFIG} is not valid JSON ({e})") from None
    return Trainer(cfg, run_dir, resume=True, progress=False, read_only=True)
