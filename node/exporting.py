"""Exports of the graph in open formats other than our own JSON: vCard 4.0 for people."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from bridges import neutralize_formula
from bridges.base import YEAR_UNKNOWN
from bridges.vcard import write_vcards
from node.graph import Graph
from node.models import Person

__all__ = ["CSV_COLUMNS", "people_csv", "person_vcard_dict", "vcards"]

CSV_COLUMNS = (
    "id",
    "display_name",
    "given_name",
    "family_name",
    "nickname",
    "organization",
    "title",
    "birthday",
    "emails",
    "phones",
    "other_addresses",
    "circles",
    "last_interaction_at",
    "due_at",
)


def _birthday(value: str | None) -> date | None:
    if not value:
        return None
    try:
        if value.startswith("--"):  # year-less: vCard writes it back as --MMDD
            return date(YEAR_UNKNOWN, int(value[2:4]), int(value[5:7]))
        return date.fromisoformat(value)
    except ValueError:  # a value an older version stored unchecked: the card goes out without it
        return None


def person_vcard_dict(person: Person, notes: list[str]) -> dict[str, Any]:
    return {
        "uid": f"urn:kith:{person.id}",
        "display_name": person.display_name,
        "given_name": person.given_name,
        "family_name": person.family_name,
        "nickname": person.nickname,
        "organization": person.organization,
        "title": person.title,
        "birthday": _birthday(person.birthday),
        "photo_url": person.photo_url,
        "identities": [{"uri": i.uri, "kind": i.kind, "label": i.label} for i in person.identities],
        "notes": notes,
        "circles": list(person.circles),
    }


async def people_csv(graph: Graph) -> str:
    """People as CSV for spreadsheets. Every cell that a spreadsheet would run as a formula (=, +, -, @...) is
    made inert, since names and organisations come from imports and peers we do not control."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in await graph.all_people():
        emails = [i.display for i in p.identities if i.kind == "email"]
        phones = [i.display for i in p.identities if i.kind == "tel"]
        others = [i.uri for i in p.identities if i.kind not in ("email", "tel")]
        row = [
            p.id,
            p.display_name,
            p.given_name,
            p.family_name,
            p.nickname,
            p.organization,
            p.title,
            p.birthday,
            "; ".join(emails),
            "; ".join(phones),
            "; ".join(others),
            "; ".join(p.circles),
            p.last_interaction_at,
            p.due_at,
        ]
        writer.writerow([neutralize_formula(v) if v else "" for v in row])
    return out.getvalue()


async def vcards(graph: Graph) -> str:
    people = []
    for person in await graph.all_people():
        notes = [n.body for n in await graph.notes(person.id)]
        people.append(person_vcard_dict(person, notes))
    return write_vcards(people)
