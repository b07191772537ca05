"""Shared by the import tests: a real node database in a temporary folder (or a PostgreSQL schema: PgNode), and
export files written on the fly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from node.graph import Graph
from node.store import GraphStore
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore

SAMPLES = Path(__file__).resolve().parent.parent / "bridges" / "samples"


class Node:
    """A graph on SQLite, read back by SQL (``?`` placeholders)."""

    #: The search rows as (person key, names, organization, identities, notes).
    SEARCH_ROWS = "SELECT rowid, names, organization, identities, notes FROM person_fts"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store: GraphStore = SqliteGraphStore.of(db)
        self.graph = Graph(self.store)

    async def broken_references(self) -> list[tuple[Any, ...]]:
        """Rows whose references do not hold (imports write with SQLite's reference checks off)."""
        return await self.rows("PRAGMA foreign_key_check")

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def run(conn: Any) -> list[tuple[Any, ...]]:
            async with conn.execute(sql, params) as cur:
                return [tuple(r) for r in await cur.fetchall()]

        result: list[tuple[Any, ...]] = await self.db.read(run)
        return result

    async def count(self, table: str, where: str = "1") -> int:
        return int((await self.rows(f"SELECT count(*) FROM {table} WHERE {where}"))[0][0])

    async def person_of(self, uri: str) -> tuple[Any, ...]:
        rows = await self.rows(
            "SELECT p.pk, p.id, p.display_name, p.status FROM identity i JOIN person p ON p.pk = i.person_pk "
            "WHERE i.uri = ?",
            (uri,),
        )
        assert rows, f"no person holds {uri}"
        return rows[0]

    async def snapshot(self) -> dict[str, Any]:
        doc = await self.graph.export_json()
        doc.pop("exported_at")
        return doc


class PgNode(Node):
    """A graph in a PostgreSQL schema of its own, read back by the same SQL as Node's (``?`` becomes ``%s``)."""

    SEARCH_ROWS = "SELECT pk, names, organization, identities, notes FROM person_fts"

    def __init__(self, db: Any, imports: Path) -> None:  # a PgDatabase
        from node.store.postgres.store import PgGraphStore

        self.db = db
        self.store = PgGraphStore.of(db, imports_folder=imports)
        self.graph = Graph(self.store)

    @classmethod
    async def open(cls, url: str, schema: str, imports: Path) -> PgNode:
        from node.store.postgres.db import GRAPH_MIGRATIONS, PgDatabase

        return cls(await PgDatabase.open(url, schema=schema, migrations=GRAPH_MIGRATIONS), imports)

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        from node.store.postgres.rows import fetch_all

        async def run(conn: Any) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await fetch_all(conn, sql.replace("?", "%s"), params)]

        result: list[tuple[Any, ...]] = await self.db.read(run)
        return result

    async def count(self, table: str, where: str = "true") -> int:
        return await super().count(table, "true" if where == "1" else where)

    async def broken_references(self) -> list[tuple[Any, ...]]:
        return []  # PostgreSQL checks every reference as it is written


def write_x_archive(
    root: Path,
    *,
    owner: str = "9000",
    following: Sequence[str] = (),
    follower: Sequence[str] = (),
    dms: Sequence[tuple[str, str, str, str]] = (),
) -> Path:
    """An unpacked X archive: data/account.js, following.js, follower.js and direct-messages.js.
    ``dms`` are (message id, sender id, recipient id, ISO time)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)

    def js(name: str, kind: str, items: list[Any]) -> None:
        (data / f"{name}.js").write_text(
            f"window.YTD.{kind}.part0 = {json.dumps(items, indent=2)}\n", encoding="utf-8"
        )

    js(
        "account",
        "account",
        [{"account": {"accountId": owner, "username": "me", "accountDisplayName": "Me"}}],
    )
    js(
        "following",
        "following",
        [
            {"following": {"accountId": i, "userLink": f"https://twitter.com/intent/user?user_id={i}"}}
            for i in following
        ],
    )
    js(
        "follower",
        "follower",
        [
            {"follower": {"accountId": i, "userLink": f"https://twitter.com/intent/user?user_id={i}"}}
            for i in follower
        ],
    )
    conversations: dict[str, list[Any]] = {}
    for mid, sender, recipient, when in dms:
        conv = "-".join(sorted((sender, recipient)))
        conversations.setdefault(conv, []).append(
            {
                "messageCreate": {
                    "id": mid,
                    "senderId": sender,
                    "recipientId": recipient,
                    "text": f"message {mid}",
                    "createdAt": when,
                    "mediaUrls": [],
                    "urls": [],
                    "reactions": [],
                }
            }
        )
    js(
        "direct-messages",
        "direct_messages",
        [{"dmConversation": {"conversationId": c, "messages": m}} for c, m in conversations.items()],
    )
    return root


def write_vcard(path: Path, cards: Sequence[Sequence[str]]) -> Path:
    """Each card is a list of content lines between BEGIN and END."""
    text = "".join(
        "BEGIN:VCARD\r\nVERSION:3.0\r\n" + "".join(f"{line}\r\n" for line in card) + "END:VCARD\r\n"
        for card in cards
    )
    path.write_text(text, encoding="utf-8")
    return path


CONNECTIONS_HEAD = "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"


def write_connections(path: Path, rows: Sequence[str]) -> Path:
    path.write_text(CONNECTIONS_HEAD + "".join(r + "\r\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node database in the test's folder (tests import this fixture by name)."""
    db = await Database.open(tmp_path / "kith.sqlite")
    yield Node(db)
    await db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each engine a test of the importer runs on (tests import this fixture by name with ``open_node``)."""
    name: str = request.param
    return name


async def open_node(backend: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Node:
    """A new empty graph called ``name`` on ``backend`` (PostgreSQL: a schema in the test's own database);
    the caller closes ``node.db``."""
    if backend == "postgres":
        url = str(request.getfixturevalue("postgres_db_url"))
        return await PgNode.open(url, f"g_{name}", tmp_path / "imports" / name)
    return Node(await Database.open(tmp_path / f"{name}.sqlite3"))


@pytest.fixture
async def node_on_each_engine(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Node]:
    """A new empty graph on each engine in turn (a test module makes it its ``node``)."""
    made = await open_node(backend, request, tmp_path, "kith")
    try:
        yield made
    finally:
        await made.db.close()
