"""Exports in open formats: everything as Kith's own JSON (restorable), people as vCard 4.0 and CSV.

A vCard carries the graph's relationships between two people as RELATED (RFC 6350 §6.6.6): on a person's
card, each one who is something *of theirs* ("Bob is Alice's parent" puts ``RELATED;TYPE=parent`` naming Bob on
Alice's card), named by the other card's UID. A mutual term, or one with an inverse, is true from both sides
and is written on both cards (Bob's says ``TYPE=child``); importing the file again adds nothing
(node/import_resolve.py matches a relationship either way round). The owner's own relationships have no
second card to name, so they stay out.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from typing import Any

from bridges import neutralize_formula
from bridges.base import YEAR_UNKNOWN
from bridges.vcard import write_vcards
from node.capture.links import SETTINGS_PREFIX
from node.digest import SETTINGS_KEY as DIGEST_SETTINGS
from node.digest import settings_from_meta
from node.errors import BadInput
from node.graph import Graph
from node.link_secrets import is_sealed
from node.models import Person, Relationship
from node.owner_card import CARD_META_KEYS, card_from_meta
from node.restore import EXPORT_FORMAT, check_document
from node.store.export import ExportedTable
from node.store.federation import FEDERATION_TABLES
from protocol.errors import InvalidRecord
from protocol.vocab import relationship_term

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_NOTES",
    "EXPORT_VERSION",
    "TOKEN_LEFT_OUT",
    "export_document",
    "people_csv",
    "person_vcard_dict",
    "restore_document",
    "vcards",
]

EXPORT_VERSION = 3
#: What the JSON export leaves out and why, written into every export so that its reader knows.
EXPORT_NOTES = (
    "Everything the owner keeps is here: people, identities and their provenance, circles, relationships "
    "(with the records signed by both sides), interactions, notes, merges and suggestions, blocks, the owner's "
    "card and who may see each field, follows both ways, relationship offers, live-sync links and where their "
    "syncs resume, linked mailboxes and calendars with their settings, the headers of captured mail (never a "
    "body; a subject only where the owner kept them) and the correspondents counted from them, reminders "
    "snoozed or done, preferred channels and the digest's settings.",
    "Left out on purpose: this node's keys, owner token, web password and sessions (a restored node keeps its "
    "own), activities waiting to be sent or processed, copies of other servers' actor documents (fetched again, "
    "and verified, when needed), the history of imports, and which digests this node mailed (a restored node "
    "may mail the current one again).",
    "Live-sync tokens are carried only sealed with KITH_PASSPHRASE, as they are kept at rest; a token kept "
    "unsealed is left out and its link marked revoked: after restoring, link that account again. A restored node "
    "opens sealed tokens with the same KITH_PASSPHRASE.",
)
TOKEN_LEFT_OUT = (
    "the token was left out of the export because it was stored unencrypted; link the account again "
    "(`kith link ...`), with KITH_PASSPHRASE set to keep it sealed"
)

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


def _uid(person_id: str) -> str:
    return f"urn:kith:{person_id}"


def _related(person_id: str, relationships: list[Relationship]) -> list[dict[str, str]]:
    """Who is what of ``person_id`` (the module's rules), as RELATED entries: {type, uri}."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for r in relationships:
        if r.other_person_id is None or r.person_id == r.other_person_id:
            continue
        if r.other_person_id == person_id:  # r.person_id is r.type of this person
            kind, who = r.type, r.person_id
        else:  # this person is r.type of the other: true from this side too only when mutual or inverted
            try:
                term = relationship_term(r.type)
            except InvalidRecord:
                continue
            inverse = term.name if term.mutual else term.inverse
            if inverse is None:
                continue
            kind, who = inverse, r.other_person_id
        out.setdefault((kind, who), {"type": kind, "uri": _uid(who)})
    return list(out.values())


def person_vcard_dict(
    person: Person, notes: list[str], relationships: list[Relationship] | None = None
) -> dict[str, Any]:
    return {
        "uid": _uid(person.id),
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
        "related": _related(person.id, relationships or []),
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
        people.append(person_vcard_dict(person, notes, await graph.relationships(person.id)))
    return write_vcards(people)


async def export_document(graph: Graph) -> dict[str, Any]:
    """Everything the owner keeps, as one JSON document that :func:`restore_document` takes back whole: the
    graph's tables, and the account's federation rows (in the server database) when the graph has them."""
    raw = await graph.store.export.export_all(
        (*CARD_META_KEYS, DIGEST_SETTINGS), meta_prefixes=(SETTINGS_PREFIX,)
    )
    card, disclosure = card_from_meta(raw.meta)
    capture = {
        key.removeprefix(SETTINGS_PREFIX): json.loads(value)
        for key, value in raw.meta.items()
        if key.startswith(SETTINGS_PREFIX) and value is not None
    }
    tables: dict[str, Any] = {
        name: {"columns": list(t.columns), "rows": t.rows} for name, t in raw.tables.items()
    }
    if graph.federation is not None:
        tables.update(await graph.federation.export_tables())
    _leave_out_open_tokens(tables["bridge_link"])
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "schema": raw.schema,
        "exported_at": graph.now(),
        "notes": list(EXPORT_NOTES),
        "tables": tables,
        "card": card,
        "disclosure": disclosure,
        "digest": settings_from_meta(raw.meta.get(DIGEST_SETTINGS)),
        "capture": capture,
    }


def _leave_out_open_tokens(spec: dict[str, Any]) -> None:
    """Tokens stored in the clear (no passphrase was set) stay out of the file, which is written anywhere and
    shared more freely than the database; the link says why, and is restored revoked. An export of a restored
    node says the same again, so that the round trip gives the same document."""
    cols = spec["columns"]
    secret, status, error = cols.index("secret"), cols.index("status"), cols.index("last_error")
    for row in spec["rows"]:
        if row[secret] and is_sealed(row[secret]):
            continue
        if row[secret] or row[status] != "revoked":
            row[error] = TOKEN_LEFT_OUT
        row[secret], row[status] = "", "revoked"


async def restore_document(graph: Graph, doc: Any) -> dict[str, int]:
    """Restore an export into this empty account: every value checked by the API's rules first
    (node/restore.py, off the event loop: a large graph has millions of values), then written: the federation
    rows into the server database, then the graph's in one transaction of its own. The two databases share no
    transaction (specs/STORAGE.md): should the graph's part fail, the federation rows are taken back; should
    the process die between the two, the same restore run again finds exactly its rows there and goes on."""
    checked = await asyncio.to_thread(check_document, doc, graph, graph.clock())
    federation = {t: v for t, v in checked.tables.items() if t in FEDERATION_TABLES}
    tables = {
        name: ExportedTable(columns=tuple(cols), rows=rows)
        for name, (cols, rows) in checked.tables.items()
        if name not in FEDERATION_TABLES
    }
    # The account must hold none of the meta rows restored (its own card, digest or link settings), besides
    # the card's.
    meta_keys = tuple(dict.fromkeys((*CARD_META_KEYS, *checked.meta)))
    fed_counts: dict[str, int] = {}
    if any(rows for _, rows in federation.values()):
        if graph.federation is None:
            raise BadInput(
                "this export holds follows, offers or blocks, which only an account of a server can take; "
                "restore it with `kith --account NAME restore FILE`",
                field="tables",
            )
        await graph.store.export.require_empty(meta_keys=meta_keys)
        fed_counts = await graph.federation.import_tables(federation)
    try:
        counts = await graph.store.export.import_all(tables, checked.meta, meta_keys=meta_keys)
    except BaseException:
        if fed_counts and graph.federation is not None:
            await graph.federation.clear_imported()
        raise
    return {**counts, **fed_counts, "card": 1 if checked.meta else 0}
