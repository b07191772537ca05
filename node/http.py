"""The HTTP edge shared by the owner API and the web UI: JSON errors from the one exception tree, body limits,
safe JSON parsing and streamed uploads. Statuses are decided here and nowhere else."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from node.errors import BadInput, NodeError
from node.errors import TooLarge as BodyTooLarge
from protocol.errors import KithError, TooLarge
from protocol.jsonld import check_shape

__all__ = [
    "MAX_FIELD_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_PARTS",
    "Upload",
    "error_middleware",
    "json_error",
    "json_response",
    "read_json",
    "read_upload",
    "safe_filename",
]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_JSON_DEPTH = 32
MAX_PARTS = 8  # parts of an upload form: a file and a few small fields (source, csrf)
MAX_FIELD_BYTES = 1024  # a text field of an upload form (a source name, a CSRF token)
_CHUNK = 256 * 1024
_PARSE_ON_LOOP = 64 * 1024  # bytes of JSON parsed on the event loop; above it, in a thread (about 0.5 ms)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HOW = "send it as multipart/form-data, as a browser's upload form or `curl -F file=@export.zip` does"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def json_error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if field is not None:
        body["field"] = field
    return json_response({"error": body}, status=status)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.read()  # bounded by the application's client_max_size (413 beyond it)
    if len(raw) > _PARSE_ON_LOOP:  # a large body is parsed in a thread: milliseconds the loop need not stall
        return await asyncio.to_thread(_parse_object, raw)
    return _parse_object(raw)


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise BadInput("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the request body must be a JSON object")
    try:
        check_shape(data, max_depth=MAX_JSON_DEPTH, max_nodes=10**9)  # the size is bounded by client_max_size
    except TooLarge:
        raise BadInput(f"the request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    return data


@web.middleware
async def error_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (NodeError, KithError) as exc:
        return json_error(exc.status_hint, exc.message, exc.field)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app._client_max_size
        return json_error(413, f"the request body is larger than the {limit}-byte limit")
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return json_error(exc.status, exc.reason)
        raise


@dataclass
class Upload:
    """A multipart upload read by :func:`read_upload`: the saved file (None when the form had none), the name
    it was sent under (made safe: letters, digits, ``._-``) and the small text fields."""

    path: Path | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def safe_filename(raw: str | None, default: str = "upload") -> str:
    """The last segment of a client's file name, in safe characters. Clients may percent-encode it (RFC 7578)
    and send a path, from either kind of system."""
    name = unquote(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", name).strip("._")[-120:] or default


async def read_upload(
    request: web.Request,
    folder: Path,
    *,
    max_bytes: int,
    file_field: str = "file",
    fields: Sequence[str] = ("source",),
    before_file: Callable[[dict[str, str]], None] | None = None,
) -> Upload:
    """Stream a multipart/form-data body: its one ``file_field`` part is written to ``folder`` (readable by the
    owner only, never held in memory), its ``fields`` are read as short text. Anything else is refused with a
    BadInput (400) that says what to send: no boundary, a broken or truncated body, unknown, repeated or
    nested parts, more than MAX_PARTS parts, a text field over MAX_FIELD_BYTES, an empty file; a file over
    ``max_bytes`` is a TooLarge (413). ``before_file`` is called with the fields read so far before the file
    is written, and may refuse (the web form checks its CSRF token there, which a browser sends first, so
    that a forged form writes nothing). The caller removes ``folder`` when this raises."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError, KeyError, HttpProcessingError):
        raise BadInput(
            f"the request is not a multipart upload with a boundary; {_HOW}", field=file_field
        ) from None
    upload = Upload()
    parts = 0
    try:
        while (part := await reader.next()) is not None:
            parts += 1
            if parts > MAX_PARTS:
                raise BadInput(f"the form has more than {MAX_PARTS} parts; {_HOW}", field=file_field)
            if not isinstance(part, BodyPartReader):
                raise BadInput(f"nested multipart bodies are not accepted; {_HOW}", field=file_field)
            name = part.name or ""
            if not name:
                raise BadInput(f"a part of the form has no name; {_HOW}", field=file_field)
            if name == file_field:
                if upload.path is not None:
                    raise BadInput("send one file at a time", field=file_field)
                if before_file is not None:
                    before_file(upload.fields)
                upload.filename = safe_filename(part.filename)
                upload.path = folder / upload.filename
                await _save(part, upload.path, max_bytes, file_field)
            elif name in fields:
                if name in upload.fields:
                    raise BadInput(f"the field {name!r} is given twice", field=name)
                upload.fields[name] = await _short_text(part, name)
            else:
                wanted = ", ".join(repr(f) for f in (file_field, *fields))
                raise BadInput(f"unexpected form field {name[:40]!r}: send only {wanted}", field=file_field)
    except NodeError:
        raise
    except (
        ValueError,
        AssertionError,
        LookupError,
        UnicodeError,
        EOFError,
        HttpProcessingError,
        Warning,
    ) as exc:
        # aiohttp's multipart reader says what broke (no starting boundary, the body ends inside a part, a
        # header line too long...) with these; the client gets that, in a 400. (A malformed disposition is a
        # warning, raised where warnings are errors, as under the tests.)
        raise BadInput(
            f"the upload is not a well-formed multipart body ({str(exc)[:200]}); {_HOW}", field=file_field
        ) from None
    return upload


async def _short_text(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(MAX_FIELD_BYTES + 1):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise BadInput(f"the field {name!r} is longer than {MAX_FIELD_BYTES} bytes", field=name)
    try:
        return bytes(data).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadInput(f"the field {name!r} is not UTF-8 text", field=name) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _save(part: BodyPartReader, target: Path, max_bytes: int, name: str) -> None:
    """Write the part to ``target`` (0600), in a thread: a disk write must not hold up the event loop."""
    fd = await asyncio.to_thread(os.open, target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    size = 0
    try:
        while chunk := await part.read_chunk(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise BodyTooLarge(
                    f"the file is larger than {max_bytes >> 20} MiB; import it with `kith import` on the node",
                    field=name,
                )
            await asyncio.to_thread(_write_all, fd, chunk)
    finally:
        await asyncio.to_thread(os.close, fd)
    if size == 0:
        raise BadInput("the uploaded file is empty: choose the export file itself", field=name)
