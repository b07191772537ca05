"""What members share with their organisation, on the wire (specs/ORGANISATIONS.md §Sharing).

A member's side, the outbox of changes: ``reconcile`` compares what the graph and the member's consent say
should be shared now (the node decides: node/org_sharing.py) with what was last queued for each person, signs
a record for each person whose share changed (a new version) and a withdrawal for each person no longer
shared, and queues them to the organisation's personal inbox by the normal delivery path (``Add`` and
``Remove``, batched). What was queued is recorded after it is queued: a crash between sends it again, which
changes nothing there (versions), and nothing is ever lost. It runs after each change of consent, when the
organisation's info changes, at start and in the inbox loop's quiet moments when the graph changed (a
fingerprint of it, node/store/sqlite/org_member.py). At send time a share to an organisation the member no
longer belongs to is withdrawn.

The organisation's side: records are taken only from an active member, each signed by that member
(eddsa-jcs-2022, by a key their actor lists), about that member's own ids, addressed to this organisation, at
a level its cap allows. A record older than the one held (``version``), or than its withdrawal, is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from federation import org_wire as wire
from federation.delivery import Withdrawn
from federation.fetch import FetchBudget
from federation.kith import now_of, owner_keys, sign_as_owner
from federation.org import is_org, memberships, port
from federation.org_ports import SentShare
from federation.store import DeliveryRow, Outgoing
from protocol import proofs
from protocol.errors import MalformedInput, OriginMismatch, TooLarge
from protocol.org_records import SharedContact, SharedContactRemoval
from protocol.org_serialize import org_from_jsonld, org_to_jsonld
from protocol.vocab import level_rank

if TYPE_CHECKING:
    from federation.service import AccountFederation, Federation

__all__ = [
    "ADD_BATCH",
    "CHECK_EVERY",
    "FULL_EVERY",
    "KIND",
    "MAX_BATCH",
    "REMOVE_BATCH",
    "Timers",
    "add_received",
    "catch_up",
    "quiet",
    "reconcile",
    "remove_received",
    "share_delivery",
]

_log = logging.getLogger("kith.federation.org")

KIND = "org-share"  # fed_outbox.kind of a share: checked again when sent
ADD_BATCH = 100  # records per Add: well inside the inbox's 1 MiB and 20,000 JSON values
REMOVE_BATCH = 500  # withdrawals per Remove
MAX_BATCH = 500  # what an organisation takes in one activity
CHECK_EVERY = 30.0  # seconds between two looks at whether the graph changed, in quiet moments
FULL_EVERY = 600.0  # seconds between two full passes, whatever the fingerprint says
_BYTES = 900_000


# ---- a member's side -------------------------------------------------------------------------------------


async def reconcile(fed: AccountFederation, org: str) -> dict[str, int]:
    """Bring what ``org`` holds of ours in line with what should be shared now; what was queued, by kind."""
    lock = fed.org_share_locks.setdefault(org, asyncio.Lock())
    async with lock:  # one reconcile per organisation at a time: versions and the record of what was sent
        return await _reconcile(fed, org)


async def _reconcile(fed: AccountFederation, org: str) -> dict[str, int]:
    the_port = port(fed)
    if not any(r.actor_id == org for r in await memberships(fed, states=("accepted",))):
        return {"shared": 0, "withdrawn": 0}
    cached = await fed.store.actor(org)
    if cached is None or cached.gone:
        return {"shared": 0, "withdrawn": 0}
    fingerprint = await the_port.fingerprint(org)
    desired = await the_port.desired_shares(org, await the_port.info(org))
    sent = await the_port.sent_shares(org)
    changed = [d for pid, d in desired.items() if pid not in sent or sent[pid].digest != d.digest]
    gone = [s for pid, s in sent.items() if pid not in desired]
    if not changed and not gone:
        await the_port.mark_sent(org, upserts=[], removed=[], fingerprint=fingerprint)
        return {"shared": 0, "withdrawn": 0}
    first = await the_port.take_versions(org, len(changed) + len(gone))
    now = now_of(fed)
    owner = fed.urls.owner
    inbox = [cached.actor.inbox]
    upserts: list[SentShare] = []
    version = first
    for start in range(0, len(changed), ADD_BATCH):
        part = changed[start : start + ADD_BATCH]
        records = [
            SharedContact(
                id=d.record_id, member=owner, organization=org, version=version + i, updated=now, **d.fields
            )
            for i, d in enumerate(part)
        ]
        version += len(part)
        # signing is CPU work: a thread, so that the event loop keeps answering meanwhile
        signed = await asyncio.to_thread(_sign_all, fed, records)
        # each batch is queued as soon as it is signed, so that the organisation takes in the first while the
        # next are signed; what was queued is recorded at the end (a crash between: all sent again, versions)
        await fed.send_all(
            [
                _outgoing(wire.add_shared(fed.new_id(), owner, batch, org), inbox, org)
                for batch in _by_size(signed)
            ]
        )
        upserts += [
            SentShare(
                person_id=d.person_id, record_id=r.id, digest=d.digest, version=r.version, level=r.level
            )
            for d, r in zip(part, records, strict=True)
        ]
    items: list[Outgoing] = []
    tombstones = []
    for s in gone:
        tombstones.append(org_to_jsonld(SharedContactRemoval(id=s.record_id, version=version, deleted=now)))
        version += 1
    for start in range(0, len(tombstones), REMOVE_BATCH):
        batch = tombstones[start : start + REMOVE_BATCH]
        items.append(_outgoing(wire.remove_shared(fed.new_id(), owner, batch, org), inbox, org))
    if items:
        await fed.send_all(items)
    await the_port.mark_sent(
        org, upserts=upserts, removed=[s.person_id for s in gone], fingerprint=fingerprint
    )
    return {"shared": len(changed), "withdrawn": len(gone)}


def _sign_all(fed: AccountFederation, records: list[SharedContact]) -> list[dict[str, Any]]:
    return [sign_as_owner(fed, org_to_jsonld(r)) for r in records]


def _by_size(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Records grouped so that no activity nears the inbox's 1 MiB limit (notes can make records large)."""
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for record in records:
        length = len(json.dumps(record))
        if batches[-1] and size + length > _BYTES:
            batches.append([])
            size = 0
        batches[-1].append(record)
        size += length
    return batches


