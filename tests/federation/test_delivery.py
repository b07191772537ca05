"""The delivery loop against real loopback peers with a fake clock: retries, breaker, dead letters, double
knock."""

from __future__ import annotations

import json
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from federation import owner
from federation.delivery import PROBE_EVERY, backoff
from federation.ports import RemoteActor
from federation.values import InboxItem

from .backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from .nodes import FakeClock, Node, start_node


@dataclass
class Peer:
    """A peer inbox whose behaviour a test scripts: a status to answer, or 'rfc9421 only'."""

    status: int = 202
    rfc9421_only: bool = False
    cavage_only: bool = False
    received: list[str] = field(default_factory=list)  # activity ids accepted (2xx)
    attempts: int = 0
    schemes: list[str] = field(default_factory=list)
    url: str = ""


@asynccontextmanager
async def peer_server(peer: Peer, sock: socket.socket | None = None) -> AsyncIterator[web.AppRunner]:
    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        peer.attempts += 1
        scheme = "rfc9421" if "Signature-Input" in request.headers else "cavage"
        peer.schemes.append(scheme)
        if (peer.rfc9421_only and scheme != "rfc9421") or (peer.cavage_only and scheme != "cavage"):
            return web.Response(status=401)
        if 200 <= peer.status < 300:
            peer.received.append(json.loads(body)["id"])
        return web.Response(status=peer.status)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if sock is None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    peer.url = f"http://127.0.0.1:{sock.getsockname()[1]}/inbox"
    try:
        yield runner
    finally:
        await runner.cleanup()


async def enqueue(node: Node, inbox: str, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": node.fed.new_id(),
            "type": "Update",
            "actor": node.actor,
            "object": node.actor,
        }
        await node.fed.send(activity, [inbox])
        ids.append(activity["id"])
    return ids


async def drive(node: Node, clock: FakeClock, hours: float, step: float = 60.0) -> None:
    """Advance the fake clock in steps, letting the loop run at each."""
    end = clock.now + hours * 3600
    while clock.now < end:
        await node.fed.delivery.run_once()
        clock.advance(step)


def test_backoff_follows_mastodon_schedule() -> None:
    rng = random.Random(1)
    for n in range(1, 20):
        value = backoff(n, rng)
        assert n**4 + 15 <= value <= n**4 + 15 + 10 * (n + 1)
    # about 2-3 days in total over Mastodon's 16 attempts
    total = sum(n**4 + 15 for n in range(1, 17)) / 86400
    assert 2 < total < 3


async def test_peer_down_for_hours_then_back_delivers_once(tmp_path: Path) -> None:
    clock = FakeClock()
    peer = Peer(status=503)
    async with start_node(tmp_path, "alice", clock) as node, peer_server(peer) as runner:
        ids = await enqueue(node, peer.url, 3)
        await drive(node, clock, hours=1)
        tries_first_hour = peer.attempts
        assert tries_first_hour >= 3  # retried, but backing off: not every minute
        assert tries_first_hour < 3 * 10
        status = (await owner.peers(node.fed))[0]
        assert status["status"] == "failing" and status["queued"] == 3
        # now the host goes away entirely (connection refused) for hours
        port = int(peer.url.rsplit(":", 1)[1].split("/")[0])
        await runner.cleanup()
        await drive(node, clock, hours=6, step=300)
        assert peer.received == []
        # and comes back on the same port
        peer.status = 202
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        async with peer_server(peer, sock):
            await drive(node, clock, hours=12, step=300)
            assert sorted(peer.received) == sorted(ids)  # everything, once
            attempts = peer.attempts
            await drive(node, clock, hours=2, step=300)
            assert peer.attempts == attempts  # nothing more is sent
        assert (await owner.peers(node.fed))[0]["status"] == "ok"


async def test_final_4xx_and_retryable_429(tmp_path: Path) -> None:
    clock = FakeClock()
    gone, busy = Peer(status=410), Peer(status=429)
    async with start_node(tmp_path, "alice", clock) as node, peer_server(gone), peer_server(busy):
        await enqueue(node, gone.url)
        await enqueue(node, busy.url)
        await drive(node, clock, hours=2)
        assert gone.attempts == 1  # a 410 is final
        assert busy.attempts > 1  # a 429 is retried
        rows = await node.fed.store.deliveries_to(gone.url)
        assert rows[0]["state"] == "failed" and rows[0]["last_status"] == 410


async def test_double_knock_remembers_the_winner(tmp_path: Path) -> None:
    clock = FakeClock()
    peer = Peer(rfc9421_only=True)
    async with start_node(tmp_path, "alice", clock) as node, peer_server(peer):
        first = await enqueue(node, peer.url)
        await node.fed.delivery.run_once()
        assert peer.received == first and peer.schemes == ["cavage", "rfc9421"]
        host = await node.fed.store.host(peer.url.split("/")[2])
        assert host is not None and host.scheme == "rfc9421"
        second = await enqueue(node, peer.url)
        await node.fed.delivery.run_once()
        assert peer.received == first + second and peer.schemes[2:] == ["rfc9421"]
        # the host changes its mind: the remembered scheme fails, the other is tried and remembered instead
        peer.rfc9421_only, peer.cavage_only = False, True
        third = await enqueue(node, peer.url)
        await node.fed.delivery.run_once()
        assert peer.received == first + second + third and peer.schemes[3:] == ["rfc9421", "cavage"]
        host = await node.fed.store.host(peer.url.split("/")[2])
        assert host is not None and host.scheme == "cavage"


