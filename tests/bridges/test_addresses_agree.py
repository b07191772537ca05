"""Every identity the bridges produce from the samples is one protocol.addresses accepts with the kind hint
given: the importer must never meet an address a bridge promised it could key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridges.base import BlockDraft, ContactDraft, IdentityDraft, InteractionDraft
from bridges.registry import detect
from protocol.addresses import IdentityKind, normalize

SAMPLES = Path(__file__).parent / "samples"
PATHS = [
    "linkedin/export",
    "linkedin/Connections_old_cp1252.csv",
    "linkedin/messages_old.csv",
    "x/archive",
    "facebook/export",
    "google/contacts.csv",
    "google/google_legacy.csv",
    "vcard/apple_icloud.vcf",
    "vcard/rfc6350.vcf",
    "vcard/nokia_v21.vcf",
    "mastodon/export",
    "mastodon/fedifinder.csv",
]


def identities(path: Path) -> list[IdentityDraft]:
    out: list[IdentityDraft] = []
    for item in detect(path)().parse_export(path):
        if isinstance(item, ContactDraft):
            out.extend(item.identities)
        elif isinstance(item, InteractionDraft):
            out.extend(item.participants)
        elif isinstance(item, BlockDraft):
            out.append(item.identity)
    return out


@pytest.mark.parametrize("path", PATHS)
def test_every_identity_normalises_to_its_hinted_kind(path: str) -> None:
    found = identities(SAMPLES / path)
    for ident in found:
        address = normalize(ident.address, kind=ident.kind)
        assert address.kind == IdentityKind(ident.kind)


def test_x_ids_become_x_identities() -> None:
    ids = identities(SAMPLES / "x" / "archive")
    assert normalize(ids[0].address, kind=ids[0].kind).uri == "https://x.com/i/user/2001"
