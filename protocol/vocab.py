"""The relationship vocabulary: every type a relationship may have, with its IRI.

Terms come from XFN 1.1 (http://gmpg.org/xfn/11), vCard's RELATED types (RFC 6350 §6.6.6, whose values are the
XFN terms plus ``agent`` and ``emergency``), and Kith's business terms under the Kith namespace. A term is
``mutual`` when it holds both ways by its nature (XFN "symmetric"); a directed term may name its ``inverse``.
Spec: specs/PROTOCOL.md §Relationships.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from protocol.errors import InvalidRecord

__all__ = [
    "CHANNELS",
    "KITH_NS",
    "ORG_ROLES",
    "RELATIONSHIP_TYPES",
    "SHARING_LEVELS",
    "STRENGTH_BUCKETS",
    "VCARD_NS",
    "XFN_NS",
    "RelationshipTerm",
    "level_at_most",
    "level_rank",
    "relationship_term",
    "strength_bucket",
]

XFN_NS = "http://gmpg.org/xfn/11#"
VCARD_NS = "http://www.w3.org/2006/vcard/ns#"
KITH_NS = "https://w3id.org/kith/ns#"

#: Interaction channels, in the order the UI offers them.
CHANNELS = ("message", "email", "call", "meeting", "comment", "other")


@dataclass(frozen=True, kw_only=True, slots=True)
class RelationshipTerm:
    name: str
    iri: str
    category: str
    mutual: bool
    inverse: str | None = None
    label: str = ""


def _xfn(name: str, category: str, mutual: bool, inverse: str | None = None) -> RelationshipTerm:
    return RelationshipTerm(
        name=name, iri=XFN_NS + name, category=category, mutual=mutual, inverse=inverse, label=name
    )


def _kith(name: str, mutual: bool, inverse: str | None = None) -> RelationshipTerm:
    return RelationshipTerm(
        name=name, iri=KITH_NS + name, category="business", mutual=mutual, inverse=inverse, label=name
    )


_TERMS = (
    # XFN 1.1 friendship
    _xfn("contact", "friendship", False),
    _xfn("acquaintance", "friendship", True),
    _xfn("friend", "friendship", True),
    # physical
    _xfn("met", "physical", True),
    # professional
    _xfn("co-worker", "professional", True),
    _xfn("colleague", "professional", True),
    # geographical
    _xfn("co-resident", "geographical", True),
    _xfn("neighbor", "geographical", True),
    # family
    _xfn("child", "family", False, "parent"),
    _xfn("parent", "family", False, "child"),
    _xfn("sibling", "family", True),
    _xfn("spouse", "family", True),
    _xfn("kin", "family", True),
    # romantic
    _xfn("muse", "romantic", False),
    _xfn("crush", "romantic", False),
    _xfn("date", "romantic", True),
    _xfn("sweetheart", "romantic", True),
    # vCard RELATED additions (RFC 6350 §6.6.6)
    RelationshipTerm(name="agent", iri=VCARD_NS + "Agent", category="vcard", mutual=False, label="agent"),
    RelationshipTerm(
        name="emergency",
        iri=VCARD_NS + "Emergency",
        category="vcard",
        mutual=False,
        label="emergency contact",
    ),
    # Kith business terms
    _kith("customer", False, "supplier"),
    _kith("supplier", False, "customer"),
    _kith("partner", True),
    _kith("investor", False, "investee"),
    _kith("investee", False, "investor"),
    _kith("press", False),
    _kith("mentor", False, "mentee"),
    _kith("mentee", False, "mentor"),
    _kith("advisor", False, "advisee"),
    _kith("advisee", False, "advisor"),
    _kith("employer", False, "employee"),
    _kith("employee", False, "employer"),
    _kith("recruiter", False),
    _kith("member", False, "organisation"),
    _kith("organisation", False, "member"),
)

RELATIONSHIP_TYPES: Mapping[str, RelationshipTerm] = MappingProxyType({t.name: t for t in _TERMS})
_BY_IRI = {t.iri: t for t in _TERMS}


def _check_table() -> None:
    for term in _TERMS:
        if term.inverse is not None and term.inverse not in RELATIONSHIP_TYPES:
            raise AssertionError(f"relationship term {term.name!r} names unknown inverse {term.inverse!r}")
        if term.mutual and term.inverse is not None:
            raise AssertionError(f"mutual term {term.name!r} cannot have an inverse")


_check_table()


def relationship_term(name_or_iri: str) -> RelationshipTerm:
    """Look a term up by its short name (``friend``) or its IRI; raise InvalidRecord naming the choices."""
    term = RELATIONSHIP_TYPES.get(name_or_iri.strip().lower()) or _BY_IRI.get(name_or_iri.strip())
    if term is None:
        raise InvalidRecord(
            f"unknown relationship type {name_or_iri!r}; use one of: {', '.join(RELATIONSHIP_TYPES)}",
            field="type",
        )
    return term


# -- organisations (specs/ORGANISATIONS.md) ------------------------------------------------------------------

#: What a member shares with an organisation, from nothing to the most. Each level adds to the one before:
#: ``knows`` the person's name, organisation, identities and a strength bucket; ``last-contact`` the date and
#: channel of the last interaction; ``interactions`` every interaction's date, channel and who started it
#: (never its text) with the exact strength and its explanation; ``notes`` the notes the member chose.
SHARING_LEVELS = ("none", "knows", "last-contact", "interactions", "notes")
#: Roles in an organisation: admins run it, members share and ask, viewers only look.
ORG_ROLES = ("admin", "member", "viewer")
#: Relationship-strength buckets and the score each starts at (a score in [0, 1]).
STRENGTH_BUCKETS = (("weak", 0.0), ("fair", 0.25), ("good", 0.5), ("strong", 0.75))


def level_rank(level: str) -> int:
    """The position of a sharing level (0 for none); InvalidRecord naming the levels for anything else."""
    try:
        return SHARING_LEVELS.index(level)
    except ValueError:
        raise InvalidRecord(
            f"unknown sharing level {level!r}; use one of: {', '.join(SHARING_LEVELS)}", field="level"
        ) from None


def level_at_most(level: str, cap: str) -> str:
    """``level`` lowered to ``cap`` where it is above it: an admin's cap only ever takes away."""
    return level if level_rank(level) <= level_rank(cap) else cap


def strength_bucket(score: float) -> str:
    """The bucket a strength score in [0, 1] falls in."""
    found = STRENGTH_BUCKETS[0][0]
    for name, start in STRENGTH_BUCKETS:
        if score >= start:
            found = name
    return found
