"""Run logs: one JSON object per line in ``log.jsonl``, and the progress bar."""

from __future__ import annotations

import json
import math
import os
import sys
import time
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


def make_progress(total: int, initial: int, desc: str, enabled: bool | None, unit: str = "it"):
    """A tqdm bar (rate and ETA) on stderr. ``enabled=None``: the bar on a terminal; elsewhere (a log
    file, a pipe) a plain line every 30 s once a job has run for 10 s, so short jobs print nothing."""
    from tqdm import tqdm

    if enabled is None and not sys.stderr.isatty():
        return LineProgress(total, initial, desc, unit)
    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, unit=unit, dynamic_ncols=True,
                smoothing=0.05, mininterval=0.5)


class LineProgress:
    """The progress bar's interface, written as occasional plain lines (no carriage returns)."""

    def __init__(self, total: int, initial: int, desc: str, unit: str = "it", first: float = 10.0,
                 every: float = 30.0) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self._start_n, self._t0 = initial, time.monotonic()
        self._next, self._every = self._t0 + first, every
        self.postfix = ""

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.monotonic()
        if now >= self._next and self.n < self.total:
            self._next = now + self._every
            rate = (self.n - self._start_n) / max(now - self._t0, 1e-9)
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}" if math.isfinite(eta) else "?"
            print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%), "
                  f"{rate:.3g} {self.unit}/s, ETA {eta_text}{self.postfix}", file=sys.stderr, flush=True)

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.postfix = "  " + " ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str, refresh: bool = False) -> None:
        self.postfix = f"  {text}"

    def close(self) -> None:
        pass