async def test_a_claims_rows_to_a_new_host_write_it_up_once(tmp_path: Path) -> None:
    """Every row of a fan-out claimed together sees a new host as new (the claim's snapshot): the first to get
    through writes the host up with the scheme that worked, the others do not write it again (one statement
    each was most of a fan-out's database work). Its state is the same as before: up, scheme remembered."""
    clock = FakeClock()
    peer = Peer(rfc9421_only=True)
    async with start_node(tmp_path, "alice", clock) as node, peer_server(peer):
        store = node.fed.delivery.store
        written: list[tuple[str, str | None]] = []
        original = store.host_succeeded

        async def counted(host: str, now: float, scheme: str | None) -> None:
            written.append((host, scheme))
            await original(host, now, scheme)

        store.host_succeeded = counted  # type: ignore[method-assign]
        ids = await enqueue(node, peer.url, 6)
        await node.fed.delivery.run_once()
        assert sorted(peer.received) == sorted(ids)
        host = peer.url.split("/")[2]
        assert written == [(host, "rfc9421")]
        row = await node.fed.store.host(host)
        assert row is not None and row.scheme == "rfc9421" and row.failures == 0


async def test_dead_letter_and_resume(tmp_path: Path) -> None:
    clock = FakeClock()
    peer = Peer(status=500)
    async with start_node(tmp_path, "alice", clock, delivery_days=1) as node, peer_server(peer):
        ids = await enqueue(node, peer.url, 2)
        await drive(node, clock, hours=30, step=600)
        status = (await owner.peers(node.fed))[0]
        assert status["status"] == "dead" and status["dead"] == 2
        attempts = peer.attempts
        await drive(node, clock, hours=2, step=600)
        assert peer.attempts == attempts  # dead: left alone between probes
        peer.status = 202
        await drive(node, clock, hours=PROBE_EVERY / 3600 + 1, step=600)
        assert sorted(peer.received) == sorted(ids)  # the probe succeeded and the rest resumed
        assert (await owner.peers(node.fed))[0]["status"] == "ok"


async def test_public_items_use_shared_inbox_once(tmp_path: Path) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node:
        shared = "http://127.0.0.1:9/inbox"
        for name in ("u1", "u2", "u3"):
            actor_id = f"http://127.0.0.1:9/users/{name}"
            actor = RemoteActor(
                id=actor_id,
                type="Person",
                acct=None,
                preferred_username=name,
                name=None,
                summary=None,
                url=None,
                icon=None,
                inbox=actor_id + "/inbox",
                shared_inbox=shared,
                outbox=None,
                followers=None,
                following=None,
                public_key_id=actor_id + "#k",
                public_key_pem="-",
            )
            await node.fed.store.save_actor(actor, {"id": actor.id}, clock())
            await node.fed.store.add_follow(
                follow_id=actor.id + "/f", direction="in", actor_id=actor.id, state="accepted", now=clock()
            )
        assert await owner.publish_actor(node.fed) == 1
        rows = await node.fed.store.deliveries_to(shared)
        assert len(rows) == 1


async def test_old_finished_traffic_is_forgotten_and_the_rest_kept(tmp_path: Path) -> None:
    from federation.service import KEEP_DAYS, PRUNE_EVERY

    clock = FakeClock()
    ok, down = Peer(status=202), Peer(status=503)
    async with start_node(tmp_path, "alice", clock) as node, peer_server(ok), peer_server(down):
        store = node.runtime.store
        private = await enqueue(node, ok.url)
        public = {"@context": "https://www.w3.org/ns/activitystreams", "id": node.fed.new_id(),
                  "type": "Update", "actor": node.actor, "object": node.actor}  # fmt: skip
        await node.fed.send(public, [ok.url], public=True)
        pending = await enqueue(node, down.url)  # still being retried (the loop is not driven for days here)
        old = [
            InboxItem(
                account=node.name,
                activity_id=f"https://peer.example/a/{i}",
                actor_id="https://peer.example/u",
                type="Like",
                body="{}",
                now=clock.now,
            )
            for i in range(3)
        ]
        await store.store_inbox_many(old)
        for row in await store.claim_inbox(clock.now, worker="test"):
            await store.finish_inbox(row.seq, state="done" if row.seq % 2 else "rejected", now=clock.now)
        await drive(node, clock, hours=1)
        # (two activities for no one recipient go side by side: their order is not kept, as with Mastodon)
        assert sorted(ok.received) == sorted([*private, public["id"]])

        clock.advance(KEEP_DAYS * 86400 - 7200)  # not yet old enough
        await store.store_inbox_many(
            [
                InboxItem(
                    account=node.name,
                    activity_id="https://peer.example/a/new",
                    actor_id="https://peer.example/u",
                    type="Like",
                    body="{}",
                    now=clock.now,
                )
            ]
        )
        assert await node.fed.process_inbox_once() == 1  # the new item; a quiet moment comes next
        assert await node.fed.process_inbox_once() == 0
        assert await store.inbox_count() == 4

        clock.advance(
            PRUNE_EVERY + 7200
        )  # the old ones are now over KEEP_DAYS; the pending delivery still runs
        assert await node.fed.process_inbox_once() == 0
        assert await store.inbox_count() == 1  # only the recent item is left, whatever its state
        assert [r["state"] for r in await store.deliveries_to(ok.url)] == ["delivered"]  # the public one
        assert (await node.fed.store.public_outbox())[0] == 1
        assert len(await store.deliveries_to(down.url)) == 1  # not finished: kept, whatever its age
        assert pending and down.attempts > 1
