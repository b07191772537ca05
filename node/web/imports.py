"""Imports started from the browser: the uploaded export is saved under the data folder, run by the node's
importer (node.importer) in a background task, and watched through ``import_status``.

    start_import(ctx, jobs, source, path, name) -> import_id
    await import_status(ctx, jobs, import_id) -> dict

The importer does the real work in one transaction (nothing half-written if it fails or the node stops) and
records each run (``store.imports``); this module keeps the live progress it reports so that the page can show
it, reads the stored run once the import is over (so a summary outlives a restart), and removes the uploaded
file when the import has finished: everything it held is in the graph by then, or was refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.context import NodeContext
from node.errors import BadInput, NotFound
from node.graph import new_id
from node.importer import Importer, ImportProgress, summary_json

__all__ = ["SOURCES", "UPLOAD_PREFIX", "ImportJob", "ImportJobs", "import_status", "start_import"]

SOURCES = {name: (cls.description or name) for name, cls in sorted(BRIDGES.items())}
UPLOAD_PREFIX = "upload_"
_KEEP_FINISHED = 50


@dataclass
class ImportJob:
    id: str
    source: str
    name: str
    started: float
    phase: str = "queued"
    rows: int = 0
    elapsed: float = 0.0
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
    """This node's imports started from the web since it started, newest last."""

    jobs: dict[str, ImportJob] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def recent(self) -> list[ImportJob]:
        return list(reversed(self.jobs.values()))


def _bridge(source: str, path: Path, shown: str) -> type[Bridge]:
    if source not in ("", "auto"):
        try:
            return bridge_for(source)
        except ExportError as exc:
            raise BadInput(str(exc), field="source") from None
    try:
        return detect(path)
    except ExportError:
        # detect() words its advice for the command line; on the page the advice is the list above.
        raise BadInput(
            f"Kith could not tell what {shown} is: choose what it is in the list, or check that it is the "
            "export file itself (a ZIP, CSV, vCard or JSON file)",
            field="source",
        ) from None


async def start_import(ctx: NodeContext, jobs: ImportJobs, source: str, path: Path, name: str) -> str:
    """Begin importing ``path``, an upload saved alone in a folder named ``UPLOAD_PREFIX...`` (removed when
    the import is over)."""
    bridge_cls = await asyncio.to_thread(_bridge, source, path, name)
    job = ImportJob(id=new_id("imp"), source=bridge_cls.name, name=name, started=time.monotonic())
    jobs.jobs[job.id] = job
    for old in [j.id for j in jobs.jobs.values() if j.finished][:-_KEEP_FINISHED]:
        del jobs.jobs[old]

    def progress(event: ImportProgress) -> None:
        job.phase, job.rows, job.elapsed = event.phase, event.rows, event.elapsed

    async def run() -> None:
        importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
        try:
            summary = await importer.run(bridge_cls(), path, progress=progress, run_id=job.id, name=name)
            job.summary = summary_json(summary)
            job.rows = summary.rows
        except ExportError as exc:
            job.error = str(exc)
        except Exception as exc:  # the page must say it failed; the importer rolled back already
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished, job.phase = True, "done"
            job.elapsed = time.monotonic() - job.started
            await asyncio.to_thread(_remove, path)

    task = asyncio.get_running_loop().create_task(run(), name=f"kith-web-import-{job.id}")
    jobs.tasks.add(task)
    task.add_done_callback(jobs.tasks.discard)
    return job.id


def _remove(path: Path) -> None:
    # Only the folder the upload handler made for this one file (views_import).
    if path.parent.name.startswith(UPLOAD_PREFIX):
        shutil.rmtree(path.parent, ignore_errors=True)


async def import_status(ctx: NodeContext, jobs: ImportJobs, import_id: str) -> dict[str, Any]:
    """Live progress of an import this node is running, else what the store recorded about it (an import
    started before a restart, or through `kith import` or the API)."""
    job = jobs.jobs.get(import_id)
    if job is not None:
        return job.as_json()
    stored = await ctx.store.imports.get_run(import_id)
    if stored is None:
        raise NotFound(f"no import {import_id!r}")
    summary = stored.get("summary") or {}
    rows = int(summary.get("rows", 0))
    status = stored.get("status")
    again = ImportJob(
        id=import_id,
        source=str(stored.get("source", "")),
        name=str(stored.get("name", "")),
        started=0.0,
        phase="done",
        rows=rows,
        elapsed=float(summary.get("seconds", 0.0)),
        finished=True,
        error=stored.get("error")
        or (None if status == "done" else "the node stopped before this import finished; nothing was kept"),
        summary=summary or None,
    )
    return again.as_json()
