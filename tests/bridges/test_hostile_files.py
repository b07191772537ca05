"""Hostile export files, written by the tests and imported through `kith import` as a user would: none may
take time or memory out of proportion to its size, and every one must end in a clear error (or a clean
import), never a traceback (issue 12 §3, §4)."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bridges._files import Limits, Source
from bridges.base import ExportError
from bridges.google import GoogleContactsBridge
from bridges.mastodon import MastodonBridge
from bridges.vcard import VCardBridge, write_vcards
from node.app import build_app
from tests.bridges.cli import Kith, kith
from tests.bridges.helpers import plc
from tests.conftest import new_server_account

__all__ = ["kith"]  # a fixture, imported by name

CONNECTIONS = (
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
    "Ada,Lovelace,https://www.linkedin.com/in/ada,,Engines,Analyst,01 Feb 2024\r\n"
    "Bo,Beta,https://www.linkedin.com/in/bo,,Engines,Engineer,02 Feb 2024\r\n"
)


# -- parsing linear in the input ------------------------------------------------------------------------------


@pytest.mark.timeout(30)  # the join was quadratic: this file took tens of minutes
def test_a_huge_vcard_line_followed_by_many_folded_lines_imports(kith: Kith, tmp_path: Path) -> None:
    card = tmp_path / "big.vcf"
    with card.open("w", encoding="utf-8", newline="") as fh:
        fh.write("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Folded Fran\r\nEMAIL:fran@example.com\r\n")
        fh.write("NOTE:" + "n" * (4 << 20) + "\r\n")  # one 4 MB line...
        fh.write(" more\r\n" * 50_000)  # ...continued by 50,000 folded ones
        fh.write("X-CUSTOM;ENCODING=QUOTED-PRINTABLE:" + "=41" * 200_000 + "=\r\n")  # a long QP soft break
        fh.write("=42" * 20_000 + "\r\nEND:VCARD\r\n")
    code, out, err = kith("import", "vcard", card)
    assert code == 0, err
    assert "people created              1" in out
    (fran,) = kith.people()
    assert fran["display_name"] == "Folded Fran"


@pytest.mark.timeout(30)
def test_long_values_are_written_and_read_back_in_linear_time(tmp_path: Path) -> None:
    """The writer folded by copying what was left after every 75 octets: quadratic in a value's length (this
    12 MB value took minutes)."""
    value = "é" * (6 << 20)  # two octets each: folds must not split one
    text = write_vcards([{"display_name": "Long", "notes": [value]}])
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    path = tmp_path / "long.vcf"
    path.write_text(text, encoding="utf-8")
    (draft,) = VCardBridge().parse_export(path)
    assert draft.notes == (value,)  # type: ignore[union-attr]


@pytest.mark.timeout(30)
def test_mastodon_lists_and_google_labels_are_not_quadratic(tmp_path: Path) -> None:
    """Titles and labels were deduplicated in lists: minutes for one account on 100,000 lists, or a Labels cell
    of 12,000 labels. (Parsed only: importing 100,000 distinct circles is the importer's own, linear, cost.)"""
    export = tmp_path / "mastodon"
    export.mkdir()
    (export / "lists.csv").write_text("".join(f"list {i},alice@example.social\n" for i in range(100_000)))
    (alice,) = MastodonBridge().parse_export(export)
    assert len(alice.circles) == 100_000  # type: ignore[union-attr]
    google = tmp_path / "contacts.csv"
    labels = " ::: ".join(f"L{i}" for i in range(12_000))  # under the 128 KiB a CSV field may hold
    google.write_text(
        "First Name,Last Name,Labels,E-mail 1 - Value\n"
        + "".join(f'Gus,G{i},"{labels}",gus{i}@example.com\n' for i in range(40)),
        encoding="utf-8",
    )
    drafts = list(GoogleContactsBridge().parse_export(google))
    assert len(drafts) == 40 and all(len(d.circles) == 12_000 for d in drafts)  # type: ignore[union-attr]


def test_an_x_array_element_is_decoded_again_only_as_its_buffer_doubles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A number at the end of the buffer may go on in the next chunk: decoding it again after every 64 KB
    chunk made a long one quadratic. Counted, not timed: decodes of a 4 MB element grow with log(size)."""
    import bridges._jsarray as jsarray

    calls = 0

    class Counting(json.JSONDecoder):
        def raw_decode(self, s: str, idx: int = 0) -> tuple[object, int]:
            nonlocal calls
            calls += 1
            return super().raw_decode(s, idx)

    monkeypatch.setattr(jsarray.json, "JSONDecoder", Counting)
    text = "window.YTD.following.part0 = [0." + "1" * (4 << 20) + "]"
    items = list(jsarray.iter_js_array(io.StringIO(text), "following.js"))
    assert len(items) == 1
    assert calls <= 12  # 64 KB doubled to 4 MB: 7 decodes; a decode per chunk was 65


# -- ZIP archives: the central directory, and headers that lie ---------------------------------------------------


def _directory_only_zip(path: Path, entries: int, *, honest_count: bool) -> None:
    """A ZIP of ``entries`` central-directory entries with one-letter names (no data: zipfile reads only the
    directory when it opens an archive), with an end record that states the count or says one."""
    entry = struct.pack(
        "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
    )
    directory = (entry + b"a") * entries
    out = bytearray(directory)
    if honest_count:  # the count needs the ZIP64 end record (the classic one holds 16 bits)
        end64_at = len(out)
        out += struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(directory), 0)
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, end64_at, 1)
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), 0, 0)
    path.write_bytes(bytes(out))


@pytest.mark.parametrize("honest_count", [True, False], ids=["counted", "count-lies"])
def test_a_zip_of_too_many_entries_is_refused_before_any_is_built(tmp_path: Path, honest_count: bool) -> None:
    many = tmp_path / "many.zip"
    _directory_only_zip(many, 40_000, honest_count=honest_count)
    assert zipfile.is_zipfile(many)
    tracemalloc.start()
    try:
        with pytest.raises(ExportError, match="entries, over the limit of 20000"):
            Source(many, Limits(max_zip_members=20_000))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # zipfile held the whole directory and an object per entry (about 10 MB here, 1.5 GB for three million)
    # before the count was seen; the directory is now walked a chunk at a time and left at the limit.
    assert peak < 3 << 20


def test_a_zip_directory_over_its_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w") as zf:
        for i in range(5):
            zf.writestr(zipfile.ZipInfo(f"{'n' * 1000}{i}.csv"), b"")
    with pytest.raises(ExportError, match=r"central directory of \d+ bytes, more than the 4000"):
        Source(big, Limits(max_central_directory_bytes=4000))


def test_the_cli_refuses_a_zip_of_too_many_entries(kith: Kith, tmp_path: Path) -> None:
    many = tmp_path / "Basic_LinkedInDataExport.zip"
    _directory_only_zip(many, 200_001, honest_count=False)
    code, _out, err = kith("import", "linkedin", many)
    assert code == 1
    assert "has more than 200000 entries, over the limit of 200000" in err
    code, _out, err = kith("import", many)  # unnamed: detection says the same, once
    assert code == 1 and "over the limit" in err


def _fields(data: bytearray, local_at: int, central_at: int, fmt: str, new: Callable[[int], int]) -> None:
    """Rewrite one field in the member's local header and its central directory entry alike."""
    for at in (local_at, central_at):
        (old,) = struct.unpack_from(fmt, data, at)
        struct.pack_into(fmt, data, at, new(old))


def _lie(data: bytearray, lie: str) -> None:
    central = data.index(b"PK\x01\x02")
    (local,) = struct.unpack_from("<L", data, central + 42)
    start = local + 30 + struct.unpack_from("<H", data, local + 26)[0]  # the member's data
    if lie == "crc":  # a stored member whose bytes were changed: the CRC no longer matches
        data[start : start + 3] = b"XYZ"
    elif lie == "size":  # the declared size is half the real one: the data is cut, and its CRC fails
        _fields(data, local + 22, central + 24, "<L", lambda n: n // 2)
    elif lie == "truncated":  # the compressed size is cut short: the stream ends before its end marker
        _fields(data, local + 18, central + 20, "<L", lambda n: n // 2)
    elif lie == "deflate":  # garbage where the deflate stream should be
        data[start : start + 8] = b"\xff" * 8
    elif lie == "method":  # a compression method no reader knows
        _fields(data, local + 8, central + 10, "<H", lambda _n: 99)
    elif lie == "encrypted":  # a password would be needed
        _fields(data, local + 6, central + 8, "<H", lambda n: n | 1)
    elif lie == "name":  # the local header names another file than the directory does
        data[local + 30] = ord("X")
    elif lie == "magic":  # the local header's signature is gone
        data[local : local + 4] = b"JUNK"


LIES = ("crc", "size", "truncated", "deflate", "method", "encrypted", "name", "magic")


@pytest.mark.parametrize("lie", LIES)
def test_a_zip_whose_headers_lie_is_a_clear_error(kith: Kith, tmp_path: Path, lie: str) -> None:
    stored = lie == "crc"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Connections.csv", CONNECTIONS * (1 if stored else 200))
    data = bytearray(buf.getvalue())
    _lie(data, lie)
    archive = tmp_path / "Basic_LinkedInDataExport.zip"
    archive.write_bytes(bytes(data))
    code, out, err = kith("import", "linkedin", archive)
    assert code == 1, out
    assert "Basic_LinkedInDataExport.zip" in err
    assert "download the export again" in err
    assert "Traceback" not in err
    assert kith.people() == []


# -- tracebacks: nesting, surrogates, charsets --------------------------------------------------------------------


def _x_archive(root: Path, following: str, dms: str | None = None) -> Path:
    data = root / "data"
    data.mkdir(parents=True)
    (data / "account.js").write_text(
        'window.YTD.account.part0 = [{"account": {"accountId": "9000", "username": "me"}}]'
    )
    (data / "following.js").write_text("window.YTD.following.part0 = " + following)
    if dms is not None:
        (data / "direct-messages.js").write_text("window.YTD.direct_messages.part0 = " + dms)
    return root


def test_deeply_nested_json_in_an_x_archive_is_reported_not_raised(kith: Kith, tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    only = _x_archive(tmp_path / "only", f"[{deep}]")
    code, _out, err = kith("import", "x", only)
    assert code == 1
    assert "found nothing to import" in err and "nested too deeply" in err
    good = '{"following": {"accountId": "101"}}'
    mixed = _x_archive(tmp_path / "mixed", f"[{good}, {deep}]")
    code, out, err = kith("import", mixed)
    assert code == 0, err
    assert "people created              1" in out
    assert "an element nested too deeply to read; the rest of this file was not read" in out


def test_an_integer_longer_than_python_converts_is_reported(kith: Kith, tmp_path: Path) -> None:
    archive = _x_archive(tmp_path / "x", '[{"following": {"accountId": "101"}}, ' + "9" * 10_000 + "]")
    code, out, err = kith("import", "x", archive)
    assert code == 0, err
    assert "an unreadable value" in out


def test_lone_surrogates_in_an_x_archive_are_replaced(kith: Kith, tmp_path: Path) -> None:
    # Half a UTF-16 pair, escaped: the first half of an emoji cut by a truncation, and a lone second half.
    dms = (
        r'[{"dmConversation": {"conversationId": "101-9000", "messages": [{"messageCreate": {"id": "77", '
        r'"senderId": "101", "recipientId": "9000", "createdAt": "2024-05-01T10:00:00.000Z", '
        r'"text": "cut emoji \ud83d and a low half \uDC00, a whole one \ud83d\ude00"}}]}}]'
    )
    archive = _x_archive(tmp_path / "x", '[{"following": {"accountId": "101"}}]', dms)
    code, out, err = kith("import", "x", archive)
    assert code == 0, err
    assert "interactions added          1" in out
    (person,) = kith.people()
    (talk,) = kith.json("interaction", "list", person["id"])["items"]
    assert talk["summary"] == "cut emoji \ufffd and a low half \ufffd, a whole one \U0001f600"


@pytest.mark.parametrize("charset", ["idna", "utf-7", "hex", "rot13", "punycode", "utf-16", "no-such-codec"])
def test_a_vcard_charset_of_any_name_imports(kith: Kith, tmp_path: Path, charset: str) -> None:
    card = tmp_path / "card.vcf"
    card.write_bytes(
        b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Quoted;Quinn\r\nEMAIL:quinn@example.com\r\n"
        b"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=" + charset.encode() + b":=FF=FE+2D3-=C3=A9\r\nEND:VCARD\r\n"
    )
    code, out, err = kith("import", "vcard", card)
    assert code == 0, err
    assert "people created              1" in out


def test_a_car_tree_node_spelling_ever_longer_keys_is_refused(kith: Kith, tmp_path: Path) -> None:
    """Keys are prefix-compressed: a node of entries each adding a byte to the last key spelled keys of
    thousands of bytes each, quadratic in the node's size."""
    from tests.bridges.carwriter import Repo, link

    repo = Repo(did=plc("owner"))
    record = repo.put_block({"$type": "app.bsky.graph.follow", "subject": plc("a")})
    entries = [{"p": i, "k": b"a", "v": link(record), "t": None} for i in range(20_000)]
    node = repo.put_block({"l": None, "e": entries})
    commit = repo.put_block({"did": repo.did, "version": 3, "data": link(node), "rev": "3l2", "prev": None})
    car = tmp_path / "repo.car"
    car.write_bytes(_car(commit, repo.blocks))
    code, _out, err = kith("import", "bluesky", car)
    assert code == 1
    assert "longer than 1024 bytes" in err


def _car(root: bytes, blocks: dict[bytes, bytes]) -> bytes:
    import cbor2

    from tests.bridges.carwriter import link, varint

    header = cbor2.dumps({"roots": [link(root)], "version": 1}, canonical=True)
    out = bytearray(varint(len(header)) + header)
    for cid, data in blocks.items():
        out += varint(len(cid) + len(data)) + cid + data
    return bytes(out)


def test_a_group_conversation_of_thousands_is_left_out(kith: Kith, tmp_path: Path) -> None:
    """Each message's participants were worked out again from every member: members x messages."""
    members = [str(1000 + i) for i in range(300)]
    events: list[dict[str, object]] = [{"participantsSnapshot": members}]
    events += [
        {"messageCreate": {"id": str(i), "senderId": members[i], "createdAt": "2024-05-01T10:00:00.000Z"}}
        for i in range(300)
    ]
    small = {
        "dmConversation": {
            "conversationId": "g2",
            "messages": [
                {"messageCreate": {"id": "m1", "senderId": "101", "createdAt": "2024-05-01T10:00:00.000Z"}},
                {"messageCreate": {"id": "m2", "senderId": "102", "createdAt": "2024-05-01T11:00:00.000Z"}},
            ],
        }
    }
    archive = _x_archive(tmp_path / "x", "[]")
    groups = [{"dmConversation": {"conversationId": "g1", "messages": events}}, small]
    (archive / "data" / "direct-messages-group.js").write_text(
        "window.YTD.direct_messages_group.part0 = " + json.dumps(groups)
    )
    doc = kith.json("import", "x", archive)
    assert doc["interactions_added"] == 2 and doc["people_created"] == 2
    assert any("a group conversation of 300 members (more than 256); left out" in s["reason"]
               for s in doc["skipped"])  # fmt: skip


# -- encodings, and files that hold nothing -------------------------------------------------------------------


VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Ünal\r\nEMAIL:zoe@example.com\r\nEND:VCARD\r\n"
GOOGLE = "First Name,Last Name,E-mail 1 - Value,Labels\r\nZoë,Ünal,zoe@example.com,Friends\r\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
@pytest.mark.parametrize(
    ("source", "name", "text"),
    [("vcard", "c.vcf", VCARD), ("google", "c.csv", GOOGLE)],
    ids=["vcard", "google"],
)
def test_files_with_a_byte_order_mark_are_read_in_its_encoding(
    kith: Kith, tmp_path: Path, encoding: str, source: str, name: str, text: str
) -> None:
    path = tmp_path / name
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    path.write_bytes(bom + text.encode(encoding))
    code, out, err = kith("import", source, path)
    assert code == 0, err
    assert "people created              1" in out
    (zoe,) = kith.people()
    assert zoe["display_name"] == "Zoë Ünal"
    code, out, err = kith("import", path)  # and told apart without its source named
    assert code == 0 and f"({source})" in out, err


def test_a_utf8_mark_on_a_cp1252_file_is_not_read_as_text(kith: Kith, tmp_path: Path) -> None:
    """Excel writes the mark, then a cp1252 byte slips in: the header must still be found (it was not)."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"\xef\xbb\xbfFirst Name,Last Name,E-mail 1 - Value\r\nZo\xeb,Unal,zoe@example.com\r\n")
    doc = kith.json("import", "google", path)
    assert doc["people_created"] == 1 and doc["warnings_count"] == 1  # "not UTF-8; read as cp1252"
    (zoe,) = kith.people()
    assert zoe["display_name"] == "Zoë Unal"


def test_a_linkedin_csv_saved_as_utf16_imports(kith: Kith, tmp_path: Path) -> None:
    path = tmp_path / "Connections.csv"
    path.write_bytes(CONNECTIONS.encode("utf-16"))
    doc = kith.json("import", "linkedin", path)
    assert doc["people_created"] == 2


@pytest.mark.parametrize(
    ("source", "name", "text"),
    [("vcard", "c.vcf", VCARD), ("google", "c.csv", GOOGLE)],
    ids=["vcard", "google"],
)
def test_utf16_without_its_mark_is_an_error_that_says_so(
    kith: Kith, tmp_path: Path, source: str, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-16-le"))  # no byte-order mark: a NUL after every ASCII letter
    code, _out, err = kith("import", source, path)
    assert code == 1
    assert "contains NUL bytes" in err and "Save it again as UTF-8" in err
    assert kith.people() == []


NOTHING = {
    "vcard": ("notes.vcf", "just some notes, no cards\n"),
    "google": ("contacts.csv", "First Name,Last Name,E-mail 1 - Value\n"),  # a header and no one
    "linkedin": ("Connections.csv", "First Name,Last Name,URL,Connected On\n,,,01 Feb 2024\n"),
    "mastodon": ("following_accounts.csv", "Account address,Show boosts\nnot an address,true\n"),
    "facebook": ("your_friends.json", '{"friends_v2": []}'),
    "x": ("following.js", "window.YTD.following.part0 = []"),
}


@pytest.mark.parametrize("source", sorted(NOTHING))
def test_a_named_source_that_finds_no_one_says_so(kith: Kith, tmp_path: Path, source: str) -> None:
    name, content = NOTHING[source]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, out, err = kith("import", source, path)
    assert code == 1, out
    assert "found nothing to import" in err and "(nothing was imported)" in err
    assert kith.people() == []


def test_a_plain_zip_member_stream_is_unchanged(tmp_path: Path) -> None:
    """The guarded reader hands back the member's bytes exactly (the CSV and JSON readers sit on it)."""
    payload = bytes(range(256)) * 2000 + zlib.compress(b"x" * 1000)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/blob.bin", payload)
    with Source(archive) as src:
        assert src.read_bytes("data/blob.bin") == payload
        with src.open_binary("data/blob.bin") as fh:
            assert fh.read(10) == payload[:10] and fh.read() == payload[10:]


# -- the same files uploaded through the owner API -------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    ctx = await new_server_account(tmp_path / "api-node", token="kith_test_token")
    async with TestClient(TestServer(build_app(ctx.server, extensions=[]), host="127.0.0.1", port=0)) as cli:
        yield cli
    await ctx.close()


async def _upload(cli: TestClient[Any, Any], name: str, data: bytes, source: str) -> dict[str, Any]:
    headers = {"Authorization": "Bearer kith_test_token"}
    form = aiohttp.FormData()
    form.add_field("source", source)
    form.add_field("file", data, filename=name)
    resp = await cli.post("/api/imports", data=form, headers=headers)
    assert resp.status == 202, await resp.text()
    run_id = (await resp.json())["id"]
    for _ in range(500):
        doc: dict[str, Any] = await (await cli.get(f"/api/imports/{run_id}", headers=headers)).json()
        if doc["status"] != "running":
            return doc
        await asyncio.sleep(0.02)
    raise AssertionError("the import did not finish")


async def test_uploads_fail_with_the_bridges_own_message(api: TestClient[Any, Any]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Connections.csv", CONNECTIONS * 200)
    data = bytearray(buf.getvalue())
    _lie(data, "truncated")
    doc = await _upload(api, "export.zip", bytes(data), "linkedin")
    assert doc["status"] == "failed"
    assert "is damaged and cannot be read" in doc["error"] and "download the export again" in doc["error"]
    doc = await _upload(api, "card.vcf", VCARD.encode("utf-16"), "vcard")
    assert doc["status"] == "done" and doc["summary"]["people_created"] == 1
    doc = await _upload(api, "card.vcf", b"no cards in here\n", "vcard")
    assert doc["status"] == "failed" and "found nothing to import in card.vcf" in doc["error"]


def test_what_the_file_names_reaches_the_terminal_without_escape_sequences(
    kith: Kith, tmp_path: Path
) -> None:
    """Member names, record ids and keys are the file's to choose, and errors and skipped rows quote them."""
    escape = "\x1b]0;owned\x07\x1b[2J"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{escape}/Connections.csv", CONNECTIONS)
    data = bytearray(buf.getvalue())
    _lie(data, "crc")
    archive = tmp_path / "export.zip"
    archive.write_bytes(bytes(data))
    code, out, err = kith("import", "linkedin", archive)
    assert code == 1 and "is damaged" in err
    assert "\x1b" not in err and "\x07" not in err
    message = {"messageCreate": {"id": f"{escape}1", "senderId": "9000", "createdAt": "2024-05-01T10:00:00Z"}}
    dms = json.dumps([{"dmConversation": {"conversationId": "9000-9000", "messages": [message]}}])
    archive = _x_archive(tmp_path / "x", '[{"following": {"accountId": "101"}}]', dms)
    code, out, err = kith("import", "x", archive)
    assert code == 0, err
    assert "no one but the owner" in out and "\x1b" not in out and "\x07" not in out


def test_a_car_missing_a_tree_block_says_so(kith: Kith, tmp_path: Path) -> None:
    from tests.bridges.carwriter import Repo

    repo = Repo(did=plc("owner"))
    for i in range(40):
        repo.put_record(f"app.bsky.graph.follow/3k{i:04d}", {"$type": "app.bsky.graph.follow",
                                                            "subject": plc(str(i))})  # fmt: skip
    whole = repo.car()
    records = set(repo.records.values())
    commit_and_root = 2  # the commit and the tree's root are needed to start at all
    inner = [cid for cid in list(repo.blocks)[:-commit_and_root] if cid not in records]
    assert inner, "the tree has inner nodes"
    car = tmp_path / "repo.car"
    car.write_bytes(repo.car(drop={inner[0]}))
    assert len(car.read_bytes()) < len(whole)
    code, _out, err = kith("import", "bluesky", car)
    assert code == 1
    assert "a block of the repository tree is missing from the CAR file" in err and "KeyError" not in err


def test_pipes_devices_and_dangling_links_are_no_export_files(kith: Kith, tmp_path: Path) -> None:
    """Reading a pipe waits for a writer, a device never ends, a dangling link cannot be opened."""
    import os

    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Connections.csv").write_text(CONNECTIONS, encoding="utf-8")
    os.mkfifo(folder / "messages.csv")
    (folder / "Invitations.csv").symlink_to(tmp_path / "gone.csv")
    doc = kith.json("import", "linkedin", folder)
    assert doc["people_created"] == 2
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    for source in ("linkedin", "google", "vcard"):
        code, _out, err = kith("import", source, pipe)
        assert code == 1 and "is not a regular file" in err
    code, _out, err = kith("import", pipe)  # detection too
    assert code == 1 and "is not a regular file" in err
    code, _out, err = kith("import", "vcard", "/dev/zero")
    assert code == 1 and "is not a regular file" in err
