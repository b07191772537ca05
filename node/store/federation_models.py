"""The engine-neutral half of federation's store (federation.ports.FederationStore): how a row read by either
engine becomes the record it stands for. Each engine (node/store/sqlite/federation.py,
node/store/postgres/federation.py) keeps only its SQL and driver calls, so that both answer identically
(specs/POSTGRESQL.md §4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from federation.values import OfferRow, RemoteActor, StoredActor
from node.store.federation import FEDERATION_COLUMNS
from node.store.values import NamedRow

__all__ = ["actor_from_row", "offer_from_row", "record_id", "same_rows"]


def actor_from_row(row: NamedRow) -> StoredActor:
    """An ``fed_actors`` row as the actor it caches: the original document, and what Kith read from it (kept
    under ``__kith__``)."""
    doc = json.loads(row["doc"])
    stored = doc.get("__kith__", {})
    actor = RemoteActor(
        id=row["id"],
        type=stored.get("type", "Person"),
        acct=row["acct"],
        preferred_username=stored.get("preferred_username"),
        name=stored.get("name"),
        summary=stored.get("summary"),
        url=stored.get("url"),
        icon=stored.get("icon"),
        inbox=row["inbox"],
        shared_inbox=row["shared_inbox"],
        outbox=stored.get("outbox"),
        followers=stored.get("followers"),
        following=stored.get("following"),
        public_key_id=row["key_id"],
        public_key_pem=row["key_pem"],
        also_known_as=tuple(stored.get("also_known_as", ())),
        moved_to=row["moved_to"],
        is_kith=bool(row["is_kith"]),
        multikeys=tuple((a, b) for a, b in stored.get("multikeys", ())),
    )
    original = {k: v for k, v in doc.items() if k != "__kith__"}
    return StoredActor(
        actor=actor,
        doc=original,
        gone=bool(row["gone"]),
        fetched_at=row["fetched_at"],
        key_refetched_at=row["key_refetched_at"],
    )


def offer_from_row(r: NamedRow) -> OfferRow:
    """An ``fed_offers`` row as the offer it records."""
    return OfferRow(
        account=r["account"],
        offer_id=r["offer_id"],
        direction=r["direction"],
        actor_id=r["actor_id"],
        rel_type=r["rel_type"],
        record=json.loads(r["record"]),
        final=json.loads(r["final"]) if r["final"] else None,
        state=r["state"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def record_id(record: Mapping[str, Any]) -> str | None:
    """The id of a relationship record (what /relationships/... serves it under)."""
    rid = record.get("id")
    return rid if isinstance(rid, str) else None


def same_rows(
    held: Mapping[str, list[list[Any]]],
    tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[Any]]]],
) -> bool:
    """Whether an account's federation rows (``held``: each table's rows in FEDERATION_COLUMNS' order) are
    exactly those of an export document's ``tables`` (each table's columns and rows), whatever the order."""
    for table, cols in FEDERATION_COLUMNS.items():
        given_cols, given = tables.get(table, ((), ()))
        mine = {tuple(r) for r in held.get(table, [])}
        theirs = set()
        for row in given:
            values = dict(zip(given_cols, row, strict=True))
            theirs.add(tuple(values.get(c) for c in cols))
        if mine != theirs:
            return False
    return True
