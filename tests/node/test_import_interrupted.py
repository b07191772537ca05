"""An uploaded import whose node is killed part-way (issue 12 §4): nothing of it is kept, its worker process
goes with the node, and the next start marks it interrupted (API, CLI) and removes its upload.

A real node (``kith serve`` in its own process) on 127.0.0.1 receives a 60,000-row LinkedIn export through
``POST /api/imports``; once the import reports rows written, the node is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.store.sqlite.driver import sqlite
from tests.node.import_helpers import write_connections

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").exists(), reason="reads /proc for child processes"
)


def _kith(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "node", "--data", str(data), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Served:
    def __init__(self, data: Path) -> None:
        self.log = data.parent / f"serve-{time.monotonic_ns()}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "node", "--data", str(data), "serve", "--port", "0"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.base = ""

    async def ready(self) -> str:
        for _ in range(1200):
            for line in self.log.read_text().splitlines():
                if " listening on " in line:
                    self.base = line.rsplit(" ", 1)[-1]
                    return self.base
            assert self.proc.poll() is None, self.log.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError("the node did not start")

    def children(self) -> set[int]:
        found: set[int] = set()
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with_children = task / "children"
            if with_children.exists():
                found.update(int(p) for p in with_children.read_text().split())
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


async def _upload(http: aiohttp.ClientSession, base: str, csv: Path) -> str:
    form = aiohttp.FormData()
    form.add_field("source", "linkedin")
    form.add_field("file", await asyncio.to_thread(csv.read_bytes), filename="Connections.csv")
    async with http.post(base + "/api/imports", data=form) as resp:
        assert resp.status == 202, await resp.text()
        return str((await resp.json())["id"])


@pytest.mark.timeout(600)
async def test_a_node_killed_during_an_import_keeps_nothing_and_says_so_on_restart(tmp_path: Path) -> None:
    data = tmp_path / "node"
    init = _kith(data, "init", "--username", "alice")
    assert init.returncode == 0, init.stderr
    headers = {"Authorization": f"Bearer {(data / 'tokens' / 'alice').read_text().strip()}"}
    rows = 60_000
    csv = write_connections(
        tmp_path / "Connections.csv",
        [
            f"First{i},Last{i},https://www.linkedin.com/in/p-{i},,Co {i % 50},Role,01 Feb 2024"
            for i in range(rows)
        ],
    )
    node = Served(data)
    try:
        base = await node.ready()
        async with aiohttp.ClientSession(headers=headers) as http:
            run_id = await _upload(http, base, csv)
            for _ in range(6000):  # until the worker has written rows inside its transaction
                async with http.get(f"{base}/api/imports/{run_id}") as resp:
                    doc: dict[str, Any] = await resp.json()
                assert doc["status"] == "running", doc
                if doc.get("progress", {}).get("rows", 0) > 0:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the import never reported progress")
            workers = node.children()
            assert workers, "the import runs in a worker process of the node"
            os.kill(node.proc.pid, signal.SIGKILL)
            node.proc.wait()
    finally:
        node.stop()
    # The worker goes with the node: its input closes, and it exits without committing.
    for _ in range(600):
        if not any(_alive(pid) for pid in workers):
            break
        await asyncio.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "the import worker outlived its node"
    conn = sqlite.connect(data / "accounts" / "alice.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            conn.execute("SELECT status FROM import_run WHERE id = ?", (run_id,)).fetchone()[0] == "running"
        )
        for table in ("person", "identity", "source_record", "person_fts"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    finally:
        conn.close()
    assert (data / "accounts" / "imports" / "alice" / run_id).is_dir()  # the upload, until the next start
    # The next start marks the run interrupted and removes its upload; the API and the CLI say so.
    node = Served(data)
    try:
        base = await node.ready()
        # the start-up's one log line: written when the account is first used, which federation's start-up
        # housekeeping does in the background (every account's card is compared with what was published)
        for _ in range(600):
            if "interrupted" in node.log.read_text():
                break
            await asyncio.sleep(0.05)
        assert "interrupted" in node.log.read_text()
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.get(f"{base}/api/imports/{run_id}") as resp:
                doc = await resp.json()
            assert doc["status"] == "failed" and doc["error"].startswith("interrupted"), doc
            assert "import the export again" in doc["error"]
            assert sorted(p.name for p in (data / "accounts" / "imports" / "alice").iterdir()) == []
            listed = _kith(data, "imports", "--json")
            assert listed.returncode == 0, listed.stderr
            (mine,) = [r for r in json.loads(listed.stdout) if r["id"] == run_id]
            assert mine["status"] == "failed" and "interrupted" in mine["error"]
            assert "interrupted" in _kith(data, "imports").stdout
            # And the same export imports whole afterwards.
            again = await _upload(http, base, csv)
            for _ in range(12000):
                async with http.get(f"{base}/api/imports/{again}") as resp:
                    doc = await resp.json()
                if doc["status"] != "running":
                    break
                await asyncio.sleep(0.05)
            assert doc["status"] == "done" and doc["summary"]["people_created"] == rows, doc
    finally:
        node.stop()
