"""Child process for test_crash.py: writes people and interactions through the Graph, as fast as it can, and
prints one line per write only after the write is acknowledged (committed). The parent kills it with SIGKILL.

Usage: python -m tests.node._crash_child DB_PATH ROUND
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from node.graph import Graph
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore


async def main(path: Path, round_no: int) -> None:
    db = await Database.open(path)
    graph = Graph(SqliteGraphStore.of(db))
    known: list[str] = []
    n = 0

    async def one(k: int) -> None:
        person = await graph.create_person(
            {
                "display_name": f"Crash R{round_no} N{k}",
                "organization": f"Org{k % 7}",
                "identities": [f"acct:r{round_no}n{k}@crash.example"],
            }
        )
        print(f"P {person.id}", flush=True)
        known.append(person.id)
        others = known[-3:]
        item = await graph.log_interaction({"people": others, "summary": f"r{round_no} k{k}"})
        print(f"I {item.id} {' '.join(others)}", flush=True)
        if k % 5 == 0:
            note = await graph.add_note(person.id, f"note for r{round_no} n{k} zebra")
            print(f"N {note.id} {person.id}", flush=True)

    print("READY", flush=True)
    while True:
        # Several writes in flight at once, so that kills land inside group-committed batches.
        await asyncio.gather(*(one(n + i) for i in range(8)))
        n += 8


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
