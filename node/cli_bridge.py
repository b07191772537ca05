"""`kith bridge ...`: the Bluesky bridge node's operator surface (issue #18): run it, see its state and metrics,
list its bridged actors with their consent state, block one DID, see its delivery queue by peer host. The
settings are bridge.bluesky.* (node/config.py); the state is the server store's (node/store/bridge.py)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from node.bridge_bluesky import BlueskyBridge, account_name, follow_network
from node.bridge_follows import with_follows
from node.cli import CliError, _config
from node.config import Config, passphrase_from_env
from node.errors import BadInput
from node.server import Server
from node.store import StoreUnavailable, read_accounts
from node.store.factory import upgrading_one_owner_folder

__all__ = ["queue_view", "register"]


async def _database_is_there(config: Config) -> None:
    """Opening a server makes its database when there is none: right for `kith init`, wrong for an operator's
    look at a node whose server.sqlite3 went missing (it would show an empty bridge, and leave an empty
    database behind). A folder of before accounts is upgraded by Server.open, as by every command."""
    if config.storage.backend != "sqlite" or upgrading_one_owner_folder(config):
        return
    try:
        await asyncio.to_thread(read_accounts, config)  # a file read: not on the event loop
    except StoreUnavailable:
        raise CliError(
            f"the node in {config.data_dir} has no server database (server.sqlite3 is missing); restore the "
            "folder from a backup (`kith restore`), or pass the --data folder that holds it. Nothing was created"
        ) from None


async def _with_server(args: argparse.Namespace, fn: Callable[[Server], Awaitable[int]]) -> int:
    config = _config(args)
    await _database_is_there(config)
    server = await Server.open(config, passphrase=passphrase_from_env())
    try:
        return await fn(server)
    finally:
        await server.close()


async def _with_bridge(args: argparse.Namespace, fn: Callable[[BlueskyBridge], Awaitable[int]]) -> int:
    async def run(server: Server) -> int:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            return await fn(BlueskyBridge(server, http))

    return await _with_server(args, run)


def _ago(seconds: float | None) -> str:
    """A duration in the largest unit that keeps it short (``42 s``, ``17 min``, ``3 h``, ``2 d``)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


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
        lag = (
            "never synced"
            if data["lag_seconds"] is None
            else f"last caught up {_ago(data['lag_seconds'])} ago"
        )
        rate = data["deliveries_per_second"]
        _print(
            args,
            data,
            f"Bluesky bridge ({'enabled' if data['enabled'] else 'disabled'}) on {data['pds_url']}, bot "
            f"{data['bot_handle']}\n"
            f"  actors:     {data['actors']} bridged, {data['actors_waiting']} held back, "
            f"{data['opted_out']} opted out, {data['blocked']} blocked by you\n"
            f"  follows:    {data['follows']} followers of bridged actors\n"
            f"  deliveries: {rate['last_minute']:g}/s over the last minute, {rate['last_hour']:g}/s over the "
            f"last hour; {data['waiting']} waiting (`kith bridge queue`)\n"
            f"  network:    {lag}",
        )
        return 0

    return await _with_bridge(args, run)


async def queue_view(server: Server, *, now: float) -> dict[str, Any]:
    """The bridged accounts' deliveries by peer host (``kith bridge queue``), ``now`` on federation's clock
    (Unix seconds): counts by state, the oldest waiting one's age, and the hosts whose breaker is open."""
    hosts = await server.store.bridge.queue(now=now)
    oldest = [h.oldest_waiting for h in hosts if h.oldest_waiting is not None]
    return {
        "hosts": [
            {
                "host": h.host,
                "waiting": h.waiting,
                "in_flight": h.in_flight,
                "failed": h.failed,
                "dead": h.dead,
                "oldest_waiting_seconds": None
                if h.oldest_waiting is None
                else round(max(0.0, now - h.oldest_waiting), 3),
                "circuit_open": h.open_until is not None,
                "circuit_open_seconds": None if h.open_until is None else round(h.open_until - now, 3),
                "host_dead": h.host_dead,
            }
            for h in hosts
        ],
        "waiting": sum(h.waiting for h in hosts),
        "in_flight": sum(h.in_flight for h in hosts),
        "failed": sum(h.failed for h in hosts),
        "dead": sum(h.dead for h in hosts),
        "oldest_waiting_seconds": round(max(0.0, now - min(oldest)), 3) if oldest else None,
        "open_circuits": [h.host for h in hosts if h.open_until is not None],
    }


def _queue_text(data: dict[str, Any]) -> str:
    if not data["hosts"]:
        return "the bridge has no deliveries waiting, in flight, failed or dead"
    width = max(len("HOST"), *(len(h["host"]) for h in data["hosts"]))
    lines = [f"{'HOST':<{width}}  WAITING  IN FLIGHT  FAILED  DEAD  OLDEST  BREAKER"]
    for h in data["hosts"]:
        breaker = "dead-lettered" if h["host_dead"] else ""
        if h["circuit_open"]:
            breaker = f"open for {_ago(h['circuit_open_seconds'])}"
        lines.append(
            f"{h['host']:<{width}}  {h['waiting']:>7}  {h['in_flight']:>9}  {h['failed']:>6}  {h['dead']:>4}  "
            f"{_ago(h['oldest_waiting_seconds']):>6}  {breaker}".rstrip()
        )
    summary = f"{data['waiting']} waiting, {data['in_flight']} in flight, {data['failed']} failed, {data['dead']} dead"
    if data["oldest_waiting_seconds"] is not None:
        summary += f"; the oldest waiting for {_ago(data['oldest_waiting_seconds'])}"
    if data["open_circuits"]:
        summary += f"; circuit open (no attempts for now): {', '.join(data['open_circuits'])}"
    return "\n".join([*lines, summary])


async def _queue(args: argparse.Namespace) -> int:
    # the queue is the server store's alone: it reads without the bridge's settings (an operator looking at a
    # bridge whose settings are wrong still sees what it left waiting)
    async def run(server: Server) -> int:
        data = await queue_view(server, now=time.time())  # federation's clock: Unix seconds
        _print(args, data, _queue_text(data))
        return 0

    return await _with_server(args, run)


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
        try:
            account_name(args.did)
        except BadInput:
            raise CliError(
                f"{args.did[:100]!r} is not a DID the bridge could bridge (did:plc:..., or a short did:web:...); "
                "`kith bridge actors` lists the DIDs it has seen, with their states"
            ) from None

        async def run(bridge: BlueskyBridge) -> int:
            data = await (bridge.block(args.did) if blocked else bridge.unblock(args.did))
            _print(args, data, f"{'blocked' if blocked else 'unblocked'} {args.did}")
            return 0

        return await _with_bridge(args, run)

    return cmd


def register(sub: Any) -> None:
    br = sub.add_parser("bridge", help="the Bluesky bridge: run | status | actors | queue | block | unblock")
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

    p = bsub.add_parser(
        "status",
        help="the bridge's settings and metrics: actors, follows, deliveries per second, waiting, lag",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON (actors, opted_in, follows, deliveries_per_second, waiting, lag_seconds, ...)",
    )
    p.set_defaults(fn=_status)

    p = bsub.add_parser(
        "queue",
        help="the bridged actors' deliveries by peer host: waiting, in flight, failed, dead; the oldest "
        "waiting; the hosts whose circuit breaker is open",
    )
    p.add_argument("--json", action="store_true", help="print JSON (hosts, waiting, open_circuits, ...)")
    p.set_defaults(fn=_queue)

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
