"""Import: upload an export (LinkedIn ZIP, X archive, vCard, Google CSV...), watch it run, read the summary.

The upload is streamed to disk under ``<data>/imports/<run id>/`` with its own size limit (exports are far
larger than the node's request-body limit; node/http.py's read_upload), checked for the session's CSRF token,
and handed to node.web.imports. A malformed upload is a message on the import page, never an error page."""

from __future__ import annotations

import asyncio
import shutil

from aiohttp import web

from node.errors import BadInput, NodeError
from node.graph import new_id
from node.http import json_response, read_upload
from node.web.framework import ROUTES, PageResult, WebRoute, WebState, page, session_id, state
from node.web.imports import SOURCES, import_status, recent_imports, start_import

__all__ = ["MAX_UPLOAD"]

MAX_UPLOAD = 1 << 30  # the owner API's limit too: bigger than any real export; each bridge has tighter ones


@page("/import", "import")
async def _import_page(request: web.Request) -> PageResult:
    return PageResult(
        template="import.html",
        title="Import",
        values={"sources": SOURCES, "jobs": await recent_imports(state(request).ctx)},
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


async def _upload(request: web.Request) -> web.StreamResponse:
    sid = await session_id(request)
    if sid is None:
        raise web.HTTPSeeOther("/login?next=/import")
    st = state(request)
    async with st.app.server.borrow(st.ctx.account):
        return await _receive_upload(request, st, sid)


async def _receive_upload(request: web.Request, st: WebState, sid: str) -> web.StreamResponse:
    run_id = new_id("imp")
    store = st.ctx.store.imports
    lock = await store.claim(run_id)  # before the folder exists: a sweep leaves a claimed run's upload alone
    folder = store.folder / run_id
    try:
        await asyncio.to_thread(folder.mkdir, mode=0o700)

        def csrf(fields: dict[str, str]) -> None:
            if not st.sessions.csrf_ok(sid, fields.get("csrf")):
                raise BadInput("this form has expired; reload the import page and try again", field="csrf")

        # The form's token comes before its file (a browser sends fields in the form's order): checked before
        # the file is written, and again at the end for a form with no file.
        upload = await read_upload(
            request, folder, max_bytes=MAX_UPLOAD, fields=("csrf", "source"), before_file=csrf
        )
        csrf(upload.fields)
        if upload.path is None:
            raise BadInput("choose the export file to import", field="file")
        source = upload.fields.get("source", "auto")
        if source not in ("", "auto", *SOURCES):
            raise BadInput(f"unknown source {source[:40]!r}", field="source")
        import_id = await start_import(st.ctx, source, upload.path, upload.filename, lock=lock)
    except NodeError as exc:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        lock.release()
        st.sessions.flash(sid, "error", exc.message)
        raise web.HTTPSeeOther("/import") from None
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, folder, True)
        lock.release()
        raise
    raise web.HTTPSeeOther(f"/import/{import_id}")


ROUTES.append(WebRoute("POST", "/import", _upload, "import_upload"))
