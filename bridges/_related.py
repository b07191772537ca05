"""The words address books use for how two people are related, as relationship terms (protocol/vocab.py).

vCard 4 ``RELATED;TYPE=`` takes the XFN words plus ``agent`` and ``emergency`` (RFC 6350 §6.6.6), all of them
terms already; Kith's export writes its other terms as ``x-kith-<term>`` (an RFC 6350 x-name). Apple's related
names and Google's "Relation" use everyday words ("Mother", "Brother", "Assistant"): those with one clear
meaning map to a term; the rest ("Manager", "Partner", which Kith's business ``partner`` would misread) map to
none, and the importer keeps them as a note in the owner's words. A word is matched case-insensitively, with
Apple's ``_$!<...>!$_`` wrapping removed.
"""

from __future__ import annotations

import re

from protocol.vocab import RELATIONSHIP_TYPES

__all__ = ["KITH_TYPE_PREFIX", "VCARD_RELATED_TYPES", "related_term"]

#: TYPE values RFC 6350 §6.6.6 lists for RELATED; a term outside them is written with KITH_TYPE_PREFIX.
VCARD_RELATED_TYPES = frozenset(
    [
        "contact",
        "acquaintance",
        "friend",
        "met",
        "co-worker",
        "colleague",
        "co-resident",
        "neighbor",
        "child",
        "parent",
        "sibling",
        "spouse",
        "kin",
        "muse",
        "crush",
        "date",
        "sweetheart",
        "me",
        "agent",
        "emergency",
    ]
)
KITH_TYPE_PREFIX = "x-kith-"

_EVERYDAY = {
    "mother": "parent",
    "father": "parent",
    "mom": "parent",
    "dad": "parent",
    "son": "child",
    "daughter": "child",
    "brother": "sibling",
    "sister": "sibling",
    "wife": "spouse",
    "husband": "spouse",
    "domestic partner": "sweetheart",
    "relative": "kin",
    "assistant": "agent",
    "coworker": "co-worker",
    "neighbour": "neighbor",
    "emergency contact": "emergency",
}
# Terms of ours that an address book's word of the same spelling does not mean (a Google or Apple "Partner" is
# a life partner, Kith's ``partner`` a business one): only our own export's x-kith- form names them.
_OTHER_MEANING = {"partner"}
_APPLE = re.compile(r"^_\$!<(.*)>!\$_$")


def related_term(word: str) -> str | None:
    """The relationship term for an address book's word, or None when it has no one clear meaning."""
    key = word.strip()
    m = _APPLE.match(key)
    key = " ".join((m.group(1) if m else key).split()).lower()
    if key.startswith(KITH_TYPE_PREFIX):
        key = key.removeprefix(KITH_TYPE_PREFIX)
    elif key in _OTHER_MEANING:
        return None
    key = _EVERYDAY.get(key, key)
    return key if key in RELATIONSHIP_TYPES else None
