"""An import run end to end by the real worker process (node/import_worker.py) on each engine: the worker opens
the graph again from its location (node/store/factory.py's open_graph_at), in another process, and the graph it
leaves on PostgreSQL holds the same people as on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bridges.linkedin import LinkedInBridge
from node.graph import utcnow
from node.import_jobs import ImportJobs
from tests.node.import_helpers import SAMPLES, Node, open_node, write_connections


async def _people(node: Node) -> list[tuple[Any, ...]]:
    """Every person by content: names, organisation, status and addresses (never a random id or a key)."""
    rows = await node.rows("SELECT pk, display_name, organization, title, status, met_on FROM person")
    out = []
    for pk, *fields in rows:
        uris = sorted(u for (u,) in await node.rows("SELECT uri FROM identity WHERE person_pk = ?", (pk,)))
        out.append((*fields, tuple(uris)))
    return sorted(out, key=repr)


async def _import_by_worker(node: Node, path: Path) -> dict[str, Any]:
    jobs = ImportJobs(node.store, utcnow)
    try:
        job = await jobs.start(LinkedInBridge(), path, name=path.name)
        await asyncio.gather(*jobs.tasks)
        assert job.finished and job.error is None, job.error
        assert job.summary is not None
        run = await node.store.imports.get_run(job.id)
        assert run is not None and run.status == "done" and run.summary == job.summary
        return {k: v for k, v in job.summary.items() if k != "seconds"}
    finally:
        await jobs.close()


async def test_a_linkedin_export_imported_by_the_worker_gives_the_same_people_on_both_engines(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    csv = write_connections(
        tmp_path / "Connections.csv",
        [f"First{i},Last{i},https://www.linkedin.com/in/p-{i},p{i}@example.com,Co{i % 7},Role,01 Feb 2024"
         for i in range(3_000)],
    )  # fmt: skip
    found: dict[str, Any] = {}
    for backend in ("sqlite", "postgres"):
        node = await open_node(backend, request, tmp_path, f"worker_{backend}")
        try:
            summaries = [await _import_by_worker(node, SAMPLES / "linkedin" / "export")]
            summaries.append(await _import_by_worker(node, csv))
            summaries.append(await _import_by_worker(node, csv))  # again: nothing new
            found[backend] = (await _people(node), summaries)
            # the graph's own reads see what the other process wrote (search included)
            assert [p.display_name for p in (await node.graph.search("first2999")).items] == [
                "First2999 Last2999"
            ]
        finally:
            await node.db.close()
    sqlite_people, sqlite_summaries = found["sqlite"]
    pg_people, pg_summaries = found["postgres"]
    assert len(sqlite_people) > 3_000 and sqlite_summaries[2]["people_created"] == 0
    assert pg_people == sqlite_people
    assert pg_summaries == sqlite_summaries
