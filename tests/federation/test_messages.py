"""Fediverse direct messages and mentions (issue 16; federation/messages.py, node/messaging.py): what peers send
the owner becomes an interaction with that person, once per note, without its text; what the owner sends is a
Note to one actor alone; a reply joins the conversation of the note it answers.

Mastodon-shaped payloads come from specs/test-vectors/mastodon/create-*.json, delivered by the Mastodon-like
server of test_mastodon_vectors (real signatures, real loopback HTTP); the nodes' graphs are the real ones
(node/federation_port.py over each node's own SQLite file). Two Kith nodes also write to each other.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from federation import owner
from federation.triage import wanted
from node.errors import BadInput, Conflict
from node.messaging import message_person
from node.models import Interaction
from protocol import cavage
from protocol.keys import SigningKey

from .graphnodes import graph, graph_node, people, person_of
from .nodes import FakeClock, Node, settle
from .test_mastodon_vectors import SIGNED, Mastodon, deliver, fill, mastodon

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def _deliver_as(m: Mastodon, node: Node, actor: str, activity: dict[str, Any]) -> int:
    """POST signed as ``actor`` of the Mastodon-like server (every account there shares one key pair)."""
    body = json.dumps(activity).encode()
    url = node.actor + "/inbox"
    parts = urlsplit(url)
    headers = {"Host": parts.netloc, "Content-Type": "application/activity+json"}
    headers.update(
        cavage.sign_request(
            method="POST",
            path=parts.path,
            headers=headers,
            body=body,
            key=SigningKey(key_id=actor + "#main-key", private_key=m.key),  # type: ignore[attr-defined]
            now=datetime.fromtimestamp(m.clock(), UTC),
            covered=SIGNED["post"]["headers"],
        )
    )
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as r:
        return r.status


async def _messages(node: Node, person_id: str) -> list[Interaction]:
    page = await graph(node).interactions(person_id, limit=200)
    return [i for i in page.items if i.source == "fediverse"]


async def _following_bob(node: Node, m: Mastodon) -> str:
    await owner.follow(node.fed, f"bob@{urlsplit(m.base).netloc}")
    await settle(node)
    bob = await person_of(node, m.bob)
    assert bob is not None
    return bob


async def test_mastodon_direct_message_mention_and_reply_become_one_conversation(tmp_path: Path) -> None:
    clock = FakeClock()
    async with graph_node(tmp_path, "alice", clock) as node, mastodon(clock) as m:
        bob = await _following_bob(node, m)
        before = await graph(node).get_person(bob)

        # a direct message: one interaction, private, linking to the status, none of its text
        direct = fill("create-direct.json", m.values(node))
        assert direct["expect"] == "private_message"
        note = direct["activity"]["object"]
        assert await deliver(m, node, direct["activity"]) == 202
        # the same note again: redelivered as it was, and wrapped in a Create of another id
        assert await deliver(m, node, direct["activity"]) == 202
        again = json.loads(json.dumps(direct["activity"]))
        again["id"] += "-again"
        assert await deliver(m, node, again) == 202
        await settle(node)
        (dm,) = await _messages(node, bob)
        assert (dm.channel, dm.initiated_by) == ("message", "them")
        assert dm.summary == f"Fediverse message from them: {note['url']}"
        assert dm.occurred_at == "2026-11-20T10:01:00Z"  # when Mastodon says it was written
        after = await graph(node).get_person(bob)
        assert after.interaction_count == before.interaction_count + 1
        assert after.last_interaction_at == dm.occurred_at  # the stay-in-touch clock starts again

        # a public post that mentions the owner: an interaction too, marked a mention
        mention = fill("create-mention.json", m.values(node))
        assert await deliver(m, node, mention["activity"]) == 202
        # a followers-only post that does not name the owner: not even stored at the inbox
        others = fill("create-followers-only.json", m.values(node))
        assert not wanted(others["activity"], owner=node.actor)
        assert await deliver(m, node, others["activity"]) == 202
        await settle(node)
        summaries = sorted(i.summary for i in await _messages(node, bob))
        assert summaries == sorted(
            [dm.summary, f"Mentioned you on the fediverse: {mention['activity']['object']['url']}"]
        )

        # the owner answers: a Note to bob alone, which Mastodon shows as a private mention
        sent = await message_person(graph(node), node.fed, bob, "See you <b>Friday</b> & bring the maps")
        await settle(node)
        (create,) = m.of_type("Create")
        out = create["object"]
        assert create["actor"] == out["attributedTo"] == node.actor
        assert create["to"] == out["to"] == [m.bob] and create["cc"] == out["cc"] == []
        assert PUBLIC not in json.dumps(create) and "followers" not in json.dumps(create)
        assert out["tag"] == [{"type": "Mention", "href": m.bob, "name": f"@bob@{urlsplit(m.base).netloc}"}]
        assert "&lt;b&gt;Friday&lt;/b&gt; &amp; bring the maps" in out["content"]
        assert out["id"] == sent.object_id and sent.to == m.bob and sent.conversation == sent.object_id
        assert sent.interaction.initiated_by == "owner" and sent.interaction.people == (bob,)

        # bob's reply names our note: it joins that note's conversation
        reply = fill("create-reply.json", m.values(node, local_note=sent.object_id))
        assert await deliver(m, node, reply["activity"]) == 202
        await settle(node)
        thread = await graph(node).store.messages.conversation(sent.object_id)
        assert [(t.direction, t.object_id) for t in thread] == [
            ("out", sent.object_id),
            ("in", reply["activity"]["object"]["id"]),
        ]
        (answer,) = [i for i in await _messages(node, bob) if i.id == thread[1].interaction_id]
        assert answer.summary.endswith(f"(in reply, in the conversation of {sent.object_id})")
        # no message's text reached the graph
        for item in await _messages(node, bob):
            for words in ("Lunch", "Great talk", "Friday", "mountains", "maps"):
                assert words not in item.summary


async def test_notes_that_are_not_the_senders_own_or_come_from_strangers_make_nothing(tmp_path: Path) -> None:
    """The classes an attacker tries: a note id on another origin or attributed to someone else (to claim that
    note's one interaction first, or to put words in another's mouth), a stranger writing to enter the graph,
    a date in the future to stay on top of the timeline. And the one a real server sends: a mention only in the
    tags (no to/cc naming the owner) still counts."""
    clock = FakeClock()
    async with graph_node(tmp_path, "alice", clock) as node, mastodon(clock) as m:
        bob = await _following_bob(node, m)
        base = fill("create-direct.json", m.values(node))["activity"]

        def variant(n: int, **note: Any) -> dict[str, Any]:
            doc = json.loads(json.dumps(base))
            doc["id"] = f"{m.bob}/statuses/9{n}/activity"
            doc["object"]["id"] = f"{m.bob}/statuses/9{n}"
            doc["object"]["url"] = f"{m.base}/@bob/9{n}"
            doc["object"].update(note)
            return doc

        elsewhere = variant(1, id="https://other.example/users/carol/statuses/1")
        someone_elses = variant(2, attributedTo=m.bob2)
        future = variant(3, published="2999-01-01T00:00:00Z")
        tags_only = variant(4, to=[PUBLIC], cc=[m.bob + "/followers"])
        tags_only |= {"to": [PUBLIC], "cc": [m.bob + "/followers"]}
        garbage_date = variant(5, published="next tuesday", url="https://evil.example/phish")
        for activity in (elsewhere, someone_elses, future, tags_only, garbage_date):
            assert await deliver(m, node, activity) in (202, 400, 403)
        # a stranger (bob2: alice never dealt with them) sends a direct message
        stranger = json.loads(json.dumps(base).replace(m.bob, m.bob2))
        assert await _deliver_as(m, node, m.bob2, stranger) == 202
        await settle(node)

        found = {i.summary: i for i in await _messages(node, bob)}
        now = datetime.now(UTC)
        future_item = found.pop(f"Fediverse message from them: {m.base}/@bob/93")
        assert datetime.fromisoformat(future_item.occurred_at.replace("Z", "+00:00")) <= now
        # a link off the sender's origin is not shown: the note's id is
        assert f"Fediverse message from them: {m.bob}/statuses/95" in found
        assert f"Mentioned you on the fediverse: {m.base}/@bob/94" in found
        assert len(found) == 2, found
        assert await person_of(node, m.bob2) is None
        assert [p["uris"][0] for p in await people(node)] == [m.bob]


async def test_two_kith_nodes_write_to_each_other_and_the_answer_threads(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        graph_node(tmp_path, "alice", clock, index=0) as a,
        graph_node(tmp_path, "bob", clock, index=1) as b,
    ):
        await owner.follow(a.fed, b.acct)  # bob accepts (auto): each is a person in the other's graph
        await settle(a, b)
        bob_at_a, alice_at_b = await person_of(a, b.actor), await person_of(b, a.actor)
        assert bob_at_a is not None and alice_at_b is not None

        first = await message_person(graph(a), a.fed, bob_at_a, "Coffee next week?")
        await settle(a, b)
        (received,) = await _messages(b, alice_at_b)
        assert received.summary == f"Fediverse message from them: {first.object_id}"

        answer = await message_person(graph(b), b.fed, alice_at_b, "Tuesday!", in_reply_to=first.object_id)
        await settle(a, b)
        assert answer.conversation == first.object_id  # bob's side threads it under alice's note too
        thread = await graph(a).store.messages.conversation(first.object_id)
        assert [(t.direction, t.object_id) for t in thread] == [
            ("out", first.object_id),
            ("in", answer.object_id),
        ]
        assert len(await _messages(a, bob_at_a)) == 2


async def test_a_person_without_a_fediverse_account_is_told_what_to_do(tmp_path: Path) -> None:
    clock = FakeClock()
    async with graph_node(tmp_path, "alice", clock) as node:
        ada = await graph(node).create_person(
            {"display_name": "Ada", "identities": [{"uri": "mailto:ada@engines.example"}]}
        )
        with pytest.raises(Conflict) as err:
            await message_person(graph(node), node.fed, ada.id, "hello")
        assert "has no fediverse account" in err.value.message and "kith identity add" in err.value.message
        assert await _messages(node, ada.id) == []


async def test_the_owner_api_sends_a_message_between_real_nodes_and_threads_the_answer(
    tmp_path: Path,
) -> None:
    """POST /api/people/{id}/message on two real nodes (build_app, bearer token, background workers)."""
    from .test_real_nodes import real_node, until

    async with real_node(tmp_path, "alice", 0) as a, real_node(tmp_path, "bob", 1) as b:
        await a.api("POST", "/api/federation/follow", {"address": b.acct})

        async def followed() -> bool:
            return [f["state"] for f in await a.api("GET", "/api/federation/following")] == ["accepted"]

        await until(followed, "bob accepts alice's follow")
        bob_at_a, alice_at_b = await a.person_of(b.actor), await b.person_of(a.actor)
        sent = await a.api("POST", f"/api/people/{bob_at_a}/message", {"text": "Coffee next week?"})
        assert sent["to"] == b.actor and sent["interaction"]["source"] == "fediverse"

        async def timeline(node: Any, person: str) -> list[dict[str, Any]]:
            items = (await node.api("GET", f"/api/people/{person}/interactions"))["items"]
            return [i for i in items if i["source"] == "fediverse"]

        async def arrived() -> bool:
            return len(await timeline(b, alice_at_b)) == 1

        await until(arrived, "alice's message at bob")
        body = {"text": "Tuesday!", "in_reply_to": sent["object_id"]}
        answer = await b.api("POST", f"/api/people/{alice_at_b}/message", body)

        async def threaded() -> bool:
            return any("in the conversation of" in i["summary"] for i in await timeline(a, bob_at_a))

        await until(threaded, "bob's answer at alice, in the conversation of her note")
        assert answer["conversation"] == sent["object_id"]

        # someone without a fediverse account: 409, saying what to do, and nothing sent or logged
        ada = await a.api(
            "POST", "/api/people", {"display_name": "Ada", "identities": ["mailto:ada@x.example"]}
        )
        headers = {"Authorization": f"Bearer {a.token}"}
        url = f"{a.base}/api/people/{ada['id']}/message"
        async with a.http.post(url, json={"text": "hi"}, headers=headers) as r:
            assert r.status == 409
            assert "kith identity add" in (await r.json())["error"]["message"]
        assert (await a.api("GET", f"/api/people/{ada['id']}/interactions"))["items"] == []


async def test_the_digest_goes_as_a_direct_message_to_the_owners_own_account(tmp_path: Path) -> None:
    """digest.fediverse (issue 16 §2): the running loop sends the period's digest, once, as a direct message to
    the account the owner names; here that account is on another real node, which logs it from alice."""
    from node.digest import set_settings
    from node.federation_access import RunningFederation
    from node.loop import StayInTouchLoop

    from .test_real_nodes import real_node, until

    async with real_node(tmp_path, "alice", 0) as a, real_node(tmp_path, "bob", 1) as b:
        await b.api("POST", "/api/federation/follow", {"address": a.acct})  # alice is a person at bob's

        async def followed() -> bool:
            return [f["state"] for f in await b.api("GET", "/api/federation/following")] == ["accepted"]

        await until(followed, "alice accepts bob's follow")
        alice_at_b = await b.person_of(a.actor)
        ada = await a.ctx.graph.create_person({"display_name": "Ada"})
        await a.ctx.graph.log_interaction({"people": [ada.id], "occurred_at": "2026-01-05T09:00:00Z"})
        await a.ctx.graph.set_person_cadence(ada.id, 7)  # due for months
        with pytest.raises(BadInput):
            await set_settings(a.ctx, every="daily", hour=0, fediverse="not an account")
        settings = await set_settings(a.ctx, every="daily", hour=0, fediverse="@" + b.acct)
        assert settings.fediverse == "acct:" + b.acct and settings.to == ""

        running = RunningFederation(lambda: a.fed)  # as node/federation_wiring.py puts it in the app
        loop = StayInTouchLoop(a.ctx.server, smtp_password=None, federation=lambda: running)
        done = await loop.run_once()
        assert [d.split(" ")[0] for d in done[a.ctx.name]] == ["digest"]
        assert not any(d.startswith("digest") for d in (await loop.run_once())[a.ctx.name])  # once per period

        async def arrived() -> bool:
            items = (await b.api("GET", f"/api/people/{alice_at_b}/interactions"))["items"]
            return any(i["summary"].startswith("Fediverse message from them:") for i in items)

        await until(arrived, "the digest at bob's node")

        async def creates(conn: Any) -> list[str]:
            rows = await (await conn.execute("SELECT body FROM fed_outbox WHERE type = 'Create'")).fetchall()
            return [r[0] for r in rows]

        (body,) = await a.ctx.server.store.db.read(creates)  # federation's rows: the server database
        note = json.loads(body)["object"]
        assert note["to"] == [b.actor] and "Ada" in note["content"] and PUBLIC not in body
