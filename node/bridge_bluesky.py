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
stream's cursor, when it last caught up) is one JSON document in the server's meta table (one writer: the
bridge's lock); the accounts themselves hold everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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

__all__ = [
    "META_BLOCKED",
    "META_KEY",
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

#: server_meta: the bridge's state document, and the operator's blocks (a list of DIDs).
META_KEY = "bridge.bluesky"
META_BLOCKED = "bridge.bluesky.blocked"
_FOLLOW = "app.bsky.graph.follow"


async def bridged_name(server: Server, handle: str) -> str | None:
    """The account bridging the Bluesky account whose handle is ``handle`` now, if one does."""
    raw = await server.accounts.meta_get(META_KEY)
    if not raw:
        return None
    wanted = handle.lower()
    for did, entry in json.loads(raw).get("actors", {}).items():
        if entry.get("state") == "bridged" and str(entry.get("handle", "")).lower() == wanted:
            return account_name(did)
    return None


async def bridged_alias(server: Server, name: str) -> str | None:
    """``acct:HANDLE@HANDLE_DOMAIN``, the address the bridged account ``name`` goes by (issue #18:
    ``@alice.bsky.social@bsky.BRIDGE-DOMAIN``; bridge.bluesky.handle_domain, else the node's domain), while it
    is bridged and has a handle that makes an address."""
    raw = await server.accounts.meta_get(META_KEY)
    entry = (json.loads(raw).get("actors", {}) if raw else {}).get(_did_of(name))
    if not isinstance(entry, dict) or entry.get("state") != "bridged":
        return None
    handle = str(entry.get("handle") or "").lower()
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
        self._lock = asyncio.Lock()

    # -- state ------------------------------------------------------------------------------------------------
    async def state(self) -> dict[str, Any]:
        raw = await self.server.accounts.meta_get(META_KEY)
        doc: dict[str, Any] = json.loads(raw) if raw else {}
        doc.setdefault("actors", {})
        blocked = await self.server.accounts.meta_get(META_BLOCKED)
        doc["blocked"] = json.loads(blocked) if blocked else []
        return doc

    async def _save(self, doc: dict[str, Any]) -> None:
        # the operator's blocks are kept apart (META_BLOCKED), written only by block and unblock: a pass of
        # `kith serve` that read the state before a `kith bridge block` in another process cannot undo it
        body = {k: v for k, v in doc.items() if k != "blocked"}
        await self.server.accounts.meta_set(META_KEY, json.dumps(body, sort_keys=True))

    async def _save_blocked(self, blocked: list[str]) -> None:
        await self.server.accounts.meta_set(META_BLOCKED, json.dumps(sorted(set(blocked))))

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
        doc = await self.state()
        actors = doc["actors"].values()
        synced = doc.get("synced_at")
        lag = None
        if synced:
            lag = max(0.0, (self.server.clock() - datetime.fromisoformat(synced)).total_seconds())
        return {
            "enabled": self.settings.enabled,
            "pds_url": self.settings.pds_url,
            "bot_handle": self.settings.bot_handle,
            "bot_did": doc.get("bot_did"),
            "actors": sum(1 for a in actors if a["state"] == "bridged"),
            "opted_in": sum(1 for a in actors if a["state"] == "bridged"),
            "waiting": sum(1 for a in actors if a["state"] == "waiting"),
            "opted_out": sum(1 for a in actors if a["state"] == "opted-out"),
            "blocked": len(doc["blocked"]),
            "synced_at": synced,
            "lag_seconds": None if lag is None else round(lag, 3),
        }

    async def actors(self) -> list[dict[str, Any]]:
        doc = await self.state()
        return [
            {
                "did": did,
                "handle": a.get("handle", ""),
                "actor": self.actor_url(did),
                "state": a["state"],
                "reason": a.get("reason", ""),
                "since": a.get("since"),
            }
            for did, a in sorted(doc["actors"].items())
        ]

    async def block(self, did: str) -> dict[str, Any]:
        """The operator's block of one DID: never bridged again until unblocked; if bridged now, removed at
        once (its Delete goes to its followers)."""
        account_name(did)
        async with self._lock:
            doc = await self.state()
            if did not in doc["blocked"]:
                await self._save_blocked([*doc["blocked"], did])
            entry = doc["actors"].get(did)
            if entry is None and await self._live(did):  # an account the state lost: it goes all the same
                entry = doc["actors"][did] = {"state": "bridged"}
            if entry is not None and entry["state"] == "bridged":
                await self._remove(did, entry, "blocked")
            elif entry is not None:
                entry.update(state="blocked", reason="blocked")
            else:
                doc["actors"][did] = {"state": "blocked", "reason": "blocked", "since": self._now()}
            await self._save(doc)
        return {"did": did, "blocked": True}

    async def unblock(self, did: str) -> dict[str, Any]:
        async with self._lock:
            doc = await self.state()
            if did not in doc["blocked"]:
                raise NotFound(f"{did} is not blocked (see `kith bridge actors`)", field="did")
            await self._save_blocked([d for d in doc["blocked"] if d != did])
            entry = doc["actors"].get(did)
            if entry is not None and entry["state"] == "blocked":
                entry.update(state="waiting", reason="unblocked")
            await self._save(doc)
        return {"did": did, "blocked": False}

    # -- syncing ----------------------------------------------------------------------------------------------
    def _now(self) -> str:
        return self.server.clock().astimezone(UTC).isoformat()

    async def bot_did(self) -> str:
        try:
            return await self.reader.resolve_handle(self.settings.bot_handle)
        except ReadError as exc:
            raise BridgeError(
                f"the bot account {self.settings.bot_handle!r} cannot be resolved on {self.settings.pds_url} "
                f"({exc}); check bridge.bluesky.bot_handle and pds_url"
            ) from None

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
        doc = await self.state()
        doc["bot_did"] = bot
        known: dict[str, dict[str, Any]] = doc["actors"]
        if self.settings.appview_url:
            await self._run_from_appview(doc, bot, report)
            doc["synced_at"] = self._now()
            await self._save(doc)
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
                account = await self.reader.account(
                    did, bot_did=bot, blocked_by_operator=did in doc["blocked"]
                )
                await self._apply(doc, account, report)
            except ReadError as exc:  # one unreadable repository does not stop the others
                _log.warning("reading %s failed: %s; tried again at the next sync", did, exc)
            except BadInput as exc:
                _log.warning("%s cannot be bridged: %s", did, exc)
        # an account the PDS no longer lists (deleted, moved away) is no longer bridged
        listed = {r["did"] for r in repos}
        for did, entry in list(known.items()):
            if did not in listed and entry["state"] == "bridged":
                await self._remove(did, entry, "deleted")
                report.removed += 1
        doc["synced_at"] = self._now()
        await self._save(doc)
        return report

    async def stream_pass(
        self, *, idle: float = 2.0, limit: int = 5000, start: int | None = None
    ) -> SyncReport:
        """Read the repository event stream from the saved cursor until it is quiet for ``idle`` seconds (or
        ``limit`` events were read), then read again every account an event concerned and apply its consent.
        The cursor is saved only after that, in the same write as the accounts' states: a pass cut short (a
        crash, the network) reads the same events again next time, and applying them twice changes nothing.
        Without a saved cursor the stream starts at ``start`` (a ``seq``; 0: as far back as the stream keeps),
        or else live, and the full sync (``run_once``) covers what came before."""
        async with self._lock, guarded_fetch(self.server, self.client) as fetch:
            self.reader.new_pass(fetch)
            bot = await self.bot_did()
            doc = await self.state()
            doc["bot_did"] = bot
            cursor = doc.get("cursor", start)
            known = set(doc["actors"])
            dirty: dict[str, None] = {}
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
                                doc.pop("cursor", None)  # e.g. a cursor the stream no longer knows
                                await self._save(doc)
                                raise BridgeError(
                                    f"{url} {exc}; the cursor was dropped and the next full sync starts afresh"
                                ) from None
                            _log.warning("skipped a frame of %s: %s", url, exc)
                            continue
                        if event.seq is not None:
                            last = event.seq
                        if event.did is not None and concerns(event, bot=bot, known=known):
                            dirty[event.did] = None
            except aiohttp.ClientError as exc:
                raise BridgeError(
                    f"the event stream {url} cannot be read ({exc}); check bridge.bluesky.relay_url (or pds_url)"
                ) from None
            report = SyncReport(seen=len(dirty))
            for did in dirty:
                try:
                    account = await self.reader.account(
                        did, bot_did=bot, blocked_by_operator=did in doc["blocked"]
                    )
                    await self._apply(doc, account, report)
                except ReadError as exc:
                    _log.warning("reading %s failed: %s; tried again at the next full sync", did, exc)
                except BadInput as exc:
                    _log.warning("%s cannot be bridged: %s", did, exc)
            if last is not None:
                doc["cursor"] = last
            if caught_up:
                doc["synced_at"] = self._now()
            await self._save(doc)
            return report

    async def _run_from_appview(self, doc: dict[str, Any], bot: str, report: SyncReport) -> None:
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
        for did in dict.fromkeys([*followers, *doc["actors"], *live]):
            if did == bot:
                continue
            report.seen += 1
            try:
                account = await self.reader.account(
                    did, bot_did=bot, blocked_by_operator=did in doc["blocked"]
                )
                await self._apply(doc, account, report)
            except ReadError as exc:
                _log.warning("reading %s failed: %s; tried again at the next sync", did, exc)
            except BadInput as exc:
                _log.warning("%s cannot be bridged: %s", did, exc)

    async def _apply(self, doc: dict[str, Any], account: Account, report: SyncReport) -> None:
        decision = decide(account, self._gates(), now=self.server.clock())
        known: dict[str, dict[str, Any]] = doc["actors"]
        entry = known.get(account.did)
        if not decision.bridged:
            if entry is None and await self._live(account.did):
                # an account of this DID that the state does not name (a crash between making it and saving the
                # state): it goes like any opted-out one
                entry = known[account.did] = {"state": "bridged", "handle": account.handle}
            if entry is None:
                # seen following the bot but held back (a gate, #nobridge): the operator sees why; nothing
                # of the account is kept beyond its DID, handle and the reason
                known[account.did] = {
                    "state": "blocked" if decision.reason == "blocked" else "waiting",
                    "reason": decision.reason,
                    "handle": account.handle,
                    "since": self._now(),
                }
            elif entry["state"] == "bridged":
                await self._remove(account.did, entry, decision.reason)
                report.removed += 1
            elif entry["state"] != "opted-out":
                entry.update(
                    state="blocked" if decision.reason == "blocked" else "waiting", reason=decision.reason
                )
            return
        if entry is not None and entry["state"] == "opted-out":
            return  # names are never reused (docs/ARCHITECTURE.md §8): a removed actor stays a tombstone
        name = account_name(account.did)
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
            entry = known[account.did] = {
                "state": "bridged",
                "reason": decision.reason,
                "handle": account.handle,
                "since": self._now(),
            }
            await self._save(doc)
        elif row.state != "active":
            known[account.did] = (entry or {}) | {"state": "opted-out", "reason": f"account {row.state}"}
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
        if changed and not created and entry is not None and entry.get("state") == "bridged":
            report.updated += 1
        known[account.did] = {
            "state": "bridged",
            "reason": decision.reason,
            "handle": account.handle,
            "since": (entry or {}).get("since") if (entry or {}).get("state") == "bridged" else self._now(),
        }
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

    async def _remove(self, did: str, entry: dict[str, Any], reason: str) -> None:
        """Opting out: the account is removed at once (410, and its Delete to its followers)."""
        name = account_name(did)
        row = await self.server.account_by_name(name)
        if row is not None and row.state in ("active", "suspended"):
            await self.server.transition(name, "remove")
            _log.info("%s is no longer bridged (%s): %s removed", did, reason, name)
            if self.on_change is not None:
                self.on_change(name)
        entry.update(state="opted-out", reason=reason, since=self._now())


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
        task = asyncio.get_running_loop().create_task(
            follow_network(bridge, every=max(1.0, float(settings.sync_seconds))), name="kith-bluesky-bridge"
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await http.close()

    app.cleanup_ctx.append(run)
