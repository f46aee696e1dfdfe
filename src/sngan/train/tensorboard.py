"""TensorBoard logging (optional: ``pip install 'sngan[tensorboard]'``; ``--set tensorboard=true``).

Beside log.jsonl, RUN/tensorboard/ gets the same numbers as scalars — every numeric key of a log line,
nested keys joined with "/" (``loss_d``, ``sigma/0/operator``, ``metrics/fid``) — and every sample grid or
toy scatter as an image. log.jsonl stays the record of the run; the event files are a view of it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sngan.errors import ConfigError

TB_DIR = "tensorboard"


def _writer_class():
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("tensorboard=true needs the tensorboard package: pip install 'sngan[tensorboard]' "
                          "(or pip install tensorboard)") from None
    return SummaryWriter


def check_available() -> None:
    """ConfigError, before anything is written, when the tensorboard package is missing."""
    _writer_class()


def scalars(record: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """(tag, value) for every finite number in a log record, nested keys joined with "/"."""
    for key, value in record.items():
        tag = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from scalars(value, tag + "/")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
            if math.isfinite(value):
                yield tag, float(value)


class TensorBoardLog:
    """A SummaryWriter on RUN/tensorboard. ``purge_step``: a resumed run's first step — events an
    interrupted run wrote at or after it are dropped by TensorBoard, as log.jsonl drops its lines."""

    def __init__(self, run_dir: Path, purge_step: int | None = None) -> None:
        self.writer = _writer_class()(log_dir=str(Path(run_dir) / TB_DIR), purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for tag, value in scalars(record):
            self.writer.add_scalar(tag, value, step)

    def image(self, path: Path, step: int, tag: str = "samples") -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
        self.writer.add_image(tag, array, step, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()
