from __future__ import annotations

from datetime import date
from pathlib import Path

from bridges.base import YEAR_UNKNOWN, ContactDraft, IdentityDraft, RelatedDraft, Skipped
from bridges.google import GoogleContactsBridge, parse_google_birthday
from bridges.linkedin import LinkedInBridge

SAMPLES = Path(__file__).parent / "samples" / "google"


def ident(address: str, kind: str, label: str | None = None) -> IdentityDraft:
    return IdentityDraft(address=address, kind=kind, label=label)


def test_current_header() -> None:
    items = list(GoogleContactsBridge().parse_export(SAMPLES / "contacts.csv"))
    jane, kim, skipped, plumber = items
    assert isinstance(jane, ContactDraft)
    assert jane == ContactDraft(
        source_record_id=jane.source_record_id,
        display_name="Jane Doe",
        given_name="Jane",
        family_name="Doe",
        nickname="JD",
        organization="Acme Corp",
        title="Head of Research",
        birthday=date(1985, 4, 12),
        photo_url="https://lh3.googleusercontent.com/contacts/abc",
        identities=(
            ident("jane.doe@example.com", "email", "work"),  # " ::: " splits one cell into two values
            ident("jd@acme.example", "email", "work"),
            ident("JANE@home.example", "email", "home"),
            ident("+1 415-555-0100", "tel", "mobile"),
            ident("https://jane.example", "web", "profile"),
        ),
        circles=("Work", "Conference 2025"),  # myContacts and starred are Google's, not the owner's
        notes=("Met at PyCon.\nLikes tea.",),
        related=(RelatedDraft(value="John Doe", type="spouse", label="spouse", text=True),),
    )
    assert isinstance(kim, ContactDraft) and kim.birthday == date(YEAR_UNKNOWN, 7, 4)
    assert kim.identities == (ident("020 7946 0018", "tel"),)
    # Jane's note spans two physical lines, so the empty row starts on line 5.
    assert skipped == Skipped(file="contacts.csv", line=5, reason="no name, e-mail address or phone number")
    assert isinstance(plumber, ContactDraft) and plumber.display_name == "Plumbing Ltd"
    again = list(GoogleContactsBridge().parse_export(SAMPLES / "contacts.csv"))
    assert [getattr(i, "source_record_id", None) for i in again] == [
        getattr(i, "source_record_id", None) for i in items
    ]


def test_legacy_header() -> None:
    (marie,) = GoogleContactsBridge().parse_export(SAMPLES / "google_legacy.csv")
    assert isinstance(marie, ContactDraft)
    assert (marie.display_name, marie.given_name, marie.family_name) == ("Marie Curie", "Marie", "Curie")
    assert (marie.organization, marie.title, marie.birthday) == ("Sorbonne", "Professor", date(1867, 11, 7))
    assert marie.identities == (
        ident("marie@sorbonne.example", "email", "work"),
        ident("+33 1 23 45 67 89", "tel", "home"),
    )
    assert marie.circles == ("Scientists",)


def test_detect_tells_google_from_linkedin() -> None:
    assert GoogleContactsBridge.detect(SAMPLES / "contacts.csv")
    assert GoogleContactsBridge.detect(SAMPLES / "google_legacy.csv")
    assert not LinkedInBridge.detect(SAMPLES / "contacts.csv")
    linkedin = Path(__file__).parent / "samples" / "linkedin" / "Connections_bom.csv"
    assert not GoogleContactsBridge.detect(linkedin)


def test_birthdays() -> None:
    assert parse_google_birthday("--02-29") == date(YEAR_UNKNOWN, 2, 29)
    assert parse_google_birthday("1990-13-01") is None
    assert parse_google_birthday("") is None
