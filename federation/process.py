"""Processing stored inbox items: what each activity means for follows, blocks, identities and Kith records.

Everything here runs in the inbox worker after the intake checked signature, origin and blocks. Objects that
came embedded from another origin were cut down to their id by the intake; they are matched against our own
store (our Follow, our Offer) or fetched again from their own origin (a Move target), never trusted as sent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation import cards, kith, messages, org, org_intro, org_share
from federation import org_wire as wire
from federation.errors import Blocked
from federation.fetch import FetchBudget
from federation.remote import origin
from federation.store import FollowRow
from protocol.errors import MalformedInput, OriginMismatch

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "HANDLERS",
    "Handler",
    "Processor",
    "answer_follow",
    "ref",
]

_log = logging.getLogger("kith.federation.inbox")


def ref(value: Any) -> str | None:
    """The id an ``object``/``target`` names: a string, an object with ``id``, or a one-element array."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


class Processor:
    def __init__(self, fed: AccountFederation) -> None:
        self.fed = fed

    async def process(self, actor_id: str, activity: dict[str, Any]) -> None:
        if await self.fed.store.tombstone(self.fed.urls.owner) is not None:
            # the owner's actor was deleted: nothing that reaches it is acted on (no follows, no offers)
            _log.debug("ignoring %s from %s: the owner's actor was deleted", activity.get("type"), actor_id)
            return
        if await self.fed.blocks.refuses_id(actor_id):  # accepted before the owner blocked its actor
            raise Blocked(f"{actor_id} is blocked; its activity is not acted on")
        kind, obj = activity.get("type"), activity.get("object")
        obj_type = obj.get("type") if isinstance(obj, dict) else None
        handler = None
        if isinstance(kind, str):  # the object's own entry first, else the type's (HANDLERS)
            named = obj_type if isinstance(obj_type, str) else None
            handler = HANDLERS.get((kind, named)) or HANDLERS.get((kind, None))
        if handler is None:
            _log.debug("ignoring %s from %s", kind, actor_id)
            return
        await handler(self, actor_id, activity)

    # ---- follows ---------------------------------------------------------------------------------

    async def on_Follow(self, actor_id: str, activity: dict[str, Any]) -> None:
        fed = self.fed
        if ref(activity.get("object")) != fed.urls.owner:
            return  # only the owner can be followed
        # a follow request is not yet a dealing: the follower becomes a person when it is accepted
        await fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3))
        follow_id = activity["id"]
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

    async def on_Accept(self, actor_id: str, activity: dict[str, Any]) -> None:
        await self._answer(actor_id, activity, accepted=True)

    async def on_Reject(self, actor_id: str, activity: dict[str, Any]) -> None:
        await self._answer(actor_id, activity, accepted=False)

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

    async def _answer(self, actor_id: str, activity: dict[str, Any], *, accepted: bool) -> None:
        fed = self.fed
        object_id = ref(activity.get("object"))
        if object_id is None:
            raise MalformedInput("Accept/Reject without an object")
        # an answer goes where what it answers belongs: our offer (a relationship's, or a membership's:
        # federation/org.py), an organisation's ask for an introduction (federation/org_intro.py), our follow
        offer = await fed.store.offer(object_id)
        if offer is not None and offer.rel_type == org.MEMBERSHIP:
            await org.answered(fed, offer, actor_id, activity)
            return
        if offer is not None and offer.direction == "out" and offer.actor_id == actor_id:
            await kith.offer_answered(fed, offer, activity, accepted=accepted)
            return
        if fed.org is not None and org.is_org(fed) and await fed.org.intro_ask(object_id) is not None:
            await org_intro.answered(fed, actor_id, object_id, activity, accepted=accepted)
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

    async def on_Undo(self, actor_id: str, activity: dict[str, Any]) -> None:
        fed = self.fed
        obj = activity.get("object")
        object_id = ref(obj)
        if object_id is None:
            raise MalformedInput("Undo without an object")
        if origin(object_id) != origin(actor_id):
            raise OriginMismatch("an actor can only undo its own activities")
        inner_type = obj.get("type") if isinstance(obj, dict) else None
        follow = await fed.store.follow(object_id)
        if follow is not None:
            if (
                follow.direction == "in"
                and follow.actor_id == actor_id
                and follow.state in ("pending", "accepted")
            ):
                await fed.store.set_follow_state(follow.follow_id, follow.end_state, fed.clock())
            return
        if inner_type == "Block" or object_id == await fed.store.block_by_id(actor_id):
            await fed.store.remove_blocked_by(actor_id)
            return
        if inner_type == "Accept" and isinstance(obj, dict):
            # they take back their acceptance of our Follow: we no longer follow them
            ours = await self._our_follow(actor_id, ref(obj.get("object")) or "")
            if ours is not None and ours.state in ("pending", "accepted"):
                await fed.store.set_follow_state(ours.follow_id, ours.end_state, fed.clock())
            return
        if inner_type == "Follow":
            # an Undo naming a Follow id we never stored: drop their live follow if the object says so
            live = await fed.store.live_follow("in", actor_id)
            if live is not None and isinstance(obj, dict) and ref(obj.get("object")) == fed.urls.owner:
                await fed.store.set_follow_state(live.follow_id, live.end_state, fed.clock())
            return
        await kith.undo_received(fed, actor_id, object_id)

    async def on_Block(self, actor_id: str, activity: dict[str, Any]) -> None:
        fed = self.fed
        if ref(activity.get("object")) != fed.urls.owner:
            return
        now = fed.clock()
        await fed.store.add_blocked_by(actor_id, activity["id"], now)
        for direction in ("in", "out"):
            live = await fed.store.live_follow(direction, actor_id)
            if live is not None:
                await fed.store.set_follow_state(live.follow_id, live.end_state, now)

    # ---- identities ------------------------------------------------------------------------------

    async def on_Update_card(self, actor_id: str, activity: dict[str, Any]) -> None:
        obj = activity["object"]  # a ProfileCard (the table's key)
        activity_id = activity.get("id")
        await cards.card_received(
            self.fed, actor_id, obj, activity_id=activity_id if isinstance(activity_id, str) else None
        )

    async def on_Update_relationship(self, actor_id: str, activity: dict[str, Any]) -> None:
        await kith.relationship_updated(self.fed, actor_id, activity["object"])

    async def on_Update(self, actor_id: str, activity: dict[str, Any]) -> None:
        obj = activity.get("object")
        if ref(obj) == actor_id:
            # re-read the actor from its own origin rather than trusting the embedded copy
            await self.fed.actors.get(actor_id, source="fetch", budget=FetchBudget(remaining=3), refresh=True)

    async def on_Delete(self, actor_id: str, activity: dict[str, Any]) -> None:
        fed = self.fed
        if ref(activity.get("object")) != actor_id:
            return  # deletes of posts and other objects mean nothing to a contact graph
        now = fed.clock()
        await fed.store.mark_gone(actor_id)
        fed.actors.forget(actor_id)
        for direction in ("in", "out"):
            live = await fed.store.live_follow(direction, actor_id)
            if live is not None:
                await fed.store.set_follow_state(live.follow_id, live.end_state, now)
        await fed.graph.actor_gone(actor_id)

    async def on_Move(self, actor_id: str, activity: dict[str, Any]) -> None:
        fed = self.fed
        if ref(activity.get("object")) != actor_id:
            raise OriginMismatch("an actor can only move itself")
        target_id = ref(activity.get("target"))
        if target_id is None:
            raise MalformedInput("Move without a target")
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
            undone = act.follow(live.follow_id, fed.urls.owner, actor_id)
            await fed.send(act.undo(fed.new_id(), fed.urls.owner, undone), [old.inbox])
            follow_id = fed.new_id()
            await fed.store.add_follow(
                follow_id=follow_id, direction="out", actor_id=new.id, state="pending", now=now
            )
            await fed.send(act.follow(follow_id, fed.urls.owner, new.id), [new.inbox])

    # ---- Kith records ----------------------------------------------------------------------------

    async def on_Offer(self, actor_id: str, activity: dict[str, Any]) -> None:
        await kith.offer_received(self.fed, actor_id, activity)

    # ---- direct messages and mentions (federation/messages.py) -----------------------------------

    async def on_Create_note(self, actor_id: str, activity: dict[str, Any]) -> None:
        await messages.note_received(self.fed, actor_id, activity)

    # ---- organisations (specs/ORGANISATIONS.md) ---------------------------------------------------------

    async def on_Delete_tombstone(self, actor_id: str, activity: dict[str, Any]) -> None:
        if wire.wants(activity):  # the Tombstone of what a member shared with its organisation
            await org.shares_deleted(self.fed, actor_id, activity)
        else:  # an actor's Delete may embed its Tombstone
            await self.on_Delete(actor_id, activity)

    async def on_Add(self, actor_id: str, activity: dict[str, Any]) -> None:
        if wire.wants(activity):  # records a member shares (nothing else in Kith is added)
            await org_share.add_received(self.fed, actor_id, activity)

    async def on_Remove(self, actor_id: str, activity: dict[str, Any]) -> None:
        if wire.wants(activity):
            await org_share.remove_received(self.fed, actor_id, activity)

    async def on_Update_introduction(self, actor_id: str, activity: dict[str, Any]) -> None:
        await org_intro.outcome_received(self.fed, actor_id, activity["object"])

    async def on_Offer_introduction(self, actor_id: str, activity: dict[str, Any]) -> None:
        await org_intro.ask_received(self.fed, actor_id, activity)

    async def on_Offer_membership(self, actor_id: str, activity: dict[str, Any]) -> None:
        await org.offered(self.fed, actor_id, activity)

    async def on_Update_org(self, actor_id: str, activity: dict[str, Any]) -> None:
        await org.updated(self.fed, actor_id, activity)


