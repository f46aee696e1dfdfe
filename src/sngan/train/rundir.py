"""A run directory's life before training: checked for a resume (config unchanged where it must be,
a checkpoint to restore or none yet), refused when it holds something else, and created with its
config.json only once everything loaded, so a failed start leaves nothing half-made behind."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sngan.errors import CheckpointError, ConfigError, UserError
from sngan.files import atomic_write_bytes
from sngan.train import checkpoint as ckpt
from sngan.train.config import CONFIG, RESUMABLE_CHANGES, read_config
from sngan.train.distributed import barrier
from sngan.train.lock import LOCK_FILE
from sngan.train.tensorboard import TB_DIR

if TYPE_CHECKING:
    from sngan.train.loop import Trainer

SAMPLES = "samples"


def prepare(trainer: Trainer, resume: bool) -> bool:
    """Check the run directory; returns whether there is a checkpoint to restore. A resumed run with
    no checkpoint yet (it died before its first) starts again from step 0 with its stored config."""
    d = trainer.run_dir
    if resume:
        if not (d / CONFIG).exists():
            raise CheckpointError(f"nothing to resume: {d} holds no run (no {CONFIG})")
        stored = read_config(d)
        for key, value in stored.to_dict().items():
            if key not in RESUMABLE_CHANGES and getattr(trainer.cfg, key) != value:
                raise ConfigError(f"--resume: {key}={getattr(trainer.cfg, key)!r} differs from the run's "
                                  f"{value!r} in {d / CONFIG}")
        if trainer.dist.is_main and not trainer.read_only:
            ckpt.remove_temporary(d)
        if not ckpt.list_checkpoints(d):
            if trainer.read_only:
                raise CheckpointError(f"{d} has no checkpoint yet")
            return False
        return True
    if trainer.dist.is_main:
        refuse_to_overwrite(d)
    return False

def create(trainer: Trainer) -> None:
    """Write the new run's config.json and status (main process), once everything loaded."""
    # Created only once everything loaded, so a failed start leaves no half-made run behind. A run
    # that died before its first checkpoint starts over here: its log and samples go.
    if trainer.dist.is_main:
        d = trainer.run_dir
        try:
            trainer.log.truncate_after(0)
            for stale in (d / SAMPLES).glob("step-*.png"):
                stale.unlink()
            shutil.rmtree(d / TB_DIR, ignore_errors=True)
            (d / SAMPLES).mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(d / CONFIG, trainer.cfg.to_json().encode())
        except OSError as e:
            raise UserError(f"cannot create run directory {d}: {e.strerror}") from None
        trainer.write_status("running")
    barrier(trainer.dist)


def refuse_to_overwrite(d: Path) -> None:
    """A new run may go into a missing or empty directory, or one whose run died before its first
    checkpoint (nothing to lose: it starts over); anything else is refused, before it is touched."""
    if d.exists() and any(p.name != LOCK_FILE for p in d.iterdir()):
        if (d / CONFIG).exists() and not ckpt.list_checkpoints(d):
            return
        if (d / CONFIG).exists():
            raise UserError(f"{d} already holds a run; `sngan train --resume --out {d}` continues it, or "
                            "choose another --out")
        raise UserError(f"{d} already holds files that are not a run; choose another --out")
