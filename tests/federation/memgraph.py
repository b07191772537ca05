"""An in-memory GraphPort for federation tests (the real one lives in node/federation_port.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from federation.ports import PERSON_SOURCES, ActorSource, CardVersion, FediMessage, GraphPort, RemoteActor


class FixedGraphs:
    """federation.ports.GraphPorts over graphs given per account (in-memory ones, or ports over real graphs)."""

    def __init__(self, graphs: Mapping[str, Any]) -> None:
        self.graphs = dict(graphs)

    @contextlib.asynccontextmanager
    async def graph_for(self, account: str, *, walk: bool = False) -> AsyncIterator[GraphPort]:
        yield self.graphs[account]


class MemoryGraph:
    def __init__(self) -> None:
        self.actors: dict[str, RemoteActor] = {}
        self.sources: dict[str, set[str]] = {}
        self.gone: set[str] = set()
        self.moves: list[tuple[str, str]] = []
        self.cards: dict[str, dict[str, Any]] = {}
        self.relationships: dict[str, dict[str, Any]] = {}
        self.revoked: list[tuple[str, str]] = []
        # what our owner discloses: peer actor id -> card fields; the public part of the card
        self.disclosed: dict[str, dict[str, Any]] = {}
        self.public: dict[str, Any] | None = None
        self.version = CardVersion(
            seq=1, updated=datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
        )  # before FakeClock
        # actors that are people in this graph (the real graph's rule: federation.ports.PERSON_SOURCES)
        self.people: set[str] = set()
        self.messages: list[FediMessage] = []

    def change_card(self, seconds: int = 1) -> None:
        """The owner changed the card: the next version."""
        updated = datetime.fromtimestamp(self.version.updated.timestamp() + seconds, UTC)
        self.version = CardVersion(seq=self.version.seq + 1, updated=updated)

    async def remote_actor_seen(self, actor: RemoteActor, *, source: ActorSource) -> str | None:
        self.actors[actor.id] = actor
        self.sources.setdefault(actor.id, set()).add(source)
        if source in PERSON_SOURCES:
            self.people.add(actor.id)
        return "person:" + actor.id if actor.id in self.people else None

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

    async def message_received(self, message: FediMessage) -> None:
        self.messages.append(message)

    async def card_for(self, actor_id: str) -> Mapping[str, Any] | None:
        return self.disclosed.get(actor_id)

    async def peers_allowed_to_see_card(self) -> Sequence[str]:
        return list(self.disclosed)

    async def card_version(self) -> CardVersion | None:
        return self.version

    async def public_card(self) -> Mapping[str, Any] | None:
        return self.public
