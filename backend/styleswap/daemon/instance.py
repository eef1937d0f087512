"""One daemon per connection file: an OS file lock held for the daemon's whole life.

A lock rather than "is the pid in the connection file alive": it covers a daemon that is still loading
its models (no file yet), two daemons started at the same moment, and a crash (the OS drops the lock).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

if os.name == "nt":
    import msvcrt
else:
    import fcntl


class InstanceLock:
    def __init__(self, connection_file: Path) -> None:
        self.path = connection_file.with_name(connection_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> bool:
        """True once held; False if another process still holds it after `timeout` seconds."""
        os.makedirs(self.path.parent, mode=0o700, exist_ok=True)
        deadline = time.monotonic() + timeout
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                return False
            time.sleep(0.05)  # waiting for another process to exit; no event to wait on portably
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
