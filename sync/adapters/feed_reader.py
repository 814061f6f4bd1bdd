"""Shipments feed files (CSV exports from a warehouse) -> numbered rows for the pure feed parser.

The reader only deals with files: globs, encodings, separators, CSV syntax and line numbers. What
a row means is the domain's business (``sync.domain.feed``).

- Encoding: UTF-8, with or without a BOM; UTF-16 and UTF-32 when a byte-order mark says so
  (Excel's "Unicode text" is UTF-16 LE with a BOM). A file that cannot be decoded as a whole (a
  broken UTF-16 file, NUL bytes without a BOM) is one reject naming the file; in a UTF-8 file a
  row with bytes that are not UTF-8 is a reject naming its line, and the other rows proceed.
- Separator: comma, semicolon or tab, whichever splits the header into known column names
  (European Excel writes semicolons).
- Nothing read from a file reaches a reject as something that cannot be written back as UTF-8
  (``FeedReject.raw`` may hold undecodable bytes as surrogate escapes; writers replace them).
"""

from __future__ import annotations

import codecs
import csv
import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

from sync.domain.feed import FeedFile, FeedReject, RejectKind, detect_delimiter, file_reject, printable

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
BYTE_ORDER_MARKS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_LINE_TEXT = 120  # characters of an unparseable line quoted in its reject


def expand_feed_paths(patterns: Iterable[str]) -> list[Path]:
    """Every file matching the configured paths or globs, each once, in a stable order."""
    seen: dict[str, Path] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        for match in matches:
            path = Path(match)
            if path.is_file():
                seen.setdefault(str(path.resolve()), path)
    return list(seen.values())


def _has_bad_text(values: Iterable[str | None]) -> bool:
    # surrogateescape maps undecodable bytes to U+DC80..U+DCFF
    return any(v is not None and any("\udc80" <= ch <= "\udcff" for ch in v) for v in values)


def _first_line(lines: list[str], after: int, last: int) -> int:
    """The 1-based number of the first non-empty line in (after, last]: where a record starts
    (the csv module skips wholly empty lines before it)."""
    for number in range(after + 1, last + 1):
        if lines[number - 1].strip("\r\n"):
            return number
    return last


def decode_feed(data: bytes, source: str) -> tuple[str, str] | FeedReject:
    """(text, encoding name), or the reject of a file that cannot be decoded as a whole."""
    for mark, name in BYTE_ORDER_MARKS:
        if not data.startswith(mark):
            continue
        if name == "UTF-8":
            # Leniently, so one badly encoded row cannot hide the good ones; the bad rows are flagged.
            return data[len(mark) :].decode("utf-8", errors="surrogateescape"), name
        try:
            return data.decode(name.lower()), name  # the codec reads the mark and the byte order
        except UnicodeDecodeError as exc:
            return file_reject(source, [
                f"it starts with a {name} byte-order mark but is not valid {name} text ({exc.reason} at "
                f"byte {exc.start}): export it again (CSV UTF-8 is safest)"
            ])
    if b"\x00" in data:
        return file_reject(source, [
            "it holds NUL bytes, so it is not UTF-8 text (UTF-16 without a byte-order mark, or not a "
            "text file): export it as CSV UTF-8 (or Excel's Unicode text, which has the mark)"
        ])
    return data.decode("utf-8", errors="surrogateescape"), "UTF-8"


def read_feed_file(path: Path) -> FeedFile:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FeedFile(source, [], problems=[file_reject(source, [f"cannot read file: {exc.strerror}"])])
    decoded = decode_feed(data, source)
    if isinstance(decoded, FeedReject):
        return FeedFile(source, [], problems=[decoded])
    text, encoding = decoded
    lines = text.splitlines(keepends=True)
    header_line = next((line for line in lines if line.strip("\r\n")), "")
    delimiter = detect_delimiter(header_line)
    reader = csv.DictReader(lines, restkey="__extra__", strict=True, delimiter=delimiter)
    try:
        fieldnames = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        return FeedFile(source, [], problems=[file_reject(source, [f"unreadable CSV header: {exc}"])])
    if _has_bad_text(fieldnames):
        shown = printable(header_line.strip())
        reason = f"the header is not valid UTF-8 text ({shown!r}): export it as CSV UTF-8"
        return FeedFile(source, [], problems=[file_reject(source, [reason])])
    feed = FeedFile(source, fieldnames, delimiter=delimiter, encoding=encoding)
    reader.fieldnames = fieldnames
    rows: Iterator[dict[str, str]] = iter(reader)
    # Line numbers come from the underlying csv.reader (DictReader's lags behind on errors), and a
    # record spanning lines (a quoted newline) is reported at the line where it starts.
    end = reader.reader.line_num
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            start, end = _first_line(lines, end, reader.reader.line_num), reader.reader.line_num
            said = printable(lines[start - 1].strip("\r\n"))[:_LINE_TEXT]
            reason = f"malformed CSV: {exc}; the line reads {said!r}"
            feed.problems.append(FeedReject(source, start, reason, {}, RejectKind.ROW))
            continue
        line_no, end = _first_line(lines, end, reader.reader.line_num), reader.reader.line_num
        extra = row.pop("__extra__", None)
        original = {k: v or "" for k, v in row.items()}
        values = [v for v in row.values() if isinstance(v, str)]
        if _has_bad_text(values) or (extra and _has_bad_text(extra)):
            reason = f"row is not valid {encoding} text: export the file as CSV UTF-8"
            feed.problems.append(FeedReject(source, line_no, reason, original))
            continue
        if extra:
            shown = ", ".join(repr(v) for v in extra)
            feed.problems.append(
                FeedReject(
                    source, line_no, f"row has {len(extra)} more field(s) than the header ({shown})", original
                )
            )
            continue
        if all(not (v or "").strip() for v in values):
            continue  # blank line in an export: not an error
        feed.rows.append((line_no, {k: (v or "").strip() for k, v in row.items()}))
    return feed


def read_feeds(patterns: Iterable[str]) -> list[FeedFile]:
    return [read_feed_file(path) for path in expand_feed_paths(patterns)]


class FeedFiles:
    """The configured feed files as a shipment source: globbed and read afresh on every ``read``."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = list(patterns)

    def read(self) -> list[FeedFile]:
        return read_feeds(self.patterns)
