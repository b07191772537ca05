"""Federation nodes whose GraphPort is the real one (node/federation_port.py over node/graph.py and the node's
own graph database, SQLite or PostgreSQL), for tests of what enters the owner's graph and of what the owner
discloses to whom."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from node.federation_port import NodeGraphPort
from node.graph import Graph
from node.store import GraphStore
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore

from .nodes import FakeClock, Node, start_node


def port(node: Node) -> NodeGraphPort:
    graph = node.graph
    assert isinstance(graph, NodeGraphPort)
    return graph


def graph(node: Node) -> Graph:
    return port(node).graph


def graph_store(db: Any) -> GraphStore:
    """The graph store over an account's open graph database, of its engine (the backend fixture's choice)."""
    if isinstance(db, Database):
        return SqliteGraphStore.of(db)
    from node.store.postgres.store import PgGraphStore

    return PgGraphStore.of(db)


@asynccontextmanager
async def graph_node(tmp: Path, name: str, clock: FakeClock, **kw: Any) -> AsyncIterator[Node]:
    def factory(db: Any) -> NodeGraphPort:
        return NodeGraphPort(Graph(graph_store(db)))

    async with start_node(tmp, name, clock, graph_factory=factory, **kw) as node:
        yield node


async def people(node: Node) -> list[dict[str, Any]]:
    """Every person in the node's graph, with their identity uris."""
    found = []
    offset: int | None = 0
    while offset is not None:
        page = await graph(node).list_people(offset=offset, limit=200)
        found += [
            {"id": p.id, "name": p.display_name, "uris": [i.uri for i in p.identities]} for p in page.items
        ]
        offset = page.next_offset
    return found


async def person_of(node: Node, uri: str) -> str | None:
    person = await port(node).store.people.person_for_identity(uri)
    return person.id if person is not None else None
