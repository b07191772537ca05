"""Imports: a bridge's drafts resolved against the contact graph (docs/ARCHITECTURE.md §7, docs/SILOS.md §3).

Rules kept:
- Every identity is normalised (protocol.addresses) and keyed by its canonical uri; an address belongs to one
  person, so a draft whose identity (or whose source record, from an earlier import) is already known joins
  that person.
- A draft that links two existing people merges them automatically only when both links are verified-grade
  identifiers (the same e-mail, fediverse account or actor URI, Bluesky DID or X numeric id) and the owner
  has not undone or dismissed that pairing; the merge records its evidence and can be undone. Weaker links
  (a LinkedIn slug, a handle, a web site, a phone number) make a "suggested" merge with the evidence; a name
  alone only ever makes an "ask" suggestion, for people who arrive with no identity at all (Facebook).
- Re-importing the same export changes nothing: a record whose digest is unchanged is not touched. A newer
  export updates the person fields the owner has not edited since the last import of that record (the
  record's previous values are kept to tell), and adds what is new.
- One import is one transaction (node/store/imports.py): a kill or an ExportError part-way leaves nothing.
  Work is done by the chunk: one look-up per table for the whole chunk, then one statement writes it all, while
  the next chunk is resolved.
- ``dry_run`` runs exactly the same resolution in the same transaction and rolls it back.
- Nothing of an import runs on the caller's event loop when ``off_loop`` is set (the node's server): the
  transaction's work runs in a thread with an event loop of its own (Imports.transaction). The server's
  file imports go further and run in a worker process (node/import_worker.py), with a GIL of their own.
  No interpreter-wide setting is changed for an import (docs/ARCHITECTURE.md §3; specs/IMPORTS.md, "Speed").

This module drives an import (transaction, chunks, progress, summary); node/import_resolve.py decides what each
row becomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bridges.base import Bridge, ExportError, ImportItem
from node.graph import Clock, new_id, utcnow
from node.import_resolve import MAX_SKIPPED_SHOWN, Resolution, is_verified_grade
from node.store import GraphStore
from node.store.imports import ImportSession, RunClaim

__all__ = [
    "CHUNK",
    "MAX_SKIPPED_SHOWN",
    "ImportProgress",
    "ImportSummary",
    "Importer",
    "is_verified_grade",
    "summary_json",
]

CHUNK = 2000  # rows per look-up and bulk write: large enough to amortise a statement, small enough to overlap


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportProgress:
    phase: str  # "import" while rows are read and written, "finish" for indexes and statistics, "done"
    rows: int  # items read from the export so far
    elapsed: float  # seconds since the import began

    @property
    def rate(self) -> float:
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportSummary:
    source: str
    name: str
    dry_run: bool
    rows: int
    seconds: float
    people_created: int
    people_updated: int
    records_unchanged: int
    identities_added: int
    provenance_added: int
    merged_automatically: int
    suggestions_made: int
    interactions_added: int
    interactions_known: int
    blocks_added: int
    circle_memberships_added: int
    notes_added: int
    relationships_added: int
    skipped_count: int
    warnings_count: int
    skipped: tuple[dict[str, Any], ...]  # {file, line, reason, severity}, at most MAX_SKIPPED_SHOWN
    preview: dict[str, int] = field(default_factory=dict)  # the bridge's own dry-run counts


class _Rollback(Exception):
    def __init__(self, summary: ImportSummary) -> None:
        super().__init__("dry run")
        self.summary = summary


class Importer:
    """Runs imports into one graph store."""

    def __init__(
        self,
        store: GraphStore,
        *,
        clock: Clock = utcnow,
        phone_region: str | None = None,
        chunk: int = CHUNK,
        off_loop: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.phone_region = phone_region
        self.chunk_size = chunk
        self.off_loop = off_loop  # parse, resolve and read in a thread of the import's own, not on this loop

    async def run(
        self,
        bridge: Bridge,
        path: Path,
        *,
        dry_run: bool = False,
        progress: Callable[[ImportProgress], None] | None = None,
        run_id: str | None = None,
        name: str | None = None,
        claimed: bool = False,
    ) -> ImportSummary:
        """Import ``path`` with ``bridge``; ExportError when the file is not what it claims (nothing written).

        The run is recorded (``store.imports``) and its lock held while it runs, so that a process that dies
        part-way leaves a run a later sweep marks interrupted; this one sweeps such runs first. ``claimed``:
        another process holds the run's lock and recorded it (the node, for its import worker)."""
        shown = name or path.name
        run_id = run_id or new_id("imp")
        now = self.clock()
        lock: RunClaim | None = None
        if not dry_run:
            if not claimed:
                lock = await self.store.imports.claim(run_id)
            try:
                if not claimed:
                    await self.store.imports.sweep(now)
                await self.store.imports.start_run(run_id=run_id, source=bridge.name, name=shown, now=now)
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        try:
            summary = await self._run(
                bridge.name,
                shown,
                lambda: bridge.parse_export(path),
                preview=(lambda: bridge.preview(bridge.parse_export(path))) if dry_run else None,
                dry_run=dry_run,
                progress=progress,
                run_id=run_id,
            )
        except BaseException as exc:
            if not dry_run:
                message = str(exc) if isinstance(exc, ExportError) else f"{type(exc).__name__}: {exc}"
                await self.store.imports.finish_run(
                    run_id=run_id, status="failed", summary=None, error=message, now=self.clock()
                )
            raise
        finally:
            if lock is not None:
                lock.release()
        return summary

    async def import_items(
        self,
        source: str,
        items: Iterable[ImportItem],
        *,
        name: str,
        then: Callable[[ImportSession], Awaitable[None]] | None = None,
    ) -> ImportSummary:
        """Import drafts that come from elsewhere than a file (a page of a live sync), in one transaction;
        ``then`` runs in the same transaction, after the drafts (a sync saves its cursor there, so that the page
        and the cursor after it are kept together or not at all)."""
        return await self._run(
            source,
            name,
            lambda: iter(items),
            preview=None,
            dry_run=False,
            progress=None,
            run_id=None,
            then=then,
        )

    async def _run(
        self,
        source: str,
        shown: str,
        make_items: Callable[[], Iterator[ImportItem]],
        *,
        preview: Callable[[], dict[str, int]] | None,
        dry_run: bool,
        progress: Callable[[ImportProgress], None] | None,
        run_id: str | None,
        then: Callable[[ImportSession], Awaitable[None]] | None = None,
    ) -> ImportSummary:
        started = time.perf_counter()

        async def work(session: ImportSession) -> ImportSummary:
            run = Resolution(self.phone_region, session, source, shown, started)
            run.next_person, run.next_identity, run.next_interaction = await session.next_keys()
            run.first_person = run.next_person
            items = make_items()
            await _chunk_by_chunk(run, items, self.chunk_size, progress, started)
            if progress is not None:
                progress(
                    ImportProgress(
                        phase="finish", rows=run.counts["rows"], elapsed=time.perf_counter() - started
                    )
                )
            await run.finish()
            c = run.counts
            summary = ImportSummary(
                source=source,
                name=shown,
                dry_run=dry_run,
                rows=c["rows"],
                seconds=round(time.perf_counter() - started, 3),
                people_created=c["people_created"],
                people_updated=c["people_updated"],
                records_unchanged=c["records_unchanged"],
                identities_added=c["identities_added"],
                provenance_added=c["provenance_added"],
                merged_automatically=c["merged_automatically"],
                suggestions_made=c["suggestions_made"],
                interactions_added=c["interactions_added"],
                interactions_known=c["interactions_known"],
                blocks_added=c["blocks_added"],
                circle_memberships_added=c["circle_memberships_added"],
                notes_added=c["notes_added"],
                relationships_added=c["relationships_added"],
                skipped_count=c["skipped_count"],
                warnings_count=c["warnings_count"],
                skipped=tuple(run.skipped),
                preview=preview() if preview is not None else {},
            )
            if dry_run:
                raise _Rollback(summary)
            if then is not None:
                await then(session)
            if run_id is not None:
                await session.run_finished(
                    run_id=run_id,
                    status="done",
                    summary=summary_json(summary),
                    error=None,
                    now=self.clock(),
                )
            return summary

        try:
            summary = await self.store.imports.transaction(self.clock(), work, off_loop=self.off_loop)
        except _Rollback as rolled_back:
            summary = rolled_back.summary
        if progress is not None:
            progress(ImportProgress(phase="done", rows=summary.rows, elapsed=time.perf_counter() - started))
        return summary


