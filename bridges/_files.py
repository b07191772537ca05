"""Safe reading of export files: a path may be a file, a folder or a ZIP, and all of it is hostile.

Rules kept here so that no silo module has to remember them:
- ZIP archives are checked before anything is read: member count, total declared size, and the compression
  ratio of every large member (a ZIP bomb declares a ratio no real export has). Members whose names climb out
  of the archive (``..``, absolute paths, drive letters) make the whole archive refused: nothing legitimate
  needs them.
- Every member or file read is capped; ``zipfile`` never returns more than the declared size, so the declared
  size checked up front bounds what is actually inflated.
- Text is decoded in a first streaming pass that only checks validity (UTF-8, else cp1252, else Latin-1), then
  read for real in that encoding: a 50 MB export is never held as one string, and a cp1252 byte on the last
  line cannot turn into a decode error after half the rows were yielded. A BOM is stripped.
- CSV fields stay under the ``csv`` module's default field limit (128 KiB); an over-long field becomes a
  skipped row, a whole file of them an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from bridges.base import ExportError, Skipped

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_LINE",
    "Limits",
    "Source",
    "bounded_lines",
    "csv_records",
    "neutralize_formula",
]

_CHUNK = 1 << 16


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    max_file_bytes: int = 512 << 20  # one export file we read (an X archive's biggest .js is tweets.js)
    max_zip_members: int = 200_000  # X archives carry one member per media file
    max_zip_total_bytes: int = 64 << 30  # media included; ratio checks catch bombs long before this
    max_ratio: int = 200  # real CSV/JSON compresses 5-30x; zeros compress ~1000x
    ratio_floor_bytes: int = 1 << 20  # tiny members may have silly ratios (a file of spaces) and cost nothing
    max_csv_errors: int = 100  # that many broken rows means it is not the CSV it claims to be


DEFAULT_LIMITS = Limits()

_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: str) -> str:
    """A cell a spreadsheet would run as a formula, made inert by a leading apostrophe (OWASP)."""
    return "'" + value if value.startswith(_FORMULA_LEAD) else value


def _safe_member_name(name: str) -> bool:
    if not name or "\x00" in name:
        return False
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return False
    return ".." not in PurePosixPath(posix).parts


class Source:
    """One export: a single file, a folder, or a ZIP, with members named by their POSIX relative path."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, int] = {}  # name -> declared size
        if not path.exists():
            raise ExportError(f"{path} does not exist")
        if path.is_dir():
            self._scan_folder()
        elif zipfile.is_zipfile(path):
            self._open_zip()
        else:
            self._members[path.name] = path.stat().st_size

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    @property
    def is_single_file(self) -> bool:
        return self._zip is None and not self.path.is_dir()

    def _scan_folder(self) -> None:
        root = self.path.resolve()
        for dirpath, _dirs, files in os.walk(root):  # os.walk does not follow symlinked folders
            for fname in files:
                full = Path(dirpath) / fname
                if full.is_symlink() and not full.resolve().is_relative_to(root):
                    continue  # a link pointing outside the export is not part of it
                rel = full.relative_to(root).as_posix()
                self._members[rel] = full.stat().st_size
                if len(self._members) > self.limits.max_zip_members:
                    raise ExportError(f"{self.path} holds more than {self.limits.max_zip_members} files")

    def _open_zip(self) -> None:
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ExportError(f"{self.path} is not a readable ZIP file: {exc}") from exc
        infos = zf.infolist()
        lim = self.limits
        try:
            if len(infos) > lim.max_zip_members:
                raise ExportError(
                    f"{self.path.name} has {len(infos)} entries, over the limit of {lim.max_zip_members}"
                )
            total = 0
            for info in infos:
                if not _safe_member_name(info.filename):
                    raise ExportError(
                        f"{self.path.name} contains an entry named {info.filename!r} that points outside "
                        "the archive; refusing the whole file. Unpack it yourself and import the folder."
                    )
                if info.is_dir():
                    continue
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size > lim.ratio_floor_bytes and ratio > lim.max_ratio:
                    raise ExportError(
                        f"{self.path.name}: entry {info.filename!r} inflates {ratio:.0f}x "
                        f"(limit {lim.max_ratio}x); this looks like a ZIP bomb, not an export"
                    )
                self._members[info.filename.replace("\\", "/")] = info.file_size
            if total > lim.max_zip_total_bytes:
                raise ExportError(
                    f"{self.path.name} would unpack to {total} bytes, more than {lim.max_zip_total_bytes}"
                )
        except ExportError:
            zf.close()
            raise
        self._zip = zf

    # -- naming ---------------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._members)

    def find(self, *basenames: str) -> list[str]:
        """Members whose file name (any folder) equals one of ``basenames``, case-insensitively."""
        wanted = {b.lower() for b in basenames}
        return [n for n in self.names() if PurePosixPath(n).name.lower() in wanted]

    def display(self, name: str) -> str:
        """The name to show in reports: the member path, prefixed by the archive when there is one."""
        if self.is_single_file:
            return name
        return f"{self.path.name}/{name}"

    # -- reading --------------------------------------------------------------------------------------------

    def _check_size(self, name: str) -> None:
        size = self._members.get(name)
        if size is None:
            raise ExportError(f"{name} is not in {self.path}")
        if size > self.limits.max_file_bytes:
            raise ExportError(
                f"{self.display(name)} is {size} bytes, more than the {self.limits.max_file_bytes} we read"
            )

    def open_binary(self, name: str) -> IO[bytes]:
        self._check_size(name)
        if self._zip is not None:
            return self._zip.open(name)
        if self.is_single_file:
            return self.path.open("rb")
        return (self.path / name).open("rb")

    def read_bytes(self, name: str) -> bytes:
        with self.open_binary(name) as fh:
            data = fh.read(self.limits.max_file_bytes + 1)
        if len(data) > self.limits.max_file_bytes:
            raise ExportError(f"{self.display(name)} grew past {self.limits.max_file_bytes} bytes while read")
        return data

    def head(self, name: str, n: int = 4096) -> bytes:
        with self.open_binary(name) as fh:
            return fh.read(n)

    def sniff_encoding(self, name: str) -> str:
        """The first of utf-8-sig, cp1252, latin-1 that decodes the whole member (streamed, not held)."""
        for enc in ("utf-8-sig", "cp1252"):
            decoder = codecs.getincrementaldecoder(enc)()
            try:
                with self.open_binary(name) as fh:
                    while chunk := fh.read(_CHUNK):
                        decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return enc
        return "latin-1"  # decodes every byte

    def open_text(self, name: str) -> tuple[IO[str], Skipped | None]:
        """The member as text, and a warning when it was not UTF-8."""
        enc = self.sniff_encoding(name)
        warning = None
        if enc != "utf-8-sig":
            warning = Skipped(
                file=self.display(name),
                line=None,
                reason=f"not UTF-8; read as {enc}. Check accented names came out right.",
                severity="warning",
            )
        raw = self.open_binary(name)
        return io.TextIOWrapper(raw, encoding=enc, newline=""), warning

    def text(self, name: str) -> tuple[str, Skipped | None]:
        """The whole member as text (for small files only: JSON documents, vCards under the file limit)."""
        fh, warning = self.open_text(name)
        with fh:
            return fh.read(), warning


