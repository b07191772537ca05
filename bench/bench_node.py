"""Node benchmark (issue 2): a generated graph of N people (3 identities and 5 interactions each), then a real
`kith serve` process measured over loopback HTTP: search latency p50/p99, due-list latency, start-up time
(process start to the first 200 from /api/health) and idle RSS.

    python bench/bench_node.py [--people 100000] [--queries 400] [--keep DIR]

The graph is written with bulk SQL straight into the node's SQLite file (executemany in large transactions,
search rows rebuilt in one statement at the end); the schema is the node's own, created by `kith init`.
Output ends with one JSON line per metric: {"metric", "value", "unit", "target"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiosqlite

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from node.store.sqlite.driver import sqlite
from node.store.sqlite.rows import refresh_fts

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
ROOT = Path(__file__).resolve().parents[1]


def _words(text: str) -> list[str]:
    return text.split()


FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony "
    "Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth "
    "Dorothy Kevin Carol Brian Amanda George Melissa Edward Deborah Ronald Stephanie Timothy Rebecca "
    "Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Shirley Eric Angela "
    "Jonathan Helen Stephen Anna Larry Brenda Justin Pamela Scott Nicole Brandon Emma Benjamin Samantha "
    "Samuel Katherine Gregory Christine Frank Debra Alexander Rachel Raymond Catherine Patrick Carolyn "
    "Jack Janet Dennis Ruth Jerry Maria Tyler Heather Aaron Diane Jose Virginia Adam Julie Henry Joyce "
    "Nathan Victoria Douglas Olivia Zachary Kelly Peter Christina Kyle Lauren Walter Joan Ethan Evelyn "
    "Jeremy Judith Harold Megan Keith Cheryl Christian Andrea Roger Hannah Noah Martha Gerald Jacqueline "
    "Carl Frances Terry Gloria Sean Ann Austin Teresa Arthur Kathryn Lawrence Sara Jesse Janice Dylan "
    "Jean Bryan Alice Joe Madison Jordan Doris Billy Abigail Bruce Julia Albert Judy Willie Grace "
    "Gabriel Denise Logan Amber Alan Marilyn Juan Beverly Wayne Danielle Roy Theresa Ralph Sophia Randy "
    "Marie Eugene Diana Vincent Brittany Russell Natalie Elijah Isabella Louis Charlotte Bobby Rose "
    "Philip Alexis Johnny Kayla Søren Zoë Renée José Élodie Jürgen Ana Luis Chen Wei Yuki Hiroshi Priya "
    "Arjun Fatima Omar Aisha Mohammed Ingrid Lars Sven Astrid"
)
LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster "
    "Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher "
    "Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno "
    "West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall "
    "Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb "
    "Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason "
    "Dixon Muñoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren "
    "Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne "
    "Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos Hart Bradley Knight Elliott "
    "Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Ray Berry Perkins Hoffman Johnston "
    "Matthews Peña Richards Willis Carpenter Müller Lawrence Sandoval Larsen Nakamura Tanaka Sato Suzuki "
    "Kowalski Nowak Novák Dubois Lefèvre Rossi Bianchi Okafor"
)
ORG_A = _words(
    "Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Wonka Tyrell Cyberdyne Soylent Massive Aperture"
)
ORG_B = _words(
    "Labs Industries Systems Partners Health Foods Energy Capital Studio Collective Works Analytics"
)
HOSTS = _words("mastodon.social hachyderm.io fosstodon.org mas.to social.example kith.example")
MAIL_HOSTS = _words("gmail.com gmail.com gmail.com outlook.com yahoo.com icloud.com proton.me gmx.de")
CHANNELS = ("message", "email", "call", "meeting", "comment", "other")

QUERIES_NAMES = [
    "james",
    "maria",
    "smith",
    "garcia",
    "jennifer lopez",
    "müller",
    "zoe",
    "jose",
    "nakamura",
    "kim",
]
QUERIES_PREFIX = ["jo", "ma", "sm", "chr", "ale", "ka", "mi", "ro", "jen wil", "dav"]
QUERIES_ORGS = ["acme", "globex labs", "initech", "hooli", "wonka", "tyrell systems", "aper"]
QUERIES_IDENT = ["mastodon", "fosstodon", "hachyderm", "example"]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(db_path: Path, n: int, seed: int = 7) -> float:
    """Fill the node's database with N people (bulk SQL); return seconds taken."""
    rng = random.Random(seed)
    start = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    conn = sqlite.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-200000")
    base = conn.execute("SELECT coalesce(max(pk), 0) FROM person").fetchone()[0]
    ibase = conn.execute("SELECT coalesce(max(pk), 0) FROM interaction").fetchone()[0]
    circles = [
        (i + 1, f"c_{secrets.token_urlsafe(9)}", name, cad, iso(now))
        for i, (name, cad) in enumerate(
            [("family", 14), ("close friends", 30), ("work", 90), ("old school", 365)]
        )
    ]
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO circle (pk, id, name, cadence_days, created_at) VALUES (?,?,?,?,?)", circles
    )
    conn.execute("COMMIT")
    chunk = 20_000
    ipk = ibase
    for lo in range(0, n, chunk):
        people, idents, prov, inters, links, members = [], [], [], [], [], []
        for k in range(lo, min(n, lo + chunk)):
            pk = base + k + 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            created = now - timedelta(days=rng.uniform(400, 2000))
            org = f"{rng.choice(ORG_A)} {rng.choice(ORG_B)}" if rng.random() < 0.6 else None
            handle = f"{first}{last}{k}".lower()
            mail = (
                rng.choice(MAIL_HOSTS)
                if org is None or rng.random() < 0.5
                else f"{org.split()[0].lower()}.example"
            )
            times = sorted(now - timedelta(days=rng.uniform(0, 720)) for _ in range(5))
            by = [rng.choice(("owner", "them", "unknown")) for _ in range(5)]
            cadence = rng.choice((None, None, None, 7, 14, 30, 60, 90, 180, 365))
            circle = rng.choice((None, None, 1, 2, 3, 4))
            eff = cadence or (dict((c[0], c[3]) for c in circles).get(circle) if circle else None)
            last_at = times[-1]
            due = iso(last_at + timedelta(days=eff)) if eff else None
            people.append(
                (
                    pk,
                    f"p_{secrets.token_urlsafe(12)}",
                    f"{first} {last}",
                    first,
                    last,
                    org,
                    rng.choice((None, "Engineer", "Director", "Designer", "Founder")),
                    rng.randint(0, 3),
                    cadence,
                    eff,
                    iso(last_at),
                    due,
                    5,
                    by.count("them"),
                    by.count("owner"),
                    iso(created),
                    iso(created),
                )
            )
            if circle:
                members.append((circle, pk))
            for j, (kind, uri, display) in enumerate(
                (
                    ("acct", f"acct:{handle}@{rng.choice(HOSTS)}", f"@{handle}"),
                    ("email", f"mailto:{handle}@{mail}", f"{handle}@{mail}"),
                    ("x", f"https://x.com/{handle}", f"@{handle}"),
                )
            ):
                ident_pk = pk * 3 + j
                idents.append((ident_pk, pk, uri, kind, display, "claimed", iso(created), iso(created)))
                prov.append((ident_pk, rng.choice(("owner", "mastodon", "google", "x")), "", iso(created)))
            for t, who in zip(times, by, strict=True):
                ipk += 1
                inters.append(
                    (
                        ipk,
                        f"i_{secrets.token_urlsafe(12)}",
                        iso(t),
                        rng.choice(CHANNELS),
                        who,
                        f"talked about {rng.choice(ORG_A).lower()}",
                        iso(t),
                    )
                )
                links.append((pk, ipk))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO person (pk, id, display_name, given_name, family_name, organization, title, priority, "
            "cadence_days, effective_cadence_days, last_interaction_at, due_at, interaction_count, "
            "initiated_by_them, initiated_by_owner, created_at, updated_at) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            people,
        )
        conn.executemany(
            "INSERT INTO identity (pk, person_pk, uri, kind, display, verification, created_at, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            idents,
        )
        conn.executemany(
            "INSERT INTO provenance (identity_pk, source, source_record_id, seen_at) VALUES (?,?,?,?)", prov
        )
        conn.executemany(
            "INSERT INTO interaction (pk, id, occurred_at, channel, initiated_by, summary, created_at) "
            "VALUES (?,?,?,?,?,?,?)",
            inters,
        )
        conn.executemany("INSERT INTO interaction_person (person_pk, interaction_pk) VALUES (?,?)", links)
        conn.executemany("INSERT INTO circle_member (circle_pk, person_pk) VALUES (?,?)", members)
        conn.execute("COMMIT")
    conn.close()
    # The search rows, built by the store's own code (node.store.sqlite.rows.refresh_fts) in one transaction.
    asyncio.run(_refresh_search(db_path, base))
    conn = sqlite.connect(db_path, isolation_level=None)
    conn.execute("INSERT INTO person_fts(person_fts) VALUES ('optimize')")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


