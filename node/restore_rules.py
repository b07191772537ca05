"""The rule each restorable column is checked by, and the rules across a row's columns (node/restore.py applies
them to a restore document).

Every rule is the owner API's own for that field where the API takes the field: node/graph.py's validators for
text, dates, numbers, photo URLs, circle names, relationships and interactions, protocol/addresses for identities.
Federation's rows, live-sync links, captured mail and the JSON some columns hold have no API that takes them as
stored: they get the rules their writers keep (http(s) IRIs for ids, protocol/states.py's states, relationship
records that read back as protocol records, tokens only sealed, addresses folded as capture folds them). A rule returns the value to store (text trimmed, a time in the
node's own form, an identity in canonical form) or raises BadInput naming its column.

Every exported column must have a rule (tests/node/test_export.py keeps TABLE_RULES in step with the migrations).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from node.capture.links import CAPTURE_SOURCES
from node.capture.mail import fold_address
from node.digest import REMINDER_KEY
from node.errors import BadInput
from node.graph import (
    MAX_NAME,
    MAX_TEXT,
    Graph,
    _circle_name,
    _date,
    _int,
    _interaction_fields,
    _photo_url,
    _relationship_fields,
    _text,
    iso,
    parse_when,
)
from node.link_secrets import PREFIX as SEALED_PREFIX
from node.models import VERIFICATION_LEVELS
from node.sync import DIRECTIONS, SOURCES
from protocol.addresses import parse_kind
from protocol.errors import KithError
from protocol.jsonld import check_shape
from protocol.org_records import Membership
from protocol.org_serialize import org_from_jsonld
from protocol.records import Relationship
from protocol.serialize import from_jsonld
from protocol.states import FOLLOW_REQUEST, RELATIONSHIP_OFFER
from protocol.vocab import CHANNELS, relationship_term

__all__ = ["FED_SETTINGS", "PERSON_RULES", "TABLE_RULES", "Rule", "check_row"]

#: A column's rule: (value, column name) -> the value to store, or BadInput.
Rule = Callable[[Any, str], Any]


# -- column rules ----------------------------------------------------------------------------------------------
def _text_rule(limit: int = MAX_NAME, *, required: bool = False, empty: str | None = None) -> Rule:
    """Text by the API's rule (no control characters or lone surrogates, at most ``limit`` characters);
    ``empty``: what a NOT NULL column holds for no text."""

    def rule(value: Any, col: str) -> Any:
        text = _text(value, col, limit=limit, required=required)
        return empty if text is None else text

    return rule


def _row_id(value: Any, col: str) -> int:
    number = _int(value, col, 1, 2**62, allow_none=False)
    assert number is not None
    return number


def _ref(nullable: bool = False) -> Rule:
    def rule(value: Any, col: str) -> int | None:
        if value is None and nullable:
            return None
        return _row_id(value, col)

    return rule


def _count(value: Any, col: str) -> int | None:
    return _int(value, col, 0, 2**62, allow_none=False)


def _public_id(prefix: str) -> Rule:
    """The random ids the node makes (node.graph.new_id): they appear in URLs, so nothing else is accepted."""
    pattern = re.compile(rf"{prefix}_[A-Za-z0-9_-]{{1,100}}")

    def rule(value: Any, col: str) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise BadInput(f"{col} must be an id like {prefix}_Vq3x9LkQ2m0eA1bC", field=col)
        return value

    return rule


_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _time(nullable: bool = False) -> Rule:
    """An ISO-8601 time (node.graph.parse_when), stored as the node writes times: 2026-11-22T10:00:00Z."""

    def rule(value: Any, col: str) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise BadInput(f"{col} must be a time like 2026-11-22T15:30:00Z", field=col)
        moment = parse_when(value, col)
        return value if _ISO_UTC.fullmatch(value) else iso(moment)  # most are written so already

    return rule


def _day(value: Any, col: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadInput(f"{col} must be a date like 1990-04-01", field=col)
    return _date(value, col)


def _choice(*allowed: str, nullable: bool = False) -> Rule:
    def rule(value: Any, col: str) -> str | None:
        if value is None and nullable:
            return None
        if value not in allowed:
            raise BadInput(f"{col} must be one of {', '.join(allowed)}", field=col)
        return str(value)

    return rule


def _int_rule(lo: int, hi: int, *, nullable: bool) -> Rule:
    def rule(value: Any, col: str) -> int | None:
        return _int(value, col, lo, hi, allow_none=nullable)

    return rule


def _unix(value: Any, col: str) -> float | int:
    """Federation's times: Unix seconds from the node's clock."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{col} must be a time in Unix seconds", field=col)
    if not 0 <= value < 10**11:
        raise BadInput(f"{col} must be a time in Unix seconds", field=col)
    return value


