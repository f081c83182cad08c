"""One process per run: an advisory file lock that the kernel releases when its holder dies.

Two ``medsafe eval`` processes with the same configuration on one store would otherwise both
execute the same unfinished run and ask the model for the same answers twice. The lock is an
``flock`` on ``STORE/locks/RUN_ID.lock``; a process killed with SIGKILL holds nothing, so no
stale lock ever needs clearing by hand. (Where ``fcntl`` does not exist the lock always succeeds.)
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """An exclusive, non-blocking lock on one run of one store."""

    def __init__(self, store_path: Path, run_id: str) -> None:
        self.path = store_path.parent / "locks" / f"{run_id}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())  # for the curious; the lock is what counts
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lock go (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
