"""Inbox and delivery throughput of real Kith processes, on SQLite and on PostgreSQL, with one process and with two
(issue #14). Everything runs as an operator runs it: `kith init`, `kith serve --no-workers` and `kith worker`
processes against one database; the benchmark only sends requests, receives deliveries and counts.

- **Inbox**: signed activities (Follows of the account, cavage signatures made beforehand: the sender's cost is
  not ours) verified, stored and answered 202 per second: one `kith serve --no-workers`, then two behind the
  client's round robin (the web processes are what answers; workers do not take requests).
- **Deliveries**: one activity to 1,000 loopback inboxes (each its own host:port on 127.0.0.1, answering 202),
  by one `kith worker`, then by two: deliveries per second from the first inbox reached to the last (the
  workers' wake-up is left out, so that SQLite's poll and PostgreSQL's NOTIFY compare fairly).

SQLite runs one process of each (one file, one writer: docs/DEPLOYMENT.md recommends PostgreSQL for several).
PostgreSQL is the throw-away cluster (tests/support/pgcluster.py: fsync off, so the figures are CPU, not disk),
or KITH_TEST_POSTGRES_URL's server. This machine has 2 cores, shared by the client, the Kith processes and
PostgreSQL. Usage: python bench/bench_pg_inbox.py [INBOX_REQUESTS] [INBOXES]. Last lines: one JSON object per
metric; goals: PostgreSQL with two processes at least 1.6 x one; PostgreSQL single within 0.7 of SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from federation.signing import sign
from federation.values import Outgoing
from node.config import load_config
from node.keys import KeyRing
from node.store import open_server_store
from tests.support import pgcluster

ROOT = Path(__file__).resolve().parents[1]
# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else (40 if SMOKE else 2000)
INBOXES = int(sys.argv[2]) if len(sys.argv) > 2 else (20 if SMOKE else 1000)
PARTS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["inbox", "deliver"]  # which to measure
_KITH = (sys.executable, "-m", "node")
CONCURRENCY = 64  # inbox requests in flight
ROUNDS = 1 if SMOKE else 2  # best of


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Kith:
    """One server's data folder and its processes."""

    def __init__(self, folder: Path, url: str) -> None:
        self.port = _free_port()
        self.domain = f"127.0.0.1:{self.port}"  # the server's public host: the signatures and URLs name it
        self.env = {
            **os.environ,
            "KITH_STORAGE_URL": url,
            "KITH_ALLOW_HTTP": "1",
            "KITH_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
            "KITH_FEDERATION_INBOX_RATE_PER_HOST": "0",
            "KITH_FEDERATION_INBOX_BURST_PER_HOST": "0",
        }
        self.env.pop("KITH_PASSPHRASE", None)
        self.data = folder
        self.procs: list[subprocess.Popen[str]] = []
        subprocess.run(
            [*_KITH, "--data", str(folder), "init", "--username", "alice", "--domain", self.domain],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )

    def start(self, *args: str) -> str:
        proc = subprocess.Popen(
            [*_KITH, "--data", str(self.data), *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline()

    def serve(self, port: int) -> str:
        line = self.start("serve", "--no-workers", "--host", "127.0.0.1", "--port", str(port))
        assert "listening on" in line, line
        return f"http://127.0.0.1:{port}"

    def worker(self, name: str) -> None:
        line = self.start("worker", "--name", name, "--concurrency", "32")
        assert "working the queues" in line, line

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


@contextlib.asynccontextmanager
async def sender() -> AsyncIterator[tuple[str, Any]]:
    """The remote actor whose signed Follows the inboxes take: its document on a loopback server."""
    key = KeyRing.generate().owner_rsa
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = web.Application()
    where: dict[str, str] = {}

    async def actor(request: web.Request) -> web.Response:
        a = where["actor"]
        doc = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": a,
            "type": "Person",
            "preferredUsername": "sender",
            "inbox": a + "/inbox",
            "publicKey": {"id": a + "#main-key", "owner": a, "publicKeyPem": pem.decode()},
        }
        return web.json_response(doc, content_type="application/activity+json")

    app.router.add_get("/users/sender", actor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    where["actor"] = f"http://127.0.0.1:{runner.addresses[0][1]}/users/sender"
    try:
        yield where["actor"], key
    finally:
        await runner.cleanup()


def _signed(actor: str, key: Any, target: str, url: str, n: int) -> tuple[bytes, dict[str, str]]:
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}/follows/{uuid.uuid4()}-{n}",
        "type": "Follow",
        "actor": actor,
        "object": target,
    }
    body = json.dumps(activity).encode()
    headers = {"Content-Type": "application/activity+json"}
    headers.update(
        sign(
            "cavage",
            method="POST",
            url=url,
            headers=headers,
            body=body,
            key_id=actor + "#main-key",
            private_key=key,
            now=time.time(),
        )
    )
    return body, headers


