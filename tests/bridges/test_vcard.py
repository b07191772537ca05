from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from bridges._vcard_syntax import escape, fold, logical_lines, parse_prop, split_unescaped, unescape
from bridges.base import YEAR_UNKNOWN, ContactDraft, IdentityDraft, RelatedDraft, Skipped
from bridges.vcard import PHOTO_LIMIT, VCardBridge, parse_vcard_birthday, write_vcards

SAMPLES = Path(__file__).parent / "samples" / "vcard"
SMALL_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAAAAADhZOFXAAAADklEQVR4nGNogAIGyhgAgIQ"
    "gAQ2AJGEAAAAASUVORK5CYII="
)


def ident(address: str, kind: str, label: str | None = None) -> IdentityDraft:
    return IdentityDraft(address=address, kind=kind, label=label)


def parse(name: str | Path) -> list[object]:
    return list(VCardBridge().parse_export(SAMPLES / name))


def test_apple_icloud_vcard_3() -> None:
    jane, big_photo_note, big, group = parse("apple_icloud.vcf")
    assert jane == ContactDraft(
        source_record_id="vcard:2F9C1A64-8B7E-4A47-9C1D-0E2A9E4E5B11",
        display_name="Dr. Jane Q. Doe",
        given_name="Jane",
        family_name="Doe",
        nickname="JD",
        organization="Acme Corp",
        title="Head of Research, EMEA",
        birthday=date(YEAR_UNKNOWN, 4, 12),  # Apple's year-less 1604
        photo_url=SMALL_PNG,  # folded base64 lines unfolded into one data: URL
        identities=(
            ident("jane.doe@example.com", "email", "work"),
            ident("jane@home.example", "email", "home"),
            ident("+1 (415) 555-0100", "tel", "cell"),
            ident("+1 415 555 0199", "tel", "other"),  # item1.TEL with X-ABLabel _$!<Other>!$_
            ident("jd@side.example", "email", "side project"),
            ident("https://jane.example", "web", "homepage"),
            ident("http://twitter.com/janedoe", "x", "janedoe"),
            ident("https://www.linkedin.com/in/jane-doe-4a1b2c", "linkedin"),
            ident("@jane@example.social", "acct"),
            ident("jane.bsky.social", "bluesky", "jane.bsky.social"),
        ),
        circles=("Work", "Conference 2025"),
        notes=("xmpp: jane@jabber.example", "Met at PyCon, 2019.\nLikes tea; hates coffee."),
        # Apple's related name: text, its word in the group's label.
        related=(RelatedDraft(value="John Doe", type="spouse", label="spouse", text=True),),
    )
    assert big_photo_note == Skipped(
        file="apple_icloud.vcf", line=34, reason="photo of 64 KB left out (limit 48 KB)", severity="warning"
    )
    assert isinstance(big, ContactDraft) and big.photo_url is None and big.display_name == "Photo Big"
    assert big.source_record_id.startswith("vcard:") and len(big.source_record_id) == 30  # content hash
    assert group == Skipped(file="apple_icloud.vcf", line=1222, reason="a contact group, not a person")


def test_vcard_4_and_broken_cards() -> None:
    kim, group, empty, cut = parse("rfc6350.vcf")
    assert kim == ContactDraft(
        source_record_id="vcard:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
        display_name="Kim Lee",
        given_name="Kim",
        family_name="Lee",
        birthday=date(YEAR_UNKNOWN, 7, 4),  # --0704
        photo_url=SMALL_PNG,
        identities=(
            ident("+44-20-7946-0018", "tel", "cell"),  # tel: URI value, quoted TYPE list
            ident("kim@work.example", "email", "work"),
            ident("https://bsky.app/profile/kim.example.com", "bluesky"),
            ident("https://www.linkedin.com/in/kimlee", "linkedin"),  # a URL on a silo's host
        ),
        circles=("Book club",),
        notes=("line one\nline two",),
        related=(
            RelatedDraft(
                value="https://jane.example",
                type="colleague",
                label="colleague",
                record="vcard:https://jane.example",  # the record a card with that UID would have
            ),
        ),
    )
    assert group == Skipped(file="rfc6350.vcf", line=16, reason="a contact group, not a person")
    assert empty == Skipped(
        file="rfc6350.vcf", line=22, reason="a card with no name, e-mail address, phone or URL"
    )
    assert cut == Skipped(file="rfc6350.vcf", line=26, reason="the file ends inside a card (no END:VCARD)")


def test_vcard_21_quoted_printable() -> None:
    (jorg,) = parse("nokia_v21.vcf")
    assert isinstance(jorg, ContactDraft)
    assert (jorg.display_name, jorg.given_name, jorg.family_name) == ("Jörg Müller", "Jörg", "Müller")
    assert jorg.notes == ("First line\nSecond line that is long enough to need a softbreak here",)
    assert jorg.identities == (ident("+49 30 1234567", "tel", "cell"),)  # 2.1 bare TYPE parameter


def test_same_file_same_ids() -> None:
    assert parse("apple_icloud.vcf") == parse("apple_icloud.vcf")


