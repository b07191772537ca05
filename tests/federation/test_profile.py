"""The owner's public profile reaches fediverse followers (issue #19 item 1): the card fields disclosed to the
public (``@public``) are the owner's actor document, and every change of them, from the owner API, the CLI or
the web settings page, sends ``Update`` of the actor to the followers' shared inboxes. Nothing disclosed only to
circles ever appears there. The whole node (node/app.py with its owner API, web UI and federation) on
loopback, with a fediverse server following the owner."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)
from tests.web.conftest import Browserish, Node, federating_node, run_cli, sign_in

from .memgraph import MemoryGraph
from .nodes import FakeClock, start_node
from .peers import PeerServer, peer_server


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(1200):  # 60 s: a loaded machine is slow, not wrong
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def api(node: Node, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {node.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, node.base + path, json=body, headers=headers) as r,
    ):
        data = await r.json(content_type=None)
        assert r.status < 300, (r.status, data)
        return data


def profile_updates(p: PeerServer) -> list[dict[str, Any]]:
    return [x["object"] for path, x in p.received if path == "/inbox" and x.get("type") == "Update"]


async def profile_rows(node: Node) -> int:
    async def query(conn: Any) -> int:
        async with conn.execute("SELECT count(*) FROM fed_outbox WHERE kind = 'profile'") as cur:
            row = await cur.fetchone()
        return int(row[0])

    return await node.ctx.server.store.db.read(query)  # federation's rows: the server database


async def test_the_public_card_is_the_actor_and_every_change_reaches_followers(tmp_path: Path) -> None:
    clock = FakeClock(time.time())  # the node runs on the real clock: the peer signs with the same time
    # (federating_node is a `kith init` folder, tests/web/conftest.py: SQLite in both of this test's runs)
    async with federating_node(tmp_path / "alice", "alice") as node, peer_server(clock) as p:
        actor = node.base + "/users/alice"
        p.add("fan")
        await p.follow("fan", actor, actor + "/inbox")
        await until(lambda: _followed(node), "the follower accepted")

        # the owner API: name, summary and web site public; e-mail and phone for a circle only
        rules = {"name": ["@public"], "summary": ["@public"], "website": ["@public"], "email": ["friends"]}
        await api(node, "PUT", "/api/card/disclosure", rules)
        card = {
            "name": "Alice Liddell",
            "summary": "Falls down <rabbit> holes.\n\nCurious.",
            "website": ["https://alice.example/"],
            "email": ["alice@example.org"],
            "phone": ["+15555550100"],
        }
        await api(node, "PUT", "/api/card", card)
        await until(lambda: _named(p, "Alice Liddell"), "the Update from the API at the follower's server")
        sent = profile_updates(p)[-1]
        assert sent["id"] == actor and sent["type"] == "Person"
        assert sent["summary"] == "<p>Falls down &lt;rabbit&gt; holes.</p><p>Curious.</p>"
        assert [a["name"] for a in sent["attachment"]] == ["Website"]
        async with (
            aiohttp.ClientSession() as http,
            http.get(actor, headers={"Accept": "application/activity+json"}) as r,
        ):
            doc = await r.json(content_type=None)
        assert doc["name"] == "Alice Liddell" and doc["summary"] == sent["summary"]
        everything = json.dumps(p.received) + json.dumps(doc)
        assert "alice@example.org" not in everything and "5555550100" not in everything

        # a change of what only a circle sees sends nothing to followers
        before = await profile_rows(node)
        await api(node, "PUT", "/api/card", card | {"phone": ["+15555550199"]})
        assert await profile_rows(node) == before

        # the CLI (through the running node's owner API)
        (node.data_dir / "serve.url").write_text(node.base)
        code, _, err = await asyncio.to_thread(
            run_cli, "--data", node.data_dir, "card", "set", "--name", "Alice CLI"
        )
        assert code == 0, err
        await until(lambda: _named(p, "Alice CLI"), "the Update from the CLI")
        code, _, err = await asyncio.to_thread(
            run_cli, "--data", node.data_dir, "card", "disclose", "summary", "friends"
        )
        assert code == 0, err
        await until(lambda: _without(p, "summary"), "the summary taken off the public profile")

        # the web settings page
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            assert (await sign_in(node, session, node.token)).status == 200
            browser = Browserish(node=node, session=session)
            form = {"name": "Alice Web", "website": "https://alice.example/", "email": "alice@example.org"}
            await browser.post("/settings/card", form, from_page="/settings")
            await until(lambda: _named(p, "Alice Web"), "the Update from the web UI")
            await browser.get("/settings")
            assert 'value="@public"' in browser.last_html
        assert "alice@example.org" not in json.dumps(p.received)


async def _followed(node: Node) -> bool:
    return len(await api(node, "GET", "/api/federation/followers")) == 1


async def _named(p: PeerServer, name: str) -> bool:
    return any(u.get("name") == name for u in profile_updates(p))


async def _without(p: PeerServer, field: str) -> bool:
    updates = profile_updates(p)
    return bool(updates) and field not in updates[-1]


async def test_the_actor_is_served_when_the_profile_cannot_be_read(tmp_path: Path) -> None:
    """Peers need the actor's keys to verify what the node sends: a failing graph must not take it down."""

    class Unwell(MemoryGraph):
        async def public_card(self) -> Any:
            raise RuntimeError("database is locked")

    async with start_node(tmp_path, "alice", FakeClock(), graph=Unwell()) as a:
        _, doc = await a.fed.client.get_json(a.actor)
        assert doc["id"] == a.actor and doc["publicKey"]["id"] == a.actor + "#main-key"
        assert doc["name"] == "Alice"  # the configured name


async def test_a_profile_updates_rows_prepared_together_share_one_render(tmp_path: Path) -> None:
    """A profile Update to thousands of inboxes (a bridged account's, issue #18): the rows prepared at the same
    moment share the one render under way, so the profile is read and encoded once for them, not once per
    inbox; every one of them gets the same body, and a row prepared after the profile changed gets the new one
    (a render is never kept)."""
    from federation.values import DeliveryRow

    class Slow(MemoryGraph):
        reads = 0
        gate: asyncio.Event | None = None  # set by the test: the reads wait for it

        async def public_card(self) -> Any:
            Slow.reads += 1
            if Slow.gate is not None:
                await Slow.gate.wait()  # every row below is being prepared while this read runs
            return self.public

    graph = Slow()
    graph.public = {"name": "Before"}
    async with start_node(tmp_path, "alice", FakeClock(), graph=graph) as a:
        prepare = a.fed.delivery.prepare
        assert prepare is not None

        def row(n: int) -> DeliveryRow:
            inbox = f"https://h{n}.example/inbox"
            return DeliveryRow(
                id=n, account="alice", outbox_seq=1, activity_id=a.actor + "/activities/1", body="{}",
                inbox=inbox, host=inbox.split("/")[2], attempts=0, created_at=0.0, type="Update", kind="profile",
            )  # fmt: skip

        Slow.gate, Slow.reads = asyncio.Event(), 0
        bodies = [asyncio.ensure_future(prepare(row(n))) for n in range(30)]
        for _ in range(20):
            await asyncio.sleep(0)
        Slow.gate.set()
        sent = [json.loads(b) for b in await asyncio.gather(*bodies)]
        assert Slow.reads == 1
        assert all(s == sent[0] for s in sent) and sent[0]["object"]["name"] == "Before"
        graph.public = {"name": "After"}
        again = json.loads(await prepare(row(31)))
        assert Slow.reads == 2 and again["object"]["name"] == "After"