MAX_LINE = 1 << 20  # characters in one physical line; CSV fields are capped far lower (128 KiB)


def bounded_lines(fh: IO[str], max_line: int = MAX_LINE) -> Iterator[str]:
    """Physical lines, never more than ``max_line`` characters each: the rest of an over-long line is read
    in pieces and dropped, so a file without line breaks cannot become one giant string."""
    while True:
        line = fh.readline(max_line + 1)
        if not line:
            return
        if len(line) > max_line and not line.endswith(("\n", "\r")):
            while (rest := fh.readline(_CHUNK)) and not rest.endswith(("\n", "\r")):
                pass
            line = line + "\n"  # keep it over the limit (the caller reports it) but end the line
        yield line


def csv_records(source: Source, name: str) -> Iterator[tuple[int, list[str]] | Skipped]:
    """Rows of a CSV member with the line each starts on; broken rows come out as Skipped, a warning first."""
    fh, warning = source.open_text(name)
    if warning is not None:
        yield warning
    shown = source.display(name)
    errors = 0
    with fh:
        reader = csv.reader(bounded_lines(fh))
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                errors += 1
                if errors > source.limits.max_csv_errors:
                    raise ExportError(
                        f"{shown}: more than {source.limits.max_csv_errors} unreadable rows; is this a CSV?"
                    ) from exc
                yield Skipped(file=shown, line=start, reason=f"unreadable CSV row: {exc}")
                start = reader.line_num + 1
                continue
            yield start, row
            start = reader.line_num + 1
