"""Safe reading of export files: a path may be a file, a folder or a ZIP, and all of it is hostile.

Rules kept here so that no silo module has to remember them:
- ZIP archives are checked before anything is read: member count, total declared size, and the compression
  ratio of every large member (a ZIP bomb declares a ratio no real export has). The central directory is
  walked in a streaming pass of our own (bridges/_zipdir.py) before ``zipfile`` builds an object per entry, so
  an archive of millions of entries, or one whose end record lies about its count, is refused having held
  one chunk of it. Members whose names climb out of the archive (``..``, absolute paths, drive letters) make
  the whole archive refused: nothing legitimate needs them.
- Every member or file read is capped; ``zipfile`` never returns more than the declared size, so the declared
  size checked up front bounds what is actually inflated. A member whose headers lie (sizes, CRC, a truncated
  stream, an unknown compression method, encryption) raises ExportError wherever it is read, never
  ``zipfile``'s own exceptions.
- Text is decoded in a first streaming pass that only checks validity (UTF-8, else cp1252, else Latin-1), then
  read for real in that encoding: a 50 MB export is never held as one string, and a cp1252 byte on the last
  line cannot turn into a decode error after half the rows were yielded. A BOM is stripped. A UTF-16 or UTF-32
  byte-order mark selects that encoding; a NUL byte in a file without one (UTF-16 saved without its mark, or
  a binary file) is an error, since no guess would read it right.
- CSV fields stay under the ``csv`` module's default field limit (128 KiB); an over-long field becomes a
  skipped row, a whole file of them an error.
"""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import IO

from bridges._zipdir import check_central_directory
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
    # An entry costs 46 bytes plus its name and extra fields; 200,000 entries with long names fit well under.
    max_central_directory_bytes: int = 64 << 20


DEFAULT_LIMITS = Limits()

#: What reading a ZIP member can raise when its headers lie or its data is damaged: bad CRC or magic
#: (BadZipFile), a cut deflate/bzip2/LZMA stream (EOFError, zlib.error, OSError, LZMAError), an unsupported
#: compression method (NotImplementedError), an encrypted member (RuntimeError).
_BROKEN_MEMBER = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    NotImplementedError,
    RuntimeError,
)

