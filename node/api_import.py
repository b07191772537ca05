"""Owner API for imports and live syncs: upload an export (or name a file on the node's disk), follow its
progress, and sync a linked account. Routes join node.api's table (and so its OpenAPI document) on import.

An upload is streamed to the node's data folder (never held in memory, refused past ``MAX_UPLOAD`` bytes),
imported in the background and deleted afterwards; the import itself is all or nothing (node/importer.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

from bridges.base import Bridge, ExportError
from bridges.registry import BRIDGES, bridge_for, detect
from node.api_declare import CONTEXT, Reply, body, route
from node.api_schema import Param, dataclass_schema, nullable, obj, text
from node.config import passphrase_from_env
from node.context import NodeContext
from node.errors import BadInput, NotFound, TooLarge
from node.graph import new_id
from node.http import json_response
from node.importer import Importer
from node.models import as_json
from node.sync import DIRECTIONS, SOURCES, Syncer, SyncResult

__all__ = ["MAX_UPLOAD", "get_import", "start_import", "sync_source"]

MAX_UPLOAD = 1 << 30  # 1 GiB: bigger than any real export; each bridge has its own, tighter limits inside
_log = logging.getLogger("kith.import")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _ctx(request: web.Request) -> NodeContext:
    ctx: NodeContext = request.app[CONTEXT]
    return ctx


async def _receive(request: web.Request, folder: Path) -> tuple[Path, str | None]:
    """Stream the multipart field ``file`` to ``folder``; also read an optional ``source`` field."""
    reader = await request.multipart()
    saved: Path | None = None
    source: str | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            raise BadInput("nested multipart bodies are not accepted", field="file")
        if part.name == "source":
            source = (await part.text()).strip()[:40] or None
        elif part.name == "file" and saved is None:
            # Clients percent-encode the name (RFC 7578); only its last segment is used, in safe characters.
            raw = unquote(part.filename or "upload").replace("\\", "/")
            name = _NAME.sub("_", raw.rsplit("/", 1)[-1]).strip("._") or "upload"
            saved = folder / name[:120]
            size = 0
            with saved.open("wb") as fh:
                while chunk := await part.read_chunk(1 << 20):
                    size += len(chunk)
                    if size > MAX_UPLOAD:
                        raise TooLarge(f"the upload is larger than {MAX_UPLOAD >> 20} MiB", field="file")
                    fh.write(chunk)
    if saved is None:
        raise BadInput("send the export as a multipart field named 'file'", field="file")
    return saved, source


def _bridge(source: str | None, path: Path) -> Bridge:
    try:
        return (bridge_for(source) if source else detect(path))()
    except ExportError as exc:
        raise BadInput(str(exc), field="source") from None


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
    upload_dir: Path | None = None
    if request.content_type.startswith("multipart/"):
        upload_dir = ctx.config.data_dir / "imports" / run_id
        upload_dir.mkdir(parents=True, exist_ok=True)
        try:
            path, source = await _receive(request, upload_dir)
            bridge = _bridge(source, path)
        except BaseException:
            shutil.rmtree(upload_dir, ignore_errors=True)
            raise
    else:
        data = body(request)
        raw = data.get("path")
        if not isinstance(raw, str) or not raw.strip():
            raise BadInput(
                'give the export as a multipart upload, or {"path": ...} on the node\'s disk', field="path"
            )
        path = Path(raw)
        try:
            exists = await asyncio.to_thread(path.exists)
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise BadInput(f"{path} cannot be looked up on the node: {exc.strerror}", field="path") from None
        if not exists:
            raise BadInput(f"{path} does not exist on the node", field="path")
        source = data.get("source") if isinstance(data.get("source"), str) else None
        bridge = _bridge(source, path)
    ctx.imports.start(bridge, path, name=path.name, remove=upload_dir, job_id=run_id)
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
    if live is not None and live.finished:
        live = None  # the stored run says how it ended
    if stored is None and live is None:
        raise NotFound(f"no import with id {run_id!r}", field="id")
    doc: dict[str, Any] = dict(stored) if stored is not None else {"id": run_id, "status": "running"}
    if live is not None and doc.get("status") in ("running", None):
        doc.update(status="running", source=live.source, name=live.name)
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
    importer = Importer(ctx.store, clock=ctx.graph.clock, phone_region=ctx.graph.phone_region)
    syncer = Syncer(ctx.store, importer, passphrase=passphrase_from_env(), clock=ctx.graph.clock)
    timeout = aiohttp.ClientTimeout(total=60, connect=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        result = await syncer.sync(
            request.match_info["source"], session=http, account=account, direction=direction
        )
    return json_response(as_json(result))
