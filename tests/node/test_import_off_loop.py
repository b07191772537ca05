"""An import through the owner API runs off the server's event loop and changes no interpreter setting
(issue 12 §3 and §8).

The server runs in this process on 127.0.0.1; a heartbeat task on its event loop wakes every 5 ms and notes
how late it woke, whether the garbage collector is on and the GIL switch interval. Meanwhile two exports are
uploaded and followed to the end: a vCard whose first card has a 4 MB line folded a thousand times (one
record that costs a parser seconds: the attack that froze a node for 50 s), and a 20,000-row
LinkedIn Connections.csv (many chunks of resolution and look-ups).

The bound on the loop's longest stall is relative (a quarter of the import, and at least half a second), so
that it holds on a loaded machine: an import that ran on the loop would stall it for most of the huge card's
parsing, a large share of the whole import, while off the loop the stalls are the machine's own scheduling. Both imports must also really
take time (otherwise the check would say nothing).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from node.app import build_app
from node.context import AccountContext
from tests.conftest import new_server_account
from tests.node.import_helpers import write_connections

TOKEN = "kith_test_token"
H = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], AccountContext]]:
    ctx = await new_server_account(tmp_path / "node", token=TOKEN)
    async with TestClient(TestServer(build_app(ctx.server, extensions=[]), host="127.0.0.1", port=0)) as cli:
        yield cli, ctx
    await ctx.close()


def _huge_vcard(path: Path) -> Path:
    card = (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Huge Card\r\nEMAIL:huge@example.com\r\nNOTE:"
        + "x" * (4 << 20)
        + "\r\n"
        + " y\r\n" * 1000
        + "END:VCARD\r\n"
    )
    rest = "".join(
        f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Person {i}\r\nEMAIL:p{i}@example.com\r\nEND:VCARD\r\n"
        for i in range(2000)
    )
    path.write_text(card + rest, encoding="utf-8")
    return path


class Heartbeat:
    """Wakes every ``period`` seconds on the running loop; keeps the longest lateness and what it saw."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.longest = 0.0
        self.beats = 0
        self.settings: set[tuple[bool, float]] = set()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            self.longest = max(self.longest, time.perf_counter() - before - self.period)
            self.beats += 1
            self.settings.add((gc.isenabled(), sys.getswitchinterval()))

    def __enter__(self) -> Heartbeat:
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


async def _import(cli: TestClient[Any, Any], path: Path, source: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("source", source)
    form.add_field("file", await asyncio.to_thread(path.read_bytes), filename=path.name)
    resp = await cli.post("/api/imports", data=form, headers=H)
    assert resp.status == 202, await resp.text()
    url = (await resp.json())["url"]
    while True:
        doc: dict[str, Any] = await (await cli.get(url, headers=H)).json()
        if doc["status"] != "running":
            return doc
        await asyncio.sleep(0.02)


@pytest.mark.timeout(600)
async def test_imports_leave_the_loop_answering_and_the_interpreter_as_it_was(
    client: tuple[TestClient[Any, Any], AccountContext], tmp_path: Path
) -> None:
    cli, _ctx = client
    settings = (gc.isenabled(), sys.getswitchinterval())
    vcard = _huge_vcard(tmp_path / "contacts.vcf")
    csv = write_connections(
        tmp_path / "Connections.csv",
        [
            f"First{i},Last{i},https://www.linkedin.com/in/p-{i},,Co {i % 50},Role,01 Feb 2024"
            for i in range(20_000)
        ],
    )
    for path, source in ((vcard, "vcard"), (csv, "linkedin")):
        with Heartbeat() as beat:
            began = time.perf_counter()
            doc = await _import(cli, path, source)
            seconds = time.perf_counter() - began
        assert doc["status"] in ("done", "failed"), doc  # the huge card may be refused: what matters is how
        assert seconds > 0.3, f"{source}: the import took {seconds:.2f} s, too short to tell anything"
        assert beat.settings == {settings}, f"{source}: interpreter settings changed during the import"
        assert beat.longest < max(0.25 * seconds, 0.5), (
            f"{source}: the event loop stalled {beat.longest:.2f} s during a {seconds:.2f} s import"
        )
        assert beat.beats > 20
    assert (gc.isenabled(), sys.getswitchinterval()) == settings
    people = await (await cli.get("/api/people?limit=1", headers=H)).json()
    assert people["total"] >= 20_000


async def test_a_sync_page_is_resolved_and_written_off_the_loop(tmp_path: Path) -> None:
    """A live sync's page (``import_items``, as POST /api/sync/{source} runs it in the server) is read, resolved
    and written in a thread of its own; its ``then`` step (the sync's cursor) in the same transaction."""
    import threading
    from collections.abc import Iterator

    from bridges.base import ContactDraft, IdentityDraft, ImportItem
    from node.importer import Importer
    from node.store.imports import ImportSession
    from node.store.sqlite.db import Database
    from node.store.sqlite.store import SqliteGraphStore

    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def page() -> Iterator[ImportItem]:
        for i in range(500):
            threads.add(threading.get_ident())
            yield ContactDraft(
                source_record_id=f"acct{i}",
                display_name=f"Follow {i}",
                identities=(IdentityDraft(address=f"acct:f{i}@social.example"),),
            )

    async def then(session: ImportSession) -> None:
        threads.add(threading.get_ident())
        await session.save_cursor(source="mastodon", account="me", direction="following", cursor={"max": "1"})

    db = await Database.open(tmp_path / "kith.sqlite3")
    try:
        store = SqliteGraphStore.of(db)
        with Heartbeat() as beat:
            summary = await Importer(store, off_loop=True).import_items(
                "mastodon", page(), name="page", then=then
            )
        assert summary.people_created == 500
        assert threads and loop_thread not in threads
        assert beat.settings == {(gc.isenabled(), sys.getswitchinterval())}
        assert await store.links.cursor("mastodon", "me", "following") == {"max": "1"}
    finally:
        await db.close()
