"""Kith between Kith peers: relationship records signed by both owners, and disclosed profile cards
(specs/PROTOCOL.md §6-§7).

- ``connect``: our owner offers a mutual ``Relationship`` (a symmetric term from the vocabulary, how-we-met,
  since), signed with their Ed25519 key (eddsa-jcs-2022), in an ``Offer`` to the peer's personal inbox.
- The peer's owner accepts: they add their own proof to the very record offered (a proof set) and answer
  ``Accept`` with it in ``result``; both sides verify both proofs and keep the one record. ``Reject`` ends
  it; the offerer may withdraw with ``Undo {Offer}``.
- Ending: either end sends ``Update`` of the relationship with ``status: "ended"``, signed by the sender alone.
- Cards: an ``Update`` of a ``ProfileCard`` signed by its owner, rendered with only the fields the recipient's
  circles may see, sent to each allowed peer's personal inbox (never a shared inbox, never public).
Records are built and read by protocol/records.py and protocol/serialize.py (the one place JSON-LD names are
mapped); proofs are made and checked by protocol/proofs.py, and a proof counts only by a key the owner's actor
lists. Kith-only activities go only to actors that name the Kith protocol (FEP-844e).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from protocol.records import ProfileCard, Relationship
from protocol.serialize import KITH_CONTEXT, from_jsonld, to_jsonld
from protocol.vocab import relationship_term

if TYPE_CHECKING:
    from federation.service import Federation

__all__ = [
    "accept_offer",
    "card_received",
    "connect",
    "end",
    "offer_answered",
    "offer_received",
    "publish_card",
    "reject_offer",
    "relationship_updated",
    "render_card",
    "undo_received",
]


def _now(fed: Federation) -> datetime:
    return datetime.fromtimestamp(fed.clock(), UTC)


def _owner_keys(actor: RemoteActor) -> proofs.OwnerKeys:
    if not actor.multikeys:
        raise ProofError(f"{actor.id} lists no assertionMethod key; it cannot sign Kith records")
    return proofs.OwnerKeys.from_multikeys(actor.id, dict(actor.multikeys))


def _our_keys(fed: Federation) -> proofs.OwnerKeys:
    return proofs.OwnerKeys(
        owner=fed.urls.owner, keys={fed.urls.owner_multikey: fed.keys.owner_ed25519.public_key()}
    )


def _sign(fed: Federation, document: Mapping[str, Any]) -> dict[str, Any]:
    return proofs.sign(
        document,
        private_key=fed.keys.owner_ed25519,
        verification_method=fed.urls.owner_multikey,
        created=_now(fed),
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


def _kith_activity(activity: dict[str, Any]) -> dict[str, Any]:
    activity["@context"] = list(KITH_CONTEXT)
    return activity


# ---- offering and answering (our owner's side) ---------------------------------------------------


async def connect(
    fed: Federation, address: str, rel_type: str, *, how_we_met: str | None = None, since: str | None = None
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
    actor = await fed.actors.resolve(address, source="offer")
    if not actor.is_kith:
        raise NotFound(f"{actor.id} is not a Kith node; follow it instead (kith follow {address})")
    if await fed.store.is_blocked(actor.id):
        raise NotFound(f"{actor.id} is blocked; unblock it first")
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
    signed = _sign(fed, to_jsonld(record))
    offer_id = fed.new_id()
    await fed.store.add_offer(
        offer_id=offer_id,
        direction="out",
        actor_id=actor.id,
        rel_type=term.name,
        record=signed,
        now=fed.clock(),
    )
    offer = _kith_activity(act.offer_relationship(offer_id, fed.urls.owner, signed, to=actor.id))
    await fed.send(offer, [actor.inbox])
    row = await fed.store.offer(offer_id)
    assert row is not None
    return row


async def accept_offer(fed: Federation, offer: OfferRow) -> dict[str, Any]:
    """Our owner accepts an incoming offer: add our proof, store, tell the graph, answer with the record."""
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending offer {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="offer")
    final = _sign(fed, offer.record)
    proofs.verify_all(final, owners=[_owner_keys(actor), _our_keys(fed)], now=_now(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    await fed.graph.relationship_confirmed(actor.id, final)
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    reply = act.accept(fed.new_id(), fed.urls.owner, answered, to=actor.id, result=final)
    await fed.send(_kith_activity(reply), [actor.inbox])
    return final


async def reject_offer(fed: Federation, offer: OfferRow) -> None:
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending offer {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="offer")
    await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    await fed.send(act.reject(fed.new_id(), fed.urls.owner, answered, to=actor.id), [actor.inbox])


async def end(fed: Federation, offer: OfferRow) -> None:
    """End a confirmed relationship: ``Update`` of the record with ``status: "ended"``, signed by us alone."""
    if offer.state != "accepted" or offer.final is None:
        raise NotFound(f"no confirmed relationship for {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="peer")
    ended = _sign(fed, to_jsonld(replace(_relationship(offer.final), status="ended", proofs=())))
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    await fed.graph.relationship_revoked(actor.id, ended["id"])
    update = act.update(fed.new_id(), fed.urls.owner, ended, to=[actor.id])
    await fed.send(update, [actor.inbox])


# ---- what peers send us ------------------------------------------------------------------------------


async def offer_received(fed: Federation, actor_id: str, activity: dict[str, Any]) -> None:
    raw = activity.get("object")
    record = _relationship(raw)
    assert isinstance(raw, dict)
    if record.subject != actor_id or record.object != fed.urls.owner:
        raise OriginMismatch("an offered Relationship must be from the offering actor to our owner")
    if not record.mutual or record.status != "active":
        raise MalformedInput("only an active, mutual relationship can be offered")
    actor = await fed.actors.get(actor_id, source="offer", budget=FetchBudget(remaining=3))
    proofs.verify(raw, owner=_owner_keys(actor), now=_now(fed))
    await fed.store.add_offer(
        offer_id=activity["id"],
        direction="in",
        actor_id=actor_id,
        rel_type=relationship_term(record.relationship_type).name,
        record=raw,
        now=fed.clock(),
    )


async def offer_answered(
    fed: Federation, offer: OfferRow, activity: dict[str, Any], *, accepted: bool
) -> None:
    if offer.state != "offered":
        return
    if not accepted:
        await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
        return
    final = activity.get("result")
    _relationship(final)
    assert isinstance(final, dict)
    if _unsigned(final) != _unsigned(offer.record):
        raise ProofError("the accepted record differs from the one we offered")
    actor = await fed.actors.get(offer.actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify_all(final, owners=[_our_keys(fed), _owner_keys(actor)], now=_now(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    await fed.graph.relationship_confirmed(actor.id, final)


async def undo_received(fed: Federation, actor_id: str, object_id: str) -> None:
    """``Undo {Offer}``: the offerer withdrew before an answer."""
    offer = await fed.store.offer(object_id)
    if (
        offer is not None
        and offer.actor_id == actor_id
        and offer.direction == "in"
        and offer.state == "offered"
    ):
        await fed.store.set_offer_state(offer.offer_id, "revoked", fed.clock())


async def relationship_updated(fed: Federation, actor_id: str, raw: dict[str, Any]) -> None:
    """The other end ended a relationship we share (an ``Update`` with ``status: "ended"``)."""
    record = _relationship(raw)
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
    proofs.verify(raw, owner=_owner_keys(actor), now=_now(fed))
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    await fed.graph.relationship_revoked(actor_id, record.id)


async def card_received(fed: Federation, actor_id: str, card: dict[str, Any]) -> None:
    try:
        parsed = from_jsonld(card)
    except InvalidRecord as exc:
        raise MalformedInput(f"invalid ProfileCard: {exc.message}", field=exc.field) from None
    if not isinstance(parsed, ProfileCard) or parsed.owner != actor_id:
        raise OriginMismatch("a ProfileCard is accepted only from the actor it describes")
    if parsed.disclosure:
        raise MalformedInput("a card with disclosure rules must never leave its owner's node")
    actor = await fed.actors.get(actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify(card, owner=_owner_keys(actor), now=_now(fed))
    fields = {k: v for k, v in card.items() if k not in ("@context", "id", "type", "attributedTo", "proof")}
    await fed.graph.card_received(actor_id, fields)


# ---- sending our card --------------------------------------------------------------------------------


def render_card(fed: Federation, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The owner's card as one peer may see it (``fields`` from GraphPort.card_for), signed by the owner."""
    shown = {k: v for k, v in fields.items() if k not in ("@context", "id", "type", "attributedTo", "proof")}
    card = {
        "@context": list(KITH_CONTEXT),
        "id": fed.urls.owner + "/card",
        "type": "ProfileCard",
        "attributedTo": fed.urls.owner,
        "updated": _now(fed).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **shown,
    }
    return _sign(fed, to_jsonld(from_jsonld(card)))  # read back first: only a valid card is signed


