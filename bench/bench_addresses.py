"""How many raw addresses per second ``protocol.addresses.normalize`` turns into canonical identities.

Bridges normalise about 50,000 addresses a second while importing; the target leaves room for the rest of an
import. The mix is weighted like an address book plus silo exports, and every input is distinct, so the
phone-number cache only helps as much as it would on real data (not at all here).

Run: ``python bench/bench_addresses.py [--n 200000]``. The last line is JSON for the bench collector.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocol.addresses import normalize

# KITH_BENCH_SMOKE=1 (tests/test_benchmarks.py): the smallest sizes, only to show it runs; figures meaningless
SMOKE = os.environ.get("KITH_BENCH_SMOKE") == "1"
TARGET = 100_000

# (weight, kind, maker) — each maker turns a seed number into one realistic, distinct, messy spelling.
MIX: list[tuple[int, str | None, Callable[[int], str]]] = [
    (25, None, lambda i: f"Person{i}.Name@Example{i % 97}.com"),
    (5, None, lambda i: f"Jane {i} <jane.{i}@mail.example.org>"),
    (15, None, lambda i: f"@user{i}@Mastodon{i % 31}.Social"),
    (10, "acct", lambda i: f"user{i}@example{i % 53}.social"),
    (10, None, lambda i: f"https://twitter.com/intent/user?user_id={1000 + i}"),
    (3, None, lambda i: f"https://x.com/Handle{i % 10**9}"),
    (10, None, lambda i: f"https://www.linkedin.com/in/first-last-{i:x}/"),
    (4, None, lambda i: f"@person{i}.bsky.social"),
    (
        1,
        None,
        lambda i: (
            "did:plc:" + "".join("abcdefghijklmnopqrstuvwxyz234567"[(i >> (k % 20)) % 32] for k in range(24))
        ),
    ),
    (7, None, lambda i: f"www.Site{i}.example.com/blog/"),
    (3, None, lambda i: f"https://fedi{i % 40}.example/@Someone{i}"),
    (7, None, lambda i: f"+44 (0)20 {i // 10000 % 10000:04d} {i % 10000:04d}"),
]


def build(n: int, seed: int = 7) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    weights = [w for w, _, _ in MIX]
    picks = rng.choices(range(len(MIX)), weights=weights, k=n)
    return [(MIX[p][2](i), MIX[p][1]) for i, p in enumerate(picks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--n", type=int, default=2000 if SMOKE else 200_000, help="number of addresses to normalise"
    )
    args = parser.parse_args()
    inputs = build(args.n)
    for raw, kind in inputs[:1000]:  # warm-up: regex compilation, phonenumbers metadata load
        normalize(raw, kind=kind)
    start = time.perf_counter()
    for raw, kind in inputs:
        normalize(raw, kind=kind)
    elapsed = time.perf_counter() - start
    rate = args.n / elapsed
    # Per spelling, so that a slow path shows itself (phone numbers are the costly ones: phonenumbers).
    for _weight, kind, maker in MIX:
        sample = [maker(i) for i in range(10**6, 10**6 + 5000)]
        t0 = time.perf_counter()
        for raw in sample:
            normalize(raw, kind=kind)
        each = (time.perf_counter() - t0) / len(sample)
        print(f"  {maker(1)[:44]:46} {1 / each:>10,.0f}/s  {each * 1e6:6.2f} µs")
    print(f"mix: {args.n} addresses in {elapsed:.3f} s: {rate:,.0f}/s ({1e6 / rate:.2f} µs each)")
    print(
        json.dumps(
            {"metric": "address_normalisations", "value": round(rate), "unit": "1/s", "target": TARGET}
        )
    )


if __name__ == "__main__":
    main()
