"""Organisations between Kith actors (specs/ORGANISATIONS.md): membership, the directory the organisation tells
its members, and the one entry point the inbox processor hands organisation activities to.

Membership is a relationship offer (protocol/states.py RELATIONSHIP_OFFER, in ``fed_offers`` with rel_type
``member``), so that the organisation sees it with its usual ``kith requests`` and accepts it with
``kith accept ID``:

- the member signs a ``Membership`` record and offers it (``join``); the organisation verifies the proof and
  keeps the offer; on acceptance it adds its own proof (a proof set, as a mutual relationship) and answers
  ``Accept`` with the record both signed; the member verifies both proofs;
- either side ends it with ``Update`` of the record, ``status: "ended"``, signed by the side that ends it; the
  organisation then deletes everything the member shared and says so (``Delete`` of a ``Tombstone``);
- the organisation tells every member its directory (members, roles, levels), its cap, its domains and its
  contact policies (``Update`` of its ``OrganizationInfo``) whenever one of them changes.

Who may act for the organisation: its own account (the owner token, CLI, web UI) and, through their own
accounts, the members it made admins (federation/org_api.py checks the role on every operation).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation import org_wire as wire
from federation.errors import NotFound
from federation.fetch import FetchBudget
from federation.kith import now_of, our_keys, owner_keys, settle_offer, sign_as_owner
from federation.org_ports import OrgPort
from federation.store import OfferRow, Outgoing
from protocol import proofs
from protocol.errors import InvalidRecord, MalformedInput, OriginMismatch, ProofError
from protocol.org_records import (
    ContactPolicy,
    DirectoryEntry,
    Membership,
    OrganizationInfo,
)
from protocol.org_serialize import org_from_jsonld, org_to_jsonld, stamp
from protocol.records import same_origin

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "MEMBERSHIP",
    "accept",
    "answered",
    "info_document",
    "is_org",
    "join",
    "leave",
    "membership_json",
    "memberships",
    "offered",
    "org_actor",
    "port",
    "push_info",
    "reject",
    "remove",
    "shares_deleted",
    "updated",
]

_log = logging.getLogger("kith.federation.org")

#: ``fed_offers.rel_type`` of a membership (the vocabulary's term: the member relates to the organisation).
MEMBERSHIP = "member"


def port(fed: AccountFederation) -> OrgPort:
    """The account's organisation records (borrowed with its graph: federation/service.py ``acting``)."""
    found = fed.org
    if found is None:
        raise NotFound("organisations are not available on this server (it runs without them)")
    return found


def is_org(fed: AccountFederation) -> bool:
    """Whether this account's actor is an organisation (``kith account add --organization``)."""
    return fed.account.actor_type == "Organization"


def _membership(value: Any) -> Membership:
    record = org_from_jsonld(value)
    if not isinstance(record, Membership):
        raise MalformedInput(f"expected a Membership, got a {type(record).__name__}")
    return record


