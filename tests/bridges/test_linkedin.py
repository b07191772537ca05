from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bridges.base import ContactDraft, ExportError, IdentityDraft, InteractionDraft, OwnerDraft, Skipped
from bridges.linkedin import LinkedInBridge

SAMPLES = Path(__file__).parent / "samples" / "linkedin"
JANE = "https://www.linkedin.com/in/jane-doe-4a1b2c"
RAFA = "https://www.linkedin.com/in/rafanunez"
OWNER = "https://www.linkedin.com/in/sam-owner"


def li(url: str, label: str | None = None) -> IdentityDraft:
    return IdentityDraft(address=url, kind="linkedin", label=label)


def parse(path: Path, **options: str) -> list[object]:
    return list(LinkedInBridge(options=dict(options)).parse_export(path))


def test_connections_with_preamble_hidden_row_formula_and_bad_date() -> None:
    items = [i for i in parse(SAMPLES / "export") if isinstance(i, ContactDraft | Skipped)]
    contacts = [
        i for i in items if isinstance(i, ContactDraft) and i.source_record_id.startswith("connection:")
    ]
    assert contacts[0] == ContactDraft(
        source_record_id=f"connection:{JANE}",
        display_name="Jane Doe",
        given_name="Jane",
        family_name="Doe",
        organization="Acme Corp",
        title="Head of Research, EMEA",
        identities=(li(JANE), IdentityDraft(address="jane.doe@example.com", kind="email")),
        met_on=date(2026, 2, 8),
        relationship="contact",
    )
    assert [c.display_name for c in contacts] == ["Jane Doe", "Rafael Nuñez", "Amir Haddad", "Li Wei"]
    # A formula in a cell is data on import; it is neutralised only when we write CSV (see test_files).
    assert contacts[2].organization == '=HYPERLINK("http://evil.example")'
    assert contacts[3].met_on is None  # "not a date" keeps the person, loses the date
    hidden = [i for i in items if isinstance(i, Skipped) and "Connections" in i.file]
    assert hidden == [
        Skipped(
            file="export/Connections.csv",
            line=7,
            reason="hidden profile: LinkedIn left the name and URL blank",
        )
    ]


def test_messages_participants_initiators_and_reports() -> None:
    items = parse(SAMPLES / "export")
    messages = [
        i for i in items if isinstance(i, InteractionDraft) and i.source_record_id.startswith("message:")
    ]
    assert [(m.occurred_at, m.initiated_by, m.participants, m.summary) for m in messages] == [
        (datetime(2025, 6, 1, 14, 3, 22, tzinfo=UTC), "owner", (li(JANE, "Jane Doe"),), "Coffee?"),
        (
            datetime(2025, 6, 2, 9, 0, tzinfo=UTC),
            "them",
            (li(JANE, "Jane Doe"),),
            "Sure! Tuesday works. See you then",
        ),
        # Rafael has no URL in messages.csv: matched by his full name to his connection row.
        (datetime(2025, 7, 10, 8, 15, tzinfo=UTC), "them", (li(RAFA),), "Thanks for the intro"),
    ]
    assert all(m.channel == "message" for m in messages)
    skipped = [i for i in items if isinstance(i, Skipped) and i.file.endswith("messages.csv")]
    assert skipped == [
        Skipped(
            file="export/messages.csv",
            line=6,
            reason="'Recruiter Bot' has no profile URL and matches no connection in this export",
        ),
        Skipped(file="export/messages.csv", line=7, reason="a draft, never sent"),
        Skipped(file="export/messages.csv", line=8, reason="unreadable DATE 'yesterday'"),
    ]
    # The second message's content spans two physical lines: line numbers still point at row starts.


