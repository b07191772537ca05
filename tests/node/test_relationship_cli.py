"""`kith relationship add | list | remove | types`: local typed relationships from the command line, on the graph
code the owner API uses, with --json everywhere and one-line errors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from node.config import load_config
from node.context import AccountContext
from node.federation_port import NodeGraphPort
from protocol.vocab import RELATIONSHIP_TYPES
from tests.conftest import FixedClock, run_cli
from tests.node.export_helpers import ALICE, BOB, relationship_record


def ok(*argv: str | Path) -> str:
    result = run_cli(*argv)
    assert result.code == 0, result.err
    return result.out


def js(*argv: str | Path) -> Any:
    return json.loads(ok(*argv, "--json"))


def fails(*argv: str | Path) -> str:
    result = run_cli(*argv)
    lines = result.err.strip().splitlines()
    assert result.code != 0 and len(lines) == 1 and lines[0].startswith("kith: "), result.err
    return lines[0]


def test_add_list_remove(data_dir: Path) -> None:
    d = ("--data", data_dir)
    ann = js(*d, "people", "add", "Ann Lee")["id"]
    bob = js(*d, "people", "add", "Bob Ray")["id"]
    cy = js(*d, "people", "add", "Cy Young")["id"]

    mentor = js(
        *d,
        "relationship",
        "add",
        ann,
        bob,
        "--as",
        "mentor",
        "--note",
        "met at PyCon",
        "--since",
        "2020-01-02",
    )
    assert {
        k: mentor[k] for k in ("person_id", "other_person_id", "type", "direction", "since", "how_we_met")
    } == {
        "person_id": ann,
        "other_person_id": bob,
        "type": "mentor",
        "direction": "outgoing",
        "since": "2020-01-02",
        "how_we_met": "met at PyCon",
    }
    assert mentor["iri"] == RELATIONSHIP_TYPES["mentor"].iri and mentor["status"] == "local"
    mine = js(*d, "relationship", "add", cy, "me", "--as", "Friend")
    assert mine["other_person_id"] is None and mine["type"] == "friend" and mine["direction"] == "mutual"
    assert "Ann Lee is Bob Ray's mentor" in ok(*d, "relationship", "list")
    assert "Cy Young is my friend" in ok(*d, "relationship", "list", cy)

    # A person's list holds the relationships at both ends; the API reads the same rows.
    assert [r["id"] for r in js(*d, "relationship", "list", bob)["items"]] == [mentor["id"]]
    assert [r["id"] for r in js(*d, "relationship", "list")["items"]] == [mentor["id"], mine["id"]]
    shown = js(*d, "people", "show", ann)
    assert [r["id"] for r in shown["relationships"]] == [mentor["id"]]

    assert js(*d, "relationship", "remove", mentor["id"]) == {"deleted": mentor["id"]}
    assert [r["id"] for r in js(*d, "relationship", "list")["items"]] == [mine["id"]]
    assert "no relationship with id" in fails(*d, "relationship", "remove", mentor["id"])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--as", "nemesis"), "unknown relationship type 'nemesis'; use one of: contact"),
        (("--as", "friend", "--since", "last spring"), "since must be a date"),
        (("--as", "friend", "--note", "a\x00b"), "how_we_met contains control characters"),
        (("--as", "friend", "--note", "x" * 10_001), "how_we_met is longer than"),
    ],
)
def test_what_the_api_refuses_the_cli_refuses(data_dir: Path, args: tuple[str, ...], says: str) -> None:
    d = ("--data", data_dir)
    ann = js(*d, "people", "add", "Ann Lee")["id"]
    bob = js(*d, "people", "add", "Bob Ray")["id"]
    assert says in fails(*d, "relationship", "add", ann, bob, *args)
    assert js(*d, "relationship", "list")["items"] == []


def test_the_people_must_exist_and_differ(data_dir: Path) -> None:
    d = ("--data", data_dir)
    ann = js(*d, "people", "add", "Ann Lee")["id"]
    assert "no person with id 'p_nobody'" in fails(
        *d, "relationship", "add", ann, "p_nobody", "--as", "friend"
    )
    assert "no person with id 'p_nobody'" in fails(
        *d, "relationship", "add", "p_nobody", "me", "--as", "friend"
    )
    assert "two different people" in fails(*d, "relationship", "add", ann, ann, "--as", "friend")
    assert "the following arguments are required" in run_cli(*d, "relationship", "add", ann, "me").err
    assert js(*d, "relationship", "list")["items"] == []


async def test_a_record_signed_with_a_peer_is_not_removed_here(data_dir: Path, clock: FixedClock) -> None:
    ctx = await AccountContext.open(load_config(data_dir, env={}), clock=clock, load_keys=False)
    try:
        await NodeGraphPort(ctx.graph).relationship_confirmed(
            BOB, relationship_record(1, ALICE, BOB, signers=2)
        )
        (signed,) = await ctx.graph.relationships()
    finally:
        await ctx.close()
    result = await asyncio.to_thread(run_cli, "--data", data_dir, "relationship", "remove", signed.id)
    assert result.code == 1 and "signed with a peer (accepted); end it with them" in result.err
    listed = await asyncio.to_thread(run_cli, "--data", data_dir, "relationship", "list")
    assert signed.id in listed.out and "accepted (signed with them)" in listed.out


def test_types_lists_the_vocabulary(data_dir: Path) -> None:
    terms = js("--data", data_dir, "relationship", "types")["items"]
    assert sorted(t["name"] for t in terms) == sorted(RELATIONSHIP_TYPES)
    assert {
        "name": "parent",
        "iri": "http://gmpg.org/xfn/11#parent",
        "category": "family",
        "mutual": False,
    } in terms
    assert "mentor" in ok("--data", data_dir, "relationship", "types")
