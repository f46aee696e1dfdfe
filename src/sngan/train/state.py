"""A trainer's whole state to and from a checkpoint (``sngan.train.checkpoint`` holds the file format):
the critic, generator and EMA generator, both optimizers, the data sampler and the random streams, so a
resumed run continues bit for bit where it stopped."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sngan import device as devices
from sngan.errors import CheckpointError, UserError
from sngan.files import atomic_write_bytes
from sngan.train import checkpoint as ckpt
from sngan.train.config import CONFIG
from sngan.train.distributed import barrier

if TYPE_CHECKING:
    from sngan.train.loop import Trainer


def trainer_state(trainer: Trainer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors: dict[str, Tensor] = {}
    for prefix, module in (("critic", trainer.critic), ("generator", trainer.generator),
                           ("generator_ema", trainer.generator_ema)):
        if module is not None:
            for k, v in module.state_dict().items():
                tensors[f"{prefix}.{k}"] = v
    state = {
        "opt_d": ckpt.flatten_optimizer("opt_d", trainer.opt_d, tensors),
        "opt_g": ckpt.flatten_optimizer("opt_g", trainer.opt_g, tensors),
        "sampler": trainer.sampler.state_dict(),
        "config": trainer.cfg.to_dict(),
    }
    tensors["rng.torch"] = torch.get_rng_state()
    device_rng = devices.rng_state(trainer.device)  # training noise on a GPU comes from its own generator
    if device_rng is not None:
        tensors[f"rng.{trainer.device.type}"] = device_rng
    return tensors, state

def save_trainer(trainer: Trainer) -> Path:
    """A checkpoint of the trainer: models, optimizers, sampler and random streams."""
    tensors, state = trainer_state(trainer)
    try:
        return ckpt.save_checkpoint(trainer.run_dir, trainer.step, tensors, state, keep=trainer.cfg.keep_checkpoints)
    except OSError as e:
        raise UserError(f"could not write a checkpoint in {trainer.run_dir}: {e.strerror or e}; the previous "
                        "checkpoint is intact") from None

def restore_trainer(trainer: Trainer) -> None:
    """Load the newest valid checkpoint into a freshly built trainer."""
    found = ckpt.latest_valid_checkpoint(trainer.run_dir)
    if found is None:
        raise CheckpointError(f"nothing to resume: {trainer.run_dir} has no checkpoint yet")
    _, tensors, state = found
    for prefix, module in (("critic", trainer.critic), ("generator", trainer.generator),
                           ("generator_ema", trainer.generator_ema)):
        if module is None:
            continue
        sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        module.load_state_dict(sub)
    ckpt.restore_optimizer(trainer.opt_d, state["opt_d"], tensors)
    ckpt.restore_optimizer(trainer.opt_g, state["opt_g"], tensors)
    trainer.sampler.load_state_dict(state["sampler"])
    torch.set_rng_state(tensors["rng.torch"])
    saved = [k.split(".", 1)[1] for k in tensors if k.startswith("rng.") and k != "rng.torch"]
    if trainer.device.type != "cpu" and trainer.device.type in saved:
        devices.set_rng_state(trainer.device, tensors[f"rng.{trainer.device.type}"])
    elif trainer.device.type != "cpu" or saved:
        warnings.warn(f"this run was checkpointed on {saved[0] if saved else 'cpu'} and resumes on "
                      f"{trainer.device}: the training noise's random stream cannot be restored across devices, "
                      "so the result is no longer bit-identical to an uninterrupted run", stacklevel=2)
    trainer.step = int(state["step"])
    if trainer.dist.is_main and not trainer.read_only:
        trainer.log.truncate_after(trainer.step)
        atomic_write_bytes(trainer.run_dir / CONFIG, trainer.cfg.to_json().encode())
    barrier(trainer.dist)
