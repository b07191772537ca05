"""``storage.listen_url``: the workers' LISTEN session goes straight to PostgreSQL while everything else goes
through ``storage.url`` (docs/DEPLOYMENT.md §2). Through PgBouncer in transaction mode a LISTEN is accepted and
never delivered, so without it a worker hears nothing and claims only at its 5-second polls.

The database is one of the throw-away cluster (tests/support/postgres.py); ``storage.url`` names it through
PgBouncer, or directly under another spelling of the same URL, and ``storage.listen_url`` names it directly. A
web process's write (an outbox entry and its delivery, which sends ``NOTIFY kith_work`` at its commit) wakes the
worker's listener."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from federation.values import Outgoing
from node.config import load_config
from node.store import open_server_store
from tests.support.postgres import PgServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database("kith_listen")
    try:
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.mark.parametrize("via", ["pgbouncer", "another spelling"])
async def test_a_notify_wakes_a_worker_listening_at_the_listen_url(
    pg_server: PgServer, database: str, via: str, tmp_path: Path
) -> None:
    direct = pg_server.url(database)
    url = (
        pg_server.url(database, bouncer=True) if via == "pgbouncer" else direct + "?application_name=kith-web"
    )
    env = {"KITH_STORAGE_URL": url, "KITH_STORAGE_LISTEN_URL": direct}
    worker = await open_server_store(load_config(tmp_path / "worker", env=env))
    web = await open_server_store(load_config(tmp_path / "web", env=env))
    heard: asyncio.Queue[str] = asyncio.Queue()
    listening = asyncio.Event()
    listen = worker.federation.listen  # type: ignore[attr-defined]  # what node/worker.py runs on PostgreSQL
    task = asyncio.create_task(listen(heard.put_nowait, listening.set))
    try:
        await asyncio.wait_for(listening.wait(), 60)
        await web.accounts.create(
            name="ann",
            type="Person",
            display_name="Ann",
            graph_file="graph-of-ann",
            token_sha256=None,
            keys={"rsa": "-", "ed25519": "-"},
            now=datetime(2026, 11, 22, tzinfo=UTC),
        )
        aid = "https://here.example/users/ann/activities/1"
        item = Outgoing(
            activity_id=aid, type="Announce", body=json.dumps({"id": aid}), inboxes=["https://p.example/i"]
        )
        await web.federation.enqueue_many("ann", [item], now=1_800_000_000.0)
        # the guard against a hang, not a measurement: through PgBouncer without listen_url nothing ever comes
        assert await asyncio.wait_for(heard.get(), 60) == "delivery"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await web.close()
        await worker.close()
