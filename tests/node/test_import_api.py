"""The owner API for imports: multipart upload and path imports with live progress and a stored summary, the
routes in the OpenAPI document, and sync errors as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.app import build_app
from node.context import AccountContext
from tests.conftest import new_server_account
from tests.node.import_helpers import SAMPLES

TOKEN = "kith_test_token"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], AccountContext]]:
    ctx = await new_server_account(tmp_path / "node", token=TOKEN)
    app = build_app(ctx.server, extensions=[])
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as cli:
        yield cli, ctx
    await ctx.close()


H = {"Authorization": f"Bearer {TOKEN}"}


async def _finished(cli: TestClient[Any, Any], run_id: str) -> dict[str, Any]:
    for _ in range(200):
        resp = await cli.get(f"/api/imports/{run_id}", headers=H)
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
        if doc["status"] != "running":
            return doc
        assert "progress" in doc or doc.get("started_at")
        await asyncio.sleep(0.02)
    raise AssertionError("the import did not finish")


async def test_upload_import_and_progress(client: tuple[TestClient[Any, Any], AccountContext]) -> None:
    cli, ctx = client
    form = aiohttp.FormData()
    form.add_field("file", (SAMPLES / "google" / "contacts.csv").read_bytes(), filename="../../contacts.csv")
    resp = await cli.post("/api/imports", data=form, headers=H)
    assert resp.status == 202, await resp.text()
    started = await resp.json()
    assert started["source"] == "google" and started["name"] == "contacts.csv"
    doc = await _finished(cli, started["id"])
    assert doc["status"] == "done" and doc["summary"]["people_created"] == 3
    assert doc["summary"]["skipped"][0]["file"] == "contacts.csv"
    assert not (ctx.store.imports.folder / started["id"]).exists()  # the upload is not kept
    people = await (await cli.get("/api/people", headers=H)).json()
    assert {p["display_name"] for p in people["items"]} >= {"Jane Doe", "Kim"}


async def test_path_import_named_source_and_errors(
    client: tuple[TestClient[Any, Any], AccountContext], tmp_path: Path
) -> None:
    cli, _ctx = client
    resp = await cli.post(
        "/api/imports", json={"path": str(SAMPLES / "linkedin" / "export"), "source": "linkedin"}, headers=H
    )
    assert resp.status == 202
    doc = await _finished(cli, (await resp.json())["id"])
    assert doc["summary"]["interactions_added"] == 5
    odd = tmp_path / "odd.txt"
    odd.write_text("nothing\n")
    resp = await cli.post("/api/imports", json={"path": str(odd)}, headers=H)
    assert resp.status == 400 and "could not tell what odd.txt is" in (await resp.json())["error"]["message"]
    resp = await cli.post("/api/imports", json={"path": str(tmp_path / "missing.zip")}, headers=H)
    assert resp.status == 400
    assert (await cli.get("/api/imports/imp_nope", headers=H)).status == 404
    assert (await cli.post("/api/imports", json={"path": str(odd)})).status == 401  # owner only


async def test_failed_import_reports_its_error(
    client: tuple[TestClient[Any, Any], AccountContext], tmp_path: Path
) -> None:
    cli, _ctx = client
    broken = tmp_path / "Connections.csv"
    broken.write_bytes(
        b"First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n" + b"\x00" * 10
    )
    resp = await cli.post("/api/imports", json={"path": str(broken), "source": "x"}, headers=H)
    assert resp.status == 202
    doc = await _finished(cli, (await resp.json())["id"])
    assert doc["status"] == "failed" and doc["error"]


async def test_routes_in_openapi_and_sync_without_link(
    client: tuple[TestClient[Any, Any], AccountContext],
) -> None:
    cli, _ctx = client
    spec = await (await cli.get("/api/openapi.json", headers=H)).json()
    assert {"/api/imports", "/api/imports/{id}", "/api/sync/{source}"} <= set(spec["paths"])
    resp = await cli.post("/api/sync/mastodon", json={}, headers=H)
    assert resp.status == 404 and "kith link mastodon" in (await resp.json())["error"]["message"]
    resp = await cli.post("/api/sync/myspace", json={}, headers=H)
    assert resp.status == 400