def test_invitations_interactions_and_met_date() -> None:
    items = parse(SAMPLES / "export", timezone="Europe/Berlin")
    invites = [
        i for i in items if isinstance(i, InteractionDraft) and i.source_record_id.startswith("invitation:")
    ]
    assert [(i.occurred_at, i.initiated_by, i.participants, i.summary) for i in invites] == [
        (
            datetime(2026, 1, 29, 13, 37, tzinfo=UTC),  # 2:37 PM in Berlin
            "owner",
            (li(JANE, "Jane Doe"),),
            "connection invitation: Great meeting you at the conference",
        ),
        (
            datetime(2026, 2, 3, 8, 5, tzinfo=UTC),
            "them",
            (li("https://www.linkedin.com/in/stranger", "Stranger Danger"),),
            "connection invitation",
        ),
    ]
    met = [i for i in items if isinstance(i, ContactDraft) and i.source_record_id.startswith("met:")]
    # Only Jane is a connection; the stranger's invitation gives no "met" date.
    assert [(m.identities, m.met_on) for m in met] == [((li(JANE, "Jane Doe"),), date(2026, 1, 29))]


def test_owner_inferred_from_sent_folder() -> None:
    assert LinkedInBridge().owner(SAMPLES / "export") == OwnerDraft(
        display_name="Sam Owner", identities=(li(OWNER, "Sam Owner"),)
    )


def test_owner_never_a_participant_and_unknown_when_export_cannot_tell() -> None:
    items = parse(SAMPLES / "messages_old.csv")
    # One conversation, no SENT folder: the owner cannot be told from Ann, so nobody is assumed.
    assert items == [
        Skipped(
            file="messages_old.csv",
            line=2,
            reason="left out: 'Sam Owner' has no profile URL and matches no connection in this export",
            severity="warning",
        ),
        InteractionDraft(
            source_record_id=items[1].source_record_id,  # type: ignore[attr-defined]
            occurred_at=datetime(2020, 1, 1, 10, 0, tzinfo=UTC),
            channel="message",
            initiated_by="unknown",
            participants=(li("https://www.linkedin.com/in/ann-example", "Ann Example"),),
            summary="hello",
        ),
    ]


def test_old_columns_without_url_in_cp1252() -> None:
    items = parse(SAMPLES / "Connections_old_cp1252.csv")
    assert items[0] == Skipped(
        file="Connections_old_cp1252.csv",
        line=None,
        reason="not UTF-8; read as cp1252. Check accented names came out right.",
        severity="warning",
    )
    jose, zoe = items[1], items[2]
    assert isinstance(jose, ContactDraft) and isinstance(zoe, ContactDraft)
    assert (jose.display_name, jose.organization, jose.identities) == (
        "José Müller",
        "Café Société",
        (IdentityDraft(address="jose@example.org", kind="email"),),
    )
    assert (zoe.display_name, zoe.identities, zoe.met_on) == ("Zoë Ång", (), date(2015, 2, 1))
    # No URL: the record id is a hash of the row, the same on every import.
    assert parse(SAMPLES / "Connections_old_cp1252.csv")[2] == zoe


def test_bom_header_found() -> None:
    (ada,) = parse(SAMPLES / "Connections_bom.csv")
    assert isinstance(ada, ContactDraft)
    assert ada.identities == (li("https://www.linkedin.com/in/ada"),)
    assert ada.met_on == date(2020, 12, 10)


def test_zip_with_all_three_matches_folder(tmp_path: Path) -> None:
    archive = tmp_path / "Basic_LinkedInDataExport_01-01-2026.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in (SAMPLES / "export").iterdir():
            zf.write(f, f.name)
    from_zip = parse(archive)
    from_folder = parse(SAMPLES / "export")
    strip = [(type(i), getattr(i, "source_record_id", None)) for i in from_folder]
    assert [(type(i), getattr(i, "source_record_id", None)) for i in from_zip] == strip
    assert LinkedInBridge.detect(archive)


def test_detect_and_wrong_file(tmp_path: Path) -> None:
    assert LinkedInBridge.detect(SAMPLES / "export")
    assert LinkedInBridge.detect(SAMPLES / "Connections_old_cp1252.csv")
    other = tmp_path / "thing.csv"
    other.write_text("a,b\n1,2\n")
    assert not LinkedInBridge.detect(other)
    with pytest.raises(ExportError, match="no LinkedIn"):
        list(LinkedInBridge().parse_export(other))
    with pytest.raises(ExportError, match="time zone"):
        parse(SAMPLES / "export", timezone="Mars/Olympus")
