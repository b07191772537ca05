"""Kith between Kith peers: relationship records signed by both owners, and disclosed profile cards
(specs/PROTOCOL.md §6-§7).

- ``connect``: our owner offers a mutual ``Relationship`` (a symmetric term from the vocabulary, how-we-met,
  since), signed with their Ed25519 key (eddsa-jcs-2022), in an ``Offer`` to the peer's personal inbox.
- The peer's owner accepts: they add their own proof to the very record offered (a proof set) and answer
  ``Accept`` with it in ``result``; both sides verify both proofs and keep the one record. ``Reject`` ends
  it; the offerer may withdraw with ``Undo {Offer}``.
- Ending: either end sends ``Update`` of the relationship with ``status: "ended"``, signed by the sender alone.
- Cards: an ``Update`` of a ``ProfileCard`` signed by its owner, rendered with only the fields the recipient's
  circles may see, sent to each allowed peer's personal inbox (never a shared inbox, never public): in
  federation/cards.py, which shares this module's helpers for signing as the owner.
Records are built and read by protocol/records.py and protocol/serialize.py (the one place JSON-LD names are
mapped); proofs are made and checked by protocol/proofs.py, and a proof counts only by a key the owner's actor
lists. Kith-only activities go only to actors that name the Kith protocol (FEP-844e).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation.errors import NotFound
from federation.fetch import FetchBudget
from federation.ports import RemoteActor
from federation.store import OfferRow
from protocol import proofs
from protocol.errors import InvalidRecord, MalformedInput, OriginMismatch, ProofError
from protocol.records import Offer, Relationship
from protocol.serialize import KITH_CONTEXT, from_jsonld, to_jsonld
from protocol.vocab import relationship_term

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "accept_offer",
    "connect",
    "end",
    "kith_activity",
    "now_of",
    "offer_answered",
    "offer_received",
    "our_keys",
    "owner_keys",
    "reject_offer",
    "relationship_updated",
    "settle_offer",
    "sign_as_owner",
    "undo_received",
]


#: ``fed_offers.rel_type`` of a membership, which federation/org.py handles (its MEMBERSHIP).
_MEMBERSHIP = "member"


def now_of(fed: AccountFederation) -> datetime:
    """The federation clock's time (tests pass a fake one)."""
    return datetime.fromtimestamp(fed.clock(), UTC)


def owner_keys(actor: RemoteActor) -> proofs.OwnerKeys:
    """The Ed25519 keys ``actor`` lists (assertionMethod): the only keys that may sign its Kith records."""
    if not actor.multikeys:
        raise ProofError(f"{actor.id} lists no assertionMethod key; it cannot sign Kith records")
    return proofs.OwnerKeys.from_multikeys(actor.id, dict(actor.multikeys))


def our_keys(fed: AccountFederation) -> proofs.OwnerKeys:
    """The account's own Ed25519 key, as the owner a signed record's proofs are checked against."""
    return proofs.OwnerKeys(
        owner=fed.urls.owner, keys={fed.urls.owner_multikey: fed.keys.ed25519.public_key()}
    )