async def _chunk_by_chunk(
    run: Resolution,
    items: Iterator[ImportItem],
    size: int,
    progress: Callable[[ImportProgress], None] | None,
    started: float,
) -> None:
    """Read, resolve and write the export a chunk at a time, three things at once: while chunk N is written (in
    SQLite's thread, by one statement that runs without the GIL: ImportSession.write), chunk N+1 is looked up
    through a snapshot of the database as the import found it and then decided here, and chunk N+2 read. What
    earlier chunks added is in the resolution's caches already (Resolution.lookup). SQLite's thread sets the
    pace, so a decided chunk is encoded at once (Resolution.take) and its write starts the moment the previous
    one ends; the look-up comes after. A chunk with automatic merges is written before anything else is read,
    and after a merge look-ups go through the import's own connection, between writes, since a merge changes
    rows the import had read."""
    sizes = _ramp(size)
    prep = await run.prepare(items, next(sizes))
    if prep is not None:
        await run.lookup(prep)
    writing: asyncio.Future[None] | None = None
    try:
        while prep is not None:
            run.counts["rows"] += prep.rows
            run.decide(prep)
            chunk = run.take()
            following = await run.prepare(items, next(sizes))
            if writing is not None:
                await writing
                writing = None
            if chunk.merges:
                await run.flush(chunk)
                if following is not None:
                    await run.lookup(following)
            else:
                beside = run.s.snapshot  # look-ups read the snapshot: they can run beside this chunk's write
                if following is not None and not beside:
                    await run.lookup(following)  # on the import's connection: before this chunk's write
                writing = asyncio.ensure_future(run.flush(chunk))
                await asyncio.sleep(0)  # let the write begin in SQLite's thread before resolving on here
                if following is None:
                    run.forget()  # the last chunk: nothing more to look up
                elif beside:
                    await run.lookup(following)
            if progress is not None:
                progress(
                    ImportProgress(
                        phase="import", rows=run.counts["rows"], elapsed=time.perf_counter() - started
                    )
                )
            prep = following
        if writing is not None:
            await writing
            writing = None
    finally:
        if writing is not None:  # an error part-way: let the write in flight end before the rollback
            with contextlib.suppress(BaseException):
                await writing


def _ramp(size: int) -> Iterator[int]:
    """Chunk sizes: an eighth of ``size`` first, doubling up to it. SQLite's thread waits for the first chunk
    to be read, looked up and decided; a small one starts it writing sooner."""
    n = max(size // 8, 1)
    while n < size:
        yield n
        n *= 2
    while True:
        yield size


def summary_json(summary: ImportSummary) -> dict[str, Any]:
    return asdict(summary)
