"""One block decision for every path (specs/PROTOCOL.md §9 rule 4, docs/ARCHITECTURE.md §5): the inbox (at
intake, and again when an item is processed: it may have arrived before the block), every signed fetch (objects
and collections), the card and relationship routes, and each delivery at send time.

Who a block covers, whichever way they come:
- the actor itself, and every key it signs with: a key id names its actor with a ``#fragment``, or is some
  other URL whose owner we learned when we fetched the key (``fed_actors.key_id``);
- the accounts it says it also is (``alsoKnownAs``): a blocked account cannot come back as a new account that
  names it (which is what a Move needs), and listing a blocked account in one's own document hurts no one else;
- its server's actor: a Kith node's ``Application`` actor signs fetches on behalf of the owners on its origin
  (as Mastodon's instance actor does); it never speaks for one the owner blocks;
- its domain and every parent domain of it (``domain`` blocks).
And in the other direction, the owner's card and records are hidden from actors who block the owner.
"""

from __future__ import annotations

from federation.ports import RemoteActor
from federation.store import AccountStore

__all__ = ["ENDING_TYPES", "Blocks"]

#: Activities that end something with their recipient. They still go to an actor the owner has just blocked
#: (they are how the block reaches that server: Undo{Follow}, Reject{Follow}, then Block, as Mastodon sends
#: them; a Delete of the owner's actor) and they disclose nothing. Everything else to a blocked actor is
#: withdrawn at send time, whenever it was queued.
ENDING_TYPES = frozenset({"Block", "Undo", "Reject", "Delete"})


class Blocks:
    """One account's blocks, both ways ("the owner": that account)."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    async def refuses(self, *ids: str) -> bool:
        """Any of ``ids`` (actor ids, key ids with or without a fragment, inbox URLs) names a blocked actor
        or is on a blocked domain. Answered from memory (AccountStore keeps the blocks there, briefly)."""
        for ident in ids:
            if ident and await self.store.is_blocked(ident):
                return True
        return False

    async def refuses_actor(self, actor: RemoteActor) -> bool:
        """The actor, its key and the accounts it says it also is."""
        return await self.refuses(actor.id, actor.public_key_id, *actor.also_known_as)

    async def refuses_id(self, actor_id: str) -> bool:
        """An actor known by its id only: what we know of it (its keys, its aliases) counts too."""
        if not await self.store.has_blocks():
            return False
        cached = await self.store.actor(actor_id)
        return await self.refuses_actor(cached.actor) if cached is not None else await self.refuses(actor_id)

    async def refuses_key(self, key_id: str) -> bool:
        """A key id from a request we have not verified: its fragment-less form, its domain, and the actor a
        key of that id belonged to when we last fetched it (keys without a fragment name no actor)."""
        if not await self.store.has_blocks():
            return False
        if await self.refuses(key_id):
            return True
        cached = await self.store.actor_by_key(key_id)
        return cached is not None and await self.refuses_actor(cached.actor)

    async def hidden_from(self, actor: RemoteActor) -> bool:
        """The owner's card and records are not for ``actor``: blocked by the owner, or blocking the owner."""
        return await self.refuses_actor(actor) or await self.store.is_blocked_by(actor.id)

    async def speaks_for(self, signer: RemoteActor) -> list[str]:
        """Whom a signed fetch speaks for. A Kith node fetches with its Application actor, which speaks for
        the Kith owners on its origin; anyone else speaks only for themselves. Never for one the owner blocks
        or who blocks the owner."""
        if signer.type != "Application":
            candidates = [signer]
        else:
            candidates = [a for a in await self.store.kith_actors_on(signer.host) if a.type != "Application"]
        return [a.id for a in candidates if not await self.hidden_from(a)]

    async def withholds(self, *, activity_type: str, inbox: str, recipient: str | None) -> str | None:
        """Why a delivery must not go now (None: it may): the recipient or the inbox's domain is blocked.
        Activities of ENDING_TYPES always go."""
        if activity_type in ENDING_TYPES or not await self.store.has_blocks():
            return None
        if await self.refuses(inbox):
            return "the recipient's domain is blocked"
        if recipient is not None and await self.refuses_id(recipient):
            return "the recipient is blocked"
        return None
