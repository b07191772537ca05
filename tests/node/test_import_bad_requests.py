"""Malformed import requests, as an attacker would send them (issue 12 §4): every one gets a JSON 4xx from the
owner API (a message on the import page from the web UI) that says what to send, never a 500 or a traceback,
leaves nothing under the data folder's imports/, and the node goes on answering.

A real node on 127.0.0.1 with raw bodies: multipart without a boundary, broken, truncated and garbage bodies,
huge part headers, many parts, unknown, repeated, nested and oversized parts, empty files; and paths on the
node's disk that are the root, a dangling link, relative, a device, a FIFO, too long, or not text.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.app import build_app
from node.context import AccountContext
from node.http import MAX_FIELD_BYTES, MAX_PARTS
from tests.conftest import new_server_account
from tests.node.import_helpers import SAMPLES

__all__ = ["MULTIPART_ATTACKS", "B", "leftovers", "part"]

TOKEN = "kith_test_token"
H = {"Authorization": f"Bearer {TOKEN}"}
B = "kithboundary"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], AccountContext]]:
    ctx = await new_server_account(tmp_path / "node", token=TOKEN)
    app = build_app(ctx.server, extensions=[])
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as cli:
        yield cli, ctx
    await ctx.close()


def part(name: str, body: bytes, *, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--{B}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode() + body + b"\r\n"


CSV = (SAMPLES / "google" / "contacts.csv").read_bytes()
END = f"--{B}--\r\n".encode()

#: (what, Content-Type, body, status, words the message must hold)
MULTIPART_ATTACKS: list[tuple[str, str, bytes, int, str]] = [
    ("no boundary", "multipart/form-data", part("file", CSV, filename="c.csv") + END, 400, "boundary"),
    ("empty boundary", "multipart/form-data; boundary=", b"--\r\n", 400, "multipart"),
    ("garbage body", f"multipart/form-data; boundary={B}", b"this is not multipart at all", 400, "multipart"),
    ("empty body", f"multipart/form-data; boundary={B}", b"", 400, "multipart"),
    (
        "truncated inside the file",
        f"multipart/form-data; boundary={B}",
        f'--{B}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n\r\n'.encode() + CSV[:50],
        400,
        "multipart",
    ),
    (
        "truncated inside the headers",
        f"multipart/form-data; boundary={B}",
        f'--{B}\r\nContent-Disposition: form-data; name="fi'.encode(),
        400,
        "multipart",
    ),
    (
        "a part header of 1 MiB",
        f"multipart/form-data; boundary={B}",
        part("file", CSV, filename="c.csv", extra="X-Pad: " + "a" * (1 << 20) + "\r\n") + END,
        400,
        "multipart",
    ),
    (
        "many parts",
        f"multipart/form-data; boundary={B}",
        b"".join(part("source", b"google") for _ in range(MAX_PARTS * 20)) + END,
        400,
        "source",  # refused at the second part, the first rule it breaks
    ),
    (
        "a text field of 2 MiB",
        f"multipart/form-data; boundary={B}",
        part("source", b"g" * (2 << 20)) + part("file", CSV, filename="c.csv") + END,
        400,
        f"longer than {MAX_FIELD_BYTES}",
    ),
    (
        "an unknown field",
        f"multipart/form-data; boundary={B}",
        part("evil", b"x" * 100) + part("file", CSV, filename="c.csv") + END,
        400,
        "unexpected form field",
    ),
    (
        "two files",
        f"multipart/form-data; boundary={B}",
        part("file", CSV, filename="a.csv") + part("file", CSV, filename="b.csv") + END,
        400,
        "one file",
    ),
    (
        "the source twice",
        f"multipart/form-data; boundary={B}",
        part("source", b"google") + part("source", b"x") + part("file", CSV, filename="c.csv") + END,
        400,
        "twice",
    ),
    (
        "a nested multipart",
        f"multipart/form-data; boundary={B}",
        part(
            "file",
            b'--inner\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n--inner--',
            extra="Content-Type: multipart/mixed; boundary=inner\r\n",
        )
        + END,
        400,
        "nested",
    ),
    (
        "an empty file",
        f"multipart/form-data; boundary={B}",
        part("file", b"", filename="c.csv") + END,
        400,
        "empty",
    ),
    ("no file at all", f"multipart/form-data; boundary={B}", part("source", b"google") + END, 400, "file"),
    (
        "a source field that is not UTF-8",
        f"multipart/form-data; boundary={B}",
        part("source", b"\xff\xfe\xfa") + part("file", CSV, filename="c.csv") + END,
        400,
        "UTF-8",
    ),
    (
        "an unknown source",
        f"multipart/form-data; boundary={B}",
        part("source", b"myspace") + part("file", CSV, filename="c.csv") + END,
        400,
        "myspace",
    ),
    (
        "a file nobody can recognise",
        f"multipart/form-data; boundary={B}",
        part("file", b"\x00\x01\x02 nothing", filename="../../../etc/passwd") + END,
        400,
        "could not tell",
    ),
]


def leftovers(ctx: AccountContext) -> list[str]:
    folder = ctx.store.imports.folder
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def _still_answers(cli: TestClient[Any, Any]) -> None:
    resp = await cli.get("/api/people", headers=H)
    assert resp.status == 200


@pytest.mark.parametrize(
    ("what", "ctype", "body", "status", "words"), MULTIPART_ATTACKS, ids=[a[0] for a in MULTIPART_ATTACKS]
)
async def test_malformed_uploads_get_a_json_4xx_and_leave_nothing(
    client: tuple[TestClient[Any, Any], AccountContext],
    what: str,
    ctype: str,
    body: bytes,
    status: int,
    words: str,
) -> None:
    cli, ctx = client
    resp = await cli.post("/api/imports", data=body, headers={**H, "Content-Type": ctype})
    assert resp.status == status, (what, await resp.text())
    assert resp.content_type == "application/json", what
    error = (await resp.json())["error"]
    assert error["status"] == status and words.lower() in error["message"].lower(), (what, error)
    assert "Traceback" not in error["message"]
    assert leftovers(ctx) == [], what
    await _still_answers(cli)


@pytest.mark.parametrize(
    "raw",
    ["/", "relative/Connections.csv", "/no/such/export.zip", "/dev/null", "/tmp/\x00nul", "/" + "a" * 5000],
    ids=["root", "relative", "missing", "device", "nul", "too-long"],
)
async def test_paths_that_are_no_export_get_a_json_400(
    client: tuple[TestClient[Any, Any], AccountContext], raw: str
) -> None:
    cli, ctx = client
    resp = await cli.post("/api/imports", json={"path": raw}, headers=H)
    assert resp.status == 400, (raw[:40], await resp.text())
    error = (await resp.json())["error"]
    assert error["field"] == "path" and error["message"], error
    assert leftovers(ctx) == []
    await _still_answers(cli)


async def test_folders_with_dangling_links_fifos_and_odd_bodies_get_a_json_400(
    client: tuple[TestClient[Any, Any], AccountContext], tmp_path: Path
) -> None:
    cli, ctx = client
    # A folder whose export file is a link to nothing, one level down as in an unpacked archive.
    export = tmp_path / "export"
    (export / "data").mkdir(parents=True)
    os.symlink(export / "data" / "gone.csv", export / "data" / "Connections.csv")
    os.symlink(export / "nowhere", export / "following.js")
    fifo = tmp_path / "contacts.csv"
    os.mkfifo(fifo)
    for body in (
        {"path": str(export)},
        {"path": str(export), "source": "linkedin"},
        {"path": str(export / "data" / "Connections.csv")},
        {"path": str(fifo)},
        {"path": 42},
        {"path": ["/"]},
        {"path": str(export), "source": 7},
    ):
        resp = await cli.post("/api/imports", json=body, headers=H)
        text = await resp.text()
        if resp.status == 202:  # a named source on a folder it can open: the run fails, saying why
            doc = await _finished(cli, (await resp.json())["id"])
            assert doc["status"] == "failed" and doc["error"], (body, doc)
            continue
        assert resp.status == 400 and resp.content_type == "application/json", (body, text)
        assert (await resp.json())["error"]["message"], body
    for raw, ctype in ((b"[1, 2]", "application/json"), (b"{", "application/json"), (b"\xff", "text/plain")):
        resp = await cli.post("/api/imports", data=raw, headers={**H, "Content-Type": ctype})
        assert resp.status == 400 and resp.content_type == "application/json", raw
    assert leftovers(ctx) == []
    await _still_answers(cli)


async def _finished(cli: TestClient[Any, Any], run_id: str) -> dict[str, Any]:
    import asyncio

    for _ in range(600):
        doc: dict[str, Any] = await (await cli.get(f"/api/imports/{run_id}", headers=H)).json()
        if doc["status"] != "running":
            return doc
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_a_good_upload_after_the_attacks_still_imports(
    client: tuple[TestClient[Any, Any], AccountContext],
) -> None:
    cli, ctx = client
    for _what, ctype, body, _status, _words in MULTIPART_ATTACKS[:6]:
        await cli.post("/api/imports", data=body, headers={**H, "Content-Type": ctype})
    form = aiohttp.FormData()
    form.add_field("source", "google")
    form.add_field("file", CSV, filename="contacts.csv")
    resp = await cli.post("/api/imports", data=form, headers=H)
    assert resp.status == 202
    doc = await _finished(cli, (await resp.json())["id"])
    assert doc["status"] == "done" and doc["summary"]["people_created"] == 3
    assert leftovers(ctx) == []
