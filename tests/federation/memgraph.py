"""An in-memory GraphPort for federation tests (the real one lives in node/federation_port.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from federation.ports import ActorSource, RemoteActor


class MemoryGraph:
    def __init__(self) -> None:
        self.actors: dict[str, RemoteActor] = {}
        self.sources: dict[str, set[str]] = {}
        self.gone: set[str] = set()
        self.moves: list[tuple[str, str]] = []
        self.cards: dict[str, dict[str, Any]] = {}
        self.relationships: dict[str, dict[str, Any]] = {}
        self.revoked: list[tuple[str, str]] = []
        # what our owner discloses: peer actor id -> card fields
        self.disclosed: dict[str, dict[str, Any]] = {}

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str:
        self.actors[actor.id] = actor
        self.sources.setdefault(actor.id, set()).add(source)
        return "person:" + actor.id

    async def actor_gone(self, actor_id: str) -> None:
        self.gone.add(actor_id)

    async def actor_moved(self, old_id: str, new_actor: RemoteActor) -> None:
        self.moves.append((old_id, new_actor.id))

    async def card_received(self, actor_id: str, card: Mapping[str, Any]) -> None:
        self.cards[actor_id] = dict(card)

    async def relationship_confirmed(self, actor_id: str, record: Mapping[str, Any]) -> None:
        self.relationships[str(record["id"])] = dict(record)

    async def relationship_revoked(self, actor_id: str, record_id: str) -> None:
        self.revoked.append((actor_id, record_id))

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        return self.disclosed.get(actor_id)

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        return list(self.disclosed)
