"""One writer per run (or study) directory: an exclusive OS lock held for as long as the writer runs.

``flock`` on ``DIR/.lock``: the kernel releases it when the holder exits, however it exits (SIGKILL
included), so a lock left by a killed process never blocks the next writer. The file holds the
holder's PID, only to name it in the error; whether the directory is locked is the kernel's answer,
never the file's content. Readers (eval, report) take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sngan.errors import UserError

LOCK_FILE = ".lock"


class DirectoryLock:
    """``with DirectoryLock(run_dir, "sngan train"):`` or ``acquire()`` / ``release()``."""

    def __init__(self, directory: str | Path, holder: str = "sngan train", kind: str = "run") -> None:
        self.directory = Path(directory)
        self.holder, self.kind = holder, kind
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DirectoryLock:
        """Take the lock or raise UserError naming the process that holds it (nothing is written then)."""
        if self._fd is not None:
            return self
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create {self.kind} directory {self.directory}: {e.strerror or e}") from None
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot lock {self.kind} directory {self.directory}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.directory} is in use by {owner}; wait for it to finish or stop it "
                            f"(one writer per directory)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({self.holder})\n".encode(), 0)
        self._fd = fd
        return self

    def check_free(self) -> None:
        """Raise the in-use UserError if another process holds the lock; changes nothing on disk (a
        shared-lock probe, released at once)."""
        try:
            fd = os.open(self.directory / LOCK_FILE, os.O_RDONLY)
        except OSError:
            return  # no lock file: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"{self.directory} is in use by {owner}; wait for it to finish or stop it "
                            f"(one writer per directory)") from None
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()