def sign_as_owner(fed: AccountFederation, document: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with a proof by our owner's Ed25519 key (eddsa-jcs-2022)."""
    return proofs.sign(
        document,
        private_key=fed.keys.ed25519,
        verification_method=fed.urls.owner_multikey,
        created=now_of(fed),
    )


def _unsigned(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "proof"}


def _relationship(value: Any) -> Relationship:
    """Read (and so validate) a relationship record from a peer."""
    if not isinstance(value, dict):
        raise MalformedInput("expected an embedded Relationship record")
    try:
        record = from_jsonld(value)
    except InvalidRecord as exc:  # the peer's record, not our mistake
        raise MalformedInput(f"invalid Relationship: {exc.message}", field=exc.field) from None
    if not isinstance(record, Relationship):
        raise MalformedInput(f"expected a Relationship, got a {type(record).__name__}")
    return record


def kith_activity(activity: dict[str, Any]) -> dict[str, Any]:
    """An activity carrying a Kith record: the Kith context, so that its record's terms are defined."""
    activity["@context"] = list(KITH_CONTEXT)
    return activity


# ---- offering and answering (our owner's side) ---------------------------------------------------


async def connect(
    fed: AccountFederation,
    address: str,
    rel_type: str,
    *,
    how_we_met: str | None = None,
    since: str | None = None,
) -> OfferRow:
    term = relationship_term(rel_type)  # InvalidRecord names the known types
    if not term.mutual:
        raise InvalidRecord(
            f"{term.name!r} is directed: it is stated, not offered; connect with a symmetric term such as "
            "friend, colleague or met",
            field="type",
        )
    try:
        since_date = date.fromisoformat(since) if since else None
    except ValueError:
        raise InvalidRecord(f"since must be a date like 2024-05-01, got {since!r}", field="since") from None
    actor = await fed.actors.resolve(address, source="fetch")
    if not actor.is_kith:
        raise NotFound(f"{actor.id} is not a Kith node; follow it instead (kith follow {address})")
    if await fed.blocks.refuses_actor(actor):
        raise NotFound(f"{actor.id} is blocked; unblock it first")
    actor = await fed.actors.get(actor.id, source="offer")  # just fetched: now a person in the graph
    for pending in await fed.store.offers(["offered"]):
        if pending.direction == "out" and pending.actor_id == actor.id and pending.rel_type == term.name:
            return pending  # asking twice is asking once
    record = Relationship(
        id=fed.new_id("relationships"),
        relationship_type=term.iri,
        subject=fed.urls.owner,
        object=actor.id,
        mutual=True,
        since=since_date,
        how_we_met=how_we_met,
    )
    signed = sign_as_owner(fed, to_jsonld(record))
    offer_id = fed.new_id()
    await fed.store.add_offer(
        offer_id=offer_id,
        direction="out",
        actor_id=actor.id,
        rel_type=term.name,
        record=signed,
        now=fed.clock(),
    )
    offer = kith_activity(act.offer_relationship(offer_id, fed.urls.owner, signed, to=actor.id))
    await fed.send(offer, [actor.inbox], recipient=actor.id)
    row = await fed.store.offer(offer_id)
    assert row is not None
    return row


async def accept_offer(fed: AccountFederation, offer: OfferRow) -> dict[str, Any]:
    """Our owner accepts an incoming offer: add our proof, store, tell the graph, answer with the record."""
    if offer.rel_type == _MEMBERSHIP:  # a request to join an organisation (federation/org.py)
        from federation import org

        return await org.accept(fed, offer)
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending offer {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="offer")
    final = sign_as_owner(fed, offer.record)
    proofs.verify_all(final, owners=[owner_keys(actor), our_keys(fed)], now=now_of(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    await fed.graph.relationship_confirmed(actor.id, final)
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    reply = act.accept(fed.new_id(), fed.urls.owner, answered, to=actor.id, result=final)
    await fed.send(kith_activity(reply), [actor.inbox], recipient=actor.id)
    return final


async def reject_offer(fed: AccountFederation, offer: OfferRow) -> None:
    if offer.rel_type == _MEMBERSHIP:  # a request to join an organisation (federation/org.py)
        from federation import org

        await org.reject(fed, offer)
        return
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending offer {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="fetch")  # refused: not a person for that
    await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    reply = act.reject(fed.new_id(), fed.urls.owner, answered, to=actor.id)
    await fed.send(reply, [actor.inbox], recipient=actor.id)


async def end(fed: AccountFederation, offer: OfferRow) -> None:
    """End a confirmed relationship: ``Update`` of the record with ``status: "ended"``, signed by us alone."""
    if offer.rel_type == _MEMBERSHIP:  # a membership ends by leaving or removal (federation/org.py)
        from federation import org

        if offer.direction == "out":
            await org.leave(fed, offer.actor_id)
        else:
            await org.remove(fed, offer.actor_id)
        return
    if offer.state != "accepted" or offer.final is None:
        raise NotFound(f"no confirmed relationship for {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="peer")
    ended = sign_as_owner(fed, to_jsonld(replace(_relationship(offer.final), status="ended", proofs=())))
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    await fed.graph.relationship_revoked(actor.id, ended["id"])
    update = act.update(fed.new_id(), fed.urls.owner, ended, to=[actor.id])
    await fed.send(update, [actor.inbox], recipient=actor.id)


# ---- what peers send us ------------------------------------------------------------------------------


async def offer_received(fed: AccountFederation, offer: Offer, raw: dict[str, Any]) -> None:
    """``Offer`` of a Relationship (read by federation/received.py); ``raw``: the record as received, which its
    proof covers."""
    actor_id, record = offer.actor, offer.object
    if record.subject != actor_id or record.object != fed.urls.owner:
        raise OriginMismatch("an offered Relationship must be from the offering actor to our owner")
    if not record.mutual or record.status != "active":
        raise MalformedInput("only an active, mutual relationship can be offered")
    # an offer not yet accepted is not a dealing with its sender: no person until the owner accepts it
    actor = await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
    proofs.verify(raw, owner=owner_keys(actor), now=now_of(fed))
    await fed.store.add_offer(
        offer_id=offer.id,
        direction="in",
        actor_id=actor_id,
        rel_type=relationship_term(record.relationship_type).name,
        record=raw,
        now=fed.clock(),
    )


async def settle_offer(
    fed: AccountFederation,
    offer: OfferRow,
    activity: dict[str, Any],
    *,
    accepted: bool,
    check: Callable[[Any], object],
    what: str,
) -> tuple[RemoteActor, dict[str, Any]] | None:
    """Our offer answered (a relationship, or an organisation's membership: ``check`` reads the kind, ``what``
    names it in errors). A rejection is recorded; an acceptance must carry back exactly what we offered,
    signed by both ends, and is stored. Returns the other end and the final record when it was accepted."""
    if offer.state != "offered":
        return None
    if not accepted:
        await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
        return None
    final = activity.get("result")
    check(final)
    assert isinstance(final, dict)
    if _unsigned(final) != _unsigned(offer.record):
        raise ProofError(f"the accepted {what} differs from the one we offered")
    actor = await fed.actors.get(offer.actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify_all(final, owners=[our_keys(fed), owner_keys(actor)], now=now_of(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    return actor, final


async def offer_answered(
    fed: AccountFederation, offer: OfferRow, activity: dict[str, Any], *, accepted: bool
) -> None:
    settled = await settle_offer(fed, offer, activity, accepted=accepted, check=_relationship, what="record")
    if settled is not None:
        actor, final = settled
        await fed.graph.relationship_confirmed(actor.id, final)


async def undo_received(fed: AccountFederation, actor_id: str, object_id: str) -> None:
    """``Undo {Offer}``: the offerer withdrew before an answer."""
    offer = await fed.store.offer(object_id)
    if (
        offer is not None
        and offer.actor_id == actor_id
        and offer.direction == "in"
        and offer.state == "offered"
    ):
        await fed.store.set_offer_state(offer.offer_id, "revoked", fed.clock())


async def relationship_updated(
    fed: AccountFederation, actor_id: str, record: Relationship, raw: dict[str, Any]
) -> None:
    """The other end ended a relationship we share (an ``Update`` with ``status: "ended"``, read by
    federation/received.py); ``raw``: the record as received, which its proof covers."""
    if actor_id not in (record.subject, record.object) or fed.urls.owner not in (
        record.subject,
        record.object,
    ):
        raise OriginMismatch("only an end of a relationship can update it")
    if record.status != "ended":
        raise MalformedInput("a relationship is updated only to end it (status: ended)")
    offer = await fed.store.offer_by_record(record.id)
    if offer is None or offer.actor_id != actor_id or offer.state != "accepted" or offer.final is None:
        return  # nothing of ours to end
    if _unsigned(offer.final) | {"status": "ended"} != _unsigned(raw):
        raise ProofError("the ended record is not the relationship we share")
    actor = await fed.actors.get(actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify(raw, owner=owner_keys(actor), now=now_of(fed))
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    await fed.graph.relationship_revoked(actor_id, record.id)
