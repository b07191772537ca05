"""``serve.url`` in the data folder: where a running ``kith serve`` of this folder listens, for the commands that
call it (node/cli_federation.py's ``running_node_url``: ``kith follow``, ``kith requests``...).

A deployment may run N ``kith serve`` processes on one data folder (docs/DEPLOYMENT.md §4), each on its own
port. Each used to write the file when it started and remove it when it stopped: the file named whichever
started last, and the first one to stop removed it while the others still ran. Now the file belongs to **one**
process at a time, the holder of an exclusive lock on ``serve.lock`` beside it (``flock``): the first
``kith serve`` to start writes it, the others leave it alone, and only the holder removes it. Any live process
answers the commands alike (they share the database), so which one is named does not matter, only that it is a
live one: the lock goes with its process however it ends (even SIGKILL), so a file left behind by a killed
server is stale exactly when nobody holds the lock, and the next ``kith serve`` to start overwrites it. When the
holder stops while others still run, the file goes with it and commands fall back to the configured
``server.host``/``server.port`` until a ``kith serve`` starts again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from node.files import write_private

__all__ = ["LOCK_FILE", "RUNTIME_URL_FILE", "ServeUrl"]

RUNTIME_URL_FILE = "serve.url"
LOCK_FILE = "serve.lock"


class ServeUrl:
    """``serve.url`` for one ``kith serve`` process: :meth:`publish` when it listens, :meth:`withdraw` when it
    stops."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / RUNTIME_URL_FILE
        self._lock = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def publish(self, url: str) -> bool:
        """Write ``url`` if no other live ``kith serve`` of this folder has written its own; whether it did."""
        if self._fd is None:
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another live server holds it: its URL stays
                os.close(fd)
                return False
            self._fd = fd
        write_private(self.path, url + "\n")
        return True

    def withdraw(self) -> None:
        """Remove the file if this process wrote it, and let the next server take it."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing releases the lock
            self._fd = None
