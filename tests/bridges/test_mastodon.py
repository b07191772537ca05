from __future__ import annotations

from pathlib import Path

import pytest

from bridges.base import BlockDraft, ContactDraft, ExportError, IdentityDraft, Skipped
from bridges.mastodon import MastodonBridge

SAMPLES = Path(__file__).parent / "samples" / "mastodon"


def acct(a: str) -> IdentityDraft:
    return IdentityDraft(address=a, kind="acct")


def test_export_folder_exact_drafts() -> None:
    assert list(MastodonBridge().parse_export(SAMPLES / "export")) == [
        Skipped(file="export/lists.csv", line=4, reason="expected: list title,user@domain"),
        ContactDraft(
            source_record_id="following:alice@example.social",
            identities=(acct("alice@example.social"),),
            circles=("Friends", "Work"),  # both lists, on the followed account itself
            follow="following",
        ),
        ContactDraft(
            source_record_id="following:bob@mastodon.example",
            identities=(acct("bob@mastodon.example"),),
            follow="following",
        ),
        Skipped(
            file="export/following_accounts.csv", line=4, reason="not an account address: 'not an account'"
        ),
        ContactDraft(
            source_record_id="following:carol@local.example",
            identities=(acct("carol@local.example"),),
            follow="following",
        ),
        # On a list but not followed: a contact with the circle and no follow edge.
        ContactDraft(
            source_record_id="list-member:dave@elsewhere.example",
            identities=(acct("dave@elsewhere.example"),),
            circles=("Work",),
        ),
        BlockDraft(identity=acct("spammer@bad.example"), source_record_id="block:spammer@bad.example"),
        BlockDraft(identity=acct("troll@worse.example"), source_record_id="block:troll@worse.example"),
        Skipped(file="export/blocked_accounts.csv", line=4, reason="not an account address: 'broken'"),
        BlockDraft(
            identity=acct("loud@noisy.example"), source_record_id="mute:loud@noisy.example", action="mute"
        ),
    ]


def test_fedifinder_two_column_form_by_header() -> None:
    items = list(MastodonBridge().parse_export(SAMPLES / "fedifinder.csv"))
    assert [i.identities for i in items if isinstance(i, ContactDraft)] == [
        (acct("erin@fedi.example"),),
        (acct("frank@fedi.example"),),
    ]


def test_renamed_headerless_file_is_not_guessed(tmp_path: Path) -> None:
    f = tmp_path / "accounts.csv"
    f.write_text("someone@example.social\n")
    assert not MastodonBridge.detect(f)
    with pytest.raises(ExportError, match="keep Mastodon's file name"):
        list(MastodonBridge().parse_export(f))
