"""The engine-neutral half of the organisation's side (node/store/org.py's OrgRecords): how rows read by either
engine become the answers of who-knows, the team timeline and introduction candidates, and how a person's
names rank against a search. Each engine (node/store/sqlite/org.py, node/store/postgres/org.py) keeps only its
SQL and driver calls and hands its rows here, so that both answer identically (specs/POSTGRESQL.md §4).

A row is anything indexed by column name (node/store/values.py's NamedRow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from node.store.org import words
from node.store.values import NamedRow as Row
from protocol.vocab import STRENGTH_BUCKETS

__all__ = [
    "BUCKET_MIDDLE",
    "MAX_IDENTITIES_SHOWN",
    "MAX_TIMELINE",
    "add_identity",
    "candidates_ranked",
    "host_patterns",
    "name_rank",
    "newest_first",
    "score",
    "timeline_entry",
    "who_knows_answer",
]

#: Where a record shared as a bucket only (below level interactions) is placed on the 0-1 scale: the middle of
#: its bucket, so that lists can order by strength without claiming more than was shared.
BUCKET_MIDDLE = {
    name: round((start + (STRENGTH_BUCKETS[i + 1][1] if i + 1 < len(STRENGTH_BUCKETS) else 1.0)) / 2, 3)
    for i, (name, start) in enumerate(STRENGTH_BUCKETS)
}
MAX_TIMELINE = 200
MAX_IDENTITIES_SHOWN = 20


def score(strength: float | None, bucket: str) -> float:
    """A record's place on the 0-1 scale: its exact strength where shared, else the middle of its bucket."""
    return strength if strength is not None else BUCKET_MIDDLE[bucket]


def add_identity(idents: dict[int, list[str]], person_pk: int, uri: str) -> None:
    """Adds ``uri`` to a person's identities once, keeping the order the rows came in (merging ones first)."""
    seen = idents.setdefault(person_pk, [])
    if uri not in seen:
        seen.append(uri)


def who_knows_answer(
    pks: Sequence[int],
    how: Mapping[int, str],
    persons: Mapping[int, Row],
    records: Iterable[Row],
    idents: Mapping[int, list[str]],
    notes: Mapping[int, list[str]],
) -> list[dict[str, Any]]:
    """Each person of ``pks`` with the members who know them (from their ``org_shared`` rows), the
    best-connected first; a person no record names is left out."""
    known: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        entry: dict[str, Any] = {
            "member": r["member"],
            "strength": score(r["strength"], r["bucket"]),
            "bucket": r["bucket"],
            "last_contact": r["last_contact"],
            "last_channel": r["last_channel"],
            "level": r["level"],
            "explained": r["explained"]
            or f"shared as a bucket only (level {r['level']}): the member's interactions stay with them",
        }
        if r["pk"] in notes:
            entry["notes"] = notes[r["pk"]]
        known.setdefault(r["person_pk"], []).append(entry)
    out: list[dict[str, Any]] = []
    for pk in pks:
        person = persons.get(pk)
        if person is None or pk not in known:
            continue
        by = sorted(known[pk], key=lambda e: (-e["strength"], e["member"]))
        out.append(
            {
                "person": {
                    "display_name": person["name"],
                    "organization": person["organization"],
                    "identities": idents.get(pk, [])[:MAX_IDENTITIES_SHOWN],
                },
                "known_by": by,
                "matched": how[pk],
                "_pk": pk,
            }
        )
    out.sort(key=lambda item: (-item["known_by"][0]["strength"], item["person"]["display_name"]))
    return out


def timeline_entry(r: Row, kind: str) -> dict[str, Any]:
    """One entry of the team timeline from a row of an interaction (or of a last contact)."""
    return {
        "occurred_at": r["occurred_at"],
        "channel": r["channel"],
        "initiated_by": r["initiated_by"],
        "member": r["member"],
        "person": {"display_name": r["name"], "organization": r["organization"]},
        "kind": kind,
    }


def newest_first(entries: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The timeline's entries of both kinds merged, newest first, at most ``limit``."""
    entries.sort(key=lambda e: e["occurred_at"], reverse=True)
    return entries[:limit]


def candidates_ranked(rows: Iterable[dict[str, Any]], exclude: Sequence[str]) -> list[dict[str, Any]]:
    """Each member's record of the people (but the excluded members'), with its score, strongest first."""
    out = [{**r, "score": score(r["strength"], r["bucket"])} for r in rows if r["member"] not in exclude]
    out.sort(key=lambda r: (-r["score"], r["member"]))
    return out


def host_patterns(host: str) -> list[str]:
    """LIKE patterns of addresses on ``host`` or its subdomains: e-mail, acct: and web addresses."""
    h = host.lower().replace("%", "").replace("_", "")
    return [
        f"mailto:%@{h}",
        f"mailto:%@%.{h}",
        f"acct:%@{h}",
        f"acct:%@%.{h}",
        f"https://{h}/%",
        f"https://%.{h}/%",
    ]


def name_rank(pk: int, value: str | None, wanted: list[str]) -> tuple[bool, bool, int]:
    """A person's place in a word search's answer, ascending: (not a whole-name match, not all whole words,
    pk), over each of the " · "-joined names (or organisations) in ``value``."""
    have = [words(x) for x in str(value or "").split(" · ")]
    whole = any(h == wanted for h in have)
    exact = any(all(w in h for w in wanted) for h in have)
    return (not whole, not exact, pk)
