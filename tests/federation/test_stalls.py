"""No peer stalls the others: real peers on loopback that hang (their answers never come while the test
runs), beside well-behaved ones. Each test waits for an outcome that only concurrency allows (the good peer is
served *while* the bad one still hangs), never for a duration; the bound on each wait only keeps a broken
build from hanging the suite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.delivery import PER_HOST
from federation.fetch import RETRY_AFTER_MAX, retry_after
from federation.inbox import KEY_FETCHES, KEY_FETCHES_PER_CLIENT
from federation.service import INBOX_PER_HOST
from federation.signing import sign
from protocol.wire import format_http_date
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .helpers import serve
from .nodes import FakeClock, Node, keyring, start_node

GUARD = 60.0  # seconds: only a broken build waits this long (the hanging peers never answer at all)
NEVER = 3600  # the fetch timeout in these tests: no hanging request ends while a test runs


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    async def poll() -> None:
        while True:
            met = condition()
            if met if isinstance(met, bool) else await met:
                return
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), GUARD)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@dataclass
class Inbox:
    """A peer inbox that answers 202, or holds every request until ``release`` is set."""

    hang: bool = False
    received: list[str] = field(default_factory=list)
    waiting: int = 0  # requests held right now
    most_waiting: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""


@asynccontextmanager
async def inbox_server(box: Inbox) -> AsyncIterator[Inbox]:
    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        if box.hang:
            box.waiting += 1
            box.most_waiting = max(box.most_waiting, box.waiting)
            try:
                await box.release.wait()
            finally:
                box.waiting -= 1
        box.received.append(json.loads(body)["id"])
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    async with serve(app) as base:
        box.url = base + "/inbox"
        try:
            yield box
        finally:
            box.release.set()  # before the server stops: it waits for the requests it holds


async def send(node: Node, inbox: str, n: int) -> list[str]:
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


async def start_workers(node: Node) -> None:
    """The node's real background loops, as `kith serve` runs them (stopped when the node stops)."""
    node.runtime.ctx.run_workers = True
    await node.runtime.start()


async def test_a_hanging_peer_does_not_delay_delivery_to_others(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, fetch_timeout=NEVER) as node,
        inbox_server(Inbox(hang=True)) as slow,
        inbox_server(Inbox()) as good,
    ):
        await send(node, slow.url, 3 * PER_HOST)
        await start_workers(node)
        await until(lambda: slow.waiting == PER_HOST, "the slow peer holds its requests")
        # deliveries queued while the slow peer hangs go out at once, however long it keeps hanging
        for round_ in range(3):
            ids = await send(node, good.url, 5)
            await until(
                lambda ids=ids: set(ids) <= set(good.received), f"round {round_} reaches the good peer"
            )
        assert slow.received == [] and slow.waiting == PER_HOST
        # the slow host holds only its own few slots, never more, however many of its deliveries are due
        assert slow.most_waiting == PER_HOST
        slow.release.set()
        total = 3 * PER_HOST + 15

        async def all_delivered() -> bool:
            return await node.fed.store.delivery_counts() == {"delivered": total}

        await until(all_delivered, "the slow peer gets everything in the end, once")
        assert len(slow.received) == 3 * PER_HOST and len(good.received) == 15


