"""Removing an account announces it even across a crash (issue #13 §1): the state change to ``removed`` and the
queuing of the ``Delete`` of its actor are two steps (the account registry changes first; federation's
housekeeping queues the Delete at start-up and in every quiet moment, federation/service.py), so the second is
idempotent and re-driven. A child process (tests/federation/_removal_crash_child.py) removes the account and is
killed with SIGKILL between the steps, or inside the second; after the restart the Delete reaches every
follower exactly once, is never sent for the account that was not removed, and a later pass queues nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from federation import FEDERATION, Federation
from node.app import build_app
from node.context import AccountContext
from node.federation_wiring import setup_federation

from .nodes import FakeClock, add_account, keyring, make_config
from .peers import PeerServer, peer_server
from .test_card_crash import ROOT, free_port, running


@asynccontextmanager
async def serving_bob(data: Path, port: int) -> AsyncIterator[tuple[AccountContext, Federation]]:
    """The server again, as `kith serve` runs it (its loops in the background), opened through bob's account:
    alice's is removed, and a removed account opens no context."""
    ctx = await AccountContext.open(make_config(data, port, "bob"), account="bob")
    runner = web.AppRunner(build_app(ctx.server, extensions=[setup_federation]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    try:
        yield ctx, runner.app[FEDERATION]
    finally:
        await runner.cleanup()
        await ctx.close()


def remove_then_die(data: Path, port: int, step: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.federation._removal_crash_child", str(data), str(port), step],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "STOPPED", line + (proc.stderr.read() if proc.stderr else "")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def deletes(p: PeerServer, actor: str) -> list[str]:
    return [path for path, x in p.received if x.get("type") == "Delete" and x.get("actor") == actor]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("step", ["state", "queue"])
async def test_a_removal_killed_between_its_steps_is_announced_once_after_the_restart(
    tmp_path: Path, step: str
) -> None:
    clock = FakeClock()
    data, port = tmp_path / "server", free_port()
    async with peer_server(clock) as p:
        async with running(data, port) as (ctx, fed):
            await add_account(ctx.server, "bob", keyring(1))
            for who, names in (("alice", ["p0", "p1"]), ("bob", ["q0"])):
                async with fed.acting(who) as me:
                    for name in names:  # followers asking: they count among those the Delete goes to
                        actor = await me.actors.get(p.add(name), source="follower")
                        await me.store.add_follow(
                            follow_id=f"{actor.id}/follows/{who}", direction="in", actor_id=actor.id,
                            state="pending", now=clock(),
                        )  # fmt: skip
            alice, bob = fed.urls.of("alice").owner, fed.urls.of("bob").owner

        await asyncio.to_thread(remove_then_die, data, port, step)

        async with serving_bob(data, port) as (ctx, fed):
            assert (await ctx.server.resolve("alice")).state == "removed"
            for _ in range(1200):  # 60 s: a loaded machine is slow, not wrong
                if deletes(p, alice):
                    break
                await asyncio.sleep(0.05)
            assert deletes(p, alice) == ["/inbox"]  # the peers' shared inbox, once
            # a later pass (a quiet moment, another start) queues nothing more
            # (rows counted, not their states: a delivery still in flight may finish meanwhile, one request
            # at a time per host being the default, federation.per_host_requests)
            before = sum((await fed.store.delivery_counts("alice")).values())
            await fed._announce_removals()
            assert sum((await fed.store.delivery_counts("alice")).values()) == before
        async with serving_bob(data, port) as (ctx, fed):
            await fed._announce_removals()
            assert sum((await fed.store.delivery_counts("alice")).values()) == 1
        assert deletes(p, alice) == ["/inbox"]
        assert deletes(p, bob) == []  # the account not removed announced nothing
