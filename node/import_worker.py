"""The node's file imports run in a worker process, so that the server's event loop and GIL stay free.

An import is CPU-bound Python (parsing, resolution) beside SQLite's writing. Run in the server's process, even
in a thread, it shares the server's GIL: every request waits for the importer's thread to let go, about 5 ms
at each hand-over (the interpreter's switch interval), and a request makes several. The node changes no
interpreter-wide setting to hide that (docs/ARCHITECTURE.md §3); instead the import gets a process, and with
it a GIL, of its own (specs/IMPORTS.md, "Speed").

How the two sides work together:

- The node records the run and holds its lock (Imports.claim) before anything else; the worker only runs
  it (``Importer.run(claimed=True)``) and records how it ended, in the import's own transaction.
- While the worker runs, the node's writes are held (GraphStore.hold_writes): the import takes the database's
  write lock without waiting for the node's writes, which queue behind it as they did behind an import run
  in the server.
- The worker speaks JSON lines on its standard output (``ready``, ``progress``, then ``summary`` or ``error``)
  and reads one job from its standard input. When its standard input closes, because the node stopped or was
  killed, it exits at once without committing: an import never outlives the node that started it, and the
  node's next start marks it interrupted (Imports.sweep).
- A worker takes 0.4 s to start (the interpreter and Kith's modules), so the node keeps one started and
  waiting (``ImportWorkers.warm``): at start-up, and again after each import ends.

    workers = ImportWorkers()
    workers.warm()
    answer = await workers.run({"graph": ..., "source": "linkedin", "path": ..., "run_id": ..., "name": ...},
                               progress=lambda p: ...)
    await workers.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from bridges.base import ExportError
from bridges.registry import bridge_for
from node.graph import utcnow
from node.importer import Importer, ImportProgress, summary_json
from node.store import open_graph_at

__all__ = ["ImportWorkers", "WorkerGone", "main"]

_ROOT = str(Path(__file__).resolve().parent.parent)  # the folder that holds the node package
_BOOT = f"import sys; sys.path.insert(0, {_ROOT!r}); from node.import_worker import main; main()"
_LINE_LIMIT = 64 << 20  # a summary lists at most MAX_SKIPPED_SHOWN rows: far below this


class WorkerGone(RuntimeError):
    """The worker process ended without answering (killed, crashed, out of memory)."""


class ImportWorkers:
    """Worker processes for the node's imports: one kept started and waiting, one per running import."""

    def __init__(self) -> None:
        self._spare: asyncio.Task[asyncio.subprocess.Process] | None = None
        self._live: set[asyncio.subprocess.Process] = set()
        self.closed = False

    def warm(self) -> None:
        """Start a worker now, to be used by the next import (no-op when one is waiting already)."""
        if self._spare is None and not self.closed:
            self._spare = asyncio.get_running_loop().create_task(_spawn(), name="kith-import-worker")

    async def run(self, job: dict[str, Any], progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Run one import in a worker; returns its answer, ``{"summary": ...}`` or ``{"error": ...}``.
        WorkerGone when the worker ended without one; the worker is killed if this is cancelled."""
        if self.closed:
            raise WorkerGone("the node is stopping")
        spare, self._spare = self._spare, None
        proc = await (spare if spare is not None else _spawn())
        self._live.add(proc)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            ready = await proc.stdout.readline()
            if not ready:
                raise WorkerGone(f"the import worker did not start (exit status {await proc.wait()})")
            proc.stdin.write(json.dumps(job).encode() + b"\n")
            await proc.stdin.drain()
            while line := await proc.stdout.readline():
                message: dict[str, Any] = json.loads(line)
                if "progress" in message:
                    progress(message["progress"])
                    continue
                return message
            raise WorkerGone(f"the import worker ended without an answer (exit status {await proc.wait()})")
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()  # a cancelled or broken run: the worker must not go on and commit
            raise
        finally:
            proc.stdin.close()  # the worker exits once it sees its input end (main)
            await proc.wait()  # gone before the node's writer goes on (and its pipes closed)
            self._live.discard(proc)

    async def close(self) -> None:
        """Stop the waiting worker and every running one (their imports end uncommitted)."""
        self.closed = True
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.cancel()
            with contextlib.suppress(BaseException):
                proc = await spare
                proc.kill()
                await proc.wait()
        for proc in list(self._live):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()


async def _spawn() -> asyncio.subprocess.Process:
    # stderr is the node's: a worker's traceback belongs in the node's log.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _BOOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )


# -- the worker's side --------------------------------------------------------------------------------------
def main() -> None:
    """The worker process: say ready (its modules are loaded by then), read one job, run it, answer, exit."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the answers; anything else printed goes to stderr
    os.dup2(2, 1)
    _say(out, {"ready": True})
    line = sys.stdin.buffer.readline()
    if not line:
        return
    job = json.loads(line)
    threading.Thread(target=_exit_when_input_ends, daemon=True, name="kith-import-watch").start()
    _say(out, asyncio.run(_run(job, out)))
    # Everything is closed and answered. A normal exit would free the import's millions of objects one by one
    # first (a second, measured, during which the node waits for the worker to be gone).
    os._exit(0)


def _exit_when_input_ends() -> None:
    """The node closes the worker's input when it stops, or the system does when the node is killed: exit at
    once, whatever the import is doing. Its transaction is not committed, so SQLite leaves nothing of it."""
    while sys.stdin.buffer.read(1 << 16):
        pass
    os._exit(3)


def _say(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False) + "\n")
    out.flush()


async def _run(job: dict[str, Any], out: TextIO) -> dict[str, Any]:
    def progress(event: ImportProgress) -> None:
        _say(out, {"progress": {"phase": event.phase, "rows": event.rows, "elapsed": event.elapsed}})

    now = job.get("now")
    clock = (lambda: datetime.fromisoformat(now.replace("Z", "+00:00"))) if now else utcnow
    store = await open_graph_at(job["graph"], background=True)  # the node's own store keeps up after it
    try:
        importer = Importer(store, clock=clock, phone_region=job.get("phone_region"))
        summary = await importer.run(
            bridge_for(job["source"])(),
            Path(job["path"]),
            progress=progress,
            run_id=job["run_id"],
            name=job["name"],
            claimed=True,
        )
        return {"summary": summary_json(summary)}
    except ExportError as exc:  # the file is not what it claims: recorded on the run (Importer.run)
        return {"error": str(exc)}
    except Exception as exc:  # recorded on the run too; the traceback goes to the node's log
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        await store.close()
