"""Kith between Kith peers: relationship records signed by both owners, and disclosed profile cards.

- ``connect``: our owner offers a ``Relationship`` (a type from the vocabulary, how-we-met, since), signed
  with their Ed25519 key (eddsa-jcs-2022), in an ``Offer`` to the peer's personal inbox.
- The peer's owner accepts: they add their own proof to the same record (a proof set) and answer ``Accept``
  with the record in ``result``; both sides verify both proofs and store the one record. ``Reject`` ends it.
- Revocation: either side sends ``Undo`` naming the record; both mark it revoked.
- Cards: an ``Update`` of a ``ProfileCard`` signed by its owner, with only the fields the recipient's circles
  may see, sent to each allowed peer's personal inbox (never a shared inbox, never public).
Proofs are made and checked by protocol/proofs.py; a proof must come from a key the owner's actor lists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation.errors import NotFound
from federation.fetch import FetchBudget
from federation.ports import RemoteActor
from federation.remote import origin
from federation.store import OfferRow
from protocol import proofs
from protocol.errors import MalformedInput, OriginMismatch, ProofError
from protocol.vocab import relationship_term

if TYPE_CHECKING:
    from federation.service import Federation

__all__ = [
    "accept_offer",
    "card_received",
    "connect",
    "offer_answered",
    "offer_received",
    "publish_card",
    "reject_offer",
    "revoke",
    "undo_received",
]

_RECORD_FIELDS = (
    "@context",
    "id",
    "type",
    "subject",
    "object",
    "relationship",
    "mutual",
    "howWeMet",
    "since",
)


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


# ---- offering and answering (our owner's side) ---------------------------------------------------


async def connect(
    fed: Federation, address: str, rel_type: str, *, how_we_met: str | None = None, since: str | None = None
) -> OfferRow:
    term = relationship_term(rel_type)  # InvalidRecord names the known types
    actor = await fed.actors.resolve(address, source="offer")
    if not actor.is_kith:
        raise NotFound(f"{actor.id} is not a Kith node; follow it instead (kith follow {address})")
    if await fed.store.is_blocked(actor.id):
        raise NotFound(f"{actor.id} is blocked; unblock it first")
    record = act.relationship_record(
        record_id=fed.new_id("relationships"),
        subject=fed.urls.owner,
        obj=actor.id,
        relationship=term.iri,
        mutual=term.mutual,
        how_we_met=how_we_met,
        since=since,
    )
    signed = _sign(fed, record)
    offer_id = fed.new_id()
    await fed.store.add_offer(
        offer_id=offer_id,
        direction="out",
        actor_id=actor.id,
        rel_type=term.name,
        record=signed,
        now=fed.clock(),
    )
    await fed.send(act.offer_relationship(offer_id, fed.urls.owner, signed, to=actor.id), [actor.inbox])
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
    await fed.send(
        act.accept(fed.new_id(), fed.urls.owner, answered, to=actor.id, result=final), [actor.inbox]
    )
    return final


async def reject_offer(fed: Federation, offer: OfferRow) -> None:
    if offer.direction != "in" or offer.state != "offered":
        raise NotFound(f"no pending offer {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="offer")
    await fed.store.set_offer_state(offer.offer_id, "rejected", fed.clock())
    answered = {"id": offer.offer_id, "type": "Offer", "actor": actor.id}
    await fed.send(act.reject(fed.new_id(), fed.urls.owner, answered, to=actor.id), [actor.inbox])


async def revoke(fed: Federation, offer: OfferRow) -> None:
    if offer.state != "accepted":
        raise NotFound(f"no confirmed relationship for {offer.offer_id}")
    actor = await fed.actors.get(offer.actor_id, source="peer")
    record_id = offer.record["id"]
    await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
    await fed.graph.relationship_revoked(actor.id, record_id)
    undone = {"id": record_id, "type": "Relationship"}
    await fed.send(act.undo(fed.new_id(), fed.urls.owner, undone, to=actor.id), [actor.inbox])


# ---- what peers send us --------------------------------------------------------------------------


def _check_record(record: Any, *, subject: str, obj: str) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("type") != "Relationship":
        raise MalformedInput("an Offer between Kith peers carries a Relationship record")
    if record.get("subject") != subject or record.get("object") != obj:
        raise OriginMismatch("the Relationship must be between the offering actor and our owner")
    rid = record.get("id")
    if not isinstance(rid, str) or origin(rid) != origin(subject):
        raise OriginMismatch("a Relationship record's id must be on its offerer's origin")
    extra = set(record) - set(_RECORD_FIELDS) - {"proof"}
    if extra:
        raise MalformedInput(f"unexpected fields in the Relationship record: {', '.join(sorted(extra))}")
    rel = record.get("relationship")
    if not isinstance(rel, str):
        raise MalformedInput("Relationship without a relationship type")
    return record


async def offer_received(fed: Federation, actor_id: str, activity: dict[str, Any]) -> None:
    record = _check_record(activity.get("object"), subject=actor_id, obj=fed.urls.owner)
    actor = await fed.actors.get(actor_id, source="offer", budget=FetchBudget(remaining=3))
    proofs.verify(record, owner=_owner_keys(actor), now=_now(fed))
    name = str(record["relationship"]).rsplit("#", 1)[-1]
    await fed.store.add_offer(
        offer_id=activity["id"],
        direction="in",
        actor_id=actor_id,
        rel_type=name,
        record=record,
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
    if not isinstance(final, dict):
        raise MalformedInput(
            "an Accept of a relationship Offer carries the record with both proofs in result"
        )
    if _unsigned(final) != _unsigned(offer.record):
        raise ProofError("the accepted record differs from the one we offered")
    actor = await fed.actors.get(offer.actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify_all(final, owners=[_our_keys(fed), _owner_keys(actor)], now=_now(fed))
    await fed.store.set_offer_state(offer.offer_id, "accepted", fed.clock(), final=final)
    await fed.graph.relationship_confirmed(actor.id, final)


async def undo_received(fed: Federation, actor_id: str, object_id: str) -> None:
    offer = await fed.store.offer(object_id) or await fed.store.offer_by_record(object_id)
    if offer is None or offer.actor_id != actor_id:
        return
    if offer.state == "offered" and offer.direction == "in":
        await fed.store.set_offer_state(offer.offer_id, "revoked", fed.clock())  # withdrawn before an answer
    elif offer.state == "accepted":
        await fed.store.set_offer_state(offer.offer_id, "ended", fed.clock())
        await fed.graph.relationship_revoked(actor_id, offer.record["id"])


async def card_received(fed: Federation, actor_id: str, card: dict[str, Any]) -> None:
    if card.get("attributedTo") != actor_id:
        raise OriginMismatch("a ProfileCard is accepted only from the actor it describes")
    actor = await fed.actors.get(actor_id, source="peer", budget=FetchBudget(remaining=3))
    proofs.verify(card, owner=_owner_keys(actor), now=_now(fed))
    fields = {k: v for k, v in card.items() if k not in ("@context", "id", "type", "attributedTo", "proof")}
    await fed.graph.card_received(actor_id, fields)


# ---- sending our card ----------------------------------------------------------------------------


async def publish_card(fed: Federation) -> int:
    """Send the owner's card to every peer allowed to see some of it, each getting only their share, to their
    personal inbox. Peers with the same share get the same activity. Returns the number of peers."""
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    count = 0
    for peer in await fed.graph.peers_allowed_to_see_card():
        # the graph may name other identities of the same people (acct:, e-mail): only known actors get cards
        cached = await fed.store.actor(peer)
        if cached is None or cached.gone or not cached.actor.is_kith:
            continue
        if await fed.store.is_blocked(peer) or await fed.store.is_blocked_by(peer):
            continue
        fields = await fed.graph.card_for(peer)
        if not fields:
            continue
        key = json.dumps(fields, sort_keys=True)
        groups.setdefault(key, (dict(fields), []))[1].append(cached.actor.inbox)
        count += 1
    for fields, inboxes in groups.values():
        card = {
            "@context": act.KITH_RECORD_CONTEXT,
            "id": fed.urls.owner + "/card",
            "type": "ProfileCard",
            "attributedTo": fed.urls.owner,
            **{
                k: v
                for k, v in fields.items()
                if k not in ("@context", "id", "type", "attributedTo", "proof")
            },
        }
        signed = _sign(fed, card)
        # addressed to no one in to/cc: each inbox gets it directly, and nothing marks it public
        activity = act.update(fed.new_id(), fed.urls.owner, signed, to=[])
        activity.pop("to")
        await fed.send(activity, inboxes)
    return count