@dataclass
class ActorServer:
    """A remote server where every /users/NAME is an actor (one shared RSA key); once ``hang`` is set, its
    actor documents are held until ``release``."""

    key: rsa.RSAPrivateKey
    base: str = ""
    hang: bool = False
    waiting: int = 0
    most_waiting: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    limited: str | None = None  # a Retry-After: actor documents are answered 429 with it
    refused: int = 0

    def actor(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def signed(
        self, name: str, url: str, activity: dict[str, Any], now: float
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(activity).encode()
        headers = {"Content-Type": "application/activity+json"}
        headers |= sign(
            "cavage", method="POST", url=url, headers=headers, body=body,
            key_id=self.actor(name) + "#main-key", private_key=self.key, now=now,
        )  # fmt: skip
        return body, headers


@asynccontextmanager
async def actor_server(index: int) -> AsyncIterator[ActorServer]:
    state = ActorServer(key=keyring(index).owner_rsa)
    pem = state.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    async def actor_doc(request: web.Request) -> web.Response:
        if state.limited is not None:
            state.refused += 1
            return web.Response(status=429, headers={"Retry-After": state.limited})
        if state.hang:
            state.waiting += 1
            state.most_waiting = max(state.most_waiting, state.waiting)
            try:
                await state.release.wait()
            finally:
                state.waiting -= 1
        actor = state.actor(request.match_info["name"])
        doc = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": actor,
            "type": "Person",
            "preferredUsername": request.match_info["name"],
            "inbox": actor + "/inbox",
            "publicKey": {"id": actor + "#main-key", "owner": actor, "publicKeyPem": pem},
        }
        return web.json_response(doc, content_type="application/activity+json")

    app = web.Application()
    app.router.add_get("/users/{name}", actor_doc)
    async with serve(app) as base:
        state.base = base
        try:
            yield state
        finally:
            state.release.set()  # before the server stops: it waits for the requests it holds


async def post(node: Node, body: bytes, headers: dict[str, str], path: str = "/inbox") -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(node.base + path, data=body, headers=headers) as r,
    ):
        await r.read()
        return r.status


def activity(kind: str, actor: str, obj: str, n: int) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/{kind.lower()}s/{n}",
        "type": kind,
        "actor": actor,
        "object": obj,
    }


@pytest.mark.parametrize("actors_on_slow_host", [1, 3 * INBOX_PER_HOST])
async def test_an_actor_hanging_on_refetch_does_not_stall_the_inbox(
    tmp_path: Path, actors_on_slow_host: int
) -> None:
    """`Update`s whose actors are re-fetched from a server that hangs: every other sender's items are
    processed meanwhile, and the hanging server holds only its own few slots."""
    clock = FakeClock()
    async with (
        start_node(tmp_path, "alice", clock, fetch_timeout=NEVER) as node,
        actor_server(6) as slow,
        actor_server(7) as good,
    ):
        url = node.base + "/inbox"
        # to alice's own inbox: at the shared inbox, Updates of actors she does not deal with concern nobody
        mine = f"/users/{node.name}/inbox"
        for i in range(actors_on_slow_host):  # stored (their keys fetched) while the server still answers
            actor = slow.actor(f"u{i}")
            update = activity("Update", actor, actor, i)
            assert (
                await post(node, *slow.signed(f"u{i}", node.base + mine, update, clock()), path=mine) == 202
            )
        slow.hang = True
        await start_workers(node)
        held = min(actors_on_slow_host, INBOX_PER_HOST)
        await until(lambda: slow.waiting == held, "the slow server holds the re-fetches")
        for n in range(3):
            follow = activity("Follow", good.actor("gina"), node.actor, n)
            assert await post(node, *good.signed("gina", url, follow, clock())) == 202

            async def processed(follow_id: str = follow["id"]) -> bool:
                return await node.fed.store.follow(follow_id) is not None

            await until(processed, f"follow {n} is processed")
            assert slow.waiting == held  # processed while the re-fetches still hang
        assert slow.most_waiting == held  # the slow host never held more than its own slots
        slow.release.set()

        async def all_done() -> bool:
            return await node.fed.store.inbox_count("done") == actors_on_slow_host + 3

        await until(all_done, "the slow server answers in the end, and its items are processed")


# ---- Retry-After ------------------------------------------------------------------------------------


@dataclass
class BusyPeer:
    """A peer inbox that answers 429 with a Retry-After while ``busy``, else 202."""

    retry_after: Callable[[], str]
    busy: bool = True
    attempts: int = 0
    received: list[str] = field(default_factory=list)
    url: str = ""


