from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridges._jsarray import MalformedElement, iter_js_array
from bridges.base import ContactDraft, ExportError, IdentityDraft, InteractionDraft, OwnerDraft, Skipped
from bridges.x import XBridge, x_id_from_link

ARCHIVE = Path(__file__).parent / "samples" / "x" / "archive"


def x(i: str, label: str | None = None) -> IdentityDraft:
    return IdentityDraft(address=i, kind="x", label=label)


def follow(kind: str, i: str) -> ContactDraft:
    return ContactDraft(source_record_id=f"{kind}:{i}", identities=(x(i),), follow=kind)  # type: ignore[arg-type]


def dm(mid: str, when: datetime, by: str, people: tuple[str, ...], text: str) -> InteractionDraft:
    return InteractionDraft(
        source_record_id=f"dm:{mid}",
        occurred_at=when,
        channel="message",
        initiated_by=by,  # type: ignore[arg-type]
        participants=tuple(x(p) for p in people),
        summary=text,
    )


EXPECTED = [
    follow("following", "2001"),
    follow("following", "2002"),
    follow("following", "2003"),  # no accountId: the id comes from the twitter.com userLink
    Skipped(file="archive/data/following.js", line=19, reason="no numeric accountId"),  # link on another host
    follow("following", "2005"),  # from following-part1.js, after the unnumbered file
    follow("follower", "2001"),
    follow("follower", "3001"),
    follow("follower", "3002"),
    Skipped(
        file="archive/data/follower.js",
        line=14,
        reason="malformed JSON: Invalid control character at; the rest of this file was not read",
    ),
    dm(
        "1500000000000000001",
        datetime(2023, 4, 1, 18, 30, tzinfo=UTC),
        "owner",
        ("2001",),
        "Hey, are you at the meetup tonight?",
    ),
    dm(
        "1500000000000000002",
        datetime(2023, 4, 1, 18, 35, 10, tzinfo=UTC),
        "them",
        ("2001",),
        "Yes! Near the stage https://t.co/x",
    ),
    dm(
        "1500000000000000003",
        datetime(2024, 1, 2, 8, 0, tzinfo=UTC),
        "them",
        ("3001",),
        "Thanks for the follow",
    ),
    Skipped(
        file="archive/data/direct-messages.js", line=35, reason="a message without senderId, id or createdAt"
    ),
    # Group messages: no recipientId; everyone seen in the conversation but the owner takes part.
    dm(
        "1600000000000000010",
        datetime(2023, 5, 1, 9, 3, tzinfo=UTC),
        "them",
        ("2001", "2002", "2005"),
        "Welcome all",
    ),
    dm(
        "1600000000000000011",
        datetime(2023, 5, 1, 9, 4, tzinfo=UTC),
        "owner",
        ("2001", "2002", "2005"),
        "Glad to be here",
    ),
]


def test_archive_folder_exact_drafts() -> None:
    assert list(XBridge().parse_export(ARCHIVE)) == EXPECTED


def test_owner_from_account_and_profile() -> None:
    assert XBridge().owner(ARCHIVE) == OwnerDraft(
        display_name="Sam Owner",
        identities=(x("1000", "samowner"), IdentityDraft(address="https://t.co/abc123", kind="web")),
    )


def test_zip_archive_same_drafts(tmp_path: Path) -> None:
    archive = tmp_path / "twitter-2024-01-01-abc.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted((ARCHIVE / "data").iterdir()):
            zf.write(f, f"data/{f.name}")
        zf.writestr("Your archive.html", "<html></html>")
    items = list(XBridge().parse_export(archive))
    renamed = [
        Skipped(file=i.file.replace("archive/", archive.name + "/"), line=i.line, reason=i.reason)
        if isinstance(i, Skipped)
        else i
        for i in EXPECTED
    ]
    assert items == renamed
    assert XBridge.detect(archive)


def test_owner_from_conversation_ids_without_account_js(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    shutil.copytree(ARCHIVE, folder)
    (folder / "data" / "account.js").unlink()
    assert XBridge().owner(folder) is None
    dms = [i for i in XBridge().parse_export(folder) if isinstance(i, InteractionDraft)]
    # 1000 is in both one-to-one conversation ids, so it is the owner.
    assert [d.initiated_by for d in dms] == ["owner", "them", "them", "them", "owner"]


def test_x_id_from_link() -> None:
    assert x_id_from_link("https://twitter.com/intent/user?user_id=12") == "12"
    assert x_id_from_link("https://mobile.x.com/intent/user?user_id=12") == "12"
    assert x_id_from_link("https://x.com.evil.example/intent/user?user_id=12") is None
    assert x_id_from_link("javascript:alert(1)") is None
    assert x_id_from_link("https://x.com/intent/user?user_id=abc") is None


def test_js_array_streams_across_chunks_with_lines() -> None:
    entries = [{"following": {"accountId": str(i), "pad": "y" * (i % 300)}} for i in range(5000)]
    body = "window.YTD.following.part0 = [\n" + ",\n".join(json.dumps(e) for e in entries) + "\n]"
    got = list(iter_js_array(io.StringIO(body), "following.js"))
    assert [obj for _line, obj in got] == entries
    assert [line for line, _obj in got][:3] == [2, 3, 4]
    assert got[-1][0] == 5001


def test_js_array_big_element_and_limits() -> None:
    big = {"dmConversation": {"messages": [{"messageCreate": {"text": "z" * 300_000}}]}}
    body = "window.YTD.direct_messages.part0 = [ " + json.dumps(big) + " ]"
    assert [o for _l, o in iter_js_array(io.StringIO(body), "dm.js")] == [big]
    with pytest.raises(MalformedElement, match="larger than"):
        list(iter_js_array(io.StringIO(body), "dm.js", max_element=100_000))
    with pytest.raises(ExportError, match="no JSON array"):
        list(iter_js_array(io.StringIO("hello " * 2000), "x.js"))
    with pytest.raises(MalformedElement, match="not closed"):
        list(iter_js_array(io.StringIO("window.YTD.a.part0 = [ {}, "), "x.js"))


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    assert not XBridge.detect(tmp_path)
    with pytest.raises(ExportError, match=r"following\.js"):
        list(XBridge().parse_export(tmp_path))