#: What processes each activity this node acts on, by its type and its object's type (issue #13, "Contracts":
#: an explicit table, not a lookup by name). ``(type, None)`` takes every object that has no entry of its own.
#: Accept and Reject go where what they answer belongs (Processor._answer). Any other activity is stored, then
#: ignored. A new handler is one more entry here.
Handler = Callable[[Processor, str, dict[str, Any]], Awaitable[None]]
HANDLERS: Mapping[tuple[str, str | None], Handler] = MappingProxyType(
    {
        ("Follow", None): Processor.on_Follow,
        ("Accept", None): Processor.on_Accept,
        ("Reject", None): Processor.on_Reject,
        ("Undo", None): Processor.on_Undo,
        ("Block", None): Processor.on_Block,
        ("Update", None): Processor.on_Update,  # of an actor
        ("Update", "ProfileCard"): Processor.on_Update_card,
        ("Update", "Relationship"): Processor.on_Update_relationship,
        ("Delete", None): Processor.on_Delete,
        ("Move", None): Processor.on_Move,
        ("Offer", None): Processor.on_Offer,  # of a Relationship
        (
            "Create",
            "Note",
        ): Processor.on_Create_note,  # a direct message or a mention (federation/messages.py)
        # organisations: membership, the directory, shared records, introductions (federation/org*.py)
        ("Offer", "Membership"): Processor.on_Offer_membership,
        ("Update", "Membership"): Processor.on_Update_org,
        ("Update", "OrganizationInfo"): Processor.on_Update_org,
        ("Offer", "Introduction"): Processor.on_Offer_introduction,
        ("Update", "Introduction"): Processor.on_Update_introduction,
        ("Add", None): Processor.on_Add,
        ("Remove", None): Processor.on_Remove,
        ("Delete", "Tombstone"): Processor.on_Delete_tombstone,
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
    answered = act.follow(follow.follow_id, follow.actor_id, fed.urls.owner)
    build = act.accept if accepted else act.reject
    reply = build(fed.new_id(), fed.urls.owner, answered, to=actor.id)
    await fed.send(reply, [actor.inbox], recipient=actor.id)