async def blast(requests: list[tuple[str, bytes, dict[str, str]]]) -> float:
    """POST each (url, body, headers) with CONCURRENCY in flight; seconds for all of them."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        queue = list(reversed(requests))

        async def one() -> None:
            while queue:
                url, body, headers = queue.pop()
                async with http.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 202:
                        raise RuntimeError(f"{r.status}: {await r.text()}")

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        return time.perf_counter() - t0


async def inbox_rate(kith: Kith, processes: int) -> float:
    """Signed activities verified, stored and answered per second by ``processes`` web processes. Each request is
    signed for the server's public URL and sent to one of the processes with that Host, as a reverse proxy
    passes it on (docs/DEPLOYMENT.md §5)."""
    bases = [kith.serve(_free_port()) for _ in range(processes)]
    public = f"http://{kith.domain}/users/alice/inbox"
    target = f"http://{kith.domain}/users/alice"
    best = float("inf")

    def request(base: str, n: int) -> tuple[str, bytes, dict[str, str]]:
        body, headers = _signed(actor, key, target, public, n)
        return base + "/users/alice/inbox", body, {**headers, "Host": kith.domain}

    async with sender() as (actor, key):
        # each process fetches and caches the sender's key first (not the steady state's cost)
        for base in bases:
            await blast([request(base, 0)])  # one at a time: the intake caps key fetches in flight
        await blast([request(base, n) for base in bases for n in range(1, 20)])
        for _ in range(ROUNDS):
            # the client's round robin over the processes (a proxy's)
            best = min(best, await blast([request(bases[n % len(bases)], n) for n in range(REQUESTS)]))
    kith.stop_all()
    return REQUESTS / best


@contextlib.contextmanager
def _many_files() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * INBOXES + 1024)), hard))
    yield


async def delivery_rate(kith: Kith, workers: int) -> float:
    """Deliveries per second of one activity to INBOXES loopback inboxes by ``workers`` worker processes."""
    first: list[float] = []
    last: list[float] = []
    got: set[str] = set()

    async def inbox(request: web.Request) -> web.Response:
        await request.read()
        now = time.perf_counter()
        if not first:
            first.append(now)
        got.add(request.host)
        last[:] = [now]
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    urls = []
    for _ in range(INBOXES):
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        urls.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/inbox")  # type: ignore[union-attr]
    for n in range(workers):
        kith.worker(f"bench-{n}")
    config = load_config(kith.data, env={k: v for k, v in kith.env.items() if k.startswith("KITH_")})
    store = await open_server_store(config)
    try:
        aid = f"http://127.0.0.1:{kith.port}/users/alice/activities/{uuid.uuid4()}"
        body = json.dumps(
            {"id": aid, "type": "Announce", "actor": f"http://127.0.0.1:{kith.port}/users/alice"}
        )
        await store.federation.enqueue_many(
            "alice", [Outgoing(activity_id=aid, type="Announce", body=body, inboxes=urls)], now=time.time()
        )
        deadline = time.monotonic() + 600
        while len(got) < INBOXES and time.monotonic() < deadline:  # noqa: ASYNC110 (the inboxes count)
            await asyncio.sleep(0.05)
        counts = await store.federation.delivery_counts("alice")
    finally:
        await store.close()
        kith.stop_all()
        await runner.cleanup()
    assert len(got) == INBOXES, (len(got), counts)
    return (INBOXES - 1) / (last[0] - first[0])


async def measure(name: str, url: Callable[[], str], folder: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    counts = (1,) if name == "sqlite" else (1, 2)
    for processes in counts if "inbox" in PARTS else ():
        kith = Kith(folder / f"{name}-inbox-{processes}", url())
        out[f"inbox_{processes}"] = await inbox_rate(kith, processes)
        print(
            f"{name}: inbox, {processes} web process(es): {out[f'inbox_{processes}']:.0f} activities/s",
            flush=True,
        )
    for processes in counts if "deliver" in PARTS else ():
        kith = Kith(folder / f"{name}-deliver-{processes}", url())
        out[f"deliver_{processes}"] = await delivery_rate(kith, processes)
        print(f"{name}: deliveries, {processes} worker(s): {out[f'deliver_{processes}']:.0f}/s", flush=True)
    return out


async def main() -> None:
    import psycopg

    external = os.environ.get("KITH_TEST_POSTGRES_URL")
    cluster = None if external else pgcluster.start()
    admin = external or (cluster.info.admin_url if cluster else "")
    made: list[str] = []

    def fresh_pg() -> str:
        name = f"bench_inbox_{os.getpid()}_{len(made)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pgcluster.TEMPLATE}"')
        made.append(name)
        return admin.rsplit("/", 1)[0] + "/" + name

    try:
        with tempfile.TemporaryDirectory() as tmp, _many_files():
            sqlite = await measure("sqlite", str, Path(tmp))
            pg = await measure("postgres", fresh_pg, Path(tmp))
    finally:
        with contextlib.suppress(Exception), psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster is not None:
            cluster.stop()
    rows = [
        ("inbox: signed activities verified, stored, answered /s", "inbox"),
        ("deliveries to loopback inboxes /s", "deliver"),
    ]
    print(f"\n{'':<56} {'SQLite 1':>9} {'PG 1':>9} {'PG 2':>9} {'PG2/PG1':>8} {'PG1/SQLite':>10}")
    for label, key in [(label, key) for label, key in rows if key in PARTS]:
        s1, p1, p2 = sqlite[f"{key}_1"], pg[f"{key}_1"], pg[f"{key}_2"]
        print(f"{label:<56} {s1:>9.0f} {p1:>9.0f} {p2:>9.0f} {p2 / p1:>8.2f} {p1 / s1:>10.2f}")
    for key in PARTS:
        for metric, value, unit, target in (
            (f"pg_{key}_sqlite_1", sqlite[f"{key}_1"], "1/s", None),
            (f"pg_{key}_postgres_1", pg[f"{key}_1"], "1/s", None),
            (f"pg_{key}_postgres_2", pg[f"{key}_2"], "1/s", None),
            (f"pg_{key}_scaling_2_over_1", pg[f"{key}_2"] / pg[f"{key}_1"], "ratio", 1.6),
            (f"pg_{key}_postgres_over_sqlite", pg[f"{key}_1"] / sqlite[f"{key}_1"], "ratio", 0.7),
        ):
            print(json.dumps({"metric": metric, "value": round(value, 3), "unit": unit, "target": target}))


if __name__ == "__main__":
    asyncio.run(main())
