"""The engine-neutral half of the CardDAV service's store (node/store/dav.py): how rows read by either engine
become cards and card references, and what a phone's edit of a person removes or adds. Each engine
(node/store/sqlite/dav.py, node/store/postgres/dav.py) keeps only its SQL and driver calls and hands its rows
here, so that both answer identically (specs/POSTGRESQL.md §4).

Rows are indexed by position, as both engines' ``fetch_all`` return them.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

from node.dav_records import ALL_BOOK, CardIdentity, CardRef, CardRow
from node.errors import Conflict

__all__ = [
    "CARD_FIELDS",
    "CARD_JOIN",
    "KEPT_VERIFIED",
    "card_extra",
    "card_ref",
    "card_rows",
    "circle_changes",
    "circle_of_book",
    "expect_seq",
    "extra_json",
    "grouped",
    "identities_by_person",
    "identities_gone",
    "notes_kept",
]

#: The person columns a card shows (and a PUT replaces).
CARD_FIELDS = (
    "display_name",
    "given_name",
    "family_name",
    "nickname",
    "organization",
    "title",
    "birthday",
    "photo_url",
)
#: Identities a phone edit never detaches: proven by their owner, they come back from where they were proven.
KEPT_VERIFIED = ("signed", "two-way")
#: What a card row is read from: ``d`` (dav_card) LEFT JOIN ``p`` (person) LEFT JOIN ``c`` (circle).
CARD_JOIN = "dav_card d LEFT JOIN person p ON p.pk = d.person_pk LEFT JOIN circle c ON c.pk = d.circle_pk"


def circle_of_book(book: str) -> str | None:
    """The circle id behind a book's name, or None for the All book."""
    return None if book == ALL_BOOK else book


def expect_seq(ref: CardRef | None, expect: int | None) -> None:
    """A conditional request (If-Match, If-None-Match) was checked against ``expect``; the card must still be
    at that seq inside the writing transaction, or another write came in between: Conflict(field="etag")."""
    if expect is None:
        return
    now = ref.seq if ref is not None and ref.live else 0
    if now != expect:
        raise Conflict("the card changed while this request was on its way: fetch it again", field="etag")


def card_ref(row: Sequence[Any]) -> CardRef:
    """A card's reference from the row (href, uid, seq, person pk, person id, circle pk, circle name, live)."""
    return CardRef(
        href=row[0],
        uid=row[1],
        seq=row[2],
        person_pk=row[3],
        person_id=row[4],
        circle_pk=row[5],
        circle_name=row[6],
        live=bool(row[7]),
    )


def card_extra(raw: str | None) -> dict[str, Any]:
    """What the last CardDAV PUT said that the graph has no field for, from its stored JSON text."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:  # written by this module only; a damaged value costs the phone's extra lines, no more
        return {}
    return value if isinstance(value, dict) else {}


def extra_json(extra: Mapping[str, Any]) -> str:
    """The stored text of a card's extra lines (``card_extra`` reads it back)."""
    return json.dumps(extra, ensure_ascii=False, sort_keys=True)


def grouped(rows: Iterable[Sequence[Any]]) -> dict[Any, list[Any]]:
    """Rows of (key, value) as each key's values, in the rows' order."""
    out: dict[Any, list[Any]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[1])
    return out


def identities_by_person(rows: Iterable[Sequence[Any]]) -> dict[int, list[CardIdentity]]:
    """Rows of (person pk, uri, kind, display, label) as each person's card identities, in the rows' order."""
    out: dict[int, list[CardIdentity]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(CardIdentity(uri=r[1], kind=r[2], display=r[3], label=r[4]))
    return out


def card_rows(
    rows: Iterable[Sequence[Any]],
    idents: Mapping[int, list[CardIdentity]],
    notes: Mapping[int, list[str]],
    circles: Mapping[int, list[str]],
    members: Mapping[int, list[str]],
) -> list[CardRow]:
    """The cards of rows (href, uid, seq, person pk, circle pk, circle name, extra, edited by, edited at, then
    the CARD_FIELDS): a group card where the row is a circle's, else a person's card."""
    out = []
    for r in rows:
        extra = card_extra(r[6])
        if r[4] is not None:
            out.append(
                CardRow(
                    href=r[0],
                    uid=r[1],
                    seq=r[2],
                    group=r[5],
                    members=tuple(members.get(r[4], ())),
                    extra=extra,
                )
            )
            continue
        out.append(
            CardRow(
                href=r[0],
                uid=r[1],
                seq=r[2],
                fields={c: r[9 + i] for i, c in enumerate(CARD_FIELDS)},
                identities=tuple(idents.get(r[3], ())),
                notes=tuple(notes.get(r[3], ())),
                circles=tuple(circles.get(r[3], ())),
                extra=extra,
                edited_by=r[7],
                edited_at=r[8],
            )
        )
    return out


def identities_gone(
    current: Iterable[Sequence[Any]], wanted: set[str], removable_kinds: Container[str]
) -> list[Any]:
    """Of a person's identities (pk, uri, kind, verification), the pks a phone's edit detaches: not on the card,
    of a kind the card can carry, and not proven by their owner."""
    return [
        r[0] for r in current if r[1] not in wanted and r[2] in removable_kinds and r[3] not in KEPT_VERIFIED
    ]


def notes_kept(existing: Iterable[Sequence[Any]], note: str) -> tuple[list[Any], str]:
    """The card has one NOTE, Kith many: of a person's notes (pk, body), those the card no longer quotes (to
    delete), and the rest of the card's text (a new note when not empty)."""
    doomed = []
    rest = note
    for note_pk, body in existing:
        if body and body in rest:
            rest = rest.replace(body, "", 1)
        else:
            doomed.append(note_pk)
    return doomed, rest.strip()


def circle_changes(
    current_rows: Iterable[Sequence[Any]], names: Sequence[str], ids: Sequence[str]
) -> tuple[list[Any], list[tuple[str, str]]]:
    """A phone's edit of a person's circles: from the circles they are in (pk, name) and the names the card
    lists (compared without case), the circle pks they leave and the (name, new circle id) they join."""
    current = {r[1].casefold(): r[0] for r in current_rows}
    wanted = {n.casefold(): n for n in names}
    leave = [circle_pk for key, circle_pk in current.items() if key not in wanted]
    join = [
        (name, circle_id)
        for (key, name), circle_id in zip(wanted.items(), ids, strict=False)
        if key not in current
    ]
    return leave, join
