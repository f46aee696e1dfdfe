"""The study's child processes (its runs and its live report builds), forked from a warm server.

A fresh ``python -m ...`` spends about 3 s importing torch, torch._dynamo (which the optimizers' first
step imports) and sngan before it does anything, and a study starts one process per run. Here the
processes come from multiprocessing's fork server, which imports all of that once (with one thread
per numeric library) and then forks a new process for each: every run is still its own process, with
its own memory, signals and exit status, but starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

# what a run (train, evaluate) and a report build import; torch._dynamo: the optimizers' first step imports it
_PRELOAD = ["torch", "torch._dynamo", "sngan.train.loop", "sngan.metrics.run", "sngan.study.worker",
            "sngan.study.report"]
_context = None


def _server():
    """The fork server's context, started with the heavy modules imported once and one thread each."""
    global _context
    if _context is None and "forkserver" not in multiprocessing.get_all_start_methods():
        _context = multiprocessing.get_context("spawn")  # Windows: a fresh interpreter per process
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        saved = os.environ.get("OMP_NUM_THREADS")
        os.environ["OMP_NUM_THREADS"] = "1"  # read once, by the server's libraries, as they load
        try:
            from multiprocessing import forkserver

            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["OMP_NUM_THREADS"]
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        _context = ctx
    return _context


def _child(target: Callable[[list[str]], int], argv: list[str], stdout: str, stderr: str, nice: int, cwd: str,
           env: dict[str, str]) -> None:
    """In the new process: the caller's working directory and environment (the server's are those of
    when it started), stdout and stderr appended to their files, priority lowered by ``nice``; run, and
    exit with the target's status."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, name in ((1, stdout), (2, stderr)):
        file = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    if nice:
        os.nice(nice)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = target(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


class Child:
    """One child process: ``target(argv)`` with its stdout (and stderr, unless given apart) appended to
    ``output``, run in ``cwd`` with ``env`` (default: the caller's current ones); ``poll`` and ``wait`` give
    its exit status as ``subprocess.Popen``'s do (negative: killed by that signal)."""

    def __init__(self, target: Callable[[list[str]], int], argv: list[str], output: str | Path,
                 stderr: str | Path | None = None, nice: int = 0, cwd: str | Path | None = None,
                 env: dict[str, str] | None = None):
        args = (target, list(argv), str(output), str(stderr or output), nice, str(cwd or os.getcwd()),
                dict(os.environ if env is None else env))
        self.process = _server().Process(target=_child, args=args)
        self.process.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, sig)
