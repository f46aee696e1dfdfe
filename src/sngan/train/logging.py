"""Run logs: one JSON object per line in ``log.jsonl``, and the progress bar."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

LOG = "log.jsonl"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (strict JSON has no NaN / Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN; a non-finite value is recorded as null
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class JsonlLog:
    """Append-only JSON-lines log, flushed every line. ``truncate_after(step)`` drops the lines of
    steps beyond a checkpoint when a run resumes, so the log equals an uninterrupted run's."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh = None

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = [line for line in read_log_lines(self.path) if line.get("step", 0) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        with open(tmp, "w") as f:
            for rec in keep:
                f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def write(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a")
        self._fh.write(json.dumps(json_safe(record)) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_log_lines(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a log (a torn last line, from a kill mid-write, is dropped)."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        return []
    return out


def make_progress(total: int, initial: int, desc: str, enabled: bool | None):
    """A tqdm bar (rate and ETA) on stderr; ``enabled=None`` = only when stderr is a terminal."""
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, unit="it", dynamic_ncols=True,
                smoothing=0.05, mininterval=0.5)