async def publish_card(fed: Federation) -> int:
    """Send the owner's card to every Kith peer allowed to see some of it, each getting only their share, to
    their personal inbox. Peers with the same share get the same activity. Returns the number of peers."""
    if await fed.store.tombstone(fed.urls.owner) is not None:
        return 0  # the owner's actor was deleted: the card changes on this node only (federation.owner)
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    count = 0
    peers = list(await fed.graph.peers_allowed_to_see_card())
    known = await fed.store.actors(peers)
    blocked_by = await fed.store.blocked_by()
    for peer in peers:
        # the graph may name other identities of the same people (acct:, e-mail): only known actors get cards
        cached = known.get(peer)
        if cached is None or cached.gone or not cached.actor.is_kith:
            continue
        if peer in blocked_by or await fed.store.is_blocked(peer):
            continue
        fields = await fed.graph.card_for(peer)
        if not fields:
            continue
        key = json.dumps(fields, sort_keys=True)
        groups.setdefault(key, (dict(fields), []))[1].append(cached.actor.inbox)
        count += 1
    for fields, inboxes in groups.values():
        signed = render_card(fed, fields)
        # addressed to no one in to/cc: each inbox gets it directly, and nothing marks it public
        activity = _kith_activity(act.update(fed.new_id(), fed.urls.owner, signed, to=[]))
        activity.pop("to")
        await fed.send(activity, inboxes)
    return count