async def _refresh_search(db_path: Path, above_pk: int) -> None:
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        async with conn.execute("SELECT pk FROM person WHERE pk > ?", (above_pk,)) as cur:
            pks = [r[0] for r in await cur.fetchall()]
        await conn.execute("BEGIN")
        await refresh_fts(conn, pks)
        await conn.execute("COMMIT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError("no Threads")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def time_requests(
    session: aiohttp.ClientSession, urls: list[str], headers: dict[str, str]
) -> list[float]:
    out = []
    for url in urls:
        t0 = time.perf_counter()
        async with session.get(url, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status}")
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def measure(data_dir: Path, queries: int) -> dict[str, float]:
    port = free_port()
    token = (data_dir / "tokens" / "bench").read_text().strip()
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "node",
        "--data",
        str(data_dir),
        "serve",
        "--port",
        str(port),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    results: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"node exited: {err.decode()}")
                try:
                    async with session.get(base + "/api/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.005)
            results["startup"] = (time.perf_counter() - t0) * 1000
            rng = random.Random(11)
            pool = QUERIES_NAMES + QUERIES_PREFIX + QUERIES_ORGS + QUERIES_IDENT
            search_urls = [f"{base}/api/search?q={rng.choice(pool)}" for _ in range(queries)]
            await time_requests(session, search_urls[:50], headers)  # warm-up
            lat = await time_requests(session, search_urls, headers)
            results["search_p50"], results["search_p99"] = pct(lat, 50), pct(lat, 99)
            slowest = sorted(zip(lat, search_urls, strict=True), reverse=True)[:5]
            print(
                "  slowest searches: " + ", ".join(f"{u.rsplit('=', 1)[1]!r} {t:.1f} ms" for t, u in slowest)
            )
            per_kind = {}
            for name, group in (("names", QUERIES_NAMES), ("prefix", QUERIES_PREFIX), ("orgs", QUERIES_ORGS)):
                lat_k = await time_requests(session, [f"{base}/api/search?q={q}" for q in group * 5], headers)
                per_kind[name] = (pct(lat_k, 50), pct(lat_k, 99))
            for name, (p50, p99) in per_kind.items():
                print(f"  search {name:<7} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
            due_urls = [
                f"{base}/api/due?within_days={d}" for d in (0, 7, 30) for _ in range(max(10, queries // 12))
            ]
            await time_requests(session, due_urls[:10], headers)
            lat = await time_requests(session, due_urls, headers)
            results["due_p50"], results["due_p99"] = pct(lat, 50), pct(lat, 99)
            # Other whole-graph views, without targets in the issue: figures for whoever tunes them next.
            for name, path in (
                ("people_list", "/api/people"),
                ("layers", "/api/layers"),
                ("fading", "/api/fading"),
            ):
                lat = await time_requests(session, [base + path] * 5, headers)
                results[f"{name}_p50"] = pct(lat, 50)
            # The floor under every figure above: a request that touches no data. On a shared machine its p99
            # shows how much of a tail is scheduling rather than the node.
            lat = await time_requests(session, [f"{base}/api/health"] * max(50, queries // 2), headers)
            print(f"  floor (GET /api/health) p50 {pct(lat, 50):6.2f} ms  p99 {pct(lat, 99):6.2f} ms")
            await asyncio.sleep(0.1 if SMOKE else 2.0)  # idle
            results["rss"] = rss_mb(proc.pid)
            results["fds"] = len(os.listdir(f"/proc/{proc.pid}/fd"))
            results["threads"] = threads(proc.pid)
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=500 if SMOKE else 100_000)
    parser.add_argument("--queries", type=int, default=12 if SMOKE else 400)
    parser.add_argument(
        "--keep", type=Path, help="use (and keep) this data folder; reuse its graph if present"
    )
    args = parser.parse_args()
    tmp = None
    if args.keep:
        data_dir = args.keep
    else:
        tmp = Path(tempfile.mkdtemp(prefix="kith-bench-"))
        data_dir = tmp / "node"
    try:
        if not (data_dir / "kith.toml").exists():
            subprocess.run(
                [sys.executable, "-m", "node", "--data", str(data_dir), "init", "--username", "bench"],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        db_path = data_dir / "accounts" / "bench.sqlite3"
        conn = sqlite.connect(db_path)
        have = conn.execute("SELECT count(*) FROM person").fetchone()[0]
        conn.close()
        if have < args.people:
            took = generate(db_path, args.people - have)
            print(
                f"generated {args.people - have} people (3 identities, 5 interactions each) in {took:.1f} s"
            )
        size = db_path.stat().st_size / 1e6
        print(f"graph: {args.people} people, database {size:.0f} MB")
        r = asyncio.run(measure(data_dir, args.queries))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    metrics = [
        ("node_search_p50", r["search_p50"], "ms", None),
        ("node_search_p99", r["search_p99"], "ms", 20),
        ("node_due_p50", r["due_p50"], "ms", None),
        ("node_due_p99", r["due_p99"], "ms", 50),
        ("node_startup", r["startup"], "ms", 1000),
        ("node_idle_rss", r["rss"], "MB", 150),
        ("node_people_list_p50", r["people_list_p50"], "ms", None),
        ("node_layers_p50", r["layers_p50"], "ms", None),
        ("node_fading_p50", r["fading_p50"], "ms", None),
    ]
    for name, value, unit, target in metrics:
        mark = "" if target is None else ("  ok" if value < target else "  MISSED")
        print(
            f"{name:<18} {value:9.2f} {unit}{'' if target is None else f'  (target < {target} {unit})'}{mark}"
        )
    for name, value, unit, target in metrics:
        print(json.dumps({"metric": name, "value": round(value, 2), "unit": unit, "target": target}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
