"""The running server's stay-in-touch loop (issue 16): per account, mail the digest once its period is due, and
sync linked mailboxes and calendars every ``mail.capture_minutes``.

Each cycle walks the active accounts one after another, each through ``server.borrow(keep_open=False)`` (its
graph opened only for the step, and closed after it unless something else had it open), so a server of many
accounts holds few files and threads open (bench/bench_accounts.py). Nothing is kept in memory between cycles: a
digest's period is claimed in the account's own database before it is sent (node/digest.py), and a sync resumes
from its stored cursors, so a restart loses nothing and sends nothing twice. ``run_once()`` lets tests step it.
One account's failure is logged and does not stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta

import aiohttp
from aiohttp import web

from federation.messages import send_direct
from node.capture.caldav import sync_caldav
from node.capture.imap import sync_imap
from node.capture.links import caldav_links, imap_links
from node.config import smtp_password_from_env
from node.context import AccountContext
from node.digest import DirectSender, send_scheduled
from node.errors import NodeError
from node.federation_access import ACCESS, FederationAccess, NoFederation
from node.graph import iso
from node.importer import Importer
from node.models import AccountRow
from node.server import Server

__all__ = ["LOOP", "QUIET_SECONDS", "StayInTouchLoop", "setup_loop"]

_log = logging.getLogger("kith.loop")
_INTERVAL = 60.0
_FIRST = 5.0
_PARALLEL = 4  # accounts capturing at once
#: An account whose visit found nothing to do is left alone this long by the running loop: a server of 1,000
#: accounts otherwise opens 1,000 databases a minute, and the requests of its busy accounts wait behind that
#: (bench/bench_accounts.py). The cost: a digest or a sync may start up to this much late, and a setting
#: changed by another process is seen within it.
QUIET_SECONDS = 300.0
_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=15)


class StayInTouchLoop:
    def __init__(
        self,
        server: Server,
        *,
        smtp_password: str | None,
        interval: float = _INTERVAL,
        federation: Callable[[], FederationAccess] = NoFederation,
    ) -> None:
        """``federation``: federation as the node reaches it (node/federation_access.py; asked each cycle:
        federation starts after the loop)."""
        self.server = server
        self.smtp_password = smtp_password
        self.interval = interval
        self.federation = federation
        self._task: asyncio.Task[None] | None = None
        self._quiet_until: dict[int, float] = {}  # account pk -> monotonic time (QUIET_SECONDS)

    def _direct(self, ctx: AccountContext) -> DirectSender | None:
        """How to send this account's digest as a direct message, from its own fediverse actor (None while
        federation is not running)."""
        federation = self.federation()
        if not federation.available:
            return None
        name = ctx.account.name

        async def direct(address: str, text: str) -> None:
            async with federation.acting(name) as fed:
                await send_direct(fed, address, text)

        return direct

    async def run_once(self, *, skip_quiet: bool = False) -> dict[str, list[str]]:
        """One cycle over every active account; what it did, by account (for tests and logs). Digests go first,
        for every account (a few reads and at most one mail each); then the captures run, each account's in a
        task of its own, at most ``_PARALLEL`` at once, so that a mail server that answers slowly holds up
        its own account only. ``skip_quiet`` (the running loop): leave out accounts whose last visit found
        nothing to do, for QUIET_SECONDS."""
        rows = await self.server.accounts.list(states=("active",))
        now = time.monotonic()
        if skip_quiet:
            rows = [row for row in rows if self._quiet_until.get(row.pk, 0.0) <= now]
        done: dict[str, list[str]] = {row.name: [] for row in rows}
        for row in rows:
            try:
                async with self.server.borrow(row, keep_open=False) as ctx:
                    period = await send_scheduled(ctx, password=self.smtp_password, direct=self._direct(ctx))
                if period is not None:
                    done[row.name].append(f"digest {period}")
            except (NodeError, OSError) as exc:
                _log.warning("digest of account %s failed: %s", row.name, exc)
        gate = asyncio.Semaphore(_PARALLEL)

        async def capture(row: AccountRow) -> None:
            async with gate:
                try:
                    async with self.server.borrow(row, keep_open=False) as ctx:
                        done[row.name].extend(await self._capture(ctx))
                except (NodeError, OSError, aiohttp.ClientError) as exc:
                    _log.warning("capture of account %s failed: %s", row.name, exc)

        await asyncio.gather(*(capture(row) for row in rows))
        for row in rows:
            if done[row.name]:
                self._quiet_until.pop(row.pk, None)
            else:
                self._quiet_until[row.pk] = now + QUIET_SECONDS
        return done

    async def _capture(self, ctx: AccountContext) -> list[str]:
        did: list[str] = []
        minutes = ctx.config.mail.capture_minutes
        if minutes <= 0:
            return did
        stale = iso(ctx.graph.clock() - timedelta(minutes=minutes))
        passphrase = self.server.passphrase
        for link in await imap_links(ctx.store):
            if link.status == "active" and (link.last_sync_at or "") < stale:
                for r in await sync_imap(
                    ctx.store, passphrase=passphrase, account=link.account, clock=ctx.graph.clock
                ):
                    did.append(f"imap {r.account}: {r.status}")
        cals = [
            c
            for c in await caldav_links(ctx.store)
            if c.status == "active" and (c.last_sync_at or "") < stale
        ]
        if cals:
            importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
            async with aiohttp.ClientSession(timeout=_HTTP_TIMEOUT) as http:
                for cal in cals:
                    for r in await sync_caldav(
                        ctx.store,
                        importer,
                        session=http,
                        passphrase=passphrase,
                        account=cal.account,
                        clock=ctx.graph.clock,
                    ):
                        did.append(f"caldav {r.account}: {r.status}")
        return did

    async def _run(self) -> None:
        await asyncio.sleep(_FIRST)
        while True:
            try:
                await self.run_once(skip_quiet=True)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in one cycle must not end the loop for every account
                _log.exception("stay-in-touch cycle failed; trying again in %s s", self.interval)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kith-stay-in-touch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


LOOP: web.AppKey[StayInTouchLoop] = web.AppKey("kith_stay_in_touch", StayInTouchLoop)


def setup_loop(app: web.Application, server: Server) -> None:
    """Start the loop with the application and stop it before the server closes."""
    loop = StayInTouchLoop(
        server, smtp_password=smtp_password_from_env(), federation=lambda: app.get(ACCESS) or NoFederation()
    )
    app[LOOP] = loop

    async def start(_app: web.Application) -> None:
        loop.start()

    async def stop(_app: web.Application) -> None:
        await loop.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