def _outgoing(activity: dict[str, Any], inboxes: list[str], org: str) -> Outgoing:
    return Outgoing(
        activity_id=activity["id"],
        type=activity["type"],
        body=json.dumps(activity),
        inboxes=inboxes,
        recipient=org,
        kind=KIND,
    )


async def share_delivery(fed: AccountFederation, row: DeliveryRow) -> str:
    """At send time (federation/service.py): a share goes only to an organisation we still belong to."""
    if row.actor_id is None or not any(
        r.actor_id == row.actor_id for r in await memberships(fed, states=("accepted",))
    ):
        raise Withdrawn("the membership ended: nothing more is shared with that organisation")
    return row.body


async def _sync_all(fed: AccountFederation, *, full: bool = False) -> None:
    """Reconcile every organisation whose fingerprint changed (``full``: every one: the digests decide)."""
    if fed.org is None or is_org(fed):
        return
    the_port = port(fed)
    for row in await memberships(fed, states=("accepted",)):
        if full or await the_port.fingerprint(row.actor_id) != await the_port.reconciled(row.actor_id):
            await reconcile(fed, row.actor_id)


@dataclass
class Timers:
    """When the server's quiet moments next look at organisations (Federation.org_timers)."""

    next_check: float = 0.0
    next_full: float = 0.0


