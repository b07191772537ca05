"""Imports running in the node's background: one table of them per node, shared by the owner API
(node/api_import.py) and the web page (node/web/imports.py), so that either can follow an import the other
started.

    job = ctx.imports.start(bridge, path, name="Connections.csv", remove=upload_folder)
    ctx.imports.get(job.id)   # live progress while it runs; finished jobs stay a while
    await ctx.imports.close()  # on shutdown (AccountContext.close)

The importer does the real work in one transaction and records each run (``store.imports``), so a job's
outcome outlives a restart there; this table only adds the live progress the importer reports on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridges.base import Bridge, ExportError
from node.graph import Clock, new_id
from node.importer import Importer, ImportProgress, summary_json
from node.store import GraphStore

__all__ = ["KEEP_FINISHED", "ImportJob", "ImportJobs"]

KEEP_FINISHED = 50  # finished jobs kept in memory (the store keeps every run)
_log = logging.getLogger("kith.import")


@dataclass
class ImportJob:
    id: str
    source: str
    name: str
    started: float  # time.monotonic() at the start
    phase: str = "queued"  # then ImportProgress's phases: "import", "finish", "done"
    rows: int = 0
    elapsed: float = 0.0
    rate: float = 0.0  # rows per second so far
    finished: bool = False
    error: str | None = None
    summary: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "phase": self.phase,
            "rows": self.rows,
            "elapsed": round(self.elapsed, 2),
            "finished": self.finished,
            "error": self.error,
            "summary": self.summary,
            "message": self.message(),
        }

    def message(self) -> str:
        if self.error:
            return f"The import failed: {self.error}"
        if self.finished:
            return f"Done: {self.rows:,} rows in {self.elapsed:.1f} s."
        if self.phase == "finish":
            return f"{self.rows:,} rows read; updating search and statistics…"
        if self.phase == "import":
            return f"{self.rows:,} rows read…"
        return "Starting…"


@dataclass
class ImportJobs:
    """The node's background imports since it started, oldest first."""

    store: GraphStore
    clock: Clock
    phone_region: str | None = None
    jobs: dict[str, ImportJob] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def start(
        self, bridge: Bridge, path: Path, *, name: str, remove: Path | None = None, job_id: str | None = None
    ) -> ImportJob:
        """Import ``path`` in the background; ``remove`` (the folder an upload was saved in) is deleted when
        the import is over, whatever its outcome: everything it held is in the graph by then, or was refused."""
        job = ImportJob(id=job_id or new_id("imp"), source=bridge.name, name=name, started=time.monotonic())
        self.jobs[job.id] = job
        for old in [j.id for j in self.jobs.values() if j.finished][:-KEEP_FINISHED]:
            del self.jobs[old]

        def progress(event: ImportProgress) -> None:
            job.phase, job.rows, job.elapsed, job.rate = event.phase, event.rows, event.elapsed, event.rate

        async def run() -> None:
            importer = Importer(self.store, clock=self.clock, phone_region=self.phone_region)
            try:
                summary = await importer.run(bridge, path, progress=progress, run_id=job.id, name=name)
                job.summary, job.rows = summary_json(summary), summary.rows
            except ExportError as exc:  # the file is not what it claims: recorded on the run as well
                job.error = str(exc)
            except Exception as exc:  # the importer rolled back and recorded the failure; say it here too
                _log.exception("import %s failed", job.id)
                job.error = f"{type(exc).__name__}: {exc}"
            finally:
                job.finished, job.phase = True, "done"
                job.elapsed = time.monotonic() - job.started
                if remove is not None:
                    await asyncio.to_thread(shutil.rmtree, remove, True)

        task = asyncio.get_running_loop().create_task(run(), name=f"kith-import-{job.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    def get(self, job_id: str) -> ImportJob | None:
        return self.jobs.get(job_id)

    def recent(self) -> list[ImportJob]:
        """Newest first."""
        return list(reversed(self.jobs.values()))

    async def close(self) -> None:
        """Stop waiting for the imports still running. One already inside the database's writer runs to its
        end there (the database closes after it: AccountContext.close); one still queued is never begun."""
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
