"""Shipments feed files (CSV exports from a warehouse) -> numbered rows for the pure feed parser.

The reader only deals with files: globs, encodings, CSV syntax and line numbers. What a row means
is the domain's business (``sync.domain.feed``). A file that cannot be read at all becomes one
reject naming the file; a row that is not valid UTF-8 becomes a reject naming its line; the other
rows still proceed.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FileProblem:
    source: str
    line_no: int
    reason: str
    raw: str = ""


@dataclass
class FeedFile:
    source: str
    fieldnames: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)


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


def read_feed_file(path: Path) -> FeedFile:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FeedFile(source, [], problems=[FileProblem(source, 0, f"cannot read file: {exc.strerror}")])
    # Decode leniently so one badly encoded row cannot hide the good ones; flag the bad rows.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    lines = text.splitlines(keepends=True)
    reader = csv.DictReader(lines, restkey="__extra__", strict=True)
    try:
        fieldnames = [name.strip() for name in (reader.fieldnames or [])]
    except csv.Error as exc:
        return FeedFile(source, [], problems=[FileProblem(source, 1, f"unreadable CSV header: {exc}")])
    feed = FeedFile(source, fieldnames)
    if _has_bad_text(fieldnames):
        feed.problems.append(FileProblem(source, 1, "header is not valid UTF-8 text"))
        return feed
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
            feed.problems.append(FileProblem(source, start, f"malformed CSV: {exc}"))
            continue
        line_no, end = _first_line(lines, end, reader.reader.line_num), reader.reader.line_num
        extra = row.pop("__extra__", None)
        values = [v for v in row.values() if isinstance(v, str)]
        raw = ",".join(v or "" for v in values).encode("utf-8", "replace").decode("utf-8")
        if _has_bad_text(values) or (extra and _has_bad_text(extra)):
            feed.problems.append(FileProblem(source, line_no, "row is not valid UTF-8 text", raw))
            continue
        if extra:
            feed.problems.append(
                FileProblem(source, line_no, f"row has {len(extra)} more field(s) than the header", raw)
            )
            continue
        if all(not (v or "").strip() for v in values):
            continue  # blank line in an export: not an error
        feed.rows.append((line_no, {k: (v or "").strip() for k, v in row.items()}))
    return feed


def read_feeds(patterns: Iterable[str]) -> list[FeedFile]:
    return [read_feed_file(path) for path in expand_feed_paths(patterns)]
