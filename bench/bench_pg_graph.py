"""Search and due-list latency at N people on PostgreSQL, beside SQLite's in the same run (issue #14: p99 under
20 ms for search and under 50 ms for the due list at 100,000 people, like SQLite).

    python bench/bench_pg_graph.py [--people 100000] [--queries 400]

One graph of N people (3 identities, 5 interactions each, a quarter in circles with a cadence), the same rows in
both engines: written with bulk statements straight into a graph made by the store (SQLite: executemany in large
transactions; PostgreSQL: COPY), search rows rebuilt by each engine's own SQL, then the store's own calls
measured (node/store/*/insights.py: search and due), no HTTP in between, alternating engines query by query so
that the machine's noise falls on both. PostgreSQL is a throw-away cluster (tests/support/pgcluster.py), or
KITH_TEST_POSTGRES_URL's server. Output ends with one JSON line per metric: {"metric", "value", "unit",
"target"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.bench_node import (  # the same names, organisations, hosts and queries as the node benchmark
    CHANNELS,
    FIRST,
    HOSTS,
    LAST,
    MAIL_HOSTS,
    ORG_A,
    ORG_B,
    QUERIES_IDENT,
    QUERIES_NAMES,
    QUERIES_ORGS,
    QUERIES_PREFIX,
)
from node.store.postgres.store import PgGraphStore, PgServerStore
from node.store.sqlite.driver import sqlite
from node.store.sqlite.rows import refresh_fts_sql
from node.store.sqlite.store import SqliteGraphStore
from tests.support import pgcluster

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CIRCLES = [(1, "c_family", "family", 14), (2, "c_close", "close friends", 30), (3, "c_work", "work", 90)]
PERSON = (
    "pk, id, display_name, given_name, family_name, organization, title, priority, cadence_days, "
    "effective_cadence_days, last_interaction_at, due_at, interaction_count, initiated_by_them, "
    "initiated_by_owner, created_at, updated_at"
)
TABLES: dict[str, str] = {
    "person": PERSON,
    "identity": "pk, person_pk, uri, kind, display, verification, created_at, updated_at",
    "provenance": "identity_pk, source, source_record_id, seen_at",
    "interaction": "pk, id, occurred_at, channel, initiated_by, summary, created_at",
    "interaction_person": "person_pk, interaction_pk",
    "circle_member": "circle_pk, person_pk",
}

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(n: int, seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of N people, as bench/bench_node.py makes them."""
    rng = random.Random(seed)
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    ipk = 0
    cadence_of = {c[0]: c[3] for c in CIRCLES}
    for k in range(n):
        pk = k + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = NOW - timedelta(days=rng.uniform(400, 2000))
        org = f"{rng.choice(ORG_A)} {rng.choice(ORG_B)}" if rng.random() < 0.6 else None
        handle = f"{first}{last}{k}".lower()
        mail = (
            rng.choice(MAIL_HOSTS)
            if org is None or rng.random() < 0.5
            else f"{org.split()[0].lower()}.example"
        )
        times = sorted(NOW - timedelta(days=rng.uniform(0, 720)) for _ in range(5))
        by = [rng.choice(("owner", "them", "unknown")) for _ in range(5)]
        cadence = rng.choice((None, None, None, 7, 14, 30, 60, 90, 180, 365))
        circle = rng.choice((None, None, None, 1, 2, 3))
        eff = cadence or (cadence_of[circle] if circle else None)
        due = iso(times[-1] + timedelta(days=eff)) if eff else None
        rows["person"].append(
            (pk, f"p_{k:07d}", f"{first} {last}", first, last, org,
             rng.choice((None, "Engineer", "Director", "Designer", "Founder")), rng.randint(0, 3), cadence, eff,
             iso(times[-1]), due, 5, by.count("them"), by.count("owner"), iso(created), iso(created))
        )  # fmt: skip
        if circle:
            rows["circle_member"].append((circle, pk))
        for j, (kind, uri, display) in enumerate(
            (
                ("acct", f"acct:{handle}@{rng.choice(HOSTS)}", f"@{handle}"),
                ("email", f"mailto:{handle}@{mail}", f"{handle}@{mail}"),
                ("x", f"https://x.com/{handle}", f"@{handle}"),
            )
        ):
            ident = pk * 3 + j
            rows["identity"].append((ident, pk, uri, kind, display, "claimed", iso(created), iso(created)))
            rows["provenance"].append((ident, rng.choice(("owner", "mastodon", "google")), "", iso(created)))
        for t, who in zip(times, by, strict=True):
            ipk += 1
            rows["interaction"].append(
                (
                    ipk,
                    f"i_{ipk:08d}",
                    iso(t),
                    rng.choice(CHANNELS),
                    who,
                    f"talked about {rng.choice(ORG_A)}",
                    iso(t),
                )
            )
            rows["interaction_person"].append((pk, ipk))
    return rows