#: Byte-order marks that name their encoding; UTF-32's are tested first (UTF-32-LE's starts like UTF-16-LE's).
_BOMS = (
    ((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "utf-32"),
    ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-16"),
)


class _Member(io.RawIOBase):
    """A ZIP member whose read errors become ExportError naming the member (the rules above)."""

    def __init__(self, inner: IO[bytes], shown: str) -> None:
        super().__init__()
        self._inner = inner
        self._shown = shown

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except _BROKEN_MEMBER as exc:
            raise _damaged(self._shown, exc) from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def _damaged(shown: str, exc: BaseException) -> ExportError:
    return ExportError(
        f"{shown} is damaged and cannot be read ({type(exc).__name__}: {exc}); download the export again, "
        "or unpack it with another tool and import the folder"
    )


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
        elif not path.is_file():  # checked before anything opens it: opening a FIFO waits for a writer
            raise ExportError(
                f"{path} is not a regular file (a device, pipe or socket): give the export file itself"
            )
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
                try:
                    if full.is_symlink() and not full.resolve().is_relative_to(root):
                        continue  # a link pointing outside the export is not part of it
                    info = full.stat()
                except OSError:
                    continue  # a dangling link, or a file we may not read: not part of the export either
                if not stat.S_ISREG(info.st_mode):
                    continue  # pipes, sockets, devices: reading one could wait forever or never end
                rel = full.relative_to(root).as_posix()
                self._members[rel] = info.st_size
                if len(self._members) > self.limits.max_zip_members:
                    raise ExportError(f"{self.path} holds more than {self.limits.max_zip_members} files")

    def _open_zip(self) -> None:
        lim = self.limits
        # Counts, sizes and ratios first, from a streaming walk of the central directory: only then may
        # zipfile build its object per entry (the rules above).
        with self.path.open("rb") as fh:
            check_central_directory(
                fh,
                self.path.name,
                max_members=lim.max_zip_members,
                max_directory_bytes=lim.max_central_directory_bytes,
                max_total_bytes=lim.max_zip_total_bytes,
                max_ratio=lim.max_ratio,
                ratio_floor_bytes=lim.ratio_floor_bytes,
            )
        try:
            zf = zipfile.ZipFile(self.path)
        except (*_BROKEN_MEMBER, ValueError) as exc:
            raise ExportError(
                f"{self.path.name} is not a readable ZIP file ({exc}); download the export again"
            ) from exc
        try:
            for info in zf.infolist():
                if not _safe_member_name(info.filename):
                    raise ExportError(
                        f"{self.path.name} contains an entry named {info.filename!r} that points outside "
                        "the archive; refusing the whole file. Unpack it yourself and import the folder."
                    )
                if not info.is_dir():
                    self._members[info.filename.replace("\\", "/")] = info.file_size
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
            shown = self.display(name)
            try:
                member = self._zip.open(name)
            except _BROKEN_MEMBER as exc:
                raise _damaged(shown, exc) from exc
            return io.BufferedReader(_Member(member, shown), _CHUNK)
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

    def _bom_encoding(self, name: str) -> str | None:
        head = self.head(name, 4)
        return next((enc for boms, enc in _BOMS if head.startswith(boms)), None)

    def sniff_encoding(self, name: str) -> str:
        """The encoding a byte-order mark names, else the first of utf-8-sig, cp1252, latin-1 that decodes
        the whole member (streamed, not held). ExportError for NUL bytes without a UTF-16/32 mark."""
        bom = self._bom_encoding(name)
        if bom is not None:
            return bom
        for enc in ("utf-8-sig", "cp1252"):
            decoder = codecs.getincrementaldecoder(enc)()
            try:
                with self.open_binary(name) as fh:
                    while chunk := fh.read(_CHUNK):
                        if b"\x00" in chunk:
                            raise ExportError(
                                f"{self.display(name)} contains NUL bytes: it is UTF-16 or UTF-32 saved "
                                "without a byte-order mark, or not a text file at all. Save it again as "
                                'UTF-8 (a spreadsheet\'s "CSV UTF-8", or export the contacts again) and '
                                "import that file."
                            )
                        decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return enc
        return "latin-1"  # decodes every byte

    def head_text(self, name: str, n: int = 4096) -> str:
        """About the first ``n`` bytes as text, for recognising a file: decoded by its byte-order mark (which is
        dropped), else as UTF-8 with anything undecodable replaced."""
        enc = self._bom_encoding(name) or "utf-8-sig"
        return codecs.getincrementaldecoder(enc)("replace").decode(self.head(name, n)).lstrip("\ufeff")

    def open_text(self, name: str) -> tuple[IO[str], Skipped | None]:
        """The member as text, and a warning when it was not UTF-8 (or UTF-16/32 with a byte-order mark)."""
        enc = self.sniff_encoding(name)
        warning = None
        if enc in ("utf-16", "utf-32"):
            # Unpaired surrogates, the only invalid UTF-16, become U+FFFD rather than an error mid-import.
            return io.TextIOWrapper(self.open_binary(name), encoding=enc, errors="replace", newline=""), None
        if enc != "utf-8-sig":
            warning = Skipped(
                file=self.display(name),
                line=None,
                reason=f"not UTF-8; read as {enc}. Check accented names came out right.",
                severity="warning",
            )
        raw = self.open_binary(name)
        if enc != "utf-8-sig" and self.head(name, 3) == codecs.BOM_UTF8:
            raw.read(3)  # a UTF-8 mark on a file that is not UTF-8 after all: the mark is not text
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
