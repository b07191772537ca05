"""Follows from Bluesky towards the fediverse through the bridge (issue #18 "Follows in the other direction").

A bridged Bluesky account asks by a public post that mentions the bot (bridges/bluesky_bridge/asks.py):
``follow @bob@kith.example`` makes its bridged actor send ``Follow`` to that actor, ``unfollow`` sends
``Undo`` of it. The actor is found by WebFinger through the server's guarded federation client, so the SSRF
guards apply as to any account's follow (docs/ARCHITECTURE.md §5 "Fetching"), and Accept or Reject is recorded
on the bridged account as for any follow (federation/process.py). When the account stops being bridged,
:meth:`BridgeFollows.end_all` sends ``Undo`` of each of its follows before its actor is removed.

The bot answers each ask with a reply post in its own repository (bridges/bluesky_bridge/bot.py), which needs
``bridge.bluesky.bot_password``; without it the asks are still acted on, unanswered.

What is kept of an ask is only its id (the post's at:// URI), when it was acted on and what came of it, in a
JSON document per account in the server's meta table (``bridge.bluesky.asks:DID``), so that a post read twice
(by the event stream and by a full pass) is acted on once; entries are dropped after :data:`KEEP`, and posts
older than :data:`FRESH` are not read as asks, so a dropped entry is never acted on again. Only accounts the
bridge knows are looked at: an account that never followed the bot gets nothing, not even an answer. Asks are
read in the background, several accounts at once (:meth:`BridgeFollows.submit`): no pass of the bridge, and no
other account, waits on a peer that is slow to answer. At most :data:`ASKS_PER_HOUR` asks of one account are
acted on in an hour; the rest are recorded and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bridges.bluesky_bridge.asks import POST, Ask, Unclear, parse_ask, reply_record
from bridges.bluesky_bridge.bot import BlueskyBot, BotError
from bridges.bluesky_bridge.reader import ReadError
from federation import AccountFederation, Federation, owner
from federation import activities as act
from federation.errors import Gone, NotFound
from node.bridge_bluesky import META_BOT_DID, BlueskyBridge, account_name
from node.errors import NodeError
from node.federation_wiring import federation_context
from node.keys import KeyError_
from node.store.bridge import BridgedActor
from protocol.errors import KithError
from protocol.records import Follow

__all__ = [
    "ASKS_PER_HOUR",
    "FRESH",
    "KEEP",
    "META_ASKS",
    "AskReport",
    "BridgeFollows",
    "queued_follows",
    "with_follows",
]

_log = logging.getLogger("kith.bridge.bluesky.follows")

META_ASKS = "bridge.bluesky.asks"
#: Asks of one account acted on per hour; more are recorded as "limited" and left unanswered (an answer to
#: each would let one account make the bot post without end).
ASKS_PER_HOUR = 10
#: Posts older than this (by their createdAt) are not read as asks; entries are kept longer (KEEP), so that
#: an ask is never acted on twice.
FRESH = timedelta(days=7)
KEEP = timedelta(days=8)
#: The newest posts of an account read at each look (one listRecords page).
_RECENT = 50
#: Entries kept per account at most (the newest): bounds the document whatever an account posts.
_MAX_ENTRIES = 500
#: Accounts looked at at once.
_CONCURRENT = 8


@dataclass
class AskReport:
    read: int = 0  # posts that were asks (or unclear asks) not seen before
    followed: int = 0
    unfollowed: int = 0
    answered: int = 0  # replies the bot posted
    ignored: list[str] = field(default_factory=list)  # why asks were not acted on ("limited", "not-bridged")


def _created(record: dict[str, Any]) -> datetime | None:
    raw = record.get("createdAt")
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else None


class BridgeFollows:
    """The asks of one bridge's accounts. ``federation`` is the server's running federation (its guarded
    client resolves addresses; what is sent goes through its outbox); ``bot``, when the bot's password is
    set, answers."""

    def __init__(self, bridge: BlueskyBridge, federation: Federation, bot: BlueskyBot | None = None) -> None:
        self.bridge = bridge
        self.federation = federation
        self.bot = bot
        self._locks: dict[str, asyncio.Lock] = {}  # one look at a time per account
        self._looks = asyncio.Semaphore(_CONCURRENT)
        self._pending: dict[str, None] = {}  # accounts submitted and not looked at yet
        self._worker: asyncio.Task[None] | None = None

    @classmethod
    def for_bridge(cls, bridge: BlueskyBridge, federation: Federation) -> BridgeFollows:
        """With the bot answering when bridge.bluesky.bot_password is set."""
        s = bridge.settings
        bot = None
        if s.bot_password:
            bot = BlueskyBot(bridge.reader.session, s.pds_url, s.bot_handle, s.bot_password)
        return cls(bridge, federation, bot)

    def attach(self) -> None:
        """Wire into the bridge: the accounts each of its passes saw post are submitted, and an account's
        follows end before it is removed."""
        self.bridge.asks = self.submit
        self.bridge.on_remove = self.end_all

    async def submit(self, dids: Iterable[str]) -> None:
        """Look at ``dids`` in the background: a pass of the bridge never waits on a peer that is slow to
        answer a WebFinger (an opt-out must not wait behind someone's ask)."""
        self._pending.update(dict.fromkeys(dids))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="kith-bluesky-asks")

    async def _work(self) -> None:
        while self._pending:
            dids = list(self._pending)
            self._pending.clear()
            try:
                await self.look(dids)
            except Exception:  # the next pass submits them again
                _log.exception("the asks of %d accounts could not be read", len(dids))

    @property
    def busy(self) -> bool:
        """Submitted accounts are being looked at now."""
        return self._worker is not None and not self._worker.done()

    async def idle(self) -> None:
        """Wait until everything submitted has been looked at."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    # -- state: one document per account -----------------------------------------------------------------------
    async def _load(self, did: str) -> dict[str, dict[str, str]]:
        raw = await self.bridge.server.accounts.meta_get(f"{META_ASKS}:{did}")
        doc = json.loads(raw) if raw else {}
        return doc if isinstance(doc, dict) else {}

    async def _save(self, did: str, entries: dict[str, dict[str, str]]) -> None:
        """Write ``entries`` less those older than KEEP, and at most _MAX_ENTRIES (the newest)."""
        now = self.bridge.server.clock()
        kept = [(uri, e) for uri, e in entries.items() if now - datetime.fromisoformat(e["at"]) < KEEP]
        out = dict(sorted(kept, key=lambda kv: kv[1]["at"])[-_MAX_ENTRIES:])
        await self.bridge.server.accounts.meta_set(f"{META_ASKS}:{did}", json.dumps(out, sort_keys=True))

    async def seen(self, uri: str) -> dict[str, str] | None:
        """What came of the ask ``uri`` (None: not seen)."""
        did = uri.removeprefix("at://").split("/", 1)[0]
        return (await self._load(did)).get(uri)

    # -- looking ----------------------------------------------------------------------------------------------
    async def look(self, dids: Iterable[str]) -> AskReport:
        """Read the newest posts of each account in ``dids`` and act on the asks among them not seen before,
        several accounts at once: one account's failure or slow peer (its PDS, a WebFinger that does not
        answer) is logged and holds up no other account."""
        report = AskReport()
        bot = await self.bridge.server.accounts.meta_get(META_BOT_DID) or await self.bridge.bot_did()
        wanted = [(did, await self.bridge.store.actor(did)) for did in dict.fromkeys(dids)]
        # an account that never opted in: nothing of it is read, nothing answered
        await asyncio.gather(
            *(self._look_one(did, entry, bot, report) for did, entry in wanted if entry and did != bot)
        )
        return report

    async def _look_one(self, did: str, entry: BridgedActor, bot: str, report: AskReport) -> None:
        try:
            async with self._locks.setdefault(did, asyncio.Lock()), self._looks:
                await self._look_at(did, entry, bot, report)
        except ReadError as exc:
            _log.warning("the posts of %s cannot be read: %s; read again at the next pass", did, exc)
        except Exception:
            _log.exception("the asks of %s failed; read again at the next pass", did)

    async def _posts(self, did: str) -> list[dict[str, Any]]:
        page = await self.bridge.reader.xrpc(
            "com.atproto.repo.listRecords", repo=did, collection=POST, limit=str(_RECENT)
        )
        records = page.get("records")
        if not isinstance(records, list):
            raise ReadError("com.atproto.repo.listRecords: no records list")
        return [r for r in records[:_RECENT] if isinstance(r, dict)]

    async def _look_at(self, did: str, entry: BridgedActor, bot: str, report: AskReport) -> None:
        now = self.bridge.server.clock().astimezone(UTC)
        asks: list[tuple[datetime, Ask | Unclear]] = []
        for rec in await self._posts(did):
            uri, cid, value = rec.get("uri"), rec.get("cid"), rec.get("value")
            if not isinstance(uri, str) or not isinstance(cid, str) or not isinstance(value, dict):
                continue
            if not uri.startswith(f"at://{did}/{POST}/") or len(uri) > 300 or len(cid) > 200:
                continue  # a record that is not this account's post
            ask = parse_ask(uri=uri, cid=cid, author=did, record=value, bot_did=bot)
            created = _created(value)
            if ask is None or created is None or not now - FRESH < created < now + timedelta(minutes=10):
                continue
            asks.append((created, ask))
        if not asks:
            return
        mine = await self._load(did)
        for _, ask in sorted(asks, key=lambda pair: pair[0]):  # in the order they were asked
            if ask.uri in mine:
                continue
            report.read += 1
            recent = sum(
                1
                for e in mine.values()
                if e["result"] != "limited" and now - datetime.fromisoformat(e["at"]) < timedelta(hours=1)
            )
            if recent >= ASKS_PER_HOUR:
                mine[ask.uri] = {"at": now.isoformat(), "result": "limited"}
                report.ignored.append("limited")
                await self._save(did, mine)
                continue
            # recorded before it is acted on: a crash in between loses this ask rather than repeating it
            mine[ask.uri] = {"at": now.isoformat(), "result": "taken"}
            await self._save(did, mine)
            result, text = await self._act(did, entry, ask, report)
            mine[ask.uri] = {"at": now.isoformat(), "result": result}
            if text is not None and await self._answer(ask, text, entry):
                report.answered += 1
            await self._save(did, mine)

    async def _act(
        self, did: str, entry: BridgedActor, ask: Ask | Unclear, report: AskReport
    ) -> tuple[str, str | None]:
        """What came of ``ask`` (a word kept with it) and the bot's answer (None: no answer)."""
        if entry.state != "bridged":
            report.ignored.append("not-bridged")
            if entry.state == "waiting":
                why = "follow me first" if entry.reason == "not-following" else entry.reason
                return "not-bridged", f"you are not bridged: {why}"
            return "not-bridged", None  # blocked by the operator or opted out: no answer
        if isinstance(ask, Unclear):
            return "unclear", f"I did not understand: {ask.reason}"
        name = account_name(did)
        try:
            async with self.federation.acting(name) as me:
                if ask.verb == "follow":
                    await owner.follow(me, ask.address)
                    report.followed += 1
                    return "followed", f"following {ask.display}"
                await owner.unfollow(me, ask.address)
                report.unfollowed += 1
                return "unfollowed", f"no longer following {ask.display}"
        except Gone:
            return "not-bridged", None
        except NotFound as exc:
            if ask.verb == "unfollow" and "do not follow" in exc.message:
                return "not-following", f"you were not following {ask.display}"
            return "not-found", f"could not find {ask.display}"
        except KithError as exc:  # the address cannot be fetched: private, refused, timed out, not an actor
            _log.info("%s asked to %s %s: %s", did, ask.verb, ask.address, exc)
            return "not-found", f"could not find {ask.display}"

    async def _answer(self, ask: Ask | Unclear, text: str, entry: BridgedActor) -> bool:
        if self.bot is None:
            return False
        record = reply_record(
            ask,
            text=text,
            handle=entry.handle,
            created_at=self.bridge.server.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
        )
        try:
            await self.bot.post(record)
        except BotError as exc:  # the ask stands; only its answer is lost
            _log.warning("the bot could not answer %s: %s", ask.uri, exc)
            return False
        return True

    # -- opting out -------------------------------------------------------------------------------------------
    async def end_all(self, name: str) -> int:
        """Undo every follow of the bridged account ``name`` (it stops being bridged): from the actors already
        known, so that no fetch holds up the opt-out. What was kept of its asks goes too (opting out purges).
        The number of Undo sent."""
        sent = 0
        # the DID the name bridges (node/bridge_bluesky.py's account_name undone: did:web hosts keep their dots)
        method, _, rest = name.removeprefix("did.").partition(".")
        await self.bridge.server.accounts.meta_set(f"{META_ASKS}:did:{method}:{rest}", "{}")
        try:
            async with self.federation.acting(name, graph=False) as me:
                for row in await me.store.follows("out", ("pending", "accepted")):
                    sent += await _undo(me, row.follow_id, row.actor_id, row.end_state)
        except (NotFound, Gone):
            return sent
        except Exception:  # the opt-out itself must go ahead whatever this meets
            _log.exception("the follows of %s could not all be undone before it was removed", name)
        return sent


