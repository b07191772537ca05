"""The Bluesky bridge node (issue #18): Bluesky accounts that asked for it become accounts of this server.

docs/ARCHITECTURE.md §8: every account of a server is a federated actor, with its own keys (sealed at rest like
every account's), graph, WebFinger address and followers. A bridged Bluesky account is one more such account,
so everything federation does for accounts (Follow and Accept, the profile ``Update`` to followers, the
``Delete`` of a removed actor, 404 for an unknown one) works for it unchanged. What this module adds:

- **Consent** (bridges/bluesky_bridge/consent.py): an account is bridged only while it follows the bot account
  and no reason against it holds (``#nobridge``, the ``!no-unauthenticated`` label, a block of the bot,
  deactivation or takedown, the spam gates, the deny-list, the operator's block). Nothing of an account that never opted in is stored or served: its
  name answers WebFinger 404 and its actor URL 404, as any unknown name does.
- **Predictable names**: the account of ``did:plc:abc...`` is ``did.plc.abc...`` (the DID, with dots for the
  colons account names cannot hold), so its actor is ``/users/did.plc.abc...``; its actor's ``alsoKnownAs``
  names ``at://DID`` and ``at://HANDLE`` (a follower's node records them verified "bridged",
  node/federation_port.py), its card's identities are the same, and it goes by its handle: WebFinger finds it as
  ``acct:HANDLE@HANDLE_DOMAIN`` (bridge.bluesky.handle_domain, else the node's domain), which is also the
  subject for its other names, and its ``preferredUsername`` is the handle (``bridged_alias``).
- **Its card** is the public part of its Bluesky profile (display name, description, avatar, handle), all of it
  public (node/owner_card.py's ``@public``): followers receive changes as ``Update`` (federation/cards.py).
- **Opting out** (unfollowing or blocking the bot, ``#nobridge``, deactivation) removes the account at once:
  its actor answers 410 and its ``Delete`` goes to every follower (federation/service.py announces removals),
  and its data is purged after ``accounts.purge_after_days`` like any removed account's.

Reading Bluesky: a full pass (``run_once``) reads every repository of the PDS (or, with an App View, the bot's
followers) afresh; between full passes the repository event stream (``stream_pass``) says which accounts to
read again, from a cursor saved with the states it led to. Both read the account itself again rather than
trusting an event, so repeating either changes nothing. Each account is read from its own PDS, the one its DID
document names; any other than bridge.bluesky.pds_url through the guarded client
(bridges/bluesky_bridge/reader.py, node/bridge_bluesky_fetch.py).

The bridge's own state (which DIDs it bridged, their handles, states and reasons, the operator's blocks, the
stream's cursor, when it last caught up) is in tables of the server's store (node/store/bridge.py), written a
row at a time, so that ``kith serve`` and an operator's ``kith bridge block`` in another process never undo each
other; the accounts themselves hold everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bridges.bluesky_bridge import (
    Account,
    BlueskyReader,
    Gates,
    ReadError,
    StreamError,
    card_fields,
    concerns,
    decide,
    decode_event,
    stream_url,
)
from federation import FEDERATION
from federation.fetch import GuardedClient
from node.bridge_bluesky_fetch import guarded_fetch
from node.config import USERNAME_PATTERN, BlueskyBridgeConfig
from node.errors import BadInput, NotFound
from node.owner_card import PUBLIC, get_card, set_card, set_disclosure
from node.server import Server
from node.store.bridge import BridgedActor

__all__ = [
    "META_BOT_DID",
    "STREAM",
    "BlueskyBridge",
    "BridgeError",
    "SyncReport",
    "account_name",
    "bridged_alias",
    "bridged_name",
    "follow_network",
    "setup_bridge",
]

_log = logging.getLogger("kith.bridge.bluesky")

#: server_meta: the bot account's DID, as last resolved (the state's tables hold the rest).
META_BOT_DID = "bridge.bluesky.bot_did"
#: The bridge_stream row of the repository event stream (node/store/bridge.py).
STREAM = "bluesky"
_FOLLOW = "app.bsky.graph.follow"
_POST = "app.bsky.feed.post/"
#: the accounts whose posts a full pass reads for asks of follows: the bridged, and the held back (told why)
_ASKING = ("bridged", "waiting")


async def bridged_name(server: Server, handle: str) -> str | None:
    """The account bridging the Bluesky account whose handle is ``handle`` now, if one does."""
    actor = await server.store.bridge.by_handle(handle)
    return None if actor is None else actor.account


async def bridged_alias(server: Server, name: str) -> str | None:
    """``acct:HANDLE@HANDLE_DOMAIN``, the address the bridged account ``name`` goes by (issue #18:
    ``@alice.bsky.social@bsky.BRIDGE-DOMAIN``; bridge.bluesky.handle_domain, else the node's domain), while it
    is bridged and has a handle that makes an address."""
    entry = await server.store.bridge.actor(_did_of(name))
    if entry is None or entry.state != "bridged":
        return None
    handle = entry.handle.lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,252}", handle):
        return None
    return f"acct:{handle}@{server.config.bridge_bluesky.handle_domain.lower() or server.config.node.domain}"


class BridgeError(BadInput):
    """The bridge cannot run as configured (a missing setting, an unreachable PDS); the message says what to
    set or check."""


def account_name(did: str) -> str:
    """The server account that bridges ``did``: the DID with dots for colons (``did:plc:abc`` ->
    ``did.plc.abc``). A DID that cannot make an account name (too long, odd characters) is refused."""
    name = did.strip().lower().replace(":", ".")
    if not did.startswith(("did:plc:", "did:web:")) or not re.fullmatch(USERNAME_PATTERN, name):
        raise BadInput(
            f"{did[:100]!r} cannot be bridged: only did:plc and short did:web DIDs can", field="did"
        )
    return name


def _did_of(name: str) -> str:
    """The DID an account name bridges (:func:`account_name` undone: did:web hosts keep their dots)."""
    method, _, rest = name.removeprefix("did.").partition(".")
    return f"did:{method}:{rest}"


@dataclass
class SyncReport:
    seen: int = 0  # repositories looked at
    bridged: int = 0  # accounts made
    updated: int = 0  # cards changed
    removed: int = 0  # accounts that opted out (or were blocked) and were removed
    posted: list[str] = field(default_factory=list)  # known accounts whose posts may ask for follows


class BlueskyBridge:
    """One server's Bluesky bridge. ``on_change(name)`` is told when an account's card or state changed
    (the running federation's ``card_changed``), so that followers hear of it at once rather than at the next
    quiet moment. ``client`` (the running federation's guarded client) reads what DID documents name; without
    one, each pass makes its own from the federation settings (node/bridge_bluesky_fetch.py)."""

    def __init__(
        self,
        server: Server,
        session: aiohttp.ClientSession,
        *,
        on_change: Callable[[str], None] | None = None,
        client: GuardedClient | None = None,
    ) -> None:
        self.server = server
        self.client = client
        self.settings: BlueskyBridgeConfig = server.config.bridge_bluesky
        if not self.settings.pds_url:
            raise BridgeError(
                "bridge.bluesky.pds_url is not set: set it (or KITH_BRIDGE_BLUESKY_PDS_URL) to the PDS to read"
            )
        if not self.settings.bot_handle:
            raise BridgeError(
                "bridge.bluesky.bot_handle is not set: set it (or KITH_BRIDGE_BLUESKY_BOT_HANDLE) to the "
                "bridge's bot account, which Bluesky users follow to be bridged"
            )
        self.reader = BlueskyReader(
            session, self.settings.pds_url, self.settings.plc_url, appview_url=self.settings.appview_url
        )
        self.on_change = on_change
        self.store = server.store.bridge  # the bridge's own rows (node/store/bridge.py)
        # one pass at a time in this process; another process's writes are rows of their own (module docstring)
        # follows asked from Bluesky (node/bridge_follows.py): asks(dids) reads their asks after each pass,
        # on_remove(name) ends an account's follows before it is removed
        self.asks: Callable[[list[str]], Awaitable[Any]] | None = None
        self.on_remove: Callable[[str], Awaitable[Any]] | None = None
        self._lock = asyncio.Lock()

    def _gates(self) -> Gates:
        s = self.settings
        return Gates(
            require_avatar=s.require_avatar,
            require_display_name=s.require_display_name,
            min_account_age_days=s.min_account_age_days,
            deny=s.denied,
        )

    def actor_url(self, did: str) -> str:
        return f"{self.server.config.base_url}/users/{account_name(did)}"

    # -- the operator's surface -------------------------------------------------------------------------------
    async def status(self) -> dict[str, Any]:
        """The bridge's settings and metrics (``kith bridge status``): its actors by state, their followers,
        their deliveries finished per second over the last minute and hour and those waiting, and how long ago
        it last caught up with the network."""
        counts = await self.store.counts()
        position = await self.store.stream(STREAM)
        traffic = await self.store.traffic(now=time.time())  # federation's clock: Unix seconds
        lag = None
        if position.synced_at is not None:
            lag = max(0.0, (self.server.clock() - position.synced_at).total_seconds())
        return {
            "enabled": self.settings.enabled,
            "pds_url": self.settings.pds_url,
            "bot_handle": self.settings.bot_handle,
            "bot_did": await self.server.accounts.meta_get(META_BOT_DID),
            "actors": counts["bridged"],
            "opted_in": counts["bridged"],
            "actors_waiting": counts["waiting"],  # held back by a gate or #nobridge (`kith bridge actors`)
            "opted_out": counts["opted-out"],
            "blocked": len(await self.store.blocked()),
            "follows": traffic.follows,
            "deliveries_per_second": {
                "last_minute": round(traffic.delivered_last_minute / 60.0, 3),
                "last_hour": round(traffic.delivered_last_hour / 3600.0, 3),
            },
            "waiting": traffic.waiting,  # deliveries queued or waiting to retry (`kith bridge queue`)
            "synced_at": None if position.synced_at is None else position.synced_at.isoformat(),
            "lag_seconds": None if lag is None else round(lag, 3),
        }

    async def actors(self) -> list[dict[str, Any]]:
        return [
            {
                "did": a.did,
                "handle": a.handle,
                "actor": self.actor_url(a.did),
                "state": a.state,
                "reason": a.reason,
                "since": a.since.isoformat(),
            }
            for a in await self.store.actors()
        ]

    async def block(self, did: str) -> dict[str, Any]:
        """The operator's block of one DID: never bridged again until unblocked; if bridged now, removed at
        once (its Delete goes to its followers)."""
        name = account_name(did)
        async with self._lock:
            # the block first: a pass in another process that reads the account from now on sees it
            await self.store.block(did, now=self.server.clock())
            entry = await self.store.actor(did)
            # a live account the state does not name as bridged (lost, or a crash between the two writes) goes
            # all the same
            if (entry is not None and entry.state == "bridged") or await self._live(did):
                await self._remove(did, "blocked")
            elif entry is None or entry.state != "opted-out":  # an opted-out actor stays a tombstone
                await self.store.put_actor(
                    did, account=name, state="blocked", reason="blocked", now=self.server.clock()
                )
        return {"did": did, "blocked": True}

    async def unblock(self, did: str) -> dict[str, Any]:
        async with self._lock:
            if not await self.store.unblock(did):
                raise NotFound(
                    f"{did} is not blocked: `kith bridge actors` lists the DIDs the bridge has seen, and their "
                    "states",
                    field="did",
                )
            entry = await self.store.actor(did)
            if entry is not None and entry.state == "blocked":
                await self.store.put_actor(
                    did, account=entry.account, state="waiting", reason="unblocked", now=self.server.clock()
                )
        return {"did": did, "blocked": False}

    # -- syncing ----------------------------------------------------------------------------------------------
    async def bot_did(self) -> str:
        try:
            did = await self.reader.resolve_handle(self.settings.bot_handle)
        except ReadError as exc:
            raise BridgeError(
                f"the bot account {self.settings.bot_handle!r} cannot be resolved on {self.settings.pds_url} "
                f"({exc}); check bridge.bluesky.bot_handle and pds_url"
            ) from None
        if await self.server.accounts.meta_get(META_BOT_DID) != did:  # for `kith bridge status`
            await self.server.accounts.meta_set(META_BOT_DID, did)
        return did

    async def _repos(self) -> list[dict[str, Any]]:
        try:
            return await self.reader.repos()
        except ReadError as exc:
            raise BridgeError(
                f"the PDS's accounts cannot be listed ({exc}); check bridge.bluesky.pds_url and that the PDS "
                "is up. Nothing was changed; the next sync tries again"
            ) from None

    async def run_once(self) -> SyncReport:
        """One pass over the PDS: every account that follows the bot, and every account bridged so far, is
        read afresh and bridged, updated or removed as its consent says."""
        async with self._lock, guarded_fetch(self.server, self.client) as fetch:
            self.reader.new_pass(
                fetch
            )  # DID documents resolved afresh; what they name read through the guard
            return await self._run_once()

    async def _run_once(self) -> SyncReport:
        report = SyncReport()
        bot = await self.bot_did()
        known = {a.did: a for a in await self.store.actors()}
        blocked = set(await self.store.blocked())
        if self.settings.appview_url:
            await self._run_from_appview(known, blocked, bot, report)
            report.posted = [a.did for a in await self.store.actors() if a.state in _ASKING]
            await self.store.mark_synced(STREAM, now=self.server.clock())
            return report
        repos = await self._repos()
        for repo in repos:
            did = repo["did"]
            if did == bot:
                continue
            report.seen += 1
            try:
                # an account of this DID that the state lost still goes through the consent rules
                if did not in known and not await self._live(did):
                    if repo.get("active", True) is False:
                        continue
                    # the cheap look first: most accounts of a PDS never asked to be bridged
                    if bot not in await self.reader.subjects(did, _FOLLOW):
                        continue
                account = await self.reader.account(did, bot_did=bot, blocked_by_operator=did in blocked)
                await self._apply(account, report)
            except ReadError as exc:  # one unreadable repository does not stop the others
                _log.warning("reading %s failed: %s; tried again at the next sync", did, exc)
            except BadInput as exc:
                _log.warning("%s cannot be bridged: %s", did, exc)
        # an account the PDS no longer lists (deleted, moved away) is no longer bridged
        listed = {r["did"] for r in repos}
        for did, entry in known.items():
            if did not in listed and entry.state == "bridged":
                await self._remove(did, "deleted")
                report.removed += 1
        report.posted = [a.did for a in await self.store.actors() if a.state in _ASKING]
        await self.store.mark_synced(STREAM, now=self.server.clock())
        return report

    async def stream_pass(
        self, *, idle: float = 2.0, limit: int = 5000, start: int | None = None
    ) -> SyncReport:
        """Read the repository event stream from the saved cursor until it is quiet for ``idle`` seconds (or
        ``limit`` events were read), then read again every account an event concerned and apply its consent.
        The cursor is saved only after that, once the accounts' states are written: a pass cut short (a crash,
        the network) reads the same events again next time, and applying them twice changes nothing.
        Without a saved cursor the stream starts at ``start`` (a ``seq``; 0: as far back as the stream keeps),
        or else live, and the full sync (``run_once``) covers what came before."""
        async with self._lock, guarded_fetch(self.server, self.client) as fetch:
            self.reader.new_pass(fetch)
            bot = await self.bot_did()
            saved = (await self.store.stream(STREAM)).cursor
            cursor = start if saved is None else saved
            known = {a.did for a in await self.store.actors()}
            dirty: dict[str, None] = {}
            posted: dict[str, None] = {}  # known accounts that posted: an ask of a follow may be among them
            last = cursor
            caught_up = False
            url = stream_url(self.settings.relay_url, self.settings.pds_url)
            params = {"cursor": str(cursor)} if isinstance(cursor, int) else {}
            try:
                async with self.reader.session.ws_connect(
                    url, params=params, max_msg_size=8 << 20, heartbeat=30.0
                ) as ws:
                    for _ in range(limit):
                        try:
                            msg = await asyncio.wait_for(ws.receive(), idle)
                        except TimeoutError:
                            caught_up = True
                            break
                        if msg.type is not aiohttp.WSMsgType.BINARY:
                            break  # closed by the other side: what was read is applied, the rest next time
                        try:
                            event = decode_event(msg.data)
                        except StreamError as exc:
                            if exc.refused:
                                # e.g. a cursor the stream no longer knows
                                await self.store.set_cursor(STREAM, None, now=self.server.clock())
                                raise BridgeError(
                                    f"{url} {exc}; the cursor was dropped and the next full sync starts afresh"
                                ) from None
                            _log.warning("skipped a frame of %s: %s", url, exc)
                            continue
                        if event.seq is not None:
                            last = event.seq
                        if event.did is not None and concerns(event, bot=bot, known=known):
                            dirty[event.did] = None
                        if event.did in known and any(p.startswith(_POST) for _, p in event.ops):
                            posted[str(event.did)] = None
            except aiohttp.ClientError as exc:
                raise BridgeError(
                    f"the event stream {url} cannot be read ({exc}); check bridge.bluesky.relay_url (or pds_url)"
                ) from None
            report = SyncReport(seen=len(dirty))
            blocked = set(await self.store.blocked())
            for did in dirty:
                try:
                    account = await self.reader.account(did, bot_did=bot, blocked_by_operator=did in blocked)
                    await self._apply(account, report)
                except ReadError as exc:
                    _log.warning("reading %s failed: %s; tried again at the next full sync", did, exc)
                except BadInput as exc:
                    _log.warning("%s cannot be bridged: %s", did, exc)
            if last is not None:
                await self.store.set_cursor(STREAM, last, now=self.server.clock(), synced=caught_up)
            elif caught_up:
                await self.store.mark_synced(STREAM, now=self.server.clock())
            report.posted = list(posted)
            return report

    async def _run_from_appview(
        self, known: dict[str, BridgedActor], blocked: set[str], bot: str, report: SyncReport
    ) -> None:
        """With an App View: the bot's followers are asked of it, rather than every repository of the PDS
        read; each of them, every account known, and every live bridged account is read afresh."""
        try:
            followers = await self.reader.followers(self.settings.appview_url, bot)
        except ReadError as exc:
            raise BridgeError(
                f"the bot's followers cannot be read from the App View ({exc}); check bridge.bluesky.appview_url. "
                "Nothing was changed; the next sync tries again"
            ) from None
        live = [
            _did_of(row.name)
            for row in await self.server.accounts.list(states=("active", "suspended"))
            if row.name.startswith(("did.plc.", "did.web."))
        ]
        for did in dict.fromkeys([*followers, *known, *live]):
            if did == bot:
                continue
            report.seen += 1
            try:
                account = await self.reader.account(did, bot_did=bot, blocked_by_operator=did in blocked)
                await self._apply(account, report)
            except ReadError as exc:
                _log.warning("reading %s failed: %s; tried again at the next sync", did, exc)
            except BadInput as exc:
                _log.warning("%s cannot be bridged: %s", did, exc)

    async def _apply(self, account: Account, report: SyncReport) -> None:
        name = account_name(account.did)
        decision = decide(account, self._gates(), now=self.server.clock())
        if decision.bridged and await self.store.is_blocked(account.did):
            # the operator blocked it (in another process) while the pass read the account
            decision = decide(
                dataclasses.replace(account, blocked_by_operator=True), self._gates(), now=self.server.clock()
            )
        # read afresh, not from the pass's start: another process may have written this actor since
        entry = await self.store.actor(account.did)
        if not decision.bridged:
            # a live account of this DID that the state does not name as bridged (a crash between making it and
            # saving the state, a lost state) goes like any opted-out one
            if (entry is not None and entry.state == "bridged") or await self._live(account.did):
                await self._remove(account.did, decision.reason, handle=account.handle)
                report.removed += 1
            elif entry is None or entry.state != "opted-out":
                # seen following the bot but held back (a gate, #nobridge): the operator sees why; nothing
                # of the account is kept beyond its DID, handle and the reason
                await self.store.put_actor(
                    account.did,
                    account=name,
                    state="blocked" if decision.reason == "blocked" else "waiting",
                    reason=decision.reason,
                    handle=account.handle,
                    now=self.server.clock(),
                )
            return
        if entry is not None and entry.state == "opted-out":
            return  # names are never reused (docs/ARCHITECTURE.md §8): a removed actor stays a tombstone
        profile = await self.reader.profile(account.did)
        card = card_fields(  # the avatar is its own PDS's blob
            did=account.did,
            handle=account.handle,
            profile=profile,
            pds_url=await self.reader.pds_of(account.did),
        )
        row = await self.server.account_by_name(name)
        created = row is None
        if row is None:
            row, _token = await self.server.add_account(name, display_name=card["name"])
            report.bridged += 1
            _log.info("bridged %s (%s) as %s", account.did, account.handle, name)
            # named in the state at once, so that whatever fails below, an opt-out still finds it
            entry = await self.store.put_actor(
                account.did,
                account=name,
                state="bridged",
                reason=decision.reason,
                handle=account.handle,
                now=self.server.clock(),
            )
        elif row.state != "active":
            await self.store.put_actor(
                account.did,
                account=name,
                state="opted-out",
                reason=f"account {row.state}",
                handle=account.handle,
                now=self.server.clock(),
            )
            return
        changed = False
        # the actor's alsoKnownAs names the Bluesky account it bridges, by DID and by handle (issue #18); a
        # follower's node records them verified "bridged", the actor its provenance (node/federation_port.py)
        aka = [f"at://{account.did}"] + ([f"at://{account.handle}"] if account.handle else [])
        if await self.server.federation.setting(name, "also_known_as", []) != aka:
            await self.server.federation.set_setting(name, "also_known_as", aka)
            changed = True
        async with self.server.borrow(row, keep_open=False) as ctx:
            if await get_card(ctx.store) != card:
                await set_card(ctx.store, card, now=self.server.clock())
                await set_disclosure(ctx.store, {field: [PUBLIC] for field in card}, now=self.server.clock())
                changed = True
        if changed and not created and entry is not None and entry.state == "bridged":
            report.updated += 1
        await self.store.put_actor(
            account.did,
            account=name,
            state="bridged",
            reason=decision.reason,
            handle=account.handle,
            now=self.server.clock(),
        )
        if changed and self.on_change is not None:
            self.on_change(name)

    async def _live(self, did: str) -> bool:
        """An account bridging ``did`` exists and is not removed."""
        try:
            name = account_name(did)
        except BadInput:
            return False  # no account could ever have been made for it
        row = await self.server.account_by_name(name)
        return row is not None and row.state in ("active", "suspended")

    async def _remove(self, did: str, reason: str, *, handle: str | None = None) -> None:
        """Opting out: the account is removed at once (410, and its Delete to its followers)."""
        name = account_name(did)
        row = await self.server.account_by_name(name)
        if row is not None and row.state in ("active", "suspended"):
            if self.on_remove is not None:  # its follows end (Undo) while its actor can still send
                await self.on_remove(name)
            await self.server.transition(name, "remove")
            _log.info("%s is no longer bridged (%s): %s removed", did, reason, name)
            if self.on_change is not None:
                self.on_change(name)
        await self.store.put_actor(
            did, account=name, state="opted-out", reason=reason, handle=handle, now=self.server.clock()
        )


async def follow_network(bridge: BlueskyBridge, *, every: float, idle: float = 2.0) -> None:
    """Follow the network for good: the event stream, pass after pass, and a full sync every ``every`` seconds
    (which also catches what a stream without a cursor could not replay). The first pass reads the stream, so
    that its cursor is saved before the first full sync and nothing written during that sync is missed."""
    loop = asyncio.get_running_loop()
    next_full = loop.time() + min(every, 5.0)
    while True:
        try:
            if loop.time() >= next_full:
                next_full = loop.time() + every
                report = await bridge.run_once()
            else:
                report = await bridge.stream_pass(idle=idle)
            if bridge.asks is not None and report.posted:
                await bridge.asks(report.posted)
            if report.bridged or report.updated or report.removed:
                _log.info(
                    "bridge: %d bridged, %d updated, %d removed",
                    report.bridged,
                    report.updated,
                    report.removed,
                )
        except BadInput as exc:  # the PDS is down or a setting is wrong: said once a pass, tried again
            _log.warning("the Bluesky bridge could not sync: %s", exc.message)
            await asyncio.sleep(min(every, 30.0))
        except Exception:
            _log.exception("the Bluesky bridge's sync failed; will try again")
            await asyncio.sleep(min(every, 30.0))


def setup_bridge(app: web.Application, server: Server) -> None:
    """With bridge.bluesky.enabled, ``kith serve`` runs the bridge beside its other workers: a pass over the
    PDS every bridge.bluesky.sync_seconds, each change told to the running federation at once."""
    settings = server.config.bridge_bluesky
    if not settings.enabled:
        return

    async def run(app: web.Application) -> AsyncIterator[None]:
        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        fed = app.get(FEDERATION)
        try:
            bridge = BlueskyBridge(
                server,
                http,
                on_change=fed.card_changed if fed is not None else None,
                client=fed.client if fed is not None else None,
            )
        except BaseException:
            await http.close()
            raise
        from node.bridge_follows import BridgeFollows  # it builds on this module

        follows = BridgeFollows.for_bridge(bridge, fed) if fed is not None else None
        if follows is not None:
            follows.attach()
        task = asyncio.get_running_loop().create_task(
            follow_network(bridge, every=max(1.0, float(settings.sync_seconds))), name="kith-bluesky-bridge"
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if follows is not None:
                await follows.close()
            await http.close()

    app.cleanup_ctx.append(run)
