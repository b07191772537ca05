"""A card change survives a crash (issue #12 §2): saving the card and queuing its Update are one transaction's
worth of work, so a node killed with SIGKILL right after the owner's change was saved sends it, after its
restart, to every peer allowed to see it (seen before: the final card never reached 50 of 50 peers).

A child process (tests/federation/_card_crash_child.py) runs the real node and saves the card through the
owner API; it stops right after the save, and the test kills it there, then starts the node again."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from federation import FEDERATION, Federation, cards
from node.app import build_app
from node.context import AccountContext
from node.federation_wiring import setup_federation
from node.owner_card import get_card, set_card, set_disclosure

from .nodes import FakeClock, keyring, make_config, open_or_make_account
from .peers import PeerServer, peer_server

ROOT = Path(__file__).resolve().parents[2]
PEERS = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running(data: Path, port: int) -> AsyncIterator[tuple[AccountContext, Federation]]:
    ctx = await open_or_make_account(make_config(data, port, "alice"), "alice", keyring(0))
    app = build_app(ctx.server, extensions=[setup_federation])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_address=True)
    await site.start()
    try:
        yield ctx, app[FEDERATION]
    finally:
        await runner.cleanup()
        await ctx.close()


def cards_received(p: PeerServer, name: str) -> set[str]:
    return {path for path, x in p.received if x.get("type") == "Update" and x["object"].get("name") == name}


async def until_delivered(p: PeerServer, name: str) -> None:
    for _ in range(1200):  # 60 s: a loaded machine is slow, not wrong
        if len(cards_received(p, name)) == PEERS:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name!r} reached {len(cards_received(p, name))} of {PEERS} peers")


def save_then_die(data: Path, port: int, name: str) -> None:
    """Run the child until it has saved the card, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.federation._card_crash_child", str(data), str(port), name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "SAVED", line + (proc.stderr.read() if proc.stderr else "")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(300)
async def test_a_card_saved_just_before_a_sigkill_reaches_every_peer_after_the_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    data, port = tmp_path / "alice", free_port()
    async with peer_server(clock) as p:
        # alice follows 50 Kith peers, all in her "friends" circle, which sees her name and e-mail
        async with running(data, port) as (ctx, fed), fed.acting("alice") as me:
            for i in range(PEERS):
                actor = await me.actors.get(p.add(f"p{i}", kith=True), source="following")
                person = await ctx.store.people.person_for_identity(actor.id)
                assert person is not None
                await ctx.graph.set_membership(person.id, "friends", member=True)
            await set_card(ctx.store, {"name": "Alice 0", "email": ["alice@example.org"]})
            await set_disclosure(ctx.store, {"email": ["friends"]})
            assert await cards.publish_pending(me) == PEERS
            await until_delivered(p, "Alice 0")

        # the peers' server keeps answering meanwhile: the child's life runs in a thread
        await asyncio.to_thread(save_then_die, data, port, "Alice 1")

        async with running(data, port) as (ctx, fed):
            assert (await get_card(ctx.store))["name"] == "Alice 1"  # the change was saved...
            await until_delivered(p, "Alice 1")  # ...and reaches every peer after the restart


def change_until_killed(data: Path, port: int, round_no: int, delay: float) -> list[str]:
    """Run the looping child, let it change the card for ``delay`` seconds, SIGKILL it; the acknowledged names."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.federation._card_crash_child",
            str(data),
            str(port),
            "--loop",
            str(round_no),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.strip() == "READY", ready + (proc.stderr.read() if proc.stderr else "")
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    # only whole lines count as acknowledged: a line cut by the kill was being printed, not yet reported
    return [line.removeprefix("ACK ") for line in out.split("\n")[:-1] if line.startswith("ACK ")]


def last_cards(p: PeerServer) -> dict[str, str]:
    last: dict[str, str] = {}
    for path, x in p.received:
        if x.get("type") == "Update" and x["object"].get("type") == "ProfileCard":
            last[path] = x["object"]["name"]
    return last


@pytest.mark.timeout(600)
async def test_card_changes_killed_at_random_moments_all_reach_every_peer_in_order(tmp_path: Path) -> None:
    clock = FakeClock()
    data, port = tmp_path / "alice", free_port()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    async with peer_server(clock) as p:
        async with running(data, port) as (ctx, fed), fed.acting("alice") as me:
            for i in range(PEERS):
                actor = await me.actors.get(p.add(f"p{i}", kith=True), source="following")
                person = await ctx.store.people.person_for_identity(actor.id)
                assert person is not None
                await ctx.graph.set_membership(person.id, "friends", member=True)
            await set_disclosure(ctx.store, {"email": ["friends"]})
        for round_no in range(3):
            acked = await asyncio.to_thread(change_until_killed, data, port, round_no, rng.uniform(0.5, 2.0))
            async with running(data, port) as (ctx, _fed):
                saved = (await get_card(ctx.store))["name"]
                if acked:  # what was acknowledged is saved (or a later change that had no answer yet)
                    assert int(saved.rsplit("k", 1)[1]) >= int(acked[-1].rsplit("k", 1)[1]), (seed, saved)

                async def everywhere(saved: str = saved) -> bool:
                    last = last_cards(p)
                    return len(last) == PEERS and set(last.values()) == {saved}

                for _ in range(1200):  # 60 s: a loaded machine is slow, not wrong
                    if await everywhere():
                        break
                    await asyncio.sleep(0.05)
                assert await everywhere(), (seed, round_no, saved, sorted(set(last_cards(p).values())))
        # and never an older card after a newer one, at any peer
        for inbox in {path for path, _ in p.received}:
            stamps = [
                x["object"]["updated"]
                for path, x in p.received
                if path == inbox and x.get("type") == "Update" and x["object"].get("type") == "ProfileCard"
            ]
            assert stamps == sorted(stamps), (seed, inbox)