@asynccontextmanager
async def busy_server(peer: BusyPeer) -> AsyncIterator[BusyPeer]:
    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        peer.attempts += 1
        if peer.busy:
            return web.Response(status=429, headers={"Retry-After": peer.retry_after()})
        peer.received.append(json.loads(body)["id"])
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    async with serve(app) as base:
        peer.url = base + "/inbox"
        yield peer


def in_two_hours() -> str:
    # measured against the peer's own Date header, not our (fake) clock: neither clock's error counts
    return format_http_date(datetime.now(UTC) + timedelta(hours=2))


@pytest.mark.parametrize(
    ("retry_after", "honoured"),
    [(lambda: "3600", 3600.0), (in_two_hours, 7200.0), (lambda: str(30 * 86400), RETRY_AFTER_MAX)],
    ids=["seconds", "http-date", "capped"],
)
async def test_delivery_honours_retry_after_for_the_whole_host(
    tmp_path: Path, retry_after: Callable[[], str], honoured: float
) -> None:
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node, busy_server(BusyPeer(retry_after)) as peer:
        first = await send(node, peer.url, 1)
        await node.fed.delivery.run_once()
        assert peer.attempts == 1
        later = await send(node, peer.url, 1)  # queued while the host asked us to wait: it waits too
        start = clock.now
        while clock.now < start + honoured - 120:  # nothing is sent before the time the peer named
            clock.advance(60)
            await node.fed.delivery.run_once()
        assert peer.attempts == 1
        peer.busy = False
        while clock.now < start + honoured + 3600 and len(peer.received) < 2:
            clock.advance(60)
            await node.fed.delivery.run_once()
        assert peer.received == first + later


async def test_inbox_retry_honours_retry_after(tmp_path: Path) -> None:
    """An item whose processing met a 429 from the actor's server is not tried again before the time that
    server named (the back-off alone would retry within a minute)."""
    clock = FakeClock()
    async with start_node(tmp_path, "alice", clock) as node, actor_server(6) as peer:
        # alice's own inbox: at the shared inbox, an Update of an actor alice does not deal with concerns nobody
        path = f"/users/{node.name}/inbox"
        actor = peer.actor("u")
        signed = peer.signed("u", node.base + path, activity("Update", actor, actor, 1), clock())
        assert await post(node, *signed, path=path) == 202
        peer.limited = "900"
        assert await node.fed.process_inbox_once() == 1
        assert peer.refused == 1
        for _ in range(14):  # 14 minutes on: not yet
            clock.advance(60)
            await node.fed.process_inbox_once()
        assert peer.refused == 1
        peer.limited = None
        clock.advance(120)
        assert await node.fed.process_inbox_once() == 1
        assert await node.fed.store.inbox_count("done") == 1


def test_retry_after_values() -> None:
    date = {"Date": "Sun, 22 Nov 2026 03:00:00 GMT"}
    assert retry_after(429, {"Retry-After": "120"}, 0.0) == 120.0
    assert retry_after(503, {"Retry-After": " 7 "}, 0.0) == 7.0
    assert retry_after(503, {"Retry-After": "Sun, 22 Nov 2026 04:00:00 GMT"} | date, 0.0) == 3600.0
    assert retry_after(503, {"Retry-After": "Sun, 22 Nov 2026 02:00:00 GMT"} | date, 0.0) == 0.0  # past
    assert retry_after(429, {"Retry-After": "9" * 40}, 0.0) == RETRY_AFTER_MAX
    for junk in ("soon", "-5", "1.5", "", "Sun, 99 Nov 2026 04:00:00 GMT"):
        assert retry_after(429, {"Retry-After": junk}, 0.0) is None
    assert retry_after(500, {"Retry-After": "120"}, 0.0) is None  # only 429 and 503 say when
    assert retry_after(429, {}, 0.0) is None


# ---- key fetches on behalf of strangers -----------------------------------------------------------


