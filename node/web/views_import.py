"""Import: upload an export (LinkedIn ZIP, X archive, vCard, Google CSV...), watch it run, read the summary.

The upload is streamed to disk under ``<data>/uploads/`` with its own size limit (exports are far larger than
the node's request-body limit), checked for the session's CSRF token, and handed to node.web.imports."""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import shutil
from pathlib import Path
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from node.errors import BadInput, NodeError, TooLarge
from node.http import json_response
from node.web.framework import ROUTES, PageResult, WebRoute, WebState, page, session_id, state
from node.web.imports import SOURCES, UPLOAD_PREFIX, import_status, start_import

__all__ = ["MAX_UPLOAD"]

MAX_UPLOAD = 1 << 30  # the owner API's limit too: bigger than any real export; each bridge has tighter ones
_CHUNK = 256 * 1024


@page("/import", "import")
async def _import_page(request: web.Request) -> PageResult:
    return PageResult(
        template="import.html",
        title="Import",
        values={"sources": SOURCES, "jobs": state(request).ctx.imports.recent()[:10]},
    )


@page("/import/{id}", "import_job")
async def _import_job(request: web.Request) -> PageResult:
    st = state(request)
    status = await import_status(st.ctx, request.match_info["id"])
    return PageResult(template="import_job.html", title="Import", values={"job": status})


@page("/import/{id}/status", "import_status")
async def _import_status_json(request: web.Request) -> web.StreamResponse:
    st = state(request)
    resp = json_response(await import_status(st.ctx, request.match_info["id"]))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _safe_name(raw: str | None) -> str:
    # Browsers may percent-encode the name (RFC 7578); only its last segment is kept, in safe characters.
    name = Path(unquote(raw or "").replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[-120:]
    return name or "export"


async def _save_file(part: BodyPartReader, folder: Path) -> tuple[Path, str]:
    shown = _safe_name(part.filename)
    target = folder / shown
    size = 0
    loop = asyncio.get_running_loop()
    fh = await loop.run_in_executor(None, target.open, "wb")
    try:
        while chunk := await part.read_chunk(_CHUNK):
            size += len(chunk)
            if size > MAX_UPLOAD:
                raise TooLarge(
                    f"the file is larger than {MAX_UPLOAD // 1024**3} GiB; use `kith import` instead"
                )
            await loop.run_in_executor(None, fh.write, chunk)
    finally:
        await loop.run_in_executor(None, fh.close)
    if size == 0:
        raise BadInput("the uploaded file is empty", field="file")
    return target, shown


async def _upload(request: web.Request) -> web.StreamResponse:
    sid = await session_id(request)
    if sid is None:
        raise web.HTTPSeeOther("/login?next=/import")
    st = state(request)
    async with st.app.server.borrow(st.ctx.account):
        return await _receive_upload(request, st, sid)


async def _receive_upload(request: web.Request, st: WebState, sid: str) -> web.StreamResponse:
    folder = st.ctx.config.data_dir / "uploads" / f"{UPLOAD_PREFIX}{secrets.token_hex(8)}"
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, functools.partial(folder.mkdir, parents=True))
    fields: dict[str, str] = {}
    saved: tuple[Path, str] | None = None
    try:
        try:
            reader = await request.multipart()
        except (ValueError, AssertionError):
            raise BadInput("send the export as a file upload (multipart/form-data)", field="file") from None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadInput("nested multipart is not accepted", field="file")
            if part.name == "file" and part.filename is not None:
                if saved is not None:
                    raise BadInput("send one file at a time", field="file")
                saved = await _save_file(part, folder)
            elif part.name in ("csrf", "source") and len(fields) < 4:
                fields[part.name] = (await part.read(decode=True))[:200].decode("utf-8", "replace")
            else:
                await part.release()
        if not st.sessions.csrf_ok(sid, fields.get("csrf")):
            raise BadInput("this form has expired; reload the import page and try again", field="csrf")
        if saved is None:
            raise BadInput("choose the export file to import", field="file")
        source = fields.get("source", "auto")
        if source not in ("", "auto", *SOURCES):
            raise BadInput(f"unknown source {source!r}", field="source")
        import_id = await start_import(st.ctx, source, saved[0], saved[1])
    except NodeError as exc:
        await loop.run_in_executor(None, functools.partial(shutil.rmtree, folder, ignore_errors=True))
        st.sessions.flash(sid, "error", exc.message)
        raise web.HTTPSeeOther("/import") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    raise web.HTTPSeeOther(f"/import/{import_id}")


ROUTES.append(WebRoute("POST", "/import", _upload, "import_upload"))
