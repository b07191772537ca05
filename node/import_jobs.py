"""Imports running in the node's background: one table of them per node, shared by the owner API
(node/api_import.py) and the web page (node/web/imports.py), so that either can follow an import the other
started.

    lock = await ctx.store.imports.claim(run_id)      # before the upload is saved under imports/<run_id>/
    job = await ctx.imports.start(bridge, path, name="Connections.csv", remove=folder, job_id=run_id, lock=lock)
    ctx.imports.get(job.id)    # live progress while it runs; finished jobs stay a while
    await ctx.imports.recover()  # when the account is first used: runs a stopped node left behind are marked
    await ctx.imports.close()  # when its context closes (Server.close, or the pool closing an idle graph)

Jobs are durable: a job is recorded as a running run (``store.imports``) before the request that asked for it is
answered, and its lock is held until it ends (Imports.claim). A node killed part-way leaves the run
"running" with nobody holding its lock; the next start (``recover``) marks it failed as interrupted and removes
its upload, and so does any later import (Imports.sweep). Each import runs in a worker process
(node/import_worker.py): nothing of it runs on the server's event loop or holds the server's GIL.
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

from bridges.base import Bridge
from node.graph import Clock, iso, new_id, utcnow
from node.import_worker import ImportWorkers, WorkerGone
from node.store import GraphStore
from node.store.imports import INTERRUPTED, RunClaim

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
    workers: ImportWorkers = field(default_factory=ImportWorkers)
    owns_workers: bool = True  # False: the server's workers (shared by its accounts), stopped by the server

    def warm(self) -> None:
        """Start the worker process the next import will use (the node calls it at start-up)."""
        self.workers.warm()

    async def recover(self) -> list[str]:
        """At start-up: mark the runs a stopped node (or a killed `kith import`) left running as interrupted,
        and remove their uploads; returns their ids. Uploads of the layout before durable jobs
        (``uploads/upload_*``) can belong to no live import and are removed too."""
        marked = await self.store.imports.sweep(self.clock())
        legacy = self.store.imports.folder.parent / "uploads"
        if legacy.is_dir():
            for old in legacy.glob("upload_*"):
                await asyncio.to_thread(shutil.rmtree, old, True)
        if marked:
            _log.warning(
                "%d import(s) were interrupted when the node last stopped and are marked failed: %s "
                "(their uploads are removed; import the exports again)",
                len(marked),
                ", ".join(marked),
            )
        return marked

    async def start(
        self,
        bridge: Bridge,
        path: Path,
        *,
        name: str,
        remove: Path | None = None,
        job_id: str | None = None,
        lock: RunClaim | None = None,
    ) -> ImportJob:
        """Record an import of ``path`` and run it in the background. ``lock``: the run's lock, when the caller
        claimed it before saving an upload (else it is claimed here). ``remove`` (the folder an upload was
        saved in) is deleted when the import is over, whatever its outcome: everything it held is in the graph
        by then, or was refused. If this raises, nothing was started and the caller still owns ``lock``."""
        run_id = job_id or new_id("imp")
        owned = lock is None
        claim = lock or await self.store.imports.claim(run_id)
        try:
            now = self.clock()
            await self.store.imports.sweep(now)  # runs a killed process left, before this one is recorded
            await self.store.imports.start_run(run_id=run_id, source=bridge.name, name=name, now=now)
        except BaseException:
            if owned:
                claim.release()
            raise
        job = ImportJob(id=run_id, source=bridge.name, name=name, started=time.monotonic())
        self.jobs[job.id] = job
        for old in [j.id for j in self.jobs.values() if j.finished][:-KEEP_FINISHED]:
            del self.jobs[old]
        spec = {
            "graph": self.store.location,
            "source": bridge.name,
            "path": str(path),
            "run_id": run_id,
            "name": name,
            "phone_region": self.phone_region,
            "now": None
            if self.clock is utcnow
            else iso(now),  # a test's clock; else the worker reads the time
        }
        task = asyncio.get_running_loop().create_task(
            self._run(job, spec, claim, remove), name=f"kith-import-{run_id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    async def _run(self, job: ImportJob, spec: dict[str, Any], lock: RunClaim, remove: Path | None) -> None:
        def progress(event: dict[str, Any]) -> None:
            job.phase, job.rows, job.elapsed = (
                str(event["phase"]),
                int(event["rows"]),
                float(event["elapsed"]),
            )
            job.rate = job.rows / job.elapsed if job.elapsed > 0 else 0.0

        try:
            # The node's writes wait while the worker writes (GraphStore.hold_writes).
            answer = await self.store.hold_writes(lambda: self.workers.run(spec, progress))
            if "summary" in answer:
                job.summary, job.rows = answer["summary"], int(answer["summary"]["rows"])
            else:  # the worker recorded the failure on the run (Importer.run)
                job.error = str(answer.get("error") or "the import failed")
        except Exception as exc:
            if isinstance(exc, WorkerGone) and self.workers.closed:
                job.error = INTERRUPTED
            elif isinstance(exc, WorkerGone):
                _log.error("import %s: %s", job.id, exc)
                job.error = (
                    f"the import stopped unexpectedly ({exc}); nothing of it was kept; import the export "
                    "again, and if it stops again, report it with the node's log"
                )
            else:
                _log.exception("import %s failed", job.id)
                job.error = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                await self.store.imports.finish_run(
                    run_id=job.id, status="failed", summary=None, error=job.error, now=self.clock()
                )
        finally:
            if remove is not None:
                await asyncio.to_thread(shutil.rmtree, remove, True)
            lock.release()
            # Finished only now: whoever sees it finished sees its files gone too.
            job.finished, job.phase = True, "done"
            job.elapsed = time.monotonic() - job.started
            self.workers.warm()  # for the next import, now that this one no longer needs the machine

    def get(self, job_id: str) -> ImportJob | None:
        return self.jobs.get(job_id)

    def recent(self) -> list[ImportJob]:
        """Newest first."""
        return list(reversed(self.jobs.values()))

    async def close(self) -> None:
        """Wait for this account's imports still running. The worker processes are the server's (one set for
        every account, node/server.py): when they are stopped first (Server.close), these imports end
        uncommitted and their runs are marked interrupted, while the database is still open."""
        if self.owns_workers:
            await self.workers.close()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
