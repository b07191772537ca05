"""`kith relationship`: typed relationships between people in the graph, and between a person and the owner.

    kith relationship add PERSON OTHER --as TYPE [--note TEXT] [--since DATE]   PERSON is OTHER's TYPE
    kith relationship add PERSON me --as TYPE                                   PERSON is my TYPE
    kith relationship list [PERSON]                                             every one, or PERSON's
    kith relationship remove ID
    kith relationship types                                                     the vocabulary

The same graph operations as the owner API's /api/people/{id}/relationships (node/graph.py); the types are
protocol/vocab.py's terms (XFN, vCard RELATED, Kith's business terms). Relationships signed with a Kith peer
are listed too, but only ending them with the peer removes them. Every command takes ``--json``.
"""

from __future__ import annotations

import argparse
from typing import Any

from node.cli import _out, _with_ctx
from node.context import AccountContext
from node.graph import Graph
from node.models import Relationship
from protocol.vocab import RELATIONSHIP_TYPES

__all__ = ["OWNER", "register"]

#: What OTHER is when the relationship is with the owner.
OWNER = "me"


async def _names(graph: Graph, rels: list[Relationship]) -> dict[str, str]:
    ids = {r.person_id for r in rels} | {r.other_person_id for r in rels if r.other_person_id}
    return {pid: (await graph.get_person(pid)).display_name or pid for pid in ids}


def _line(r: Relationship, names: dict[str, str]) -> str:
    who = names.get(r.person_id, r.person_id)
    whose = f"{names.get(r.other_person_id, r.other_person_id)}'s" if r.other_person_id else "my"
    since = f" since {r.since}" if r.since else ""
    note = f" — {r.how_we_met}" if r.how_we_met else ""
    state = "" if r.status == "local" else f", {r.status} (signed with them)"
    return f"{r.id}  {who} is {whose} {r.type} ({r.direction}{state}){since}{note}"


async def _add(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        data: dict[str, Any] = {"type": args.as_type, "since": args.since, "how_we_met": args.note}
        if args.other != OWNER:
            data["other_person_id"] = args.other
        rel = await ctx.graph.add_relationship(args.person, data)
        names = await _names(ctx.graph, [rel])
        _out(args, rel, lambda: print(f"added {_line(rel, names)}"))
        return 0

    return await _with_ctx(args, run)


async def _list(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        rels = await ctx.graph.relationships(args.person)
        names = await _names(ctx.graph, rels)

        def human() -> None:
            for r in rels:
                print(_line(r, names))
            if not rels:
                print("no relationships; add one: kith relationship add PERSON OTHER --as TYPE")

        _out(args, {"items": rels}, human)
        return 0

    return await _with_ctx(args, run)


async def _remove(args: argparse.Namespace) -> int:
    async def run(ctx: AccountContext) -> int:
        await ctx.graph.delete_relationship(args.id, local_only=True)
        _out(args, {"deleted": args.id}, lambda: print(f"removed relationship {args.id}"))
        return 0

    return await _with_ctx(args, run)


async def _types(args: argparse.Namespace) -> int:
    terms = sorted(RELATIONSHIP_TYPES.values(), key=lambda t: (t.category, t.name))

    def human() -> None:
        for t in terms:
            print(f"{t.name:<14} {t.category:<13} {'mutual' if t.mutual else 'directed':<9} {t.iri}")

    items = [{"name": t.name, "iri": t.iri, "category": t.category, "mutual": t.mutual} for t in terms]
    _out(args, {"items": items}, human)
    return 0


def register(subparsers: Any) -> None:
    rel = subparsers.add_parser(
        "relationship",
        help="typed relationships between people, and with you: add | list | remove | types",
        description="PERSON is OTHER's TYPE: `kith relationship add p_ann p_bob --as mentor` records that Ann is "
        "Bob's mentor; OTHER `me` is you. Types: `kith relationship types`.",
    )
    sub = rel.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("add", help="PERSON is OTHER's TYPE (OTHER 'me': your TYPE)")
    p.add_argument("person", metavar="PERSON", help="a person id")
    p.add_argument("other", metavar="OTHER", help="another person's id, or 'me'")
    p.add_argument(
        "--as", dest="as_type", required=True, metavar="TYPE", help="friend, parent, mentor, customer..."
    )
    p.add_argument("--note", help="how they met, or anything else about the relationship")
    p.add_argument("--since", metavar="DATE", help="since when (YYYY-MM-DD)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(fn=_add)
    p = sub.add_parser(
        "list", help="every relationship, or PERSON's (with you, with others, and others' with them)"
    )
    p.add_argument("person", metavar="PERSON", nargs="?", help="a person id")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(fn=_list)
    p = sub.add_parser("remove", help="remove a relationship by its id (as `list` shows it)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(fn=_remove)
    p = sub.add_parser("types", help="the relationship types: XFN, vCard RELATED and business terms")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(fn=_types)