def fill_sqlite(path: Path, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = sqlite.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO circle (pk, id, name, cadence_days, created_at) VALUES (?,?,?,?,?)",
        [(*c, iso(NOW)) for c in CIRCLES],
    )
    for table, cols in TABLES.items():
        marks = ",".join("?" * len(cols.split(",")))
        conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows[table])
    for statement in refresh_fts_sql("SELECT pk FROM person"):
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.execute("INSERT INTO person_fts(person_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def fill_pg(url: str, schema: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        async with conn.transaction():
            await conn.execute(f'SET LOCAL search_path TO "{schema}", public')
            await conn.execute("SET CONSTRAINTS ALL DEFERRED")
            async with conn.cursor().copy(
                "COPY circle (pk, id, name, cadence_days, created_at) FROM STDIN"
            ) as cp:
                for c in CIRCLES:
                    await cp.write_row((*c, iso(NOW)))
            for table, cols in TABLES.items():
                async with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                    for row in rows[table]:
                        await cp.write_row(row)
            await conn.execute(
                "INSERT INTO person_fts (pk, names, organization, identities, notes) "
                "SELECT pk, names, organization, identities, notes FROM person_search_text"
            )
            for table in ("person", "identity", "interaction", "circle"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), (SELECT max(pk) FROM {table}))"
                )
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute("VACUUM ANALYZE")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(engines: dict[str, Any], queries: int) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(11)
    pool = QUERIES_NAMES + QUERIES_PREFIX + QUERIES_ORGS + QUERIES_IDENT
    texts = [rng.choice(pool) for _ in range(queries)]
    lat: dict[str, dict[str, list[float]]] = {name: {"search": [], "due": []} for name in engines}

    async def search(store: Any, q: str) -> None:
        await store.insights.search(
            q, circle=None, due_until=None, include_archived=False, now=NOW, offset=0, limit=50
        )

    async def due(store: Any, days: int) -> None:
        await store.insights.due(until=NOW + timedelta(days=days), now=NOW, offset=0, limit=50)

    for store in engines.values():  # warm-up: caches, the first plan of each query
        for q in pool:
            await search(store, q)
        await due(store, 7)
    for k, q in enumerate(texts):
        for name, store in engines.items():
            t = time.perf_counter()
            await search(store, q)
            lat[name]["search"].append((time.perf_counter() - t) * 1000)
            if k % 4 == 0:
                t = time.perf_counter()
                await due(store, (0, 7, 30)[k % 3])
                lat[name]["due"].append((time.perf_counter() - t) * 1000)
    return lat


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=300 if SMOKE else 100_000)
    parser.add_argument("--queries", type=int, default=10 if SMOKE else 400)
    args = parser.parse_args()
    external = os.environ.get("KITH_TEST_POSTGRES_URL")
    cluster = None if external else pgcluster.start()
    admin = external or (cluster.info.admin_url if cluster else "")
    template = pgcluster.TEMPLATE
    name = f"bench_graph_{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="kith-bench-pg-graph-"))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            version = (conn.execute("SHOW server_version").fetchone() or ("?",))[0]
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        url = admin.rsplit("/", 1)[0] + "/" + name
        t = time.perf_counter()
        rows = generate(args.people)
        print(f"{args.people:,} people generated in {time.perf_counter() - t:.1f} s", flush=True)
        lite = await SqliteGraphStore.open(folder / "graph.sqlite3")
        await lite.close()
        t = time.perf_counter()
        fill_sqlite(folder / "graph.sqlite3", rows)
        print(f"SQLite filled in {time.perf_counter() - t:.1f} s", flush=True)
        server = await PgServerStore.open(url)
        schema = await server.create_graph("bench")
        t = time.perf_counter()
        await fill_pg(url, schema, rows)
        print(f"PostgreSQL {version} filled in {time.perf_counter() - t:.1f} s", flush=True)
        del rows
        lite = await SqliteGraphStore.open(folder / "graph.sqlite3")
        pg: PgGraphStore = await server.open_graph(schema)
        try:
            lat = await measure({"sqlite": lite, "postgres": pg}, args.queries)
        finally:
            await lite.close()
            await pg.close()
            await server.close()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    targets = {"search": 20.0, "due": 50.0}
    print(f"\n{args.people:,} people; the store's own calls, engines alternating; milliseconds")
    print(f"{'':<10} {'search p50':>11} {'search p99':>11} {'due p50':>9} {'due p99':>9}")
    for engine, runs in lat.items():
        print(
            f"{engine:<10} {pct(runs['search'], 50):>11.2f} {pct(runs['search'], 99):>11.2f} "
            f"{pct(runs['due'], 50):>9.2f} {pct(runs['due'], 99):>9.2f}"
        )
    for engine, runs in lat.items():
        for kind, values in runs.items():
            for p in (50, 99):
                print(
                    json.dumps(
                        {
                            "metric": f"{engine}_{kind}_p{p}",
                            "value": round(pct(values, p), 2),
                            "unit": "ms",
                            "target": targets[kind] if p == 99 else None,
                        }
                    )
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
