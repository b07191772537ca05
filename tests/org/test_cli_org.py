"""`kith org`, as a new user would type it (issue #15 §Fixed names): every subcommand with --json against real
servers, its output one JSON document of the documented shape; and the text each prints without --json."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path
from typing import Any

from node.cli import main as cli_main
from node.config import write_config
from tests.federation.backends import backend  # noqa: F401  (each test on SQLite and on PostgreSQL)

from .nodes import OrgNode, settle
from .world import world


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``kith ARGV`` as a process runs it: an exit with a message prints it on stderr and exits 1."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(list(argv))
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=err)
                code = 1
            else:
                code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _local(node: OrgNode) -> Path:
    """The node's data folder as `kith serve` leaves it for the CLI: its configuration (on PostgreSQL, the
    storage.url the CLI reads the accounts from) and the address the server listens at."""
    data = node.ctx.config.data_dir
    write_config(node.ctx.config)
    (data / "serve.url").write_text("http://127.0.0.1:" + node.base.rsplit(":", 1)[1] + "\n")
    return data


async def kith(node: OrgNode, *argv: str, json_out: bool = True) -> Any:
    args = ["--data", str(_local(node)), "org", *argv, *(["--json"] if json_out else [])]
    code, out, err = await asyncio.to_thread(run_cli, *args)
    assert code == 0, (argv, out, err)
    return json.loads(out) if json_out else out


async def test_every_org_command_as_a_new_user_types_it(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice", "bob", "carol"), joined=False) as w:
        alice, bob, carol, org = w["alice"], w["bob"], w["carol"], w.org
        everyone = w.everyone
        # joining: the organisation accepts with its usual `kith requests` / `kith accept ID`
        joined = await kith(alice, "join", org.acct)
        assert joined["state"] == "offered" and joined["org"] == org.actor
        await kith(bob, "join", org.acct)
        await kith(carol, "join", org.acct)
        await settle(*everyone)
        code, out, _ = await asyncio.to_thread(run_cli, "--data", str(_local(org)), "requests", "--json")
        assert code == 0 and {r["type"] for r in json.loads(out)} == {"member"}
        alice_request = next(r for r in json.loads(out) if r["actor"] == alice.actor)
        code, _, _ = await asyncio.to_thread(
            run_cli, "--data", str(_local(org)), "accept", alice_request["id"]
        )
        assert code == 0
        waiting = {r["actor"]: r for r in await kith(org, "requests")}
        assert set(waiting) == {bob.actor, carol.actor}
        assert (await kith(org, "accept", waiting[bob.actor]["id"], "--role", "admin"))["role"] == "admin"
        await settle(*everyone)
        # an admin answers from their own account, naming the organisation
        assert (await kith(bob, "reject", waiting[carol.actor]["id"], "--org", org.acct))[
            "state"
        ] == "rejected"
        await settle(*everyone)
        members = await kith(org, "members")
        assert sorted((m["actor"], m["role"], m["level"]) for m in members) == sorted(
            [(alice.actor, "member", "none"), (bob.actor, "admin", "none")]
        )
        assert {"actor", "role", "level"} <= set(members[0])
        # sharing: nothing until chosen; the preview; levels for everyone, a circle, a person; notes
        jane = await alice.person(
            "Jane Doe", organization="Initech", identities=["jane@initech.example"], circles=["work"]
        )
        pal = await alice.person("Pal Private", identities=["pal@else.example"])
        note = await alice.ctx.graph.add_note(jane, "Loves sailing")
        listed = await kith(alice, "list")
        assert listed["memberships"][0]["level"] == "none"
        preview = await kith(alice, "share", "--level", "knows", "--preview")
        assert preview["total"] == 2 and (await kith(alice, "share"))["shared"] == {}
        shared = await kith(alice, "share", "--level", "knows")
        assert shared["shared"] == {"knows": 2}
        assert (await kith(alice, "share", "--level", "last-contact", "--circle", "work"))["shared"] == {
            "knows": 1, "last-contact": 1
        }  # fmt: skip
        assert (await kith(alice, "share", "--level", "none", "--person", pal))["shared"] == {
            "last-contact": 1
        }
        assert (await kith(alice, "share", "--clear", "--person", pal))["shared"]["knows"] == 1
        assert (await kith(alice, "share", "--note", note.id))["shared"] is True
        assert (await kith(alice, "share", "--note", note.id, "--unshare"))["shared"] is False
        await settle(*everyone)
        # who knows, the timeline: the fixed --json shapes
        known = await kith(bob, "who-knows", "Initech")
        assert [i["person"]["display_name"] for i in known] == ["Jane Doe"]
        item = known[0]
        assert set(item["person"]) >= {"display_name", "organization", "identities"}
        assert set(item["known_by"][0]) >= {"member", "strength", "bucket", "last_contact"}
        assert 0 <= item["known_by"][0]["strength"] <= 1
        assert isinstance(await kith(bob, "timeline", "Jane Doe"), list)
        # introductions: bob asks, alice accepts
        await bob.person("Bob Own", identities=["own@else.example"])
        asked = await kith(bob, "intro", "Jane Doe", "--note", "the Initech deal")
        assert asked["asked"] == 1 and asked["introducer"] is None
        await settle(*everyone)
        (ask,) = [i for i in await kith(alice, "intros") if i["role"] == "introducer"]
        assert (await kith(alice, "answer", ask["id"], "accept", "--note", "gladly"))["state"] == "accepted"
        await settle(*everyone)
        assert (await kith(bob, "intros"))[0]["introducer"] == alice.actor
        assert (await kith(org, "intros"))[0]["state"] == "accepted"
        # policies
        policy = await kith(org, "policy", "set", "jane@initech.example", "--owner", alice.acct)
        assert policy["owner"] == alice.actor
        dnc = await kith(alice, "policy", "set", "jane@initech.example", "--do-not-contact", "in talks")
        assert dnc["do_not_contact"] == "in talks"
        assert [p["kind"] for p in await kith(bob, "policy", "list")] == ["person"]
        await settle(*everyone)
        bobs_jane = await bob.person("Jane Doe", identities=["jane@initech.example"])
        assert (await kith(bob, "policy", "show", bobs_jane))[0]["do_not_contact"] == "in talks"
        assert (await kith(org, "policy", "clear", "jane@initech.example"))["cleared"] is True
        # settings, roles, removal, leaving
        settings = await kith(
            org, "settings", "--cap", "last-contact", "--domain", "acme.example", "--cool-down", "14"
        )
        assert (settings["cap"], settings["domains"], settings["cool_down_days"]) == (
            "last-contact",
            ["acme.example"],
            14,
        )
        assert (await kith(org, "settings"))["cap"] == "last-contact"
        assert (await kith(org, "role", alice.acct, "viewer"))["role"] == "viewer"
        removed = await kith(bob, "remove", alice.acct, "--org", org.acct)
        assert removed["state"] == "removed" and removed["deleted"] >= 1
        await settle(*everyone)
        left = await kith(bob, "leave", org.acct)
        assert left["state"] == "ended"


async def test_org_commands_speak_plainly_without_json_and_say_what_to_do_on_errors(tmp_path: Path) -> None:
    async with world(tmp_path, ("alice",), joined=False) as w:
        alice, org = w["alice"], w.org
        text = await kith(alice, "join", org.acct, json_out=False)
        assert "asked to join" in text and "kith org share --level knows --preview" in text
        await w.settle()
        text = await kith(alice, "list", json_out=False)
        assert "offered" in text
        code, _, err = await asyncio.to_thread(
            run_cli, "--data", str(_local(alice)), "org", "who-knows", "Jane"
        )
        assert code != 0 and "not a member of any organisation" in err and "kith org join" in err
        (waiting,) = await kith(org, "requests")
        await kith(org, "accept", waiting["id"])
        await w.settle()
        await alice.person("Jane Doe", identities=["jane@initech.example"])
        text = await kith(alice, "share", "--level", "knows", json_out=False)
        assert "sharing with" in text and "1 people at knows" in text and "who can see it" in text
        await w.settle()
        text = await kith(org, "who-knows", "Jane", json_out=False)
        assert "Jane Doe" in text and "known by" in text
