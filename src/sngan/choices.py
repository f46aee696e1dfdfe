"""Names the config accepts whose meaning lives in torch-importing modules (the SN layer's modes and
solvers, the device strings): defined here, without torch, so that checking a config — a wrong flag's
one error line — does not wait for torch to import."""

from __future__ import annotations

import re

from sngan.errors import ConfigError

SN_MODES = ("matrix", "operator", "exact", "certified")
SN_SOLVERS = ("power", "lanczos")  # how matrix and operator modes estimate σ from the kept vectors
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check_device_name(name: str) -> None:
    """ConfigError unless ``name`` is a device string (whether it exists is ``sngan.device.resolve``'s
    question)."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise ConfigError(f"device={name!r}: choose auto, cpu, cuda, cuda:N or mps")
