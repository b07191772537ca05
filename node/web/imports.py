"""Imports started from the browser: the uploaded export is saved under the data folder, run by the node's
importer (node.importer) in a background task, and watched through ``import_status``.

    start_import(ctx, jobs, source, path, name) -> import_id
    import_status(jobs, import_id) -> dict

The importer does the real work in one transaction (nothing half-written if it fails or the node stops); this
module only keeps the progress it reports so that the page can show it, and removes the uploaded file once the
import has finished, since everything it held is in the graph by then (or was refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
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

__all__ = [
    "SOURCES",
    "UPLOAD_PREFIX",
    "ImportJob",
    "ImportJobs",
    "available",
    "import_status",
    "start_import",
]

SOURCES = {name: (cls.description or name) for name, cls in sorted(BRIDGES.items())}
_KEEP_FINISHED = 50

_importer: Any
try:  # the import pipeline, when this build has it
    _importer = importlib.import_module("node.importer")
except ImportError:
    _importer = None


def available() -> bool:
    return _importer is not None


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
    """This node's imports started from the web, newest last."""

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


def _bridge(source: str, path: Path) -> type[Bridge]:
    try:
        return detect(path) if source in ("", "auto") else bridge_for(source)
    except ExportError as exc:
        raise BadInput(
            str(exc).replace("kith import", "choose the source above, or run kith import"), field="source"
        ) from None


async def start_import(ctx: NodeContext, jobs: ImportJobs, source: str, path: Path, name: str) -> str:
    """Begin importing ``path`` (an upload the caller saved in its own folder, removed when done)."""
    if _importer is None:
        raise BadInput("this node was built without the importer; use `kith import` instead", field="file")
    bridge_cls = await asyncio.get_running_loop().run_in_executor(None, _bridge, source, path)
    job = ImportJob(id=new_id("imp"), source=bridge_cls.name, name=name, started=time.monotonic())
    jobs.jobs[job.id] = job
    for old in [j.id for j in jobs.jobs.values() if j.finished][:-_KEEP_FINISHED]:
        del jobs.jobs[old]

    def progress(event: Any) -> None:
        job.phase, job.rows, job.elapsed = event.phase, event.rows, event.elapsed

    async def run() -> None:
        importer = _importer.Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
        try:
            summary = await importer.run(bridge_cls(), path, progress=progress, run_id=job.id, name=name)
            job.summary = _importer.summary_json(summary)
        except ExportError as exc:
            job.error = str(exc)
        except Exception as exc:  # the page must say it failed; the importer rolled back already
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished, job.phase = True, "done"
            job.elapsed = time.monotonic() - job.started
            await asyncio.get_running_loop().run_in_executor(None, _remove, path)

    task = asyncio.get_running_loop().create_task(run())
    jobs.tasks.add(task)
    task.add_done_callback(jobs.tasks.discard)
    return job.id


UPLOAD_PREFIX = "upload_"


def _remove(path: Path) -> None:
    # Only the folder the upload handler made for this one file (see views_import.save_upload).
    if path.parent.name.startswith(UPLOAD_PREFIX):
        shutil.rmtree(path.parent, ignore_errors=True)


def import_status(jobs: ImportJobs, import_id: str) -> dict[str, Any]:
    job = jobs.jobs.get(import_id)
    if job is None:
        raise NotFound(f"no import {import_id!r} since the node started")
    return job.as_json()
