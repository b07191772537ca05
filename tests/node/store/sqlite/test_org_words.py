"""Who knows by words, on the organisation's own tables (node/store/sqlite/org.py): every query word must begin
a word of the person's name or organisation; a whole-name match ranks first, then all-whole-words, then
prefixes; and the whole-word shortcut answers exactly what the full prefix search would (its speed is
bench/bench_org.py's)."""

from __future__ import annotations

from pathlib import Path

from node.store.org import words
from node.store.sqlite import org as sqlite_org
from node.store.sqlite.db import GRAPH_MIGRATIONS, Database
from node.store.sqlite.org import OrgStore

NOW = "2026-11-22T10:00:00Z"


async def _store(tmp_path: Path, people: list[tuple[str, str]]) -> tuple[Database, OrgStore]:
    db = await Database.open(tmp_path / "org.sqlite3", schema=GRAPH_MIGRATIONS)

    async def load(conn: object) -> None:
        await conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO org_person (pk, name, organization, updated_at) VALUES (?, ?, ?, ?)",
            [(pk, name, company, NOW) for pk, (name, company) in enumerate(people, 1)],
        )
        await conn.executemany(  # type: ignore[attr-defined]
            "INSERT OR IGNORE INTO org_person_word (field, word, person_pk) VALUES (?, ?, ?)",
            [
                (f, w, pk)
                for pk, (name, company) in enumerate(people, 1)
                for f, text in ((0, name), (1, company))
                for w in words(text)
            ],
        )

    await db.write(load)
    return db, OrgStore(db)


async def test_whole_words_rank_before_prefixes_and_every_word_must_match(tmp_path: Path) -> None:
    people = [
        ("Ada Lovelace", "Company 120"),  # 1: "12" only begins a word
        ("Alan Turing", "Company 12"),  # 2: whole words
        ("Grace Hopper", "Company 12 Labs"),  # 3: whole words, not the whole name
        ("Jane Doe", "Initech"),  # 4: no "company" at all
        ("Jane Doerr", "Initrode"),  # 5
        ("Janet Doe", "Globex"),  # 6
    ]
    db, store = await _store(tmp_path, people)
    try:
        found = await store.find_people(company="Company 12")
        assert [pk for pk, _ in found] == [2, 3, 1]  # whole name, then whole words, then a prefix
        assert await store.find_people(company="company 12 labs") == [(3, "company")]
        assert await store.find_people(company="Company 99") == []  # every word must match
        assert [pk for pk, _ in await store.find_people(name="Jane Doe")] == [4, 5, 6]
        assert [pk for pk, _ in await store.find_people(name="jan")] == [4, 5, 6]  # prefixes alone
        assert await store.find_people(name="   ") == []
        # a limit the whole words fill leaves the prefixes out, as the full search would
        assert [pk for pk, _ in await store.find_people(company="Company 12", limit=2)] == [2, 3]
    finally:
        await db.close()


async def test_the_whole_word_shortcut_answers_what_the_full_search_would(
    tmp_path: Path, monkeypatch: object
) -> None:
    """Against the prefix search alone (the shortcut turned off), over names where whole words and prefixes
    mix: the same people in the same order, for every query and limit."""
    firsts = ["Jan", "Jane", "Janet", "Ann", "Anna"]
    lasts = ["Doe", "Doerr", "Do", "Smith", "Smithers"]
    names = [f"{first} {last}" for first in firsts for last in lasts]
    people = [(name, f"Co {i % 7}{'0' if i % 3 else ''}") for i, name in enumerate(names)]
    db, store = await _store(tmp_path, people)
    queries = [("name", q) for q in ("jan", "jane", "jane doe", "do", "doe", "ann smith", "a s")] + [
        ("company", q) for q in ("co", "co 1", "co 10", "co 3")
    ]
    try:
        with_shortcut = {
            (k, q, n): await store.find_people(**{k: q}, limit=n)
            for k, q in queries
            for n in (1, 2, 3, 5, 50)
        }
        real = sqlite_org._matching

        async def prefixes_only(conn: object, field: int, wanted: list[str], *, prefix: bool) -> list[int]:
            return await real(conn, field, wanted, prefix=True)  # type: ignore[arg-type]

        monkeypatch.setattr(sqlite_org, "_matching", prefixes_only)  # type: ignore[attr-defined]
        for (k, q, n), answer in with_shortcut.items():
            assert await store.find_people(**{k: q}, limit=n) == answer, (k, q, n)
    finally:
        await db.close()
