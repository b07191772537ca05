"""Graph migration 0013 (the verification level "bridged", issue #18): a graph made before it keeps every
identity, its provenance, its CardDAV change tracking and its references, and takes the new level afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.graph import Graph
from node.store import StoreConflict
from node.store.sqlite.db import Database, migrations
from node.store.sqlite.driver import sqlite
from node.store.sqlite.store import SqliteGraphStore
from tests.conftest import FixedClock

T = "2020-01-01T00:00:00Z"


def _make_before_bridged(path: Path) -> None:
    """A graph as migration 0012 left it, written by hand (no Kith code): one person with two identities (one
    from a bridge's actor, "claimed" as it was then) and their provenance (its CardDAV card made by the triggers)."""
    conn = sqlite.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    for m in migrations():
        if m.version <= 12:
            conn.executescript(f"BEGIN;\n{m.sql}\nCOMMIT;")
    conn.execute(
        "INSERT INTO person (pk, id, display_name, created_at, updated_at) VALUES (1, 'p_old', 'Old', ?, ?)",
        (T, T),
    )
    for pk, uri, kind in (
        (7, "did:plc:abcdefghijklmnopqrstuvwx", "bluesky"),
        (8, "https://b.example/users/did.plc.abcdefghijklmnopqrstuvwx", "url"),
    ):
        conn.execute(
            "INSERT INTO identity (pk, person_pk, uri, kind, display, verification, created_at, updated_at) "
            "VALUES (?, 1, ?, ?, ?, 'claimed', ?, ?)",
            (pk, uri, kind, uri, T, T),
        )
        conn.execute(
            "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) VALUES (?, 'bridge', ?, ?)",
            (pk, "https://b.example/users/did.plc.abcdefghijklmnopqrstuvwx", T),
        )
    conn.execute("PRAGMA user_version=12")
    conn.commit()
    conn.close()


async def test_a_graph_from_before_bridged_keeps_its_identities_and_takes_the_new_level(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v12.sqlite3"
    _make_before_bridged(path)
    db = await Database.open(path)
    try:
        graph = Graph(SqliteGraphStore.of(db), FixedClock())
        old = await graph.get_person("p_old")
        idents = {i.uri: i for i in old.identities}
        assert set(idents) == {
            "did:plc:abcdefghijklmnopqrstuvwx",
            "https://b.example/users/did.plc.abcdefghijklmnopqrstuvwx",
        }
        assert all(i.verification == "claimed" for i in idents.values())  # nothing rewritten
        assert [p.source for p in idents["did:plc:abcdefghijklmnopqrstuvwx"].provenance] == [
            "bridge"
        ]  # provenance kept

        # the new level is accepted now, and attaching again keeps the stronger one
        await graph.add_identity(
            "p_old", "did:plc:abcdefghijklmnopqrstuvwx", verification="bridged", source="bridge"
        )
        assert {i.uri: i.verification for i in (await graph.get_person("p_old")).identities}[
            "did:plc:abcdefghijklmnopqrstuvwx"
        ] == "bridged"
        # and an unknown level is still refused by the database itself
        with pytest.raises((StoreConflict, sqlite.IntegrityError)):

            async def bad(conn: object) -> None:
                await conn.execute(  # type: ignore[attr-defined]
                    "UPDATE identity SET verification = 'trust-me' WHERE pk = 7"
                )

            await db.write(bad)
    finally:
        await db.close()

    # the references and triggers survived the rebuild: provenance still names identity (deleting a person
    # still deletes its identities' provenance), and a change of an identity still bumps its CardDAV card
    conn = sqlite.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {r[2] for r in conn.execute("PRAGMA foreign_key_list(provenance)")} == {"identity"}
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"dav_identity_insert", "dav_identity_update", "dav_identity_delete"} <= triggers
        before = conn.execute("SELECT seq FROM dav_card WHERE person_pk = 1").fetchone()[0]
        conn.execute("UPDATE identity SET label = 'x' WHERE pk = 8")
        assert conn.execute("SELECT seq FROM dav_card WHERE person_pk = 1").fetchone()[0] > before
        assert "identity_bridged" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        conn.execute("DELETE FROM identity WHERE pk = 7")
        assert conn.execute("SELECT count(*) FROM provenance WHERE identity_pk = 7").fetchone()[0] == 0
        conn.commit()
    finally:
        conn.close()