def membership_json(row: OfferRow, actor: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A membership as the owner API shows it (both sides)."""
    record = row.final or row.record
    return {
        "id": row.offer_id,
        "direction": "incoming" if row.direction == "in" else "outgoing",
        "org" if row.direction == "out" else "member": row.actor_id,
        "acct": (actor or {}).get("acct"),
        "state": row.state,
        "record": record,
        "created_at": row.created_at,
    }


async def memberships(
    fed: AccountFederation, *, direction: str = "out", states: tuple[str, ...] = ("offered", "accepted")
) -> list[OfferRow]:
    rows = await fed.store.offers(list(states))
    return [r for r in rows if r.rel_type == MEMBERSHIP and r.direction == direction]


async def org_actor(fed: AccountFederation, address: str | None) -> str:
    """The organisation a member means: the one named (an address or actor URL of one they joined), else the
    only one they belong to."""
    joined = await memberships(fed, states=("accepted",))
    if address is None or not address.strip():
        if len(joined) == 1:
            return joined[0].actor_id
        if not joined:
            raise NotFound("you are not a member of any organisation; join one with `kith org join ADDRESS`")
        names = ", ".join(r.actor_id for r in joined)
        raise InvalidRecord(
            f"you belong to {len(joined)} organisations ({names}); name one with --org", field="org"
        )
    wanted = address.strip()
    for row in joined:
        cached = await fed.store.actor(row.actor_id)
        acct = cached.actor.acct if cached is not None else None
        if wanted in (row.actor_id, acct, f"acct:{acct}", f"@{acct}"):
            return row.actor_id
    raise NotFound(f"you are not a member of {wanted}; see `kith org list`")


# ---- joining and leaving (a member's side) ----------------------------------------------------------------


async def join(fed: AccountFederation, address: str) -> dict[str, Any]:
    """Offer membership to the organisation at ``address``; its admins accept it (kith requests / accept)."""
    from federation.owner import ensure_alive

    await ensure_alive(fed)
    if is_org(fed):
        raise InvalidRecord(
            "an organisation's account does not join organisations; join from a person's account"
        )
    the_port = port(fed)
    actor = await fed.actors.resolve(address, source="fetch")
    if not actor.is_kith or actor.type != "Organization":
        raise NotFound(f"{actor.id} is not a Kith organisation; only organisations take members")
    if await fed.blocks.refuses_actor(actor):
        raise NotFound(f"{actor.id} is blocked; unblock it first")
    actor = await fed.actors.get(actor.id, source="offer")
    for row in await memberships(fed):
        if row.actor_id == actor.id:
            return membership_json(row, {"acct": actor.acct})  # asking twice is asking once
    record = Membership(
        id=fed.new_id("memberships"),
        member=fed.urls.owner,
        organization=actor.id,
        since=now_of(fed).date(),
    )
    signed = sign_as_owner(fed, org_to_jsonld(record))
    offer_id = fed.new_id()
    await fed.store.add_offer(
        offer_id=offer_id,
        direction="out",
        actor_id=actor.id,
        rel_type=MEMBERSHIP,
        record=signed,
        now=fed.clock(),
    )
    await the_port.ensure_membership(actor.id)
    await fed.send(
        wire.offer_membership(offer_id, fed.urls.owner, signed, actor.id), [actor.inbox], recipient=actor.id
    )
    made = await fed.store.offer(offer_id)
    assert made is not None
    return membership_json(made, {"acct": actor.acct})


async def leave(fed: AccountFederation, address: str) -> dict[str, Any]:
    """End the owner's membership: ``Update`` of the record, ended, signed by the owner. The organisation
    deletes everything the owner shared with it and says so."""
    from federation.owner import ensure_alive

    await ensure_alive(fed)
    org = await org_actor(fed, address)
    row = next((r for r in await memberships(fed, states=("accepted",)) if r.actor_id == org), None)
    if row is None or row.final is None:
        raise NotFound(f"you are not a member of {address}")
    ended = _ended(fed, row.final)
    await fed.store.set_offer_state(row.offer_id, "ended", fed.clock())
    await port(fed).forget_sent(org)
    cached = await fed.store.actor(org)
    if cached is not None:
        await fed.send(
            wire.end_membership(fed.new_id(), fed.urls.owner, ended, org), [cached.actor.inbox], recipient=org
        )
    done = await fed.store.offer(row.offer_id)
    assert done is not None
    return membership_json(done)


def _ended(fed: AccountFederation, final: Mapping[str, Any]) -> dict[str, Any]:
    """The membership record, ended, signed by our owner alone."""
    return sign_as_owner(fed, org_to_jsonld(replace(_membership(dict(final)), status="ended", proofs=())))


# ---- the organisation's side ------------------------------------------------------------------------------


async def _offered(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """A person asks to join: kept as a pending request for the admins (kith requests)."""
    raw = activity.get("object")
    record = _membership(raw)
    assert isinstance(raw, dict)
    if not is_org(fed):
        raise MalformedInput("this actor is not an organisation; it takes no members")
    if record.member != actor_id or record.organization != fed.urls.owner or record.status != "active":
        raise OriginMismatch("a membership is offered by its member, to the organisation, active")
    if len(record.proofs) != 1:
        raise ProofError("an offered membership carries its member's proof alone")
    actor = await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
    proofs.verify(raw, owner=owner_keys(actor), now=now_of(fed))
    await fed.store.add_offer(
        offer_id=activity["id"],
        direction="in",
        actor_id=actor_id,
        rel_type=MEMBERSHIP,
        record=raw,
        now=fed.clock(),
    )


async def accept(fed: AccountFederation, offer: OfferRow, *, role: str = "member") -> dict[str, Any]:
    """The organisation accepts a request to join: its proof beside the member's, the member added with
    ``role``, ``Accept`` with the record both signed, then the directory to every member."""
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending request {offer.offer_id}")
    the_port = port(fed)
    actor = await fed.actors.get(offer.actor_id, source="offer")
    final = sign_as_owner(fed, offer.record)
    proofs.verify_all(final, owners=[owner_keys(actor), our_keys(fed)], now=now_of(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    await the_port.add_member(
        actor.id, acct=actor.acct, name=actor.name or actor.preferred_username, role=role
    )
    reply = wire.accept_membership(fed.new_id(), fed.urls.owner, offer.offer_id, actor.id, final)
    await fed.send(reply, [actor.inbox], recipient=actor.id)
    # what other members shared about the new colleague is no longer theirs to share (and never was wanted)
    await the_port.purge(uris=[actor.id, *([f"acct:{actor.acct}"] if actor.acct else [])])
    await push_info(fed)
    return final


async def reject(fed: AccountFederation, offer: OfferRow) -> None:
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending request {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="fetch")
    await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    await fed.send(
        act.reject(fed.new_id(), fed.urls.owner, answered, to=actor.id), [actor.inbox], recipient=actor.id
    )


async def remove(fed: AccountFederation, member: str) -> dict[str, Any]:
    """An admin removes a member: the record ended (signed by the organisation), everything they shared
    deleted, and both told to them; the directory to the others."""
    row = next(
        (r for r in await memberships(fed, direction="in", states=("accepted",)) if r.actor_id == member),
        None,
    )
    if row is None or row.final is None:
        raise NotFound(f"{member} is not a member")
    ended = _ended(fed, row.final)
    await fed.store.set_offer_state(row.offer_id, "ended", fed.clock())
    count = await port(fed).end_member(member, state="removed")
    cached = await fed.store.actor(member)
    if cached is not None:
        inbox = [cached.actor.inbox]
        await fed.send_all(
            [
                _out(wire.end_membership(fed.new_id(), fed.urls.owner, ended, member), inbox, member),
                _out(_deleted(fed, member, count), inbox, member),
            ]
        )
    await push_info(fed)
    return {"member": member, "state": "removed", "deleted": count}


def _deleted(fed: AccountFederation, member: str, count: int) -> dict[str, Any]:
    return wire.shares_deleted(fed.new_id(), fed.urls.owner, member, count, stamp(now_of(fed)))


def _out(activity: dict[str, Any], inboxes: list[str], recipient: str, kind: str | None = None) -> Outgoing:
    return Outgoing(
        activity_id=activity["id"],
        type=activity["type"],
        body=json.dumps(activity),
        inboxes=inboxes,
        recipient=recipient,
        kind=kind,
    )


async def info_document(fed: AccountFederation) -> dict[str, Any]:
    """The organisation's info as it tells it to every member (and as a member's query reads it)."""
    the_port = port(fed)
    settings = await the_port.settings()
    members = await the_port.members()
    policies = []
    for p in await the_port.policies():
        try:
            policies.append(
                ContactPolicy(
                    id=p["id"],
                    name=p["name"],
                    company=p["name"] if p["kind"] == "company" else None,
                    identities=tuple(p["identities"]) if p["kind"] == "person" else (),
                    owner=p.get("owner"),
                    do_not_contact=p.get("do_not_contact"),
                    cool_down_days=p.get("cool_down_days") or settings.cool_down_days,
                    last_contact=date.fromisoformat(p["last_contact"][:10])
                    if p.get("last_contact")
                    else None,
                    updated=None,
                )
            )
        except (InvalidRecord, ValueError) as exc:  # one unusable policy does not silence the others
            _log.warning("policy %s left out of the directory: %s", p.get("id"), exc)
    info = OrganizationInfo(
        id=fed.urls.owner + "/org/info",
        organization=fed.urls.owner,
        updated=now_of(fed),
        cap=settings.cap,
        domains=settings.domains,
        members=tuple(DirectoryEntry(member=m["actor"], role=m["role"], level=m["level"]) for m in members),
        policies=tuple(policies),
    )
    return org_to_jsonld(info)


async def push_info(fed: AccountFederation) -> int:
    """Tell every member the organisation's info (after anything in it changed). Returns how many."""
    if not is_org(fed) or await fed.store.tombstone(fed.urls.owner) is not None:
        return 0
    doc = await info_document(fed)
    members = await port(fed).members()
    known = await fed.store.actors([m["actor"] for m in members])
    items = []
    for m in members:
        cached = known.get(m["actor"])
        if cached is None or cached.gone:
            continue
        items.append(
            _out(
                wire.tell_info(fed.new_id(), fed.urls.owner, doc, m["actor"]),
                [cached.actor.inbox],
                m["actor"],
            )
        )
    if items:
        await fed.send_all(items)
    return len(items)


