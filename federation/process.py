"""Processing stored inbox items: what each activity means for follows, blocks, identities and Kith records.

Everything here runs in the inbox worker after the intake checked signature, origin and blocks. Each stored
activity is read into its typed record (federation/received.py) and handed to its entry in HANDLERS. Objects
that came embedded from another origin were cut down to their id by the intake; they are matched against our
own store (our Follow, our Offer) or fetched again from their own origin (a Move target), never trusted as
sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from federation import activities as act
from federation import cards, kith, messages, org, org_intro, org_share
from federation.errors import Blocked
from federation.fetch import FetchBudget
from federation.received import Received, Wire, parse
from federation.remote import origin
from federation.store import FollowRow
from protocol.errors import MalformedInput, OriginMismatch
from protocol.records import (
    Accept,
    Block,
    Delete,
    Follow,
    Move,
    Offer,
    ProfileCard,
    Reject,
    Relationship,
    Undo,
    Update,
)

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "HANDLERS",
    "Handler",
    "Processor",
    "answer_follow",
    "embedded",
]

_log = logging.getLogger("kith.federation.inbox")


class Processor:
    def __init__(self, fed: AccountFederation) -> None:
        self.fed = fed

    async def process(self, actor_id: str, activity: dict[str, Any]) -> None:
        """Act on a stored activity from ``actor_id`` (the verified signer): read into its record
        (federation/received.py), then handed to its entry in HANDLERS."""
        received = parse(activity)
        if received.actor != actor_id:  # the intake checked it; a stored row is not trusted to agree
            raise OriginMismatch(f"signed by {actor_id} but claims to be from {received.actor}")
        if await self.fed.store.tombstone(self.fed.urls.owner) is not None:
            # the owner's actor was deleted: nothing that reaches it is acted on (no follows, no offers)
            _log.debug("ignoring %s from %s: the owner's actor was deleted", received.key[0], actor_id)
            return
        if await self.fed.blocks.refuses_id(actor_id):  # accepted before the owner blocked its actor
            raise Blocked(f"{actor_id} is blocked; its activity is not acted on")
        handler = HANDLERS.get(received.key)
        if handler is None:
            _log.debug("ignoring %s from %s", received.key, actor_id)
            return
        await handler(self, received)

    # ---- follows ---------------------------------------------------------------------------------

    async def on_follow(self, follow: Follow) -> None:
        fed, actor_id = self.fed, follow.actor
        if follow.object != fed.urls.owner:
            return  # only the owner can be followed
        # a follow request is not yet a dealing: the follower becomes a person when it is accepted
        await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
        follow_id = follow.id
        before = await fed.store.live_follow("in", actor_id)
        added = await fed.store.add_follow(
            follow_id=follow_id, direction="in", actor_id=actor_id, state="pending", now=fed.clock()
        )
        if added and await fed.store.setting("moved_to"):
            # the owner moved away: a follow of the old account is refused, as Mastodon refuses it (the
            # follower's server reads movedTo from the Reject's actor and can follow the new one)
            await answer_follow(fed, follow_id, accepted=False)
            return
        if not added:
            # a follow we hold and that is still live: a repeat. An accepted one is answered again, as
            # Mastodon does: the follower evidently lacks our Accept (it would show "requested" for good).
            # A pending one waits for the owner.
            known = await fed.store.follow(follow_id)
            ours = known is not None and (known.direction, known.actor_id) == ("in", actor_id)
            if known is not None and ours and known.state == "accepted":
                await _send_answer(fed, known, accepted=True)
            return
        # a follower we had accepted asks again under another id (it lost its record of us): accepted again at
        # once, as Mastodon fast-forwards repeat follow requests, whatever the owner's approval setting
        if fed.settings.auto_accept_follows or (before is not None and before.state == "accepted"):
            await answer_follow(fed, follow_id, accepted=True)

    async def _our_follow(self, actor_id: str, object_id: str) -> FollowRow | None:
        """Our follow of ``actor_id`` that an answer (or the Undo of one) names. Servers name it by the id we
        sent, by an id we never minted, or, keeping one follow record per pair (Takahē), by the first Follow
        of ours they stored although we have followed again since: then, as Mastodon does, the pair decides
        (our live follow of that actor). A follow of someone else, or one of theirs, is not theirs to answer."""
        store = self.fed.store
        named = await store.follow(object_id)
        if named is not None and (named.direction != "out" or named.actor_id != actor_id):
            return None
        if named is not None and named.state in ("pending", "accepted"):
            return named
        return await store.live_follow("out", actor_id) or named

    async def on_answer(self, answer: Accept | Reject, raw: dict[str, Any]) -> None:
        """An Accept or a Reject: it goes where what it answers belongs -- our offer (a relationship's, or a
        membership's: federation/org.py), an organisation's ask for an introduction (federation/org_intro.py),
        our follow. What it answers is named by id (federation/received.py); an accepted record is verified
        over ``raw``, the document as received."""
        fed, actor_id = self.fed, answer.actor
        accepted = isinstance(answer, Accept)
        object_id = answer.object if isinstance(answer.object, str) else answer.object.id
        offer = await fed.store.offer(object_id)
        if offer is not None and offer.rel_type == org.MEMBERSHIP:
            await org.answered(fed, offer, actor_id, raw)
            return
        if offer is not None and offer.direction == "out" and offer.actor_id == actor_id:
            await kith.offer_answered(fed, offer, raw, accepted=accepted)
            return
        if fed.org is not None and org.is_org(fed) and await fed.org.intro_ask(object_id) is not None:
            await org_intro.answered(fed, actor_id, object_id, raw, accepted=accepted)
            return
        follow = await self._our_follow(actor_id, object_id)
        if follow is None:
            _log.info("%s answered %s, which is no follow of ours", actor_id, object_id)
            return
        if accepted and follow.state == "pending":
            await fed.store.set_follow_state(follow.follow_id, "accepted", fed.clock())
        elif not accepted and follow.state in ("pending", "accepted"):
            # a Reject after an Accept is how Mastodon says "removed you as a follower"
            target = "rejected" if follow.state == "pending" else "ended"
            await fed.store.set_follow_state(follow.follow_id, target, fed.clock())

    async def on_undo(self, undo: Undo) -> None:
        fed, actor_id = self.fed, undo.actor
        undone = undo.object
        object_id = undone if isinstance(undone, str) else undone.id
        if origin(object_id) != origin(actor_id):
            raise OriginMismatch("an actor can only undo its own activities")
        follow = await fed.store.follow(object_id)
        if follow is not None:
            if (
                follow.direction == "in"
                and follow.actor_id == actor_id
                and follow.state in ("pending", "accepted")
            ):
                await fed.store.set_follow_state(follow.follow_id, follow.end_state, fed.clock())
            return
        if isinstance(undone, Block) or object_id == await fed.store.block_by_id(actor_id):
            await fed.store.remove_blocked_by(actor_id)
            return
        if isinstance(undone, Accept):
            # they take back their acceptance of our Follow: we no longer follow them
            answered = undone.object if isinstance(undone.object, str) else undone.object.id
            ours = await self._our_follow(actor_id, answered)
            if ours is not None and ours.state in ("pending", "accepted"):
                await fed.store.set_follow_state(ours.follow_id, ours.end_state, fed.clock())
            return
        if isinstance(undone, Follow):
            # an Undo naming a Follow id we never stored: drop their live follow if the object says so
            live = await fed.store.live_follow("in", actor_id)
            if live is not None and undone.object == fed.urls.owner:
                await fed.store.set_follow_state(live.follow_id, live.end_state, fed.clock())
            return
        await kith.undo_received(fed, actor_id, object_id)

    async def on_block(self, block: Block) -> None:
        fed, actor_id = self.fed, block.actor
        if block.object != fed.urls.owner:
            return
        now = fed.clock()
        await fed.store.add_blocked_by(actor_id, block.id, now)
        for direction in ("in", "out"):
            live = await fed.store.live_follow(direction, actor_id)
            if live is not None:
                await fed.store.set_follow_state(live.follow_id, live.end_state, now)

    # ---- identities ------------------------------------------------------------------------------

    async def on_update_card(self, update: Update, raw: dict[str, Any]) -> None:
        card = update.object
        assert isinstance(card, ProfileCard)  # the table's key
        # its proof is verified over the card as received
        await cards.card_received(self.fed, card, embedded(raw, "object"), activity_id=update.id)

    async def on_update_relationship(self, update: Update, raw: dict[str, Any]) -> None:
        record = update.object
        assert isinstance(record, Relationship)  # the table's key
        await kith.relationship_updated(self.fed, update.actor, record, embedded(raw, "object"))

    async def on_update_actor(self, update: Update) -> None:
        # re-read the actor from its own origin rather than trusting the embedded copy (the record says
        # that the object is the actor itself)
        await self.fed.actors.get(update.actor, source="fetch", budget=FetchBudget(remaining=3), refresh=True)

    async def on_delete(self, delete: Delete) -> None:
        fed, actor_id = self.fed, delete.actor
        if delete.object != actor_id:
            return  # deletes of posts and other objects mean nothing to a contact graph
        now = fed.clock()
        await fed.store.mark_gone(actor_id)
        fed.actors.forget(actor_id)
        for direction in ("in", "out"):
            live = await fed.store.live_follow(direction, actor_id)
            if live is not None:
                await fed.store.set_follow_state(live.follow_id, live.end_state, now)
        await fed.graph.actor_gone(actor_id)

    async def on_move(self, move: Move) -> None:
        fed, actor_id, target_id = self.fed, move.actor, move.target  # the record: object is the actor
        # the target is fetched from its own origin; only its own word (alsoKnownAs) makes the move true
        new = await fed.actors.get(target_id, source="move", budget=FetchBudget(remaining=4), refresh=True)
        if actor_id not in new.also_known_as:
            raise OriginMismatch(
                f"{target_id} does not list {actor_id} in alsoKnownAs; the Move is not confirmed"
            )
        old = await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=2), refresh=True)
        if old.moved_to not in (None, target_id):
            raise OriginMismatch(f"{actor_id} says it moved to {old.moved_to}, not {target_id}")
        await fed.store.set_moved(actor_id, target_id)
        await fed.graph.actor_moved(actor_id, new)
        live = await fed.store.live_follow("out", actor_id)
        if live is not None and not await fed.store.is_blocked(target_id):
            now = fed.clock()
            await fed.store.set_follow_state(live.follow_id, live.end_state, now)
            undone = Follow(id=live.follow_id, actor=fed.urls.owner, object=actor_id)
            await fed.send(act.undo(fed.new_id(), fed.urls.owner, undone), [old.inbox])
            follow_id = fed.new_id()
            await fed.store.add_follow(
                follow_id=follow_id, direction="out", actor_id=new.id, state="pending", now=now
            )
            await fed.send(act.follow(follow_id, fed.urls.owner, new.id), [new.inbox])

    # ---- Kith records ----------------------------------------------------------------------------

    async def on_offer(self, offer: Offer, raw: dict[str, Any]) -> None:
        # the offered record's proof is verified over the record as received
        await kith.offer_received(self.fed, offer, embedded(raw, "object"))

    # ---- direct messages and mentions (federation/messages.py) -----------------------------------

    async def on_create_note(self, actor_id: str, raw: dict[str, Any]) -> None:
        await messages.note_received(self.fed, actor_id, raw)

    # ---- organisations (specs/ORGANISATIONS.md): their wire records, read by their modules ----------------

    async def on_shares_deleted(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org.shares_deleted(self.fed, actor_id, raw)  # the Tombstone of what a member shared

    async def on_add(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org_share.add_received(self.fed, actor_id, raw)  # records a member shares

    async def on_remove(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org_share.remove_received(self.fed, actor_id, raw)

    async def on_update_introduction(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org_intro.outcome_received(self.fed, actor_id, raw["object"])

    async def on_offer_introduction(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org_intro.ask_received(self.fed, actor_id, raw)

    async def on_offer_membership(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org.offered(self.fed, actor_id, raw)

    async def on_update_org(self, actor_id: str, raw: dict[str, Any]) -> None:
        await org.updated(self.fed, actor_id, raw)


def embedded(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The object ``name`` of the activity as received (one mapping): what a signed record's proof covers."""
    value = raw.get(name)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        raise MalformedInput(f"{name} must be an embedded record", field=name)
    return value


Handler = Callable[[Processor, Received], Awaitable[None]]
_R = TypeVar("_R")


def _takes(kind: type[_R], method: Callable[[Processor, _R], Awaitable[None]]) -> Handler:
    """An entry for a handler of one record type."""

    async def handler(processor: Processor, received: Received) -> None:
        record = received.record
        if not isinstance(record, kind):  # the table's key is the record's type: a wrong entry is ours
            raise TypeError(f"{method.__name__} takes a {kind.__name__}, not a {type(record).__name__}")
        await method(processor, record)

    return handler


def _takes_raw(kind: type[_R], method: Callable[[Processor, _R, dict[str, Any]], Awaitable[None]]) -> Handler:
    """An entry for a handler of one record type that also reads the document as received (signed records)."""

    async def handler(processor: Processor, received: Received) -> None:
        record = received.record
        if not isinstance(record, kind):
            raise TypeError(f"{method.__name__} takes a {kind.__name__}, not a {type(record).__name__}")
        await method(processor, record, received.raw)

    return handler


def _wire(method: Callable[[Processor, str, dict[str, Any]], Awaitable[None]]) -> Handler:
    """An entry for an activity protocol/records.py holds no record of (federation/received.py ``Wire``):
    its module reads the document itself."""

    async def handler(processor: Processor, received: Received) -> None:
        if not isinstance(received.record, Wire):
            raise TypeError(
                f"{method.__name__} takes a wire activity, not a {type(received.record).__name__}"
            )
        await method(processor, received.actor, received.raw)

    return handler


#: What processes each activity this node acts on, by its record's type (federation/received.py
#: ``Received.key``: the record's type and, for an Update, its object's; for a wire activity, the activity's and
#: its object's types), issue #13 "Contracts": an explicit table over typed records. Accept and Reject go where
#: what they answer belongs (Processor.on_answer). Any other activity is stored, then ignored. A new handler is
#: one more entry here.
HANDLERS: Mapping[tuple[str, str | None], Handler] = MappingProxyType(
    {
        ("Follow", None): _takes(Follow, Processor.on_follow),
        ("Accept", None): _takes_raw(Accept, Processor.on_answer),
        ("Reject", None): _takes_raw(Reject, Processor.on_answer),
        ("Undo", None): _takes(Undo, Processor.on_undo),
        ("Block", None): _takes(Block, Processor.on_block),
        ("Update", None): _takes(Update, Processor.on_update_actor),  # of the actor itself
        ("Update", "ProfileCard"): _takes_raw(Update, Processor.on_update_card),
        ("Update", "Relationship"): _takes_raw(Update, Processor.on_update_relationship),
        ("Delete", None): _takes(Delete, Processor.on_delete),  # of the actor itself (or its Tombstone)
        ("Move", None): _takes(Move, Processor.on_move),
        ("Offer", None): _takes_raw(Offer, Processor.on_offer),  # of a Relationship
        # a direct message or a mention (federation/messages.py)
        ("Create", "Note"): _wire(Processor.on_create_note),
        # organisations: membership, the directory, shared records, introductions (federation/org*.py)
        ("Offer", "Membership"): _wire(Processor.on_offer_membership),
        ("Update", "Membership"): _wire(Processor.on_update_org),
        ("Update", "OrganizationInfo"): _wire(Processor.on_update_org),
        ("Offer", "Introduction"): _wire(Processor.on_offer_introduction),
        ("Update", "Introduction"): _wire(Processor.on_update_introduction),
        ("Add", "SharedContact"): _wire(Processor.on_add),
        ("Remove", "Tombstone"): _wire(Processor.on_remove),
        ("Delete", "Tombstone"): _wire(Processor.on_shares_deleted),  # of what a member shared
    }
)


async def answer_follow(fed: AccountFederation, follow_id: str, *, accepted: bool) -> None:
    """Our owner's Accept or Reject of an incoming Follow, embedding the Follow as Mastodon expects."""
    follow = await fed.store.follow(follow_id)
    if follow is None or follow.direction != "in":
        return
    target = "accepted" if accepted else ("rejected" if follow.state == "pending" else "ended")
    await fed.store.set_follow_state(follow_id, target, fed.clock())
    await _send_answer(fed, follow, accepted=accepted)


async def _send_answer(fed: AccountFederation, follow: FollowRow, *, accepted: bool) -> None:
    actor = await fed.actors.get(follow.actor_id, source="follower" if accepted else "fetch")
    answered = Follow(id=follow.follow_id, actor=follow.actor_id, object=fed.urls.owner)
    build = act.accept if accepted else act.reject
    reply = build(fed.new_id(), fed.urls.owner, answered, to=actor.id)
    await fed.send(reply, [actor.inbox], recipient=actor.id)