def _iri(value: Any, col: str) -> str:
    """An http(s) IRI, the form of every id federation stores (protocol/records.py asks the same of ids)."""
    if not isinstance(value, str) or not 0 < len(value) <= 2048:
        raise BadInput(f"{col} must be an https:// IRI of at most 2048 characters", field=col)
    _text(value, col, limit=2048)  # no control characters, no lone surrogates
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c.isspace() for c in value):
        raise BadInput(f"{col} must be an https:// IRI", field=col)
    return value


def _nullable(rule: Rule) -> Rule:
    def wrapped(value: Any, col: str) -> Any:
        return None if value is None else rule(value, col)

    return wrapped


def _parse_json(value: Any, col: str) -> Any:
    if not isinstance(value, str):
        raise BadInput(f"{col} must be JSON text", field=col)
    _text(value, col, limit=10**8)  # JSON text itself never holds raw control characters
    try:
        data = json.loads(value)
        check_shape(data, max_depth=32, max_nodes=10**7)
    except (ValueError, RecursionError, KithError):
        raise BadInput(f"{col} is not valid JSON (or is nested deeper than 32 levels)", field=col) from None
    return data


def _json(check: Callable[[Any, str], None], *, nullable: bool = False) -> Rule:
    """JSON text whose content ``check`` accepts; stored as it is (its writer's own serialisation)."""

    def rule(value: Any, col: str) -> str | None:
        if value is None and nullable:
            return None
        check(_parse_json(value, col), col)
        return str(value)

    return rule


def _object(data: Any, col: str) -> None:
    if not isinstance(data, dict):
        raise BadInput(f"{col} must hold a JSON object", field=col)


def _evidence(data: Any, col: str) -> None:
    """Merge evidence: a list of {kind, detail} (node.graph.Graph.merge)."""
    if not isinstance(data, list) or len(data) > 1000:
        raise BadInput(f"{col} must hold a list of at most 1000 {{kind, detail}} objects", field=col)
    for item in data:
        if not isinstance(item, dict) or not set(item) <= {"kind", "detail"}:
            raise BadInput(f"{col} must hold a list of {{kind, detail}} objects", field=col)
        for value in item.values():
            _text(value, col, limit=MAX_TEXT)


def _relationship_record(data: Any, col: str) -> None:
    """A signed relationship record as federation keeps it: it must read back as a protocol Relationship
    (its proofs are kept as signed; checking them needs each signer's key, fetched from its server)."""
    try:
        if (
            isinstance(data, dict) and data.get("type") == "Membership"
        ):  # an organisation's (federation/org.py)
            record: Any = org_from_jsonld(data)
        else:
            record = from_jsonld(data) if isinstance(data, dict) else None
    except KithError as exc:
        raise BadInput(f"{col} is not a relationship record: {exc.message}", field=col) from None
    if not isinstance(record, Relationship | Membership):
        raise BadInput(f"{col} is not a relationship record", field=col)


def _also_known_as(data: Any, col: str) -> None:
    if not isinstance(data, list) or len(data) > 20:
        raise BadInput(f"{col} must hold a list of at most 20 actor ids", field=col)
    for item in data:
        _iri(item, col)


def _moved_to(data: Any, col: str) -> None:
    if data is not None:
        _iri(data, col)


#: What federation's settings hold, by key (federation/owner.py writes them).
FED_SETTINGS: dict[str, Callable[[Any, str], None]] = {"also_known_as": _also_known_as, "moved_to": _moved_to}


