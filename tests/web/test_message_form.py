"""The person page's "Send a fediverse message" form (issue 16 §3), between two federating nodes on loopback:
the message reaches the other node's owner as an interaction, and the sender's timeline shows it sent. A person
without a fediverse account gets no form, and a forged post of it says what to do."""

from __future__ import annotations

import asyncio
import html as html_lib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.cli import main as cli_main

from .conftest import Browserish, Node, federating_node, run_cli, sign_in


async def _api(node: Node, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, node.base + path, json=body, headers={"Authorization": f"Bearer {node.token}"}
        ) as r,
    ):
        data = await r.json(content_type=None)
        assert r.status < 300, (r.status, data)
        return data


async def _eventually(check: Any, what: str) -> None:
    for _ in range(600):  # 60 s: delivery is asynchronous, and a loaded machine is slow
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_the_message_form_sends_a_direct_message_and_logs_it(tmp_path: Path) -> None:
    async with (
        federating_node(tmp_path / "alice", "alice") as alice,
        federating_node(tmp_path / "bob", "bob") as bob,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        bob_addr = "bob@" + bob.base.removeprefix("http://")
        await _api(alice, "POST", "/api/federation/follow", {"address": bob_addr})

        async def accepted() -> bool:
            return [f["state"] for f in await _api(alice, "GET", "/api/federation/following")] == ["accepted"]

        await _eventually(accepted, "bob accepting alice's follow")
        bob_person = await alice.ctx.store.people.person_for_identity("acct:" + bob_addr)
        assert bob_person is not None
        bob_at_alice = bob_person.id
        client = Browserish(node=alice, session=session)
        assert (await sign_in(alice, session, alice.token)).status == 200

        page = await client.get(f"/people/{bob_at_alice}")
        assert "Send a fediverse message" in page and 'name="text"' in page
        where, after = await client.post(f"/people/{bob_at_alice}/message", {"text": "Lunch on Friday? <3"})
        assert where == f"/people/{bob_at_alice}"
        assert "Message on its way" in html_lib.unescape(after)
        assert "Fediverse message sent:" in after  # the timeline shows it

        alice_at_bob = await bob.ctx.store.people.person_for_identity(
            alice.ctx.server.config.base_url + "/users/alice"
        )

        async def arrived() -> bool:
            assert alice_at_bob is not None
            items = (await _api(bob, "GET", f"/api/people/{alice_at_bob.id}/interactions"))["items"]
            return any(i["summary"].startswith("Fediverse message from them:") for i in items)

        await _eventually(arrived, "the message at bob's node")

        # the same from the command line: `kith message PERSON TEXT --json` through the running node's API
        (alice.data_dir / "serve.url").write_text(alice.base)  # what `kith serve` writes when it starts
        code, out, err = await asyncio.to_thread(
            run_cli, "--data", alice.data_dir, "message", bob_at_alice, "And bring the maps", "--json"
        )
        assert code == 0, err
        sent = json.loads(out)
        code, out, err = await asyncio.to_thread(
            run_cli, "--data", alice.data_dir, "message", bob_at_alice, "One more thing"
        )
        assert code == 0 and out.startswith("sent to ") and "stay-in-touch clock starts again" in out
        assert sent["to"].endswith("/users/bob") and sent["interaction"]["initiated_by"] == "owner"

        # someone without a fediverse account: no form, a hint, and a forged post is told what to do
        ada = await _api(
            alice, "POST", "/api/people", {"display_name": "Ada", "identities": ["mailto:ada@x.example"]}
        )
        page = await client.get(f"/people/{ada['id']}")
        assert 'action="/people/' + ada["id"] + '/message"' not in page and "has no fediverse account" in page
        _, after = await client.post(f"/people/{ada['id']}/message", {"text": "hi"})
        assert "kith identity add" in html_lib.unescape(after)
        with pytest.raises(SystemExit) as exited:  # the CLI exits with the API's message
            await asyncio.to_thread(cli_main, ["--data", str(alice.data_dir), "message", ada["id"], "hi"])
        assert str(exited.value.code).startswith("error 409:") and "kith identity add" in str(
            exited.value.code
        )
        assert (await _api(alice, "GET", f"/api/people/{ada['id']}/interactions"))["items"] == []
