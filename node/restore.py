"""Checking a restore document (what `kith export` writes) before anything of it is written.

A restore document is hostile input like any other (docs/ARCHITECTURE.md §7): it may come from another machine, an
older version, or someone who edited it. Every value of every row is checked by the rule the owner API applies to
the same field (node/restore_rules.py; the card by node/owner_card.py's), so that a restore can store nothing the
API would refuse. The first value that fails stops the restore with an error naming the table, the row and the
column; nothing has been written by then (the rows are written afterwards, in one transaction, by
the store (node/store/export.py), which also computes again every value the node derives from other rows).

This is pure and CPU-bound (a large graph has millions of values): callers run it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from node.capture.links import CAPTURE_SOURCES, restored_settings
from node.digest import restored_settings as digest_settings
from node.errors import BadInput
from node.graph import Graph
from node.owner_card import card_to_meta
from node.restore_rules import TABLE_RULES, check_row
from protocol.errors import KithError

__all__ = ["EXPORT_FORMAT", "READABLE_VERSIONS", "AccountBlock", "Checked", "account_block", "check_document"]

EXPORT_FORMAT = "kith-export"
#: Version 1 held the contact graph's tables only; version 2 adds links, federation, the card and its rules;
#: version 3 the stay-in-touch loop: captured mail headers, reminders, preferred channels, the digest's settings
#: and those of linked mailboxes and calendars.
READABLE_VERSIONS = (1, 2, 3)
_TOP_KEYS = {
    "format",
    "version",
    "schema",
    "exported_at",
    "notes",
    "tables",
    "card",
    "disclosure",
    "digest",
    "capture",
    "account",
}
_ACCOUNT_TYPES = ("Person", "Organization")
_DISPLAY_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class AccountBlock:
    """What `kith account export` says of the account itself, so that `kith restore --account` can make the
    same kind of account on another server. The keys never travel: a new server is a new actor, reached from
    the old one by `kith move` (specs/FEDERATION.md)."""

    name: str
    type: str
    display_name: str


def account_block(doc: Any) -> AccountBlock | None:
    """The document's ``account`` block, checked, or None when it has none (a plain `kith export`)."""
    raw = doc.get("account") if isinstance(doc, dict) else None
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"name", "type", "display_name"}:
        raise BadInput(
            "the export's account must be an object of name, type and display_name", field="account"
        )
    name, type_, display = raw.get("name"), raw.get("type", "Person"), raw.get("display_name", "")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise BadInput("the export's account.name must be a name of 1 to 64 characters", field="account.name")
    if type_ not in _ACCOUNT_TYPES:
        raise BadInput(
            f"the export's account.type must be one of {', '.join(_ACCOUNT_TYPES)}", field="account.type"
        )
    if not isinstance(display, str) or len(display) > _DISPLAY_NAME_MAX or not display.isprintable():
        raise BadInput(
            f"the export's account.display_name must be printable text of at most {_DISPLAY_NAME_MAX} "
            "characters",
            field="account.display_name",
        )
    return AccountBlock(name=name, type=type_, display_name=display)


@dataclass(frozen=True, slots=True)
class Checked:
    """A document that passed every check: the rows to insert, per table, and the card's meta rows."""

    tables: dict[str, tuple[list[str], list[list[Any]]]]
    meta: dict[str, str]


# -- the document ----------------------------------------------------------------------------------------------
def _label(table: str, index: int, raw: Mapping[str, Any]) -> str:
    for key in ("id", "pk", "uri", "follow_id", "offer_id", "actor_id", "key", "source"):
        value = raw.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return f"row {index} ({key} {str(value)[:60]!r})"
    return f"row {index}"


def _refuse(table: str, where: str, exc: BadInput | KithError) -> BadInput:
    column = exc.field or "?"
    return BadInput(
        f"restore refused, nothing was written: table {table}, {where}, {column}: {exc.message}. "
        "Correct or remove that row (or restore an unchanged `kith export`)",
        field=f"{table}.{column}",
    )