def _sealed(value: Any, col: str) -> str:
    """A live-sync token as an export carries it: sealed with the owner's passphrase (node/link_secrets.py),
    or left out (""). An export never carries a token in the clear, so a restore does not take one."""
    if value == "":
        return ""
    if not isinstance(value, str) or not value.startswith(SEALED_PREFIX) or len(value) > 20_000:
        raise BadInput(
            f"{col} must be a token sealed with KITH_PASSPHRASE (enc:v1:...) or empty; "
            "a token in the clear is never restored",
            field=col,
        )
    try:
        raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :].encode("ascii"))
    except (binascii.Error, ValueError):
        raise BadInput(f"{col} is not a sealed token (its base64 is damaged)", field=col) from None
    if len(raw) < 16 + 12 + 16:  # salt, nonce, and at least the tag
        raise BadInput(f"{col} is not a sealed token (too short)", field=col)
    return value


def _http_url(value: Any, col: str) -> str:
    text = _text(value, col, limit=2048, required=True)
    assert text is not None
    if not text.startswith(("https://", "http://")):
        raise BadInput(f"{col} must be the server's https:// address", field=col)
    return text


def _server_url(value: Any, col: str) -> str:
    """A link's server: https:// (the silos, calendars), or imaps:// and imap:// for a mailbox; which one its
    source takes is checked across the row (check_row)."""
    text = _text(value, col, limit=2048, required=True)
    assert text is not None
    if not text.startswith(("https://", "http://", "imaps://", "imap://")):
        raise BadInput(f"{col} must be the server's https:// (or a mailbox's imaps://) address", field=col)
    return text


def _mail_address(value: Any, col: str) -> str:
    """A captured correspondent's address in the folded form capture matches by (node/capture/mail.py)."""
    if not isinstance(value, str) or not value.startswith("mailto:") or fold_address(value[7:]) != value:
        raise BadInput(f"{col} must be a folded mailto: address, like mailto:ada@example.org", field=col)
    return value


def _reminder_key(value: Any, col: str) -> str:
    if not isinstance(value, str) or not REMINDER_KEY.fullmatch(value):
        raise BadInput(f"{col} must be a digest item's key, like due:p_x:2026-11-22", field=col)
    return value


_BOOLEAN = _int_rule(0, 1, nullable=False)


def _address(value: Any, col: str) -> str:
    text = _text(value, col, limit=2048, required=True)
    assert text is not None
    return text


_NAME = _text_rule()
_TIME, _TIME_OR_NULL = _time(), _time(nullable=True)

#: A person row's columns: the owner's fields by node.graph.Graph's rules for them, the derived ones by shape.
PERSON_RULES: dict[str, Rule] = {
    "pk": _row_id,
    "id": _public_id("p"),
    "display_name": _text_rule(empty=""),
    "given_name": _NAME,
    "family_name": _NAME,
    "nickname": _NAME,
    "organization": _NAME,
    "title": _NAME,
    "birthday": _day,
    "photo_url": lambda v, c: _photo_url(v),
    "priority": _int_rule(0, 3, nullable=False),
    "cadence_days": _int_rule(1, 3650, nullable=True),
    "effective_cadence_days": _int_rule(1, 3650, nullable=True),
    "last_interaction_at": _TIME_OR_NULL,
    "due_at": _TIME_OR_NULL,
    "interaction_count": _count,
    "initiated_by_them": _count,
    "initiated_by_owner": _count,
    "met_on": _day,
    "status": _choice("active", "archived", "merged"),
    "merged_into": _ref(nullable=True),
    "created_at": _TIME,
    "updated_at": _TIME,
}

#: The associations a merge snapshot names (node/store/merges.py): stable keys, or row ids in old ones.
_SNAPSHOT_LISTS = (
    "identities",
    "relationships",
    "related_to",
    "interactions",
    "notes",
    "circles",
    "source_records",
)