def test_syntax_helpers() -> None:
    lines = list(logical_lines(io.StringIO("A:1\r\nNOTE:ab\r\n c\r\n\td\nB:2"), 100))
    assert lines == [(1, "A:1"), (2, "NOTE:abcd"), (5, "B:2")]
    prop = parse_prop('item1.X-SOCIALPROFILE;type=twitter;X-USER="a:b";TYPE=pref,home:http://x.com/a')
    assert prop is not None
    assert (prop.group, prop.name, prop.value) == ("item1", "X-SOCIALPROFILE", "http://x.com/a")
    assert prop.types() == ["twitter", "pref", "home"] and prop.param("x-user") == "a:b"
    assert parse_prop("no colon here") is None
    assert split_unescaped(r"a\;b;c", ";") == [r"a\;b", "c"]
    assert unescape(r"a\,b\nc\\d\;") == "a,b\nc\\d;"
    assert unescape(escape("x,y;z\\w\nv")) == "x,y;z\\w\nv"


def test_fold_75_octets_never_splits_utf8() -> None:
    line = "NOTE:" + "é" * 100 + "x" * 80
    folded = fold(line)
    physical = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in physical)
    assert all(p.startswith(" ") for p in physical[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(physical)) == line


def test_birthdays() -> None:
    assert parse_vcard_birthday("19850412") == date(1985, 4, 12)
    assert parse_vcard_birthday("1985-04-12T00:00:00Z") == date(1985, 4, 12)
    assert parse_vcard_birthday("--04-12") == date(YEAR_UNKNOWN, 4, 12)
    assert parse_vcard_birthday("--0229") == date(YEAR_UNKNOWN, 2, 29)
    assert parse_vcard_birthday("spring") is None


PEOPLE = [
    {
        "uid": "urn:uuid:11111111-2222-3333-4444-555555555555",
        "display_name": "Jane Doe; PhD, Esq.",
        "given_name": "Jane",
        "family_name": "Doe",
        "nickname": "JD",
        "organization": "Acme, Inc.",
        "title": "Head of Research",
        "birthday": date(YEAR_UNKNOWN, 2, 29),
        "photo_url": "https://cdn.example/jane.jpg",
        "identities": [
            {"uri": "mailto:jane@example.com", "kind": "email", "label": "work"},
            {"uri": "+1 415 555 0100", "kind": "tel", "label": "cell"},
            {"uri": "https://jane.example", "kind": "web", "label": "Blog"},
            {"uri": "https://www.linkedin.com/in/jane-doe", "kind": "linkedin", "label": None},
            {"uri": "https://x.com/janedoe", "kind": "x", "label": None},
            {"uri": "did:plc:abc123", "kind": "bluesky", "label": None},
            {"uri": "@jane@example.social", "kind": "acct", "label": None},
            {"uri": "https://example.social/@jane", "kind": "url", "label": None},
        ],
        "notes": ["Line one\nline two, with comma; and semicolon \\ backslash", "Ünïcödé " * 20 + "end"],
        "circles": ["Work", "Book club, Tuesdays"],
    },
    {"display_name": "Only A Name"},
]


def test_writer_is_valid_rfc6350_and_round_trips(tmp_path: Path) -> None:
    text = write_vcards(PEOPLE)
    assert text.startswith("BEGIN:VCARD\r\nVERSION:4.0\r\n")
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    assert "\n" not in text.replace("\r\n", "")
    out = tmp_path / "export.vcf"
    out.write_bytes(text.encode("utf-8"))
    jane, only = VCardBridge().parse_export(out)
    assert jane == ContactDraft(
        source_record_id="vcard:urn:uuid:11111111-2222-3333-4444-555555555555",
        display_name="Jane Doe; PhD, Esq.",
        given_name="Jane",
        family_name="Doe",
        nickname="JD",
        organization="Acme, Inc.",
        title="Head of Research",
        birthday=date(YEAR_UNKNOWN, 2, 29),
        photo_url="https://cdn.example/jane.jpg",
        identities=(
            ident("jane@example.com", "email", "work"),
            ident("+14155550100", "tel", "cell"),  # written as a tel: URI (RFC 3966)
            ident("https://jane.example", "web", "blog"),
            ident("https://www.linkedin.com/in/jane-doe", "linkedin"),
            ident("https://x.com/janedoe", "x"),
            ident("did:plc:abc123", "bluesky"),
            ident("@jane@example.social", "acct"),
            ident("https://example.social/@jane", "url"),
        ),
        circles=("Work", "Book club, Tuesdays"),
        notes=tuple(PEOPLE[0]["notes"]),  # type: ignore[arg-type]
    )
    assert isinstance(only, ContactDraft) and only.display_name == "Only A Name"
    # Written twice, read twice: the same ids (a re-import changes nothing).
    assert write_vcards(PEOPLE) == text


@pytest.mark.parametrize("size", [PHOTO_LIMIT - 3, PHOTO_LIMIT + 3])
def test_photo_limit_edges(tmp_path: Path, size: int) -> None:
    import base64

    payload = base64.b64encode(b"\x00" * size).decode()
    card = f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:P\r\nPHOTO:data:image/jpeg;base64,{payload}\r\nEND:VCARD\r\n"
    f = tmp_path / "p.vcf"
    f.write_text(card)
    items = list(VCardBridge().parse_export(f))
    contact = items[-1]
    assert isinstance(contact, ContactDraft)
    assert (contact.photo_url is not None) == (size <= PHOTO_LIMIT)
