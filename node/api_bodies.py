"""The schemas of the owner API's request bodies and parameters (node/api.py declares its routes with them).

Each mirrors the rules node.graph and node.owner_card apply, as far as JSON Schema can state them; what it cannot
(an address that must parse, a date that must not lie in the future) those layers still check.
"""

from __future__ import annotations

from node.api_schema import (
    Param,
    Schema,
    date_text,
    integer,
    nullable,
    obj,
    text,
    text_list,
)
from node.graph import MAX_NAME, MAX_PAGE, MAX_TEXT
from node.models import PERSON_FIELDS, VERIFICATION_LEVELS
from node.owner_card import CARD_FIELDS
from node.restore import EXPORT_FORMAT, READABLE_VERSIONS
from node.store.export import EXPORT_TABLES
from protocol.addresses import IdentityKind

__all__ = [
    "CADENCE",
    "CARD_LIST_FIELDS",
    "CIRCLE",
    "CIRCLE_NAME",
    "DISCLOSURE",
    "EXPORT_DOC",
    "IDENTITY",
    "LIMIT",
    "NEW_CARD",
    "NEW_PERSON",
    "OFFSET",
    "PAGING",
    "PERSON_PROPS",
    "PUBLISHED_TO",
]

OFFSET = Param("offset", integer(0, 10**9), "How many items to skip (default 0)")
LIMIT = Param("limit", integer(1, MAX_PAGE), f"Items per page (default 50, at most {MAX_PAGE})")
PAGING = (OFFSET, LIMIT)
CIRCLE_NAME = text(100, nonblank=True, description="a circle's name")
CIRCLE = Param("circle", CIRCLE_NAME, "A circle's name")
CADENCE = nullable(integer(1, 3650, description="days between touches; null clears it"))
IDENTITY = obj(
    {
        "uri": text(2048, nonblank=True, description="an address: acct:, mailto:, tel:, https://, at://..."),
        "kind": nullable({"type": "string", "enum": [k.value for k in IdentityKind]}),
        "label": nullable(text(200)),
        "verification": {"type": "string", "enum": list(VERIFICATION_LEVELS)},
        "source": nullable(text(100)),
    },
    required=("uri",),
)
_PERSON_TEXT = ("given_name", "family_name", "nickname", "organization", "title")
_PHOTO = (
    "^([hH][tT][tT][pP][sS]?://|[dD][aA][tT][aA]:[iI][mM][aA][gG][eE]/)"
    "[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
)
PERSON_PROPS: dict[str, Schema] = {
    "display_name": nullable(text(MAX_NAME)),
    **{name: nullable(text(MAX_NAME)) for name in _PERSON_TEXT},
    "birthday": nullable(date_text("a date like 1990-04-01, or --04-01 without a year")),
    "met_on": nullable(date_text("a date like 2019-06-01")),
    "photo_url": nullable({"type": "string", "maxLength": 2048, "pattern": _PHOTO}),
    "priority": integer(0, 3, description="the owner's own priority, 0-3"),
    "cadence_days": CADENCE,
}
assert set(PERSON_PROPS) == set(PERSON_FIELDS), "every person field is declared"
NEW_PERSON = obj(
    {
        **PERSON_PROPS,
        "identities": text_list(
            {"anyOf": [text(2048, nonblank=True), IDENTITY]},
            max_items=100,
            description="addresses, or objects with uri, kind, label, verification",
        ),
        "circles": text_list(CIRCLE_NAME, max_items=100),
        "notes": text_list(text(MAX_TEXT, nonblank=True), max_items=100),
    },
    description="A display_name (or given_name, family_name, nickname, organization), or an identity",
)
# node.graph.Graph.create_person names a person from the first of these it finds.
NEW_PERSON["anyOf"] = [
    {"required": [name], "properties": {name: text(MAX_NAME, nonblank=True)}}
    for name in ("display_name", "given_name", "family_name", "nickname", "organization")
] + [{"required": ["identities"], "properties": {"identities": {"minItems": 1}}}]
CARD_LIST_FIELDS = ("email", "phone", "website", "identities")
_ADDRESSES = {
    "anyOf": [text(2000), text_list(text(2000), max_items=20)],
    "description": "an address or a list",
}
_CARD = obj(
    {
        f: nullable(_ADDRESSES) if f in CARD_LIST_FIELDS else nullable(text(2000, nonblank=f == "name"))
        for f in CARD_FIELDS
    },
    description="The owner's card",
)
NEW_CARD = {**_CARD, "required": ["name"]}
DISCLOSURE = obj(
    {f: text_list(text(100), max_items=1000) for f in CARD_FIELDS},
    description="Per card field, the circles that may see it ('*': every peer)",
)
PUBLISHED_TO = {
    "type": ["integer", "null"],
    "description": "peers the card was sent to (null: no federation)",
}


# A value SQLite stores: text, a 64-bit integer, a real, a boolean or null.
_CELL = {
    "anyOf": [
        {"type": ["string", "boolean", "null"]},
        {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
    ]
}
EXPORT_DOC = obj(
    {
        "format": {"const": EXPORT_FORMAT},
        "version": {
            "enum": list(READABLE_VERSIONS),
            "description": "the export versions node/restore.py reads",
        },
        "tables": {
            "type": "object",
            "propertyNames": {"enum": list(EXPORT_TABLES)},
            "additionalProperties": obj(
                {
                    "columns": {
                        "type": "array",
                        "items": {"type": "string", "pattern": "^[a-z_]{1,64}$"},
                        "minItems": 1,
                        "uniqueItems": True,
                    },
                    "rows": {"type": "array", "items": {"type": "array", "items": _CELL}},
                },
                required=("columns", "rows"),
            ),
        },
    },
    required=("format", "version", "tables"),
    additional=True,
    description="A Kith JSON export (kith export --format json)",
)
