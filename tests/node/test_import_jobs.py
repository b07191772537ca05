"""Background imports (node/import_jobs.py): one table per node, shared by the owner API and the web page."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridges.google import GoogleContactsBridge
from bridges.linkedin import LinkedInBridge
from node.graph import utcnow
from node.import_jobs import ImportJobs
from tests.conftest import new_server_account
from tests.node.import_helpers import SAMPLES, Node, backend, node_on_each_engine

__all__ = ["backend", "node_on_each_engine"]  # the fixtures, imported by name


@pytest.fixture
def node(node_on_each_engine: Node) -> Node:
    return node_on_each_engine


async def _done(jobs: ImportJobs) -> None:
    await asyncio.gather(*jobs.tasks)
    await jobs.close()  # the worker started for a next import


async def test_a_job_runs_reports_and_removes_its_upload(node: Node, tmp_path: Path) -> None:
    jobs = ImportJobs(node.store, utcnow)
    upload = tmp_path / "upload_1"
    shutil.copytree(SAMPLES / "linkedin" / "export", upload / "export")
    job = await jobs.start(LinkedInBridge(), upload / "export", name="export", remove=upload)
    assert jobs.get(job.id) is job and not job.finished
    await _done(jobs)
    assert job.finished and job.error is None and job.phase == "done"
    assert job.summary is not None and job.summary["people_created"] > 0 and job.rows == job.summary["rows"]
    assert job.message().startswith("Done:") and not upload.exists()
    run = await node.store.imports.get_run(job.id)  # the same id in the store's record of runs
    assert run is not None and run.status == "done"


async def test_a_broken_file_is_a_failed_job_with_the_reason(node: Node, tmp_path: Path) -> None:
    jobs = ImportJobs(node.store, utcnow)
    bad = tmp_path / "contacts.csv"
    bad.write_bytes(b"\x00\x01 this is not a CSV export \xff" * 10)
    first = await jobs.start(LinkedInBridge(), SAMPLES / "linkedin" / "export", name="export")
    broken = await jobs.start(GoogleContactsBridge(), bad, name="contacts.csv")
    await _done(jobs)
    assert broken.finished and broken.error and broken.message().startswith("The import failed:")
    assert bad.exists()  # not an upload folder: left alone
    assert [j.id for j in jobs.recent()] == [broken.id, first.id]
    failed = await node.store.imports.get_run(broken.id)
    assert failed is not None and failed.status == "failed"


async def test_a_run_nobody_holds_is_reported_interrupted_and_one_held_still_running(tmp_path: Path) -> None:
    """Without a restart: GET /api/imports/{id} of a run a killed process left running says it was interrupted
    and removes its upload; a run whose lock another process holds (`kith import` running) stays running."""
    from aiohttp.test_utils import TestClient, TestServer

    from node.app import build_app

    ctx = await new_server_account(tmp_path / "node", token="kith_t")
    headers = {"Authorization": "Bearer kith_t"}
    imports = ctx.store.imports
    try:
        async with TestClient(
            TestServer(build_app(ctx.server, extensions=[]), host="127.0.0.1", port=0)
        ) as cli:
            await imports.start_run(
                run_id="imp_killed", source="linkedin", name="a.csv", now=datetime(2026, 1, 1, tzinfo=UTC)
            )
            (imports.folder / "imp_killed").mkdir(parents=True)
            (imports.folder / "imp_killed" / "a.csv").write_text("First Name\n")
            held = await imports.claim("imp_live")
            await imports.start_run(
                run_id="imp_live", source="linkedin", name="b.csv", now=datetime(2026, 1, 1, tzinfo=UTC)
            )
            doc = await (await cli.get("/api/imports/imp_killed", headers=headers)).json()
            assert doc["status"] == "failed" and doc["error"].startswith("interrupted"), doc
            assert not (imports.folder / "imp_killed").exists()
            doc = await (await cli.get("/api/imports/imp_live", headers=headers)).json()
            assert doc["status"] == "running", doc
            held.release()  # its process ended without finishing it
            doc = await (await cli.get("/api/imports/imp_live", headers=headers)).json()
            assert doc["status"] == "failed" and "interrupted" in doc["error"], doc
            assert sorted(p.name for p in imports.folder.iterdir()) == []
    finally:
        await ctx.close()


async def test_a_node_stopped_during_an_import_marks_it_interrupted_and_keeps_nothing(
    node: Node, tmp_path: Path
) -> None:
    """A clean stop (SIGTERM: AccountContext.close) stops the worker mid-import: nothing is committed, the run says
    it was interrupted, its upload is removed and no worker process is left."""
    from tests.node.import_helpers import write_connections

    jobs = ImportJobs(node.store, utcnow)
    folder = node.store.imports.folder / "imp_stopped"
    lock = await node.store.imports.claim("imp_stopped")
    folder.mkdir()
    csv = write_connections(
        folder / "Connections.csv",
        [f"First{i},Last{i},https://www.linkedin.com/in/p-{i},,Co,Role,01 Feb 2024" for i in range(60_000)],
    )
    job = await jobs.start(
        LinkedInBridge(), csv, name="Connections.csv", remove=folder, job_id="imp_stopped", lock=lock
    )
    for _ in range(6000):
        if job.rows > 0:
            break
        await asyncio.sleep(0.01)
    assert job.rows > 0 and not job.finished
    live = set(jobs.workers._live)
    await jobs.close()
    assert job.finished and job.error is not None and job.error.startswith("interrupted")
    run = await node.store.imports.get_run("imp_stopped")
    assert run is not None and run.status == "failed" and run.error and run.error.startswith("interrupted")
    assert await node.count("person") == 0
    assert not folder.exists() and not (node.store.imports.folder / "imp_stopped.lock").exists()
    assert live and all(proc.returncode is not None for proc in live)
