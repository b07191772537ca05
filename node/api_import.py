"""Owner API for imports and live syncs: upload an export (or name a file on the node's disk), follow its
progress, and sync a linked account. Routes join node.api's table (and so its OpenAPI document) on import.

An upload is streamed to the node's data folder (``imports/<run id>/``, never held in memory, refused past
``MAX_UPLOAD`` bytes; node/http.py's read_upload), imported in the background by a worker process and deleted
afterwards (node/import_jobs.py); the import itself is all or nothing (node/importer.py). Every malformed
request is a 4xx with a JSON error that says what to send.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import stat
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.api_declare import ACCOUNT, Reply, body, route
from node.api_schema import Param, dataclass_schema, nullable, obj, text
from node.config import passphrase_from_env
from node.context import AccountContext
from node.errors import BadInput, NotFound
from node.graph import new_id
from node.http import json_response, read_upload
from node.importer import Importer
from node.models import as_json
from node.sync import DIRECTIONS, SOURCES, Syncer, SyncResult

__all__ = ["MAX_UPLOAD", "get_import", "start_import", "sync_source"]

MAX_UPLOAD = 1 << 30  # 1 GiB: bigger than any real export; each bridge has its own, tighter limits inside
_log = logging.getLogger("kith.import")


def _ctx(request: web.Request) -> AccountContext:
    return request[ACCOUNT]


def _pick(source: str | None, path: Path) -> Bridge:
    """The bridge for ``path`` (named, or recognised from the file). Recognising reads the file or walks the
    folder, so it runs in a thread; whatever the file is, the answer is a bridge or a 400 saying what to do."""
    try:
        return (bridge_for(source) if source else detect(path))()
    except ExportError as exc:
        raise BadInput(str(exc), field="source") from None
    except OSError as exc:  # unreadable, a dangling link, a folder that cannot be walked
        where = exc.filename or path
        raise BadInput(
            f"{where} could not be read ({exc.strerror or exc}); give the export's own file, ZIP or folder",
            field="path",
        ) from None
    except Exception as exc:  # a bridge tripped on a file it was only asked to recognise
        _log.warning("recognising %s failed", path, exc_info=True)
        raise BadInput(
            f"Kith could not tell what {path.name} is ({type(exc).__name__}); name its source "
            f"(sources: {', '.join(sorted(BRIDGES))})",
            field="source",
        ) from None


def _check_path(raw: str) -> Path:
    """An export on the node's own disk: an absolute path to a file or folder that exists (a link is followed)."""
    if "\x00" in raw:
        raise BadInput("the path contains a NUL character", field="path")
    path = Path(raw)
    if not path.is_absolute():
        raise BadInput(f"give the export's absolute path on the node, not {raw[:200]!r}", field="path")
    try:
        st = path.stat()
    except OSError as exc:
        raise BadInput(
            f"{raw[:200]} cannot be used on the node ({exc.strerror or exc}); check the path", field="path"
        ) from None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise BadInput(f"{raw[:200]} is neither a file nor a folder", field="path")
    if stat.S_ISDIR(st.st_mode) and path == Path(path.anchor):
        raise BadInput("give the export's own folder, not the root of the disk", field="path")
    return path


_SOURCE = {"type": "string", "enum": sorted(BRIDGES), "description": "the silo; detected when omitted"}
_RUN = obj(
    {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["running"]},
        "source": {"type": "string"},
        "name": {"type": "string"},
        "url": {"type": "string", "description": "where to follow its progress"},
    },
    required=("id", "status", "source", "name", "url"),
)
_RUN_STATE = obj(
    {
        "id": {"type": "string"},
        "status": {"type": "string"},
        "source": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "summary": {"type": ["object", "null"]},
        "error": {"type": ["string", "null"]},
        "started_at": {"type": ["string", "null"]},
        "finished_at": {"type": ["string", "null"]},
        "progress": obj(
            {
                "phase": {"type": "string"},
                "rows": {"type": "integer"},
                "rows_per_second": {"type": "integer"},
            },
            required=("phase", "rows", "rows_per_second"),
        ),
    },
    required=("id", "status"),
    additional=True,
    description="A running import's progress, or how it ended",
)


