"""Web UI render times with 100,000 people in the graph: the people page (first page by tie strength, a deep
page, a circle filter, a search) and a person's page, p50/p99 over ~200 requests each, measured at the client
over loopback with keep-alive (so each figure is the server's time plus well under a millisecond of HTTP).
Baseline in the same run: the owner JSON API's /api/people for the same page.

The graph is written with bulk SQL straight into a fresh node's database (the importer's speed is not what
this measures), with identities, circles, interactions and search rows like an imported graph has.

Run: python bench/bench_web.py [--people 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web

from node.app import build_app
from node.cli import main as cli_main
from node.config import load_config
from node.context import AccountContext
from node.server import read_token
from node.store.sqlite.driver import sqlite

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
TARGET_MS = 200
FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Tim",
    "Radia",
    "Linus",
    "Margaret",
    "Edsger",
    "Barbara",
    "Donald",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Lee",
    "Perlman",
    "Torvalds",
    "Hamilton",
    "Dijkstra",
    "Liskov",
]


def build_graph(db_path: Path, people: int) -> list[str]:
    """People with an e-mail and a LinkedIn identity each, every tenth in a circle with a cadence, a third with
    interactions; returns the person ids."""
    rnd = random.Random(7)
    con = sqlite.connect(db_path)
    con.execute("PRAGMA synchronous=OFF")
    now = "2026-11-22T12:00:00Z"
    ids = [f"p_bench{i:07d}" for i in range(people)]
    with con:
        con.executemany(
            "INSERT INTO circle (pk, id, name, cadence_days, created_at) VALUES (?, ?, ?, ?, ?)",
            [(1, "c_friends", "friends", 30, now), (2, "c_work", "work", 90, now)],
        )
        rows = []
        for i, pid in enumerate(ids):
            first, last = rnd.choice(FIRST), rnd.choice(LAST)
            count = rnd.choice((0, 0, 1, 3, 12)) if i % 3 == 0 else 0
            last_at = f"2026-{rnd.randint(1, 11):02d}-{rnd.randint(1, 28):02d}T10:00:00Z" if count else None
            cadence = 30 if i % 10 == 0 else None
            due = None
            if cadence:
                due = f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T10:00:00Z"
            them = count // 2
            rows.append(
                (
                    i + 1,
                    pid,
                    f"{first} {last} {i}",
                    first,
                    f"{last} {i}",
                    f"Company {i % 700}",
                    "Engineer",
                    rnd.randint(0, 3),
                    cadence,
                    last_at,
                    due,
                    count,
                    them,
                    count - them,
                    now,
                    now,
                )
            )
        con.executemany(
            "INSERT INTO person (pk, id, display_name, given_name, family_name, organization, title, priority, "
            "effective_cadence_days, last_interaction_at, due_at, interaction_count, initiated_by_them, "
            "initiated_by_owner, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        con.executemany(
            "INSERT INTO identity (pk, person_pk, uri, kind, display, verification, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?)",
            [
                row
                for i in range(people)
                for row in (
                    (
                        2 * i + 1,
                        i + 1,
                        f"mailto:person{i}@example.com",
                        "email",
                        f"person{i}@example.com",
                        now,
                        now,
                    ),
                    (
                        2 * i + 2,
                        i + 1,
                        f"https://www.linkedin.com/in/person-{i:07d}",
                        "linkedin",
                        f"linkedin.com/in/person-{i:07d}",
                        now,
                        now,
                    ),
                )
            ],
        )
        con.executemany(
            "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) VALUES (?, 'linkedin', ?, ?)",
            [(pk, f"r{pk}", now) for pk in range(1, 2 * people + 1)],
        )
        con.executemany(
            "INSERT INTO circle_member (circle_pk, person_pk) VALUES (?, ?)",
            [(1 if i % 20 == 0 else 2, i + 1) for i in range(0, people, 10)],
        )
        # A timeline for the people whose pages are requested most: 30 interactions each for the first 1,000.
        interactions, links = [], []
        for i in range(1000):
            for k in range(30):
                ipk = i * 30 + k + 1
                interactions.append(
                    (ipk, f"i_b{ipk}", f"2026-{1 + k % 11:02d}-{1 + k % 28:02d}T09:00:00Z", now)
                )
                links.append((i + 1, ipk))
        con.executemany(
            "INSERT INTO interaction (pk, id, occurred_at, channel, initiated_by, summary, created_at) "
            "VALUES (?, ?, ?, 'message', 'owner', 'Caught up', ?)",
            interactions,
        )
        con.executemany("INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (?, ?)", links)
        con.execute(
            """INSERT INTO person_fts(rowid, names, organization, identities, notes)
               SELECT p.pk, p.display_name, coalesce(p.organization, '') || ' ' || coalesce(p.title, ''),
                      (SELECT group_concat(i.display || ' ' || i.uri, ' ') FROM identity i WHERE i.person_pk = p.pk),
                      '' FROM person p"""
        )
    con.execute("ANALYZE")
    con.close()
    return ids


async def timed(
    session: aiohttp.ClientSession, url: str, n: int, headers: dict[str, str] | None = None
) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        async with session.get(url, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            assert resp.status == 200, (url, resp.status)
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(data: Path, people: int, requests: int) -> list[dict[str, object]]:
    ctx = await AccountContext.open(load_config(data, env={}), load_keys=False)
    runner = web.AppRunner(build_app(ctx.server), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    token = read_token(data, "bench")
    results: list[dict[str, object]] = []
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.get(base + "/login") as resp:
                csrf = re.search(r'name="login_csrf" value="([^"]+)"', await resp.text())
            assert csrf
            async with s.post(base + "/login", data={"login_csrf": csrf.group(1), "secret": token}) as resp:
                assert resp.status == 200 and resp.url.path == "/"
            rnd = random.Random(3)
            person_ids = [f"p_bench{rnd.randrange(1000):07d}" for _ in range(requests)]
            cases: list[tuple[str, list[str], dict[str, str] | None]] = [
                ("web_people_page", [base + "/people"], None),
                ("api_people_page", [base + "/api/people?limit=50"], {"Authorization": f"Bearer {token}"}),
                ("web_people_deep_page", [base + f"/people?offset={people // 2}"], None),
                ("web_people_circle", [base + "/people?circle=work"], None),
                ("web_people_search", [base + "/people?q=lovelace+hopp"], None),
                ("web_people_search_fragment", [base + "/people?q=turing&fragment=1"], None),
                ("web_person_page", [base + f"/people/{pid}" for pid in person_ids], None),
                ("web_home", [base + "/"], None),
            ]
            for metric, urls, headers in cases:
                await timed(s, urls[0], 5, headers)  # warm the page cache and the statement cache
                samples: list[float] = []
                per_url = max(1, requests // len(urls))
                for url in urls:
                    samples += await timed(s, url, per_url, headers)
                p50, p99 = statistics.median(samples), pct(samples, 0.99)
                print(f"{metric}: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(samples)} requests")
                results.append(
                    {"metric": f"{metric}_p50", "value": round(p50, 2), "unit": "ms", "target": TARGET_MS}
                )
                results.append(
                    {"metric": f"{metric}_p99", "value": round(p99, 2), "unit": "ms", "target": TARGET_MS}
                )
    finally:
        await runner.cleanup()
        await ctx.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1000 if SMOKE else 100_000)
    parser.add_argument("--requests", type=int, default=10 if SMOKE else 200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "node"
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli_main(["--data", str(data), "init", "--username", "bench"]) == 0
        start = time.perf_counter()
        build_graph(data / "accounts" / "bench.sqlite3", args.people)
        print(f"built a graph of {args.people:,} people in {time.perf_counter() - start:.1f} s")
        results = asyncio.run(run(data, args.people, args.requests))
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