# ---- what arrives ------------------------------------------------------------------------------------------


async def _answered(
    fed: AccountFederation, offer: OfferRow, activity: dict[str, Any], *, accepted: bool
) -> None:
    """A member's side: the organisation accepted (or rejected) our request to join."""
    settled = await settle_offer(
        fed, offer, activity, accepted=accepted, check=_membership, what="membership"
    )
    if settled is not None:
        await port(fed).ensure_membership(settled[0].id)


async def _ended_received(fed: AccountFederation, actor_id: str, raw: dict[str, Any]) -> None:
    """The other side ended a membership: a member left (the organisation deletes what they shared and says
    so), or the organisation removed us (we stop sharing)."""
    record = _membership(raw)
    if record.status != "ended" or actor_id not in record.owners or fed.urls.owner not in record.owners:
        raise OriginMismatch("only an end of a membership ends it")
    offer = await fed.store.offer_by_record(record.id)
    if offer is None or offer.actor_id != actor_id or offer.state != "accepted" or offer.final is None:
        return  # nothing of ours to end
    if {k: v for k, v in offer.final.items() if k != "proof"} | {"status": "ended"} != {
        k: v for k, v in raw.items() if k != "proof"
    }:
        raise ProofError("the ended membership is not the one we share")
    actor = await fed.actors.get(actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify(raw, owner=owner_keys(actor), now=now_of(fed))
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    the_port = port(fed)
    if offer.direction == "in":  # a member left
        count = await the_port.end_member(actor_id, state="left")
        await fed.send(_deleted(fed, actor_id, count), [actor.inbox], recipient=actor_id)
        await push_info(fed)
    else:  # the organisation removed us
        await the_port.forget_sent(actor_id)


async def _deleted_received(fed: AccountFederation, actor_id: str, obj: dict[str, Any]) -> None:
    """A member's side: the organisation says it deleted what we shared."""
    if obj.get("id") != wire.shares_id(actor_id, fed.urls.owner):
        raise OriginMismatch("an organisation deletes only what we shared with it")
    count = obj.get("totalItems")
    when = obj.get("deleted")
    await port(fed).shares_deleted(
        actor_id, count if isinstance(count, int) and count >= 0 else 0, when if isinstance(when, str) else ""
    )


async def _info_received(fed: AccountFederation, actor_id: str, raw: dict[str, Any]) -> None:
    """A member's side: the organisation's directory, cap, domains and policies. Taken only from an
    organisation we are a member of, about itself; an older one than held is dropped."""
    info = org_from_jsonld(raw)
    if (
        not isinstance(info, OrganizationInfo)
        or info.organization != actor_id
        or not same_origin(info.id, actor_id)
    ):
        raise OriginMismatch("an organisation tells only its own info")
    if not any(r.actor_id == actor_id for r in await memberships(fed, states=("accepted",))):
        _log.info("ignored the info of %s: not an organisation we belong to", actor_id)
        return
    if await port(fed).save_info(actor_id, info, raw):
        from federation import org_share

        await org_share.reconcile(fed, actor_id)  # the cap, the colleagues or the domains may have changed


# ---- the inbox processor's entries (federation/process.py HANDLERS) -----------------------------------------


async def offered(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """``Offer`` of a ``Membership``: a person asks to join."""
    port(fed)  # an account without organisation records takes none
    await _offered(fed, actor_id, activity)


async def answered(fed: AccountFederation, offer: OfferRow, actor_id: str, activity: dict[str, Any]) -> None:
    """``Accept``/``Reject`` of a membership offer (the processor found the offer it names)."""
    if offer.direction == "out" and offer.actor_id == actor_id:
        port(fed)
        await _answered(fed, offer, activity, accepted=activity.get("type") == "Accept")


async def updated(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """``Update`` of a ``Membership`` (ended) or of an ``OrganizationInfo``."""
    obj = activity.get("object")
    if not isinstance(obj, dict):
        raise MalformedInput("an Update of an organisation's record carries the record")
    port(fed)
    if obj.get("type") == "Membership":
        await _ended_received(fed, actor_id, obj)
    else:
        await _info_received(fed, actor_id, obj)


async def shares_deleted(fed: AccountFederation, actor_id: str, activity: dict[str, Any]) -> None:
    """``Delete`` of the ``Tombstone`` of what we shared: the organisation says it deleted it."""
    obj = activity.get("object")
    assert isinstance(obj, dict)  # the processor routes a Tombstone here, and wire.wants checked it
    port(fed)
    await _deleted_received(fed, actor_id, obj)