async def _undo(me: AccountFederation, follow_id: str, actor_id: str, end_state: str) -> int:
    cached = await me.store.actor(actor_id)
    if cached is None:
        return 0
    actor = cached.actor
    await me.store.set_follow_state(follow_id, end_state, me.clock())
    undone = Follow(id=follow_id, actor=me.urls.owner, object=actor.id)
    await me.send(
        act.undo(me.new_id(), me.urls.owner, undone, to=actor.id), [actor.inbox], recipient=actor.id
    )
    return 1


@contextlib.asynccontextmanager
async def queued_follows(bridge: BlueskyBridge) -> AsyncIterator[BridgeFollows | None]:
    """The asks of ``bridge`` acted on in a process that is not ``kith serve`` (``kith bridge run`` beside it):
    with a federation of its own that only queues what it sends (as ``kith serve --no-workers`` does), so that
    the serving process's workers deliver it and take the answers. None, and the bridge runs without asks,
    when the server has no federation key yet."""
    try:
        bridge.server.node_key  # noqa: B018  (the server's key signs every fetch: without it, no federation)
    except (KeyError_, NodeError) as exc:
        _log.warning("follows asked from Bluesky are off: %s", exc)
        yield None
        return
    fed = Federation(federation_context(bridge.server, run_workers=False, intake_only=True))
    follows = BridgeFollows.for_bridge(bridge, fed)
    try:
        await fed.start()
        follows.attach()
        yield follows
    finally:
        bridge.asks = bridge.on_remove = None
        await follows.close()
        await fed.close()


def with_follows(fn: Callable[[BlueskyBridge], Awaitable[int]]) -> Callable[[BlueskyBridge], Awaitable[int]]:
    """``fn`` run with the bridge's asks acted on (:func:`queued_follows`): for ``kith bridge run``."""

    async def run(bridge: BlueskyBridge) -> int:
        async with queued_follows(bridge):
            return await fn(bridge)

    return run