def _snapshot(data: Any, col: str) -> None:
    """A merge's snapshot, which undo writes back: both person rows by the person rules, and lists of keys."""
    if not isinstance(data, dict) or set(data) != {"survivor", "merged"}:
        raise BadInput(f"{col} must hold the survivor's and the merged person's snapshots", field=col)
    for side, snap in data.items():
        where = f"{col} ({side})"
        if not isinstance(snap, dict) or not isinstance(snap.get("row"), dict):
            raise BadInput(f"{where} must hold the person's row", field=col)
        if not set(snap) <= {"row", *_SNAPSHOT_LISTS}:
            raise BadInput(f"{where} holds an unknown key", field=col)
        row = snap["row"]
        if not set(row) <= set(PERSON_RULES) or not {"pk", "id", "status"} <= set(row):
            raise BadInput(
                f"{where}: the row's columns must be person columns, with pk, id and status", field=col
            )
        for name, value in row.items():
            try:
                PERSON_RULES[name](value, name)
            except BadInput as exc:
                raise BadInput(f"{where}, person row: {exc.message}", field=col) from None
        for name in _SNAPSHOT_LISTS:
            keys = snap.get(name, [])
            if not isinstance(keys, list):
                raise BadInput(f"{where}: {name} must list ids", field=col)
            for key in keys:
                if isinstance(key, str):  # undo looks these up: they must be text SQLite can take
                    _text(key, col, limit=MAX_TEXT)
                else:  # snapshots written before stable keys hold row ids
                    _row_id(key, col)


