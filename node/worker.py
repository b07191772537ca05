"""``kith worker``: a process that works the server's queues and background jobs and answers no requests, so that
a deployment can run N web processes (``kith serve --no-workers``) and M workers against one database
(docs/DEPLOYMENT.md, issue #14).

What runs where:

- ``kith serve`` (the default, one process): everything below, and the web UI, owner API and inbox intake.
- ``kith serve --no-workers``: the web UI, the owner API (which queues what it sends) and the inbox intake
  (which verifies and stores what arrives, then answers 202). Imports run there too, in the serve process that
  received the upload, in its own child processes (node/import_worker.py): the upload is on that machine's disk.
  Accounts whose grace period is over are purged by whichever process looks first (Server.purge_due).
- ``kith worker``: inbox processing and deliveries (claimed row by row from the database, so that any number of
  workers share them), federation's quiet moments (cards saved and not yet published, removed accounts
  announced, offers expired, old traffic pruned: the retention), and the stay-in-touch loop (digests, each
  claimed in its account's database before it is sent, and the mailbox and calendar syncs).

On PostgreSQL the worker listens for ``NOTIFY kith_work`` (node/store/postgres/federation.py) on a session of its
own at ``storage.listen_url`` (else ``storage.url``) and claims at once when a web process stores an item or queues
a delivery; otherwise (SQLite, or listening through PgBouncer, where a ``LISTEN`` is not delivered) it claims at
its next poll, within five seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from federation.service import Federation
from node.config import smtp_password_from_env
from node.federation_access import RunningFederation
from node.federation_wiring import federation_context
from node.loop import StayInTouchLoop
from node.server import Server

__all__ = ["default_name", "run_worker"]

_log = logging.getLogger("kith.worker")
#: Seconds before a lost LISTEN connection is opened again.
_LISTEN_RETRY = 5.0


def default_name() -> str:
    """This process's worker name when none is given: its machine and process id (two workers on one machine
    must never share a name: a worker that starts releases what its name held)."""
    return f"worker@{socket.gethostname()}:{os.getpid()}"


async def _listen(server: Server, wake: Callable[[str], None], listening: asyncio.Event) -> None:
    """Wake the pumps when another process writes work (PostgreSQL only); reconnects when the connection drops.
    ``listening`` is set once notifications are heard (at once where there are none to hear)."""
    listen = getattr(server.federation, "listen", None)
    if listen is None:  # SQLite: the poll it is
        listening.set()
        return
    while True:
        try:
            await listen(wake, listening.set)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database restarted, or the URL cannot LISTEN: the poll still runs
            listening.set()
            _log.warning("listening for new work failed (%s); claiming at each poll until it is back", exc)
        await asyncio.sleep(_LISTEN_RETRY)


async def run_worker(
    server: Server,
    *,
    name: str | None = None,
    concurrency: int = 32,
    ready: Callable[[str], Any] | None = None,
    stop: asyncio.Event | None = None,
) -> dict[str, Any]:
    """Work the queues until SIGINT/SIGTERM (or ``stop``), then give back what is held and close the server;
    what this worker did (its name, the deliveries it made)."""
    worker = name or default_name()
    ctx = federation_context(server, worker=worker, run_workers=True, concurrency=concurrency)
    fed = Federation(ctx)
    loop = StayInTouchLoop(
        server, smtp_password=smtp_password_from_env(), federation=lambda: RunningFederation(lambda: fed)
    )
    stop = stop or asyncio.Event()
    running = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            running.add_signal_handler(sig, stop.set)
    listener: asyncio.Task[None] | None = None
    try:
        await fed.start()
        loop.start()
        listening = asyncio.Event()
        listener = asyncio.create_task(_listen(server, fed.wake, listening), name="kith-worker-listen")
        with contextlib.suppress(TimeoutError):  # said ready once work written from now on wakes it
            await asyncio.wait_for(listening.wait(), timeout=10)
        fed.wake()  # whatever waited while no worker ran
        if ready is not None:
            ready(worker)
        await stop.wait()
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await loop.stop()
        await fed.close()  # gives back the rows it holds (retire_worker)
        await server.close()
    return {"worker": worker, "delivered": fed.delivery.sent}
