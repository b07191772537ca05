"""What the owner can do with federation (the owner API and CLI call these): follow, unfollow, connect,
answer requests, block, list followers/following/peers, publish the card, move, delete the actor.

Every write is durable before anything is sent: state rows first, then the outbox (AccountFederation.send); a block,
its follows ended and what it sends are one transaction.

Blocking keeps both sides in step (issue #19 item 3), in Mastodon's order: our follow of them ends with
``Undo{Follow}``, theirs with ``Reject{Follow}``, then ``Block`` goes; a server that does not end follows on a
Block still ends both. A domain block ends follows with every actor of that domain the same way (without a
Block, as Mastodon's domain blocks of one account do). Unblocking sends ``Undo{Block}`` and follows no one
again: what the block ended stays ended until the owner follows anew.

Once the owner's actor is deleted, every operation that would act as it is refused (Gone, 410) before it
writes anything; listings still answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from federation import activities as act
from federation import kith, profile
from federation.errors import FetchError, Gone, NotFound
from federation.ports import RemoteActor
from federation.process import answer_follow
from federation.remote import parse_address
from federation.store import FollowRow, OfferRow, Outgoing, domains_of
from federation.urls import PUBLIC
from federation.values import BlockChange
from protocol.records import Block, Follow

if TYPE_CHECKING:
    from federation.service import AccountFederation

__all__ = [
    "accept",
    "answer",
    "block",
    "connect",
    "delete_actor",
    "ensure_alive",
    "follow",
    "follow_json",
    "followers",
    "following",
    "move",
    "offer_json",
    "peers",
    "publish_actor",
    "reject",
    "requests",
    "set_aliases",
    "unblock",
    "unfollow",
]


def follow_json(row: FollowRow, actor: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": row.follow_id,
        "kind": "follow",
        "direction": "incoming" if row.direction == "in" else "outgoing",
        "actor": row.actor_id,
        "acct": (actor or {}).get("acct"),
        "state": row.state,
        "created_at": row.created_at,
    }


def offer_json(row: OfferRow) -> dict[str, Any]:
    return {
        "id": row.offer_id,
        "kind": "relationship",
        "direction": "incoming" if row.direction == "in" else "outgoing",
        "actor": row.actor_id,
        "type": row.rel_type,
        "how_we_met": row.record.get("howWeMet"),
        "state": row.state,
        "record": row.final or row.record,
        "created_at": row.created_at,
    }


async def _acct(fed: AccountFederation, actor_id: str) -> dict[str, Any]:
    cached = await fed.store.actor(actor_id)
    return {"acct": cached.actor.acct if cached else None}


async def follow(fed: AccountFederation, address: str) -> dict[str, Any]:
    await ensure_alive(fed)
    actor = await fed.actors.resolve(address, source="fetch")
    if await fed.blocks.refuses_actor(actor):
        raise NotFound(f"{actor.id} is blocked; unblock it first")
    actor = await fed.actors.get(actor.id, source="following")  # just fetched: now a person in the graph
    live = await fed.store.live_follow("out", actor.id)
    if live is not None:
        return follow_json(live, await _acct(fed, actor.id))
    follow_id = fed.new_id()
    await fed.store.add_follow(
        follow_id=follow_id, direction="out", actor_id=actor.id, state="pending", now=fed.clock()
    )
    await fed.send(act.follow(follow_id, fed.urls.owner, actor.id), [actor.inbox], recipient=actor.id)
    row = await fed.store.follow(follow_id)
    assert row is not None
    return follow_json(row, await _acct(fed, actor.id))


async def unfollow(fed: AccountFederation, address: str) -> dict[str, Any]:
    await ensure_alive(fed)
    actor = await fed.actors.resolve(address, source="fetch")
    live = await fed.store.live_follow("out", actor.id)
    if live is None:
        raise NotFound(f"you do not follow {address}")
    await fed.store.set_follow_state(live.follow_id, live.end_state, fed.clock())
    undone = Follow(id=live.follow_id, actor=fed.urls.owner, object=actor.id)
    undo = act.undo(fed.new_id(), fed.urls.owner, undone, to=actor.id)
    await fed.send(undo, [actor.inbox], recipient=actor.id)
    row = await fed.store.follow(live.follow_id)
    assert row is not None
    return follow_json(row, await _acct(fed, actor.id))


async def connect(
    fed: AccountFederation,
    address: str,
    rel_type: str,
    *,
    how_we_met: str | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    await ensure_alive(fed)
    return offer_json(await kith.connect(fed, address, rel_type, how_we_met=how_we_met, since=since))


async def requests(fed: AccountFederation) -> list[dict[str, Any]]:
    """Pending requests both ways: follows waiting for approval and relationship offers."""
    out: list[dict[str, Any]] = []
    for direction in ("in", "out"):
        for row in await fed.store.follows(direction, ["pending"]):
            out.append(follow_json(row, await _acct(fed, row.actor_id)))
    out.extend(offer_json(o) for o in await fed.store.offers(["offered"]))
    return sorted(out, key=lambda r: r["created_at"])


async def answer(fed: AccountFederation, request_id: str, *, accepted: bool) -> dict[str, Any]:
    """Accept or reject a pending request: a relationship offer or a follow (rejecting an accepted follower
    removes them, as Mastodon's "remove follower" does)."""
    await ensure_alive(fed)
    offer = await fed.store.offer(request_id)
    if offer is not None and offer.direction == "in":
        await (kith.accept_offer if accepted else kith.reject_offer)(fed, offer)
        updated = await fed.store.offer(request_id)
        assert updated is not None
        return offer_json(updated)
    row = await fed.store.follow(request_id)
    allowed = ("pending",) if accepted else ("pending", "accepted")
    if row is None or row.direction != "in" or row.state not in allowed:
        raise NotFound(f"no pending request {request_id}; see `kith requests`")
    await answer_follow(fed, request_id, accepted=accepted)
    done = await fed.store.follow(request_id)
    assert done is not None
    return follow_json(done, await _acct(fed, done.actor_id))


async def accept(fed: AccountFederation, request_id: str) -> dict[str, Any]:
    return await answer(fed, request_id, accepted=True)


async def reject(fed: AccountFederation, request_id: str) -> dict[str, Any]:
    return await answer(fed, request_id, accepted=False)


def _is_domain(address: str) -> bool:
    text = address.strip()
    return ("@" not in text and "://" not in text and "." in text) or text.startswith("domain:")


def _outgoing(activity: dict[str, Any], actor: RemoteActor) -> Outgoing:
    return Outgoing(
        activity_id=activity["id"],
        type=activity["type"],
        body=json.dumps(activity),
        inboxes=[actor.inbox],
        recipient=actor.id,
    )


async def _end_follows(
    fed: AccountFederation, actor: RemoteActor
) -> tuple[list[Outgoing], list[tuple[str, str]]]:
    """What ends the follows between the owner and ``actor``, both ways: Undo{Follow} of ours, then
    Reject{Follow} of theirs (Mastodon's order), and the states the follows end in."""
    items: list[Outgoing] = []
    states: list[tuple[str, str]] = []
    ours = await fed.store.live_follow("out", actor.id)
    if ours is not None:
        states.append((ours.follow_id, ours.end_state))
        undone = Follow(id=ours.follow_id, actor=fed.urls.owner, object=actor.id)
        items.append(_outgoing(act.undo(fed.new_id(), fed.urls.owner, undone, to=actor.id), actor))
    theirs = await fed.store.live_follow("in", actor.id)
    if theirs is not None:
        states.append((theirs.follow_id, "rejected" if theirs.state == "pending" else "ended"))
        answered = Follow(
            id=theirs.follow_id, actor=actor.id, object=fed.urls.owner
        )  # embedded, as Mastodon matches it
        items.append(_outgoing(act.reject(fed.new_id(), fed.urls.owner, answered, to=actor.id), actor))
    return items, states


async def _apply_block(
    fed: AccountFederation,
    kind: str,
    value: str,
    block_id: str | None,
    items: list[Outgoing],
    ends: list[tuple[str, str]],
) -> None:
    """The block, the follows it ends and what it sends, in one transaction. The block counts in memory from
    before the write (anything checked meanwhile is already refused) and is taken back if the write fails."""
    undo = await fed.store.block_in_memory(kind, value)
    try:
        await fed.send_all(
            items, block=BlockChange(kind=kind, value=value, block_id=block_id, follows_ended=tuple(ends))
        )
    except BaseException:
        await undo()
        raise


async def block(fed: AccountFederation, address: str) -> dict[str, Any]:
    await ensure_alive(fed)
    if _is_domain(address):
        domain = address.strip().removeprefix("domain:").lower()
        items: list[Outgoing] = []
        ends: list[tuple[str, str]] = []
        for actor_id in await fed.store.live_follow_actors():
            cached = await fed.store.actor(actor_id)
            if cached is not None and domain in domains_of(cached.actor.id):
                more, states = await _end_follows(fed, cached.actor)
                items += more
                ends += states
        await _apply_block(fed, "domain", domain, None, items, ends)
        return {"kind": "domain", "value": domain}
    try:
        actor = await fed.actors.resolve(address, source="fetch")  # blocking someone is not dealing with them
    except FetchError:
        # a server that does not answer can still be blocked: from what we knew of the actor, if anything
        known = await _known_actor(fed, address)
        if known is None:
            parsed = parse_address(address)
            if not isinstance(parsed, str):
                raise
            await _apply_block(fed, "actor", parsed, None, [], [])
            return {"kind": "actor", "value": parsed, "acct": None}
        actor = known
    block_id = fed.new_id()
    items, ends = await _end_follows(fed, actor)
    items.append(_outgoing(act.block(block_id, fed.urls.owner, actor.id), actor))
    await _apply_block(fed, "actor", actor.id, block_id, items, ends)
    return {"kind": "actor", "value": actor.id, "acct": actor.acct}


async def _known_actor(fed: AccountFederation, address: str) -> RemoteActor | None:
    parsed = parse_address(address)
    cached = (
        await fed.store.actor(parsed)
        if isinstance(parsed, str)
        else await fed.store.actor_by_acct(f"{parsed[0]}@{parsed[1]}")
    )
    return cached.actor if cached is not None else None


async def unblock(fed: AccountFederation, address: str) -> dict[str, Any]:
    """Lift a block: ``Undo{Block}`` to an actor; nothing the block ended is started again."""
    await ensure_alive(fed)
    if _is_domain(address):
        domain = address.strip().removeprefix("domain:").lower()
        await fed.store.remove_block("domain", domain)
        return {"kind": "domain", "value": domain}
    parsed = parse_address(address)
    actor_id = parsed if isinstance(parsed, str) else None
    if actor_id is None:
        cached = await fed.store.actor_by_acct(f"{parsed[0]}@{parsed[1]}")
        if cached is None:
            raise NotFound(f"{address} is not blocked")
        actor_id = cached.actor.id
    block_id = await fed.store.remove_block("actor", actor_id)
    cached_actor = await fed.store.actor(actor_id)
    if block_id and cached_actor is not None:
        undone = Block(id=block_id, actor=fed.urls.owner, object=actor_id, to=(actor_id,))
        await fed.send(
            act.undo(fed.new_id(), fed.urls.owner, undone, to=actor_id),
            [cached_actor.actor.inbox],
            recipient=actor_id,
        )
    return {"kind": "actor", "value": actor_id}


async def followers(fed: AccountFederation) -> list[dict[str, Any]]:
    return [follow_json(r, await _acct(fed, r.actor_id)) for r in await fed.store.follows("in", ["accepted"])]


async def following(fed: AccountFederation) -> list[dict[str, Any]]:
    rows = await fed.store.follows("out", ["accepted", "pending"])
    return [follow_json(r, await _acct(fed, r.actor_id)) for r in rows]


async def peers(fed: AccountFederation) -> list[dict[str, Any]]:
    """Per host we deliver to: queued / failing / dead, with counts and the last error."""
    out = []
    for row in await fed.store.peer_status():
        if row["host_dead"] or row["dead"]:
            status = "dead"
        elif row["failures"]:
            status = "failing"
        elif row["queued"]:
            status = "queued"
        else:
            status = "ok"
        out.append(
            {
                "host": row["host"],
                "status": status,
                "queued": row["queued"] or 0,
                "delivered": row["delivered"] or 0,
                "failed": row["failed"] or 0,
                "dead": row["dead"] or 0,
                "consecutive_failures": row["failures"] or 0,
                "signature_scheme": row["scheme"],
                "last_error": row["last_error"],
            }
        )
    return out


async def _follower_inboxes(fed: AccountFederation) -> list[str]:
    """Followers' inboxes with shared-inbox de-duplication (only for public items)."""
    return await profile.follower_inboxes(fed)


async def publish_actor(fed: AccountFederation) -> int:
    """Tell followers the owner's actor changed (name, keys, aliases): a public Update, shared inboxes."""
    if await fed.store.tombstone(fed.urls.owner) is not None:
        return 0  # a deleted actor has nothing to update; what changed stays on this node
    return await profile.publish_actor(fed)


async def set_aliases(fed: AccountFederation, addresses: list[str]) -> list[str]:
    """alsoKnownAs of the owner's actor: the accounts they move from (needed before a Move to us)."""
    await ensure_alive(fed)
    ids = []
    for address in addresses:
        parsed = parse_address(address)
        ids.append(
            parsed if isinstance(parsed, str) else (await fed.actors.resolve(address, source="owner")).id
        )
    await fed.store.set_setting("also_known_as", ids)
    await publish_actor(fed)
    return ids


async def move(fed: AccountFederation, address: str) -> dict[str, Any]:
    """The owner moved to another account: point movedTo at it and tell followers (Move, as Mastodon), and
    everyone else who has the owner in their graph (issue 12 §7): the accounts the owner follows and the Kith
    peers holding a relationship record or the card, who repoint their record of the owner and mark the old
    address moved. They are reached at their inboxes only, never named in the activity (whom the owner is
    related to is private, and the Move is public)."""
    await ensure_alive(fed)
    target = await fed.actors.resolve(address, source="owner")
    if fed.urls.owner not in target.also_known_as:
        raise NotFound(
            f"{target.id} must list {fed.urls.owner} in alsoKnownAs first (kith alias on the new node)"
        )
    await fed.store.set_setting("moved_to", target.id)
    activity = act.move(fed.new_id(), fed.urls.owner, target.id, fed.urls.followers(fed.urls.owner))
    inboxes = await _everyone_who_knows(fed)
    await fed.send(activity, inboxes, public=True)
    return {"moved_to": target.id, "notified": len(inboxes)}


# ---- deleting the actor ----------------------------------------------------------------------------


async def ensure_alive(fed: AccountFederation, actor_id: str | None = None) -> None:
    """Refuse (Gone, 410) to act as an actor of ours that was deleted, before anything is written."""
    actor_id = actor_id or fed.urls.owner
    tomb = await fed.store.tombstone(actor_id)
    if tomb is not None:
        raise Gone(
            f"{actor_id} was deleted on {_iso(tomb.deleted_at)}; nothing can be done as it any more. "
            "The contact graph on this node is still yours (kith people, kith export)"
        )


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _everyone_who_knows(fed: AccountFederation) -> list[str]:
    """The inboxes of everyone the owner's actor deals with: followers (accepted or asking), the accounts it
    follows or asked to, Kith peers it holds or offered relationship records with, and the peers its card
    goes to; shared inboxes where they have one (a Delete of an actor is public, as Mastodon sends it).
    Never an actor we block, one that blocks us, or one that is gone."""
    ids: set[str] = set()
    for direction in ("in", "out"):
        ids.update(r.actor_id for r in await fed.store.follows(direction, ["pending", "accepted"]))
    ids.update(o.actor_id for o in await fed.store.offers(["offered", "accepted"]))
    ids.update(await fed.graph.peers_allowed_to_see_card())
    known = await fed.store.actors(sorted(ids))
    blocked_by = await fed.store.blocked_by()
    inboxes = set()
    for actor_id, cached in known.items():
        if cached.gone or actor_id in blocked_by or await fed.store.is_blocked(actor_id):
            continue
        inboxes.add(cached.actor.shared_inbox or cached.actor.inbox)
    return sorted(inboxes)


async def delete_actor(fed: AccountFederation, actor_id: str | None = None) -> dict[str, Any]:
    """Delete one of our actors (the owner's, by default) for good (specs/FEDERATION.md, issue 12 §7).

    ``Delete`` of the actor goes to every follower's (shared) inbox and every peer (_everyone_who_knows); from
    then on the actor and its objects answer 410 Gone with a Tombstone, its inbox takes nothing, and nothing
    more is sent as it. The contact graph stays. A function of the actor, not of the node: account removal
    calls it per account.

    Safe to repeat and to interrupt: the tombstone is written first, then the Delete is queued (a repeat
    queues it if a crash came between), then the actor's live follows end here as they end there."""
    actor_id = actor_id or fed.urls.owner
    if actor_id != fed.urls.owner:
        raise NotFound(f"{actor_id} is not an actor of this node")
    earlier = await fed.store.tombstone(actor_id)
    notified = 0
    if earlier is None or not await fed.store.in_outbox(earlier.activity_id):
        inboxes = await _everyone_who_knows(fed)  # read before anything ends
        tomb = await fed.store.add_tombstone(
            actor_id,
            former_type=fed.account.actor_type,
            activity_id=actor_id + "#delete",  # the shape Mastodon gives it; stable, so repeats dedupe
            now=fed.clock(),
        )
        await fed.send(act.delete(tomb.activity_id, actor_id, actor_id, to=[PUBLIC]), inboxes)
        notified = len(inboxes)
    now = fed.clock()
    for direction in ("in", "out"):
        for row in await fed.store.follows(direction, ["pending", "accepted"]):
            await fed.store.set_follow_state(row.follow_id, row.end_state, now)
    done = await fed.store.tombstone(actor_id)
    assert done is not None
    return {
        "actor": actor_id,
        "deleted_at": _iso(done.deleted_at),
        "notified": notified,
        "already_deleted": earlier is not None,
    }
