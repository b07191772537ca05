"""Imports started from the browser: the uploaded export is saved under the data folder and run in the
node's background imports (node/import_jobs.py, shared with the owner API), and watched through
``import_status``.

    await start_import(ctx, source, path, name, lock=lock) -> import_id
    await import_status(ctx, import_id) -> dict

The importer does the real work in one transaction (nothing half-written if it fails or the node stops) and
records each run (``store.imports``); ``import_status`` reads the stored run once the live job is gone (so a
summary outlives a restart, and an import a stopped node left behind says it was interrupted). The uploaded
file is removed when the import has finished.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.context import AccountContext
from node.errors import BadInput, NotFound
from node.import_jobs import ImportJob
from node.store.imports import INTERRUPTED, ImportRun, RunClaim

__all__ = ["SOURCES", "import_status", "recent_imports", "start_import"]

SOURCES = {name: (cls.description or name) for name, cls in sorted(BRIDGES.items())}


def _bridge(source: str, path: Path, shown: str) -> type[Bridge]:
    if source not in ("", "auto"):
        try:
            return bridge_for(source)
        except ExportError as exc:
            raise BadInput(str(exc), field="source") from None
    try:
        return detect(path)
    except (ExportError, OSError, ValueError, LookupError, RecursionError):
        # detect() words its advice for the command line; on the page the advice is the list above.
        raise BadInput(
            f"Kith could not tell what {shown} is: choose what it is in the list, or check that it is the "
            "export file itself (a ZIP, CSV, vCard or JSON file)",
            field="source",
        ) from None


async def start_import(ctx: AccountContext, source: str, path: Path, name: str, *, lock: RunClaim) -> str:
    """Begin importing ``path``, an upload saved alone in ``imports/<run id>/`` by the upload handler
    (views_import), which claimed the run (``lock``); the folder is removed when the import is over."""
    bridge_cls = await asyncio.to_thread(_bridge, source, path, name)
    run_id = path.parent.name
    job = await ctx.imports.start(bridge_cls(), path, name=name, remove=path.parent, job_id=run_id, lock=lock)
    return job.id


async def import_status(ctx: AccountContext, import_id: str) -> dict[str, Any]:
    """Live progress of an import this node is running, else what the store recorded about it (an import
    started before a restart, or by `kith import` in another process)."""
    job = ctx.imports.get(import_id)
    if job is not None:
        return job.as_json()
    stored = await ctx.store.imports.get_run(import_id)
    if stored is not None and stored.status == "running":
        # Run by another process (`kith import`), or left behind by one that was killed: the sweep tells.
        await ctx.store.imports.sweep(ctx.graph.clock())
        stored = await ctx.store.imports.get_run(import_id)
    if stored is None:
        raise NotFound(f"no import {import_id!r}")
    return _stored_job(stored).as_json()


async def recent_imports(ctx: AccountContext, limit: int = 10) -> list[ImportJob]:
    """The latest imports, newest first: this node's live ones, then what the store recorded (so that an
    import a stopped node left behind is listed after a restart, saying it was interrupted)."""
    await ctx.store.imports.sweep(ctx.graph.clock())  # a run nobody holds any more is shown as it ended
    jobs = ctx.imports.recent()[:limit]
    known = {j.id for j in jobs}
    for stored in await ctx.store.imports.recent_runs(limit):
        if stored.id not in known and len(jobs) < limit:
            jobs.append(_stored_job(stored))
    return jobs


def _stored_job(stored: ImportRun) -> ImportJob:
    summary = stored.summary or {}
    if stored.status == "running":  # another process runs it (`kith import`)
        return ImportJob(id=stored.id, source=stored.source, name=stored.name, started=0.0, phase="import")
    return ImportJob(
        id=stored.id,
        source=stored.source,
        name=stored.name,
        started=0.0,
        phase="done",
        rows=int(summary.get("rows", 0)),
        elapsed=float(summary.get("seconds", 0.0)),
        finished=True,
        error=stored.error or (None if stored.status == "done" else INTERRUPTED),
        summary=summary or None,
    )
