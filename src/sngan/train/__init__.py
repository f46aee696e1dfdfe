"""Training: configuration, the loop, checkpoints, logs. Names load on first use (sngan.lazy), so reading or
checking a config (``sngan.train.config``) does not import torch."""

from sngan.lazy import attach

_WHERE = {"PRESETS": "config", "TrainConfig": "config", "parse_overrides": "config", "resolve": "config",
          "build_models": "build", "Interrupted": "loop", "Trainer": "loop", "load_run": "loop",
          "Run": "run", "load_generator": "run", "load_critic": "run"}
__getattr__, __dir__ = attach(__name__, _WHERE)
__all__ = sorted(_WHERE)
