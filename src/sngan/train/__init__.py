"""Training: configuration, the loop, checkpoints, logs. Names load on first use (PEP 562), so reading or
checking a config (``sngan.train.config``) does not import torch."""

from __future__ import annotations

import importlib

_WHERE = {"PRESETS": "config", "TrainConfig": "config", "parse_overrides": "config", "resolve": "config",
          "build_models": "build", "Interrupted": "loop", "Trainer": "loop", "load_run": "loop",
          "Run": "run", "load_generator": "run", "load_critic": "run"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"sngan.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'sngan.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
