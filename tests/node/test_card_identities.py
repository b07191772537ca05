"""The owner's card takes identities as people write them ("@alice@host") and keeps them in the form peers read
(acct:alice@host), so that every later publish and disclosure works; what cannot be sent is refused when it is
entered, through the API and the CLI alike (the web form: tests/web/test_person_and_card_pages.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from node.cli import main as cli_main
from tests.conftest import Api, run_cli
from tests.federation.test_real_nodes import real_node, until


async def test_a_card_with_an_at_address_is_disclosed_and_sent(tmp_path: Path) -> None:
    async with real_node(tmp_path, "alice", 0) as a, real_node(tmp_path, "bob", 1) as b:
        await b.api("POST", "/api/federation/follow", {"address": a.acct})

        async def followed() -> bool:
            # the follow is listed as soon as it arrives; its follower becomes a person when it is accepted,
            # a moment later (federation/process.py on_Follow): wait for both, or the test races the accept
            listed = len(await a.api("GET", "/api/federation/followers")) == 1
            return listed and await a.ctx.store.people.person_for_identity(b.actor) is not None

        await until(followed, "bob's follow at alice")
        await a.api("PUT", f"/api/people/{await a.person_of(b.actor)}/circles/friends")
        # the CLI talks to the running node: where it listens, and its token
        data = a.ctx.config.data_dir
        (data / "serve.url").write_text(f"http://127.0.0.1:{a.base.rsplit(':', 1)[1]}\n", encoding="utf-8")
        (data / "token").write_text(a.token + "\n", encoding="utf-8")

        def cli(*argv: str) -> Any:
            return asyncio.to_thread(run_cli, "--data", data, *argv)

        result = await cli(
            "card",
            "set",
            "--name",
            "Alice",
            "--identities",
            "@Alice@Elsewhere.Example",
            "--identities",
            "alice.example",
        )
        assert result.code == 0, result.err
        card = (await a.api("GET", "/api/card"))["card"]
        assert card["identities"] == ["acct:alice@elsewhere.example", "https://alice.example/"]
        for field in ("name", "identities"):
            result = await cli("card", "disclose", field, "friends")
            assert result.code == 0, result.err
            assert "card sent to 1 peer" in result.out
        answer = await a.api("PUT", "/api/card/disclosure", {"name": ["friends"], "identities": ["friends"]})
        assert answer["published_to"] == 1
        # what cannot be made an address is refused when it is entered, and the card stays as it was
        with pytest.raises(SystemExit, match="identities"):
            await asyncio.to_thread(
                cli_main, ["--data", str(data), "card", "set", "--identities", "no address"]
            )
        assert (await a.api("GET", "/api/card"))["card"] == card


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identities", ["not an address at all"]),
        ("identities", ["@"]),
        ("identities", ["acct:"]),
        ("photo", "javascript:alert(1)"),
        ("phone", ["0123 456 789"]),  # no country code: it could not be sent as E.164
        ("name", "A" * 400),
        ("email", ["not-an-email"]),
        # text the API refuses everywhere else: control characters, lone surrogates (a 500 for good, before)
        ("name", "Ann\x00Lee"),
        ("summary", "\x1b[31mred"),
        ("name", "Ann\ud800"),
        ("identities", ["@alice@social.example\udfff"]),
    ],
)
async def test_an_unsendable_card_is_refused_when_entered(api: Api, field: str, value: Any) -> None:
    status, _ = await api.put("/api/card", {"name": "Alice", "identities": ["@alice@social.example"]})
    assert status == 200
    status, body = await api.put("/api/card", {"name": "Alice", field: value})
    assert status == 400 and body["error"]["field"] == field
    status, body = await api.get("/api/card")
    assert body["card"] == {"name": "Alice", "identities": ["acct:alice@social.example"]}


async def test_two_spellings_of_one_address_are_one_entry(api: Api) -> None:
    status, body = await api.put(
        "/api/card",
        {
            "name": "Alice",
            "identities": ["@alice@social.example", "acct:ALICE@social.example"],
            "email": ["A@x.org", "a@x.org"],
        },
    )
    assert status == 200, body
    assert body["card"]["identities"] == ["acct:alice@social.example"]
    assert body["card"]["email"] == ["mailto:a@x.org"]
