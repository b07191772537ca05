"""CSV export for spreadsheets: formula-looking cells from untrusted sources are made inert."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from node.exporting import CSV_COLUMNS, people_csv
from node.graph import Graph
from node.store.sqlite.db import Database
from node.store.sqlite.store import SqliteGraphStore


async def test_csv_export_neutralises_formulas_and_keeps_the_rest(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "k.sqlite3")
    try:
        graph = Graph(SqliteGraphStore.of(db))
        await graph.create_person(
            {
                "display_name": "Amir Haddad",
                "organization": '=HYPERLINK("http://evil.example")',
                "title": "+1 the boss",
                "identities": [
                    "amir@example.org",
                    "+44 20 7946 0958",
                    "https://www.linkedin.com/in/amirhaddad",
                ],
            }
        )
        await graph.create_person({"display_name": "@mention", "identities": ["acct:m@example.social"]})
        rows = list(csv.DictReader(io.StringIO(await people_csv(graph))))
    finally:
        await db.close()
    assert list(rows[0]) == list(CSV_COLUMNS)
    amir = next(r for r in rows if r["display_name"] == "Amir Haddad")
    assert amir["organization"] == '\'=HYPERLINK("http://evil.example")'
    assert amir["title"] == "'+1 the boss"
    assert amir["emails"] == "amir@example.org"
    assert amir["phones"].startswith("'+44")  # a leading + would be read as a formula too
    assert amir["other_addresses"] == "https://www.linkedin.com/in/amirhaddad"
    assert next(r for r in rows if r["display_name"] == "'@mention")
