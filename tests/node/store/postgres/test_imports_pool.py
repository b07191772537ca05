"""An import on PostgreSQL shares the process's pool of connections with every other write to the graph, and
each of those holds its connection while it waits for the graph's lock (node/store/postgres/db.py). The import's
look-ups must still get through: they have a connection of their own, taken before the import's lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node.store.imports import PERSON_IMPORT_FIELDS, ChunkRows, ImportSession
from node.store.postgres.db import GRAPH_MIGRATIONS, PgDatabase
from tests.conftest import T0
from tests.node.import_helpers import PgNode


def person_row(pk: int, pid: str, name: str) -> tuple[object, ...]:
    values = {f: None for f in PERSON_IMPORT_FIELDS} | {"display_name": name}
    return (pk, pid, *[values[f] for f in PERSON_IMPORT_FIELDS], None)


async def test_an_import_finishes_while_writes_waiting_for_its_lock_fill_the_pool(
    postgres_db_url: str, tmp_path: Path
) -> None:
    db = await PgDatabase.open(postgres_db_url, schema="g_pool", migrations=GRAPH_MIGRATIONS, pool_size=3)
    node = PgNode(db, tmp_path / "imports")
    waiting: list[asyncio.Future[object]] = []
    try:

        async def run(session: ImportSession) -> int:
            person, identity, _ = await session.next_keys()
            rows = ChunkRows()
            rows.people.append(person_row(person, "p_imported", "Imported"))
            rows.identities.append(
                (identity, person, "mailto:imp@ex.example", "email", "imp@ex.example", None, "claimed")
            )
            await session.write(rows)
            # Writes arrive meanwhile: one takes the pool's last connection and waits for the lock, the others
            # wait for a connection.
            waiting.extend(
                asyncio.ensure_future(node.graph.create_person({"display_name": f"Later {i}"}))
                for i in range(5)
            )
            await asyncio.sleep(0.5)
            assert not any(w.done() for w in waiting)
            found = await asyncio.wait_for(
                session.identities(["mailto:imp@ex.example", "mailto:x@ex.example"]), 20
            )
            return len(found)

        assert await store_import(node, run) == 0  # the snapshot: as the import found the graph
        await asyncio.wait_for(asyncio.gather(*waiting), 20)
        names = sorted(p.display_name for p in (await node.graph.list_people()).items)
        assert names == ["Imported", *(f"Later {i}" for i in range(5))]
    finally:
        for w in waiting:
            w.cancel()
        await db.close()


async def store_import(node: PgNode, run: object) -> int:
    result: int = await node.store.imports.transaction(T0, run)  # type: ignore[arg-type]  # a test's own fn
    return result
