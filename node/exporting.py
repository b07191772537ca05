"""Exports of the graph in open formats other than our own JSON: vCard 4.0 for people."""

from __future__ import annotations

from datetime import date
from typing import Any

from bridges.base import YEAR_UNKNOWN
from bridges.vcard import write_vcards
from node.graph import Graph
from node.models import Person

__all__ = ["person_vcard_dict", "vcards"]


def _birthday(value: str | None) -> date | None:
    if not value:
        return None
    if value.startswith("--"):  # year-less: vCard writes it back as --MMDD
        return date(YEAR_UNKNOWN, int(value[2:4]), int(value[5:7]))
    return date.fromisoformat(value)


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


async def vcards(graph: Graph) -> str:
    people = []
    for person in await graph.all_people():
        notes = [n.body for n in await graph.notes(person.id)]
        people.append(person_vcard_dict(person, notes))
    return write_vcards(people)
