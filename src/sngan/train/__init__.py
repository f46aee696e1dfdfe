"""Training: configuration, the loop, checkpoints, logs."""

from sngan.train.build import build_models
from sngan.train.config import PRESETS, TrainConfig, parse_overrides, resolve
from sngan.train.loop import Interrupted, Trainer, load_run
from sngan.train.run import Run, load_critic, load_generator

__all__ = ["PRESETS", "TrainConfig", "Trainer", "Interrupted", "build_models", "load_run", "parse_overrides",
           "resolve", "Run", "load_generator", "load_critic"]