def _check_table(table: str, spec: Any, graph: Graph, now: datetime) -> tuple[list[str], list[list[Any]]]:
    rules = TABLE_RULES[table]
    columns = spec.get("columns") if isinstance(spec, dict) else None
    rows = spec.get("rows") if isinstance(spec, dict) else None
    if (
        not isinstance(columns, list)
        or not all(isinstance(c, str) for c in columns)
        or not set(columns) <= set(rules)
        or len(set(columns)) != len(columns)
        or not isinstance(rows, list)
        or (rows and not columns)
    ):
        raise BadInput(
            f"table {table}: columns must be distinct names among {', '.join(rules)}, and rows a list",
            field=table,
        )
    out: list[list[Any]] = []
    for index, values in enumerate(rows):
        if not isinstance(values, list) or len(values) != len(columns):
            raise BadInput(
                f"table {table}, row {index}: expected a list of {len(columns)} values", field=table
            )
        if any(type(v) is dict or type(v) is list for v in values):
            raise BadInput(f"table {table}, row {index}: values must be scalars", field=table)
        raw = dict(zip(columns, values, strict=True))
        row: dict[str, Any] = {}
        try:
            for column, value in raw.items():
                try:
                    row[column] = rules[column](value, column)
                except BadInput as exc:
                    raise BadInput(exc.message, field=column) from None
            check_row(table, row, graph, now)
        except (BadInput, KithError) as exc:
            raise _refuse(table, _label(table, index, raw), exc) from None
        out.append([row[c] for c in columns])
    return list(columns), out


def check_document(doc: Any, graph: Graph, now: datetime) -> Checked:
    """Check a whole restore document; raise BadInput naming the first value that fails."""
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise BadInput("not a Kith export: expected a JSON object with format 'kith-export'", field="format")
    if doc.get("version") not in READABLE_VERSIONS:
        raise BadInput(
            f"unsupported export version {str(doc.get('version'))[:20]!r}; this Kith reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}",
            field="version",
        )
    unknown = sorted(str(k) for k in set(doc) - _TOP_KEYS)
    if unknown:
        raise BadInput(f"unknown key {unknown[0][:60]!r} in the export", field="document")
    account_block(doc)
    tables = doc.get("tables")
    if not isinstance(tables, dict) or set(tables) - set(TABLE_RULES):
        raise BadInput(f"export tables must be among {', '.join(TABLE_RULES)}", field="tables")
    checked = {
        table: _check_table(table, tables[table], graph, now) for table in TABLE_RULES if table in tables
    }
    try:
        meta = card_to_meta(doc.get("card") or {}, doc.get("disclosure") or {})
    except BadInput as exc:
        raise BadInput(
            f"restore refused, nothing was written: the card: {exc.message}", field=f"card.{exc.field}"
        ) from None
    try:
        meta.update(digest_settings(doc.get("digest") or {}))
    except BadInput as exc:
        raise BadInput(
            f"restore refused, nothing was written: the digest settings: {exc.message}",
            field=f"digest.{exc.field}",
        ) from None
    meta.update(_capture(doc.get("capture") or {}, checked.get("bridge_link")))
    return Checked(tables=checked, meta=meta)


def _capture(raw: Any, links: tuple[list[str], list[list[Any]]] | None) -> dict[str, str]:
    """The meta rows of the mailbox and calendar links' settings, each checked by `kith link`'s rules and
    matched with its bridge_link row: a link without settings, or settings without a link, cannot be used."""
    if not isinstance(raw, dict):
        raise BadInput("capture must map each mailbox and calendar link to its settings", field="capture")
    columns, rows = links or ([], [])
    if rows and not {"source", "account", "base_url"} <= set(columns):
        raise BadInput("table bridge_link: source, account and base_url are needed", field="bridge_link")
    linked = {
        f"{row[columns.index('source')]}:{row[columns.index('account')]}": row[columns.index("base_url")]
        for row in rows
        if row[columns.index("source")] in CAPTURE_SOURCES
    }
    meta: dict[str, str] = {}
    for key, settings in raw.items():
        where = f"restore refused, nothing was written: the capture settings of {str(key)[:120]!r}"
        source, _, account = str(key).partition(":")
        try:
            link = restored_settings(source, account, settings)
        except BadInput as exc:
            raise BadInput(f"{where}: {exc.message}", field=f"capture.{exc.field}") from None
        if linked.get(key) != link.base_url:
            raise BadInput(
                f"{where}: the export holds no such link at {link.base_url[:200]} (table bridge_link)",
                field="capture",
            )
        meta.update([link.meta])
    missing = sorted(set(linked) - set(raw))
    if missing:
        raise BadInput(
            f"restore refused, nothing was written: the link {missing[0][:120]!r} has no settings in capture",
            field="capture",
        )
    return meta
