from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bridges._files import Limits, Source, bounded_lines, csv_records, neutralize_formula
from bridges.base import ExportError, Skipped


def test_zip_bomb_refused_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("Connections.csv", "w") as member:
        zero = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of zeros deflate to about 64 KiB
            member.write(zero)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ExportError, match="ZIP bomb"):
        Source(bomb)


def test_zip_member_count_and_total_size_limits(tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(11):
            zf.writestr(f"f{i}.csv", "a,b\n")
    with pytest.raises(ExportError, match="over the limit of 10"):
        Source(many, Limits(max_zip_members=10))
    with pytest.raises(ExportError, match="would unpack to more than 40 bytes"):
        Source(many, Limits(max_zip_total_bytes=40))


@pytest.mark.parametrize("evil", ["../../etc/passwd", "/etc/passwd", "C:/Windows/x.csv", "a/../../b.csv"])
def test_path_traversal_zip_refused(tmp_path: Path, evil: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Connections.csv", "First Name,Last Name,Connected On\n")
        zf.writestr(zipfile.ZipInfo(evil), "x")
    with pytest.raises(ExportError, match="points outside the archive"):
        Source(archive)


def test_member_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" * 1000)
    with (
        Source(big, Limits(max_file_bytes=100)) as src,
        pytest.raises(ExportError, match="more than the 100"),
    ):
        src.open_binary("big.csv")


def test_encodings_bom_cp1252_latin1(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_bytes(b"\xef\xbb\xbfname\nJos\xc3\xa9\n")
    with Source(f) as src:
        assert src.text("t.csv") == ("name\nJosé\n", None)
    f.write_bytes(b"name\n" + b"x\n" * 40_000 + b"Caf\xe9 \x80\n")  # the odd byte long after the first chunk
    with Source(f) as src:
        text, warning = src.text("t.csv")
        assert text.endswith("Café €\n")
        assert warning is not None and warning.severity == "warning" and "cp1252" in warning.reason
    f.write_bytes(b"\x81\x8d\xe9")  # undefined in cp1252: falls back to Latin-1, which decodes anything
    with Source(f) as src:
        assert src.text("t.csv")[0] == "\x81\x8dé"


def test_huge_field_skipped_with_line_and_rest_kept(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,ok\n2," + "x" * 200_000 + "\n3,fine\n")
    with Source(f) as src:
        rows = list(csv_records(src, "t.csv"))
    assert rows[:2] == [(1, ["a", "b"]), (2, ["1", "ok"])]
    assert (
        isinstance(rows[2], Skipped)
        and rows[2].line == 3
        and "field larger than field limit" in rows[2].reason
    )
    assert rows[3] == (4, ["3", "fine"])


def test_too_many_broken_rows_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text(("x" * 140_000 + "\n") * 4)
    with Source(f, Limits(max_csv_errors=3)) as src, pytest.raises(ExportError, match="is this a CSV"):
        list(csv_records(src, "t.csv"))


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Jane", "Jane"),
        ("", ""),
    ],
)
def test_neutralize_formula(cell: str, safe: str) -> None:
    assert neutralize_formula(cell) == safe


def test_folder_ignores_links_outside(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    export = tmp_path / "export"
    (export / "data").mkdir(parents=True)
    (export / "data" / "following.js").write_text("window.YTD.following.part0 = []")
    (export / "data" / "link.js").symlink_to(outside)
    with Source(export) as src:
        assert src.names() == ["data/following.js"]
        assert src.find("FOLLOWING.JS") == ["data/following.js"]
        assert src.display("data/following.js") == "export/data/following.js"


def test_a_file_without_line_breaks_never_becomes_one_string(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("a,b\n" + "x" * (3 << 20) + "\n3,fine\n")
    with Source(f) as src:
        rows = list(csv_records(src, "t.csv"))
    assert rows[0] == (1, ["a", "b"])
    assert isinstance(rows[1], Skipped) and rows[1].line == 2
    assert rows[-1] == (3, ["3", "fine"])
    with f.open(newline="") as fh:
        lines = list(bounded_lines(fh, 1000))
    assert [len(line) for line in lines] == [4, 1002, 7]