#: Every restorable table's columns and the rule of each (a test keeps these in step with the migrations).
TABLE_RULES: dict[str, dict[str, Rule]] = {
    "person": PERSON_RULES,
    "identity": {
        "pk": _row_id,
        "person_pk": _ref(nullable=True),
        "uri": _address,
        "kind": _text_rule(20, required=True),
        "display": _text_rule(2048, required=True),
        "label": _text_rule(200),
        "verification": _choice(*VERIFICATION_LEVELS),
        "state": _choice("active", "gone", "moved"),
        "moved_to": _nullable(_address),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "provenance": {
        "identity_pk": _ref(),
        "source": _text_rule(100, required=True),
        "source_record_id": _text_rule(MAX_TEXT, empty=""),
        "seen_at": _TIME,
    },
    "source_record": {
        "source": _text_rule(100, required=True),
        "record_id": _text_rule(MAX_TEXT, required=True),
        "person_pk": _ref(),
        "digest": _text_rule(200, empty=""),
        "seen_at": _TIME,
        "fields": _json(_object, nullable=True),
    },
    "circle": {
        "pk": _row_id,
        "id": _public_id("c"),
        "name": lambda v, c: _circle_name(v),
        "cadence_days": _int_rule(1, 3650, nullable=True),
        "created_at": _TIME,
    },
    "circle_member": {"circle_pk": _ref(), "person_pk": _ref()},
    "relationship": {
        "pk": _row_id,
        "id": _public_id("r"),
        "person_pk": _ref(),
        "other_pk": _ref(nullable=True),
        "type": _text_rule(100, required=True),
        "iri": _text_rule(2048, required=True),
        "direction": _choice("outgoing", "incoming", "mutual"),
        "since": _day,
        "how_we_met": _text_rule(MAX_TEXT),
        "status": _choice("local", "offered", "pending", "accepted", "rejected", "revoked"),
        "record_json": _json(_relationship_record, nullable=True),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "interaction": {
        "pk": _row_id,
        "id": _public_id("i"),
        "occurred_at": _TIME,
        "channel": _choice(*CHANNELS),
        "initiated_by": _choice("owner", "them", "unknown"),
        "summary": _text_rule(MAX_TEXT, empty=""),
        "source": _text_rule(100, required=True),
        "source_record_id": _text_rule(MAX_TEXT),
        "created_at": _TIME,
    },
    "interaction_person": {"person_pk": _ref(), "interaction_pk": _ref()},
    "note": {
        "pk": _row_id,
        "id": _public_id("n"),
        "person_pk": _ref(),
        "body": _text_rule(MAX_TEXT, required=True),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "merge_log": {
        "pk": _row_id,
        "id": _public_id("m"),
        "survivor_pk": _ref(),
        "merged_pk": _ref(),
        "decided_by": _choice("owner", "automatic"),
        "evidence": _json(_evidence),
        "snapshot": _json(_snapshot),
        "created_at": _TIME,
        "undone_at": _TIME_OR_NULL,
    },
    "merge_suggestion": {
        "pk": _row_id,
        "id": _public_id("s"),
        "a_pk": _ref(),
        "b_pk": _ref(),
        "tier": _choice("automatic", "suggested", "ask"),
        "evidence": _json(_evidence),
        "status": _choice("open", "merged", "dismissed"),
        "created_at": _TIME,
    },
    "blocked_address": {"uri": _address, "source": _text_rule(100, required=True), "created_at": _TIME},
    "bridge_link": {
        "source": _choice(*SOURCES, *CAPTURE_SOURCES),
        "account": _text_rule(600, required=True),
        "base_url": _server_url,
        "secret": _sealed,
        "status": _choice("active", "revoked"),
        "resume_at": _TIME_OR_NULL,
        "last_sync_at": _TIME_OR_NULL,
        "last_error": _text_rule(MAX_TEXT),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "sync_cursor": {
        "source": _choice(*SOURCES, *CAPTURE_SOURCES),
        "account": _text_rule(600, required=True),
        # A silo's direction; a mailbox's folder, a calendar's URL (checked across the row).
        "direction": _text_rule(2048, required=True),
        "cursor": _json(_object),
        "updated_at": _TIME,
    },
    "mail_message": {
        "pk": _row_id,
        "message_id": _text_rule(998, required=True),  # RFC 5322's line limit, as capture keeps it
        "occurred_at": _TIME,
        "from_owner": _BOOLEAN,
        "initiated_by": _choice("owner", "them", "unknown"),
        "in_reply_to": _text_rule(998),
        "subject": _text_rule(MAX_TEXT, empty=""),
    },
    "mail_participant": {"address": _mail_address, "message_pk": _ref()},
    "mail_correspondent": {
        "address": _mail_address,
        "name": _text_rule(MAX_NAME, empty=""),
        "sent": _count,
        "received": _count,
        "first_at": _TIME,
        "last_at": _TIME,
        "status": _choice("seen", "proposed", "accepted", "dismissed"),
    },
    "reminder_state": {
        "item": _reminder_key,
        "state": _choice("snoozed", "done"),
        "until": _TIME_OR_NULL,
        "updated_at": _TIME,
    },
    "reach_preference": {"person_pk": _ref(), "uri": _address, "updated_at": _TIME},
    "fedi_message": {
        "object_id": _iri,
        "interaction_pk": _ref(),
        "direction": _choice("in", "out"),
        "actor_id": _iri,
        "url": _iri,
        "in_reply_to": _nullable(_iri),
        "conversation": _iri,
        "private": _BOOLEAN,
    },
    "fed_follows": {
        "follow_id": _iri,
        "direction": _choice("in", "out"),
        "actor_id": _iri,
        "state": _choice(*FOLLOW_REQUEST.states),
        "created_at": _unix,
        "updated_at": _unix,
    },
    "fed_offers": {
        "offer_id": _iri,
        "direction": _choice("in", "out"),
        "actor_id": _iri,
        "rel_type": _text_rule(100, required=True),
        "record": _json(_relationship_record),
        "final": _json(_relationship_record, nullable=True),
        "state": _choice(*RELATIONSHIP_OFFER.states),
        "created_at": _unix,
        "updated_at": _unix,
    },
    "fed_blocks": {
        "kind": _choice("actor", "domain"),
        "value": _text_rule(2048, required=True),
        "block_id": _nullable(_iri),
        "created_at": _unix,
    },
    "fed_blocked_by": {"actor_id": _iri, "block_id": _iri, "created_at": _unix},
    "fed_settings": {"key": _choice(*FED_SETTINGS), "value": _json(lambda data, col: None)},
}

_DOMAIN = re.compile(
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+(:[0-9]{1,5})?"
)


def _cursor_direction(source: Any, direction: str) -> None:
    """What a cursor is kept per: a silo's direction, a mailbox's folder (as `kith link imap` or the server
    names it), a calendar's collection URL."""
    if source == "imap":
        if len(direction) > 1000:
            raise BadInput("a mailbox cursor's folder name is at most 1000 characters", field="direction")
    elif source == "caldav":
        _http_url(direction, "direction")
    elif direction not in DIRECTIONS:
        raise BadInput(f"direction must be one of {', '.join(DIRECTIONS)}", field="direction")


# -- rows that must agree with themselves ------------------------------------------------------------------------
def check_row(table: str, row: dict[str, Any], graph: Graph, now: datetime) -> None:
    """Rules across a row's columns, the API's where it has one. May rewrite a value to its canonical form."""
    if table == "person":
        if "status" in row and (row["status"] == "merged") != (row.get("merged_into") is not None):
            raise BadInput(
                "a merged person names the person merged into, and only a merged one", field="merged_into"
            )
        if row.get("merged_into") is not None and row.get("merged_into") == row.get("pk"):
            raise BadInput("a person cannot be merged into themselves", field="merged_into")
    elif table == "identity" and "uri" in row:
        # The uri is the identity's key: stored in the canonical form the API would store for it.
        if row.get("kind") is not None:
            parse_kind(row["kind"])  # a kind the addresses know (InvalidRecord names the kind)
        addr = graph.normalize(row["uri"], row.get("kind"))
        row["uri"], row["kind"] = addr.uri, str(addr.kind)
        if row.get("moved_to") is not None:
            graph.normalize(row["moved_to"])
    elif table == "blocked_address" and "uri" in row:
        row["uri"] = graph.normalize(row["uri"]).uri
    elif table == "relationship":
        term = _relationship_fields(row)
        if term.type != row.get("type") or ("iri" in row and term.iri != row["iri"]):
            raise BadInput(
                f"type and iri must name one term of the vocabulary ({term.type} is {term.iri})",
                field="iri",
            )
    elif table == "interaction" and "occurred_at" in row:
        _interaction_fields(row, now)
    elif table == "merge_log":
        if row.get("survivor_pk") == row.get("merged_pk"):
            raise BadInput("a merge joins two different people", field="merged_pk")
        snap = json.loads(row["snapshot"]) if row.get("snapshot") is not None else None
        for side, col in (("survivor", "survivor_pk"), ("merged", "merged_pk")):
            if snap is not None and col in row and snap[side]["row"]["pk"] != row[col]:
                raise BadInput(f"the snapshot's {side} row is not person {row[col]}", field="snapshot")
    elif table == "merge_suggestion" and row.get("a_pk") == row.get("b_pk"):
        raise BadInput("a suggestion pairs two different people", field="b_pk")
    elif table == "bridge_link":
        if row.get("secret", "") == "" and row.get("status") != "revoked":
            raise BadInput("a link whose token was left out must be marked revoked", field="status")
        mailbox = str(row.get("base_url", "")).startswith(("imaps://", "imap://"))
        if "base_url" in row and mailbox != (row.get("source") == "imap"):
            raise BadInput("only a mailbox (imap) link is reached at an imap:// address", field="base_url")
    elif table == "sync_cursor" and "direction" in row:
        _cursor_direction(row.get("source"), row["direction"])
    elif table == "reminder_state" and row.get("state") == "snoozed" and row.get("until") is None:
        raise BadInput("a snoozed reminder says until when", field="until")
    elif table == "reach_preference" and "uri" in row:
        row["uri"] = graph.normalize(row["uri"]).uri
    elif table == "fed_offers" and "rel_type" in row:
        try:
            canonical = relationship_term(str(row["rel_type"])).name == row["rel_type"]
        except KithError as exc:
            raise BadInput(exc.message, field="rel_type") from None
        if not canonical:
            raise BadInput("rel_type must be a term of the vocabulary, by its name", field="rel_type")
    elif table == "fed_blocks" and "value" in row:
        if row.get("kind") == "domain" and not _DOMAIN.fullmatch(str(row["value"])):
            raise BadInput("a blocked domain must be a host name like spam.example", field="value")
        if row.get("kind") == "actor":
            _iri(row["value"], "value")
    elif table == "fed_settings" and "key" in row and "value" in row:
        FED_SETTINGS[row["key"]](json.loads(row["value"]), "value")
