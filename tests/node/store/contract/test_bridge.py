"""The Bluesky bridge's state on every backend (node/store/bridge.py): one row per actor, written one at a time,
``since`` and ``first_seen`` kept as the module says, the operator's blocks and the stream cursors apart, and
the operator's views (queue by host, followers, deliveries finished) over federation's rows of the bridged
accounts only."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from federation.values import Outgoing
from node.config import Config
from node.store import ServerStore, open_server_store
from node.store.postgres.db import SERVER_SCHEMA, PgDatabase
from node.store.sqlite.db import Database
from node.store.sqlite.store import SERVER_FILE
from tests.conftest import T0

ROOT = Path(__file__).resolve().parents[4]

DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
NAME = "did.plc.aaaaaaaaaaaaaaaaaaaaaaaa"
KEYS = {"rsa": "-----BEGIN RSA-----", "ed25519": "-----BEGIN ED-----"}


async def _account(server_store: ServerStore, name: str) -> None:
    await server_store.accounts.create(
        name=name, type="Person", display_name=name, graph_file=f"graph-of-{name}", token_sha256=None,
        keys=KEYS, now=T0,
    )  # fmt: skip


async def test_an_actors_row_keeps_its_first_sighting_and_when_it_entered_its_state(
    server_store: ServerStore,
) -> None:
    bridge = server_store.bridge
    assert await bridge.actors() == [] and await bridge.actor(DID) is None
    first = await bridge.put_actor(
        DID, account=NAME, state="waiting", reason="no-avatar", handle="A.Test", now=T0
    )
    assert (first.state, first.reason, first.handle, first.since, first.first_seen) == (
        "waiting", "no-avatar", "A.Test", T0, T0,
    )  # fmt: skip
    later = T0 + timedelta(hours=1)
    same = await bridge.put_actor(DID, account=NAME, state="waiting", reason="no-display-name", now=later)
    # the same state: since kept; no handle given: the known one kept; last_seen moves
    assert (same.reason, same.handle, same.since, same.last_seen) == ("no-display-name", "A.Test", T0, later)
    moved = await bridge.put_actor(
        DID, account=NAME, state="bridged", reason="opted-in", handle="", now=later
    )
    assert (moved.since, moved.first_seen, moved.handle) == (later, T0, "")
    assert await bridge.actors() == [moved] and await bridge.actor(DID) == moved


async def test_an_opted_out_actor_stays_opted_out(server_store: ServerStore) -> None:
    """The tombstone rule in the store itself: a pass that read the actor before another process removed it
    (the operator's block) and writes it back as bridged changes nothing."""
    bridge = server_store.bridge
    await bridge.put_actor(DID, account=NAME, state="bridged", reason="opted-in", handle="a.test", now=T0)
    gone = await bridge.put_actor(DID, account=NAME, state="opted-out", reason="blocked", now=T0)
    later = T0 + timedelta(minutes=5)
    for state in ("bridged", "waiting", "blocked"):
        kept = await bridge.put_actor(
            DID, account=NAME, state=state, reason="opted-in", handle="b.test", now=later
        )
        assert kept == gone and await bridge.actor(DID) == gone
    again = await bridge.put_actor(DID, account=NAME, state="opted-out", reason="deleted", now=later)
    assert (again.state, again.reason, again.since) == (
        "opted-out",
        "deleted",
        T0,
    )  # still the first removal's


async def test_the_handle_finds_only_a_bridged_actor_whatever_its_case(server_store: ServerStore) -> None:
    bridge = server_store.bridge
    await bridge.put_actor(DID, account=NAME, state="bridged", reason="opted-in", handle="Alice.Test", now=T0)
    other = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
    await bridge.put_actor(other, account="x", state="waiting", reason="nobridge", handle="bob.test", now=T0)
    found = await bridge.by_handle("alice.TEST")
    assert found is not None and found.account == NAME
    assert await bridge.by_handle("bob.test") is None  # held back: not reachable by its handle
    assert await bridge.by_handle("%") is None and await bridge.by_handle("") is None  # no pattern matching
    await bridge.put_actor(DID, account=NAME, state="opted-out", reason="blocked", now=T0)
    assert await bridge.by_handle("alice.test") is None


async def test_counts_name_every_state_and_forget_drops_one_row(server_store: ServerStore) -> None:
    bridge = server_store.bridge
    assert await bridge.counts() == {"bridged": 0, "waiting": 0, "blocked": 0, "opted-out": 0}
    for n, state in enumerate(("bridged", "bridged", "waiting", "opted-out")):
        await bridge.put_actor(f"did:plc:{n}", account=f"did.plc.{n}", state=state, reason="", now=T0)
    assert await bridge.counts() == {"bridged": 2, "waiting": 1, "blocked": 0, "opted-out": 1}
    assert await bridge.forget("did:plc:0") and not await bridge.forget("did:plc:0")
    assert (await bridge.counts())["bridged"] == 1


async def test_many_writers_of_different_actors_lose_nothing(server_store: ServerStore) -> None:
    """Writes are per actor: many at once (two processes' passes, the operator's block) each land, which a
    document read and written whole could not promise."""
    bridge = server_store.bridge
    dids = [f"did:plc:{n:024d}" for n in range(40)]
    await asyncio.gather(
        *(bridge.put_actor(d, account=d.replace(":", "."), state="bridged", reason="", now=T0) for d in dids),
        *(bridge.block(d, now=T0) for d in dids[:10]),
    )
    assert [a.did for a in await bridge.actors()] == sorted(dids)
    assert await bridge.blocked() == sorted(dids[:10])


async def test_blocks_and_stream_cursors(server_store: ServerStore) -> None:
    bridge = server_store.bridge
    assert await bridge.blocked() == [] and not await bridge.is_blocked(DID)
    assert await bridge.block(DID, now=T0) and not await bridge.block(DID, now=T0)
    assert await bridge.is_blocked(DID) and await bridge.blocked() == [DID]
    assert await bridge.unblock(DID) and not await bridge.unblock(DID)

    nothing = await bridge.stream("bluesky")
    assert (nothing.cursor, nothing.synced_at) == (None, None)
    await bridge.mark_synced("bluesky", now=T0)
    await bridge.set_cursor("bluesky", 2**40, now=T0 + timedelta(seconds=5))  # seq numbers grow past 2**31
    pos = await bridge.stream("bluesky")
    assert (pos.cursor, pos.synced_at) == (2**40, T0)  # a cursor saved without catching up keeps synced_at
    await bridge.set_cursor("bluesky", 7, now=T0 + timedelta(seconds=9), synced=True)
    await bridge.set_cursor("other", 1, now=T0)  # a row per stream
    pos = await bridge.stream("bluesky")
    assert (pos.cursor, pos.synced_at) == (7, T0 + timedelta(seconds=9))
    await bridge.set_cursor("bluesky", None, now=T0)  # dropped (a cursor the stream refused)
    assert (await bridge.stream("bluesky")).cursor is None and (await bridge.stream("other")).cursor == 1


async def test_the_queue_and_traffic_count_only_the_bridged_accounts_deliveries(
    server_store: ServerStore,
) -> None:
    bridge, fed = server_store.bridge, server_store.federation
    for name in (NAME, "operator"):
        await _account(server_store, name)
    await bridge.put_actor(DID, account=NAME, state="bridged", reason="opted-in", now=T0)
    inboxes = [f"https://h{n}.example/inbox" for n in range(3)] + ["https://h0.example/users/x/inbox"]
    update = Outgoing(activity_id="https://bridge.example/a/1", type="Update", body="{}", inboxes=inboxes)
    await fed.enqueue_many(NAME, [update], now=100.0)
    # the operator's own account delivers too: none of it is the bridge's
    mine = Outgoing(activity_id="https://bridge.example/a/2", type="Update", body="{}", inboxes=inboxes)
    await fed.enqueue_many("operator", [mine], now=50.0)
    for n in range(5):
        await fed.add_follow(NAME, follow_id=f"f{n}", direction="in", actor_id=f"https://h{n}.example/u",
                             state="accepted" if n < 4 else "pending", now=100.0)  # fmt: skip
    await fed.add_follow("operator", follow_id="g", direction="in", actor_id="https://h.example/u",
                         state="accepted", now=100.0)  # fmt: skip

    claimed = await fed.claim_deliveries(200.0, worker="w", limit=100, lock_seconds=60.0)
    ours = sorted((r for r in claimed if r.account == NAME), key=lambda r: r.inbox)
    by_inbox = {r.inbox: r.id for r in ours}
    await fed.finish_delivery(by_inbox["https://h1.example/inbox"], state="delivered", now=3000.0, status=202)
    await fed.finish_delivery(by_inbox["https://h2.example/inbox"], state="failed", now=3590.0, status=410)
    await fed.finish_delivery(
        by_inbox["https://h0.example/inbox"], state="retry_wait", now=3500.0, status=503, retry_at=9999.0
    )
    await fed.host_failed("h0.example", 3500.0, open_for=600.0, dead_after=86400.0)
    for r in claimed:
        if r.account == "operator":
            await fed.finish_delivery(r.id, state="delivered", now=3590.0, status=202)

    queue = {q.host: q for q in await bridge.queue(now=3600.0)}
    assert set(queue) == {"h0.example", "h2.example"}  # h1's only delivery is finished
    h0 = queue["h0.example"]
    assert (h0.waiting, h0.in_flight, h0.failed, h0.dead, h0.oldest_waiting) == (1, 1, 0, 0, 100.0)
    assert h0.open_until is not None and h0.open_until > 3600.0 and not h0.host_dead
    assert (queue["h2.example"].failed, queue["h2.example"].open_until) == (1, None)
    assert next(q.host for q in await bridge.queue(now=3600.0)) == "h0.example"  # the busiest first
    assert (await bridge.queue(now=99999.0))[0].open_until is None  # the breaker closed again

    traffic = await bridge.traffic(now=3600.0)
    # followers: accepted ones of bridged actors; delivered: h1 at 3000 (within the hour, not the minute)
    assert (traffic.follows, traffic.delivered_last_minute, traffic.delivered_last_hour, traffic.waiting) == (
        4, 0, 1, 1,
    )  # fmt: skip
    assert (await bridge.traffic(now=3030.0)).delivered_last_minute == 1
    # an actor no longer bridged: its followers no longer count, its deliveries (its Delete) still do
    await bridge.put_actor(DID, account=NAME, state="opted-out", reason="unfollowed", now=T0)
    assert (await bridge.traffic(now=3600.0)).follows == 0
    assert {q.host for q in await bridge.queue(now=3600.0)} == {"h0.example", "h2.example"}


#: What the bridge kept before migration 0003: one JSON document, and the operator's blocks beside it (as
#: node/bridge_bluesky.py wrote them: Python isoformat() moments, a did whose row is a tombstone, a cursor).
OLD_DOCUMENT = {
    "actors": {
        DID: {"state": "bridged", "reason": "opted-in", "handle": "alice.test",
              "since": "2026-11-22T12:00:00.123456+00:00"},
        "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb": {"state": "opted-out", "reason": "blocked", "handle": "bob.test",
                                             "since": "2026-11-22T13:00:00+00:00"},
        "did:plc:cccccccccccccccccccccccc": {"state": "waiting", "reason": "nobridge"},
    },
    "bot_did": "did:plc:botbotbotbotbotbotbotbot",
    "cursor": 12345678901,
    "synced_at": "2026-11-22T14:00:00.5+00:00",
}  # fmt: skip
OLD_BLOCKED = ["did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]


def _old_migrations(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package of the server migrations before 0003 (a Kith of before this change), importable by name."""
    source = {"sqlite": "node/store/server_migrations", "postgres": "node/store/postgres/server_migrations"}
    package = f"kith_server_before_0003_{backend}"
    target = tmp_path / package
    target.mkdir()
    (target / "__init__.py").write_text("")
    for path in sorted((ROOT / source[backend]).glob("000[12]_*.sql")):
        shutil.copy(path, target / path.name)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


async def test_a_server_made_with_the_old_document_keeps_its_actors_blocks_and_cursor(
    backend: str, store_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _old_migrations(backend, tmp_path, monkeypatch)
    rows = [("bridge.bluesky", json.dumps(OLD_DOCUMENT)), ("bridge.bluesky.blocked", json.dumps(OLD_BLOCKED))]
    if backend == "sqlite":
        old = await Database.open(store_config.data_dir / SERVER_FILE, schema=package)

        async def write_sqlite(conn: Any) -> None:
            await conn.executemany("INSERT INTO server_meta (key, value) VALUES (?, ?)", rows)

        await old.write(write_sqlite)
        await old.close()
    else:
        pg = await PgDatabase.open(store_config.storage.url, schema=SERVER_SCHEMA, migrations=package)

        async def write_pg(conn: Any) -> None:
            async with conn.cursor() as cur:
                await cur.executemany("INSERT INTO server_meta (key, value) VALUES (%s, %s)", rows)

        await pg.write(write_pg)
        await pg.close()

    server_store = await open_server_store(store_config)  # migration 0003 moves the document
    try:
        bridge = server_store.bridge
        actors = {a.did: a for a in await bridge.actors()}
        alice = actors[DID]
        assert (alice.state, alice.reason, alice.handle, alice.account) == (
            "bridged",
            "opted-in",
            "alice.test",
            NAME,
        )
        assert alice.since == alice.first_seen == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
        bob = actors["did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"]
        assert (bob.state, bob.reason, bob.account) == (
            "opted-out",
            "blocked",
            "did.plc.bbbbbbbbbbbbbbbbbbbbbbbb",
        )
        assert actors["did:plc:cccccccccccccccccccccccc"].handle == ""
        assert await bridge.blocked() == OLD_BLOCKED
        found = await bridge.by_handle("ALICE.test")
        assert found is not None and found.did == DID
        position = await bridge.stream("bluesky")
        assert position.cursor == 12345678901
        assert position.synced_at == datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
        accounts = server_store.accounts
        assert await accounts.meta_get("bridge.bluesky.bot_did") == OLD_DOCUMENT["bot_did"]
        # the document is gone: nothing reads it again, nor moves it twice
        assert await accounts.meta_get("bridge.bluesky") is None
        assert await accounts.meta_get("bridge.bluesky.blocked") is None
    finally:
        await server_store.close()
    again = await open_server_store(store_config)
    try:
        assert len(await again.bridge.actors()) == 3
    finally:
        await again.close()