async def test_key_fetches_for_unverified_requests_are_bounded(tmp_path: Path) -> None:
    """Requests whose key ids name many servers that never answer: each would hold one of the node's outbound
    connections for the fetch timeout. At most KEY_FETCHES_PER_CLIENT at once per address and KEY_FETCHES in
    all are fetched, the rest answered 503 at once; deliveries and known senders go on meanwhile."""
    clock = FakeClock()
    release = asyncio.Event()
    hanging = 0

    async def never(request: web.Request) -> web.Response:
        nonlocal hanging
        hanging += 1
        try:
            await release.wait()
        finally:
            hanging -= 1
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/users/{name}", never)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    ports = []
    for _ in range(KEY_FETCHES + 8):  # one server per key: distinct hosts, so no per-host limit helps
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(site.port)
    forger = keyring(9).owner_rsa
    try:
        async with (
            start_node(tmp_path, "alice", clock, fetch_timeout=NEVER) as node,
            inbox_server(Inbox()) as good,
            actor_server(7) as known,
        ):
            url = node.base + "/inbox"
            # a sender whose key the node already holds
            gina = known.actor("gina")
            assert (
                await post(node, *known.signed("gina", url, activity("Follow", gina, node.actor, 0), clock()))
                == 202
            )
            await start_workers(node)

            def forged(port: int) -> tuple[bytes, dict[str, str]]:
                actor = f"http://127.0.0.1:{port}/users/x"
                body = json.dumps(activity("Follow", actor, node.actor, port)).encode()
                headers = {"Content-Type": "application/activity+json"}
                headers |= sign(
                    "cavage", method="POST", url=url, headers=headers, body=body,
                    key_id=actor + "#main-key", private_key=forger, now=clock(),
                )  # fmt: skip
                return body, headers

            async def from_address(source: str, port: int) -> int:
                connector = aiohttp.TCPConnector(local_addr=(source, 0))
                async with aiohttp.ClientSession(connector=connector) as http:
                    body, headers = forged(port)
                    async with http.post(url, data=body, headers=headers) as r:
                        return r.status

            try:
                # one address names 3 × its allowance of hanging key servers
                first = [asyncio.ensure_future(from_address("127.0.0.2", p)) for p in ports[:12]]
                await until(lambda: sum(f.done() for f in first) == 12 - KEY_FETCHES_PER_CLIENT, "refusals")
                assert sorted(f.result() for f in first if f.done()) == [503] * (12 - KEY_FETCHES_PER_CLIENT)
                await until(lambda: hanging == KEY_FETCHES_PER_CLIENT, "its allowance of fetches hangs")
                # many addresses together cannot take more than KEY_FETCHES
                rest = []
                for n, port in enumerate(ports[12:]):
                    rest.append(asyncio.ensure_future(from_address(f"127.0.1.{n % 10 + 1}", port)))
                expected_refused = len(rest) - (KEY_FETCHES - KEY_FETCHES_PER_CLIENT)
                await until(
                    lambda: sum(f.done() for f in rest) == expected_refused, "refusals beyond the total"
                )
                await until(lambda: hanging == KEY_FETCHES, "the total of fetches hangs")
                # meanwhile the node delivers and serves the senders it knows
                ids = await send(node, good.url, 3)
                await until(lambda: set(ids) <= set(good.received), "deliveries go out")
                follow = activity("Follow", gina, node.actor, 1)
                assert await post(node, *known.signed("gina", url, follow, clock())) == 202

                async def followed() -> bool:
                    return await node.fed.store.follow(follow["id"]) is not None

                await until(followed, "a known sender's Follow is processed")
                assert hanging == KEY_FETCHES
                release.set()
                statuses = await asyncio.gather(*first, *rest)
                assert (
                    statuses.count(401) == KEY_FETCHES and statuses.count(503) == len(statuses) - KEY_FETCHES
                )
            finally:
                release.set()  # before the node stops: it waits for the requests it is still answering
    finally:
        release.set()
        await runner.cleanup()
