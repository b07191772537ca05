"""`kith bridge ...`: the Bluesky bridge node's operator surface (issue #18): run it, see its state, list its
bridged actors with their consent state, block one DID. The settings are bridge.bluesky.* (node/config.py)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from node.bridge_bluesky import BlueskyBridge, follow_network
from node.bridge_follows import with_follows
from node.cli import CliError, _config
from node.config import passphrase_from_env
from node.server import Server

__all__ = ["register"]


async def _with_bridge(args: argparse.Namespace, fn: Callable[[BlueskyBridge], Awaitable[int]]) -> int:
    server = await Server.open(_config(args), passphrase=passphrase_from_env())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            return await fn(BlueskyBridge(server, http))
    finally:
        await server.close()


def _print(args: argparse.Namespace, data: Any, human: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else human)


async def _run(args: argparse.Namespace) -> int:
    async def run(bridge: BlueskyBridge) -> int:
        if args.once:
            report = await bridge.run_once()
            data = {"seen": report.seen, "bridged": report.bridged, "updated": report.updated}
            data["removed"] = report.removed
            _print(
                args,
                data,
                f"synced {report.seen} accounts: {report.bridged} bridged, {report.updated} updated, "
                f"{report.removed} removed",
            )
            return 0
        if not bridge.settings.enabled:
            raise CliError(
                "the bridge is not enabled: set bridge.bluesky.enabled = true (KITH_BRIDGE_BLUESKY_ENABLED=1), "
                "or run one pass with --once"
            )
        logging.basicConfig(level=logging.INFO, format="kith: %(message)s")
        # the event stream, and a full sync every bridge.bluesky.sync_seconds; until Ctrl-C
        await follow_network(bridge, every=max(1.0, float(bridge.settings.sync_seconds)))
        return 0

    return await _with_bridge(args, with_follows(run))  # asks of follows (node/bridge_follows.py) too


async def _status(args: argparse.Namespace) -> int:
    async def run(bridge: BlueskyBridge) -> int:
        data = await bridge.status()
        lag = "never synced" if data["lag_seconds"] is None else f"last sync {data['lag_seconds']:.0f} s ago"
        _print(
            args,
            data,
            f"Bluesky bridge ({'enabled' if data['enabled'] else 'disabled'}) on {data['pds_url']}, bot "
            f"{data['bot_handle']}: {data['actors']} actors bridged, {data['waiting']} waiting, "
            f"{data['opted_out']} opted out, {data['blocked']} blocked; {lag}",
        )
        return 0

    return await _with_bridge(args, run)


async def _actors(args: argparse.Namespace) -> int:
    async def run(bridge: BlueskyBridge) -> int:
        items = await bridge.actors()
        if args.json:
            print(json.dumps(items, ensure_ascii=False, indent=2))
        elif not items:
            print("no Bluesky account has followed the bot yet")
        for a in items if not args.json else []:
            print(f"{a['state']:<10} {a['did']:<32} @{a['handle'] or '?':<30} {a['reason']}")
        return 0

    return await _with_bridge(args, run)


def _block(blocked: bool) -> Callable[[argparse.Namespace], Awaitable[int]]:
    async def cmd(args: argparse.Namespace) -> int:
        async def run(bridge: BlueskyBridge) -> int:
            data = await (bridge.block(args.did) if blocked else bridge.unblock(args.did))
            _print(args, data, f"{'blocked' if blocked else 'unblocked'} {args.did}")
            return 0

        return await _with_bridge(args, run)

    return cmd


def register(sub: Any) -> None:
    br = sub.add_parser("bridge", help="the Bluesky bridge: run | status | actors | block | unblock")
    bsub = br.add_subparsers(dest="bridge_action", metavar="ACTION")
    bsub.required = True

    p = bsub.add_parser(
        "run",
        help="follow the network (its event stream, and a full pass every bridge.bluesky.sync_seconds): bridge "
        "the accounts that follow the bot, drop those that left",
    )
    p.add_argument("--once", action="store_true", help="one full pass over the PDS, then exit")
    p.add_argument("--json", action="store_true", help="with --once: print the pass's counts as JSON")
    p.set_defaults(fn=_run)

    p = bsub.add_parser("status", help="the bridge's settings, counts and lag")
    p.add_argument("--json", action="store_true", help="print JSON (actors, opted_in, lag_seconds, ...)")
    p.set_defaults(fn=_status)

    p = bsub.add_parser("actors", help="every Bluesky account that followed the bot, with its consent state")
    p.add_argument("--json", action="store_true", help="print JSON (items with did, handle, actor, state)")
    p.set_defaults(fn=_actors)

    for blocked, verb, help_text in (
        (True, "block", "never bridge this DID; a bridged one is removed at once (its Delete goes out)"),
        (False, "unblock", "let this DID be bridged again if it opts in"),
    ):
        p = bsub.add_parser(verb, help=help_text)
        p.add_argument("did", help="the account's DID, like did:plc:...")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(fn=_block(blocked))
