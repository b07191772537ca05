"""The engine-neutral half of the people's store (node/store/people.py's People): which columns a person's
fields set, a select list's columns on the person table, and the stronger of two identity verifications. Each
engine (node/store/sqlite/people.py, node/store/postgres/people.py) keeps only its SQL and driver calls
(specs/POSTGRESQL.md §4).
"""

from __future__ import annotations

from node.models import PERSON_FIELDS, VERIFICATION_LEVELS
from node.store.people import PersonFields

__all__ = ["person_columns", "prefixed", "stronger"]

#: Identity verifications, strongest first.
_LEVELS = VERIFICATION_LEVELS


def person_columns(fields: PersonFields) -> list[str]:
    """The columns ``fields`` sets, in PERSON_FIELDS' order; ValueError for a key that is no person field (a
    caller's slip must not drop a value without a word)."""
    unknown = set(fields) - set(PERSON_FIELDS)
    if unknown:
        raise ValueError(f"person fields must be among {', '.join(PERSON_FIELDS)}, not {sorted(unknown)}")
    return [k for k in PERSON_FIELDS if k in fields]


def prefixed(columns: str) -> str:
    """``columns`` (comma-separated) as columns of the person table aliased ``p``."""
    return ", ".join("p." + c.strip() for c in columns.split(","))


def stronger(a: str, b: str) -> str:
    """The stronger of two identity verifications (what attaching an identity again keeps)."""
    return a if _LEVELS.index(a) <= _LEVELS.index(b) else b
