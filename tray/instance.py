"""One tray per ``HITL_HOME``: an advisory lock on ``tray.lock``, held while the tray runs.

The lock is the kernel's (``flock`` on POSIX, ``msvcrt.locking`` on Windows), not the file's
existence: the kernel drops it when the process dies however it dies, so a file left behind by
a crash or a SIGKILL never stops the next tray.  The file only carries the holder's pid, for
the message the second tray prints.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import TracebackType

LOCK_FILE = "tray.lock"


class TrayAlreadyRunningError(RuntimeError):
    """Another tray holds the lock for this ``HITL_HOME``."""

    def __init__(self, path: Path, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"a tray is already running for {path.parent}{who}; not starting another")
        self.pid = pid


class InstanceLock:
    """The lock that makes a tray the only one for its ``HITL_HOME``; a context manager."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid; raise ``TrayAlreadyRunningError`` if another holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not inherited by children (Python's default): a terminal the tray opens must not
        # keep holding the lock after the tray quits.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise TrayAlreadyRunningError(self.path, pid) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays: removing it could race with the next tray's lock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the lock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def _lock(fd: int) -> None:
    """Lock ``fd`` exclusively without waiting; raise ``OSError`` if another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_pid(fd: int) -> int | None:
    """The pid the holder wrote, if the file holds one."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