async def _each_account(server: Federation, *, full: bool, expire: bool) -> None:
    """Every active account that deals with organisations: a member's shares brought in line with its graph
    (``full``: compared record by record, whatever the fingerprint says), an organisation's introductions nobody
    answered expired (``expire``). A member's graph is opened only when it belongs to an organisation; one
    account's failure does not hold up the others."""
    if server.orgs is None:
        return
    from federation import org_intro

    for account in await server.local.accounts(("active",)):
        try:
            if account.actor_type == "Organization":
                if expire:
                    async with server.acting(account.name, walk=True) as fed:
                        await org_intro.expire(fed)
                continue
            async with server.acting(account.name, graph=False) as light:
                if not await memberships(light, states=("accepted",)):
                    continue
            async with server.acting(account.name, walk=True) as fed:
                await _sync_all(fed, full=full)
        except Exception:  # the graph or the database is unwell: logged, tried again in a quiet moment
            _log.exception("sharing with organisations failed for %s; will try again", account.name)


async def catch_up(server: Federation) -> None:
    """At start: a change saved before a stop (or a crash) is shared now, for every account."""
    await _each_account(server, full=False, expire=False)


async def quiet(server: Federation) -> None:
    """The inbox loop's quiet moments: share what changed in the graphs (at most every CHECK_EVERY seconds;
    record by record every FULL_EVERY), and let unanswered introductions expire."""
    if server.orgs is None:
        return
    now = server.clock()
    timers = server.org_timers
    if now < timers.next_check:
        return
    timers.next_check = now + CHECK_EVERY
    full = now >= timers.next_full
    if full:
        timers.next_full = now + FULL_EVERY
    await _each_account(server, full=full, expire=True)


# ---- the organisation's side ----------------------------------------------------------------------------


async def _member(fed: AccountFederation, actor_id: str) -> None:
    if not is_org(fed):
        raise MalformedInput("this actor is not an organisation; it takes no shared records")
    row = await port(fed).member(actor_id)
    if row is None or row["state"] != "active":
        raise MalformedInput(f"{actor_id} is not a member of this organisation; nothing it shares is kept")


def _items(activity: Mapping[str, Any]) -> list[Any]:
    obj = activity.get("object")
    items = obj if isinstance(obj, list) else [obj]
    if len(items) > MAX_BATCH:
        raise TooLarge(f"at most {MAX_BATCH} records per activity")
    return items


def _own(actor_id: str, record_id: str) -> None:
    # Ids under the member's own actor: two members on one server share an origin, and neither may touch the
    # other's records.
    if not record_id.startswith(actor_id + "/"):
        raise OriginMismatch(f"{record_id} is not a record of {actor_id}'s")


async def add_received(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    await _member(fed, actor_id)
    the_port = port(fed)
    owner = fed.urls.owner
    cap = (await the_port.settings()).cap
    parsed: list[tuple[SharedContact, dict[str, Any]]] = []
    for raw in _items(activity):
        record = org_from_jsonld(raw)
        if not isinstance(record, SharedContact):
            raise MalformedInput("an Add to an organisation carries SharedContact records")
        if record.member != actor_id or record.organization != owner:
            raise OriginMismatch("a member shares their own records, with this organisation")
        _own(actor_id, record.id)
        parsed.append((record, raw))
    actor = await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
    keys = owner_keys(actor)
    when = now_of(fed)
    # every proof checked before anything is kept (a thread: it is CPU work); one bad proof refuses all
    await asyncio.to_thread(lambda: [proofs.verify(raw, owner=keys, now=when) for _, raw in parsed])
    allowed = [(r, raw) for r, raw in parsed if level_rank(r.level) <= level_rank(cap)]
    if len(allowed) < len(parsed):
        _log.info(
            "%s shared %d records above the cap (%s); not kept", actor_id, len(parsed) - len(allowed), cap
        )
    await the_port.apply_shared(actor_id, allowed)
    # the records are kept in the organisation's tables, where a withdrawal deletes them; the inbox keeps the
    # activity's id for dedupe, not the records
    await fed.store.forget_body(activity["id"])


async def remove_received(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    await _member(fed, actor_id)
    removals: list[SharedContactRemoval] = []
    for raw in _items(activity):
        record = org_from_jsonld(raw)
        if not isinstance(record, SharedContactRemoval):
            raise MalformedInput("a Remove from an organisation carries Tombstones of shared records")
        _own(actor_id, record.id)
        removals.append(record)
    await port(fed).withdraw_shared(actor_id, removals)