@route(
    "POST",
    "/imports",
    "Import an export: multipart upload (fields file, source?) or JSON {path, source?}; answers 202 with the run id",
    body=obj(
        {
            "path": text(4096, nonblank=True, description="a file or folder on the node's disk"),
            "source": nullable(_SOURCE),
        },
        required=("path",),
    ),
    multipart=obj(
        {"file": {"type": "string", "contentMediaType": "application/octet-stream"}, "source": _SOURCE},
        required=("file",),
        additional=True,  # other parts are read past and ignored
    ),
    replies={202: Reply(_RUN, "Accepted: the import runs in the background")},
    creates=("/imports/{id}", "id"),
)
async def start_import(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    run_id = new_id("imp")
    # The run's lock first: the sweep of left-behind runs (Imports.sweep) leaves its upload alone.
    lock = await ctx.store.imports.claim(run_id)
    upload_dir: Path | None = None
    try:
        if request.content_type.startswith("multipart/"):
            upload_dir = ctx.store.imports.folder / run_id
            await asyncio.to_thread(upload_dir.mkdir, mode=0o700)
            upload = await read_upload(request, upload_dir, max_bytes=MAX_UPLOAD)
            if upload.path is None:
                raise BadInput("send the export as a multipart field named 'file'", field="file")
            path, source = upload.path, upload.fields.get("source", "")[:40] or None
        else:
            data = body(request)  # read and checked against the route's schema
            raw = data.get("path")
            if not isinstance(raw, str) or not raw.strip():
                raise BadInput(
                    'give the export as a multipart upload, or {"path": ...} on the node\'s disk',
                    field="path",
                )
            path = await asyncio.to_thread(_check_path, raw)
            source = data.get("source") if isinstance(data.get("source"), str) else None
        bridge = await asyncio.to_thread(_pick, source, path)
        await ctx.imports.start(bridge, path, name=path.name, remove=upload_dir, job_id=run_id, lock=lock)
    except BaseException:
        if upload_dir is not None:
            await asyncio.to_thread(shutil.rmtree, upload_dir, True)
        lock.release()
        raise
    return json_response(
        {
            "id": run_id,
            "status": "running",
            "source": bridge.name,
            "name": path.name,
            "url": f"/api/imports/{run_id}",
        },
        status=202,
    )


@route(
    "GET",
    "/imports/{id}",
    "An import's live progress, then its summary (or error)",
    replies={200: Reply(_RUN_STATE)},
    errors=(404,),
)
async def get_import(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    run_id = request.match_info["id"]
    stored = await ctx.store.imports.get_run(run_id)
    live = ctx.imports.get(run_id)
    if stored is not None and stored.status == "running" and live is None:
        # Run by another process (`kith import`), or left behind by one that was killed: the sweep tells.
        await ctx.store.imports.sweep(ctx.graph.clock())
        stored = await ctx.store.imports.get_run(run_id)
    if live is not None and live.finished:
        live = None  # the stored run says how it ended
    if stored is None and live is None:
        raise NotFound(f"no import with id {run_id!r}", field="id")
    doc: dict[str, Any] = as_json(stored) if stored is not None else {"id": run_id, "status": "running"}
    if live is not None:  # running, or its worker has committed and its upload is being removed: not over yet
        doc.update(status="running", source=live.source, name=live.name, summary=None, finished_at=None)
        doc["progress"] = {"phase": live.phase, "rows": live.rows, "rows_per_second": round(live.rate)}
    return json_response(doc)


@route(
    "POST",
    "/sync/{source}",
    "Sync a linked account's follows now (mastodon, bluesky, x); resumes where the last sync stopped",
    params=(Param("source", {"type": "string", "enum": list(SOURCES)}, "The linked silo"),),
    body=obj(
        {
            "account": nullable(text(200, description="which linked account, when several are")),
            "direction": {"type": "string", "enum": list(DIRECTIONS)},
        }
    ),
    body_required=False,
    replies={200: Reply(dataclass_schema(SyncResult))},
    errors=(404, 502, 504),
)
async def sync_source(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    data = body(request)
    account = data.get("account") if isinstance(data.get("account"), str) else None
    direction = data.get("direction", "following")
    if not isinstance(direction, str):
        raise BadInput("direction must be following or followers", field="direction")
    # off_loop: each page is resolved and written in a thread of its own, not on the server's event loop.
    importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region, off_loop=True)
    syncer = Syncer(ctx.store, importer, passphrase=passphrase_from_env(), clock=ctx.graph.clock)
    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        result = await syncer.sync(
            request.match_info["source"], session=http, account=account, direction=direction
        )
    return json_response(as_json(result))
