"""Background imports (node/import_jobs.py): one table per node, shared by the owner API and the web page."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from bridges.google import GoogleContactsBridge
from bridges.linkedin import LinkedInBridge
from node.graph import utcnow
from node.import_jobs import ImportJobs
from tests.node.import_helpers import SAMPLES, Node, node

__all__ = ["node"]  # the fixture, imported by name


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
    assert run is not None and run["status"] == "done"


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
    assert (await node.store.imports.get_run(broken.id) or {}).get("status") == "failed"
