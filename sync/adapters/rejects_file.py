"""The rejects file: every open feed reject as the row it was, ready to correct and drop back.

Columns: the feeds' own columns (as their headers spell them, in order of appearance), then
``reject_file, reject_line, reject_reason``. The feed reader ignores those three, so a corrected
copy can go straight back into the feed folder. Cells that a spreadsheet would run as a formula get
a leading ``'`` (the feed reader takes it off again). Written to a temporary file beside the
target and renamed over it, so nobody ever reads half a file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sync.adapters.feed_reader import printable
from sync.domain.feed import COLUMNS, FORMULA_START, REJECT_COLUMNS, FeedReject, normalize_column


def neutralise(text: str) -> str:
    """Spreadsheets run cells that start with these characters as formulas."""
    return "'" + text if text[:1] in FORMULA_START else text


def rejects_columns(rejects: Sequence[FeedReject]) -> list[str]:
    """The feed columns the rejected rows have (first spelling wins), feed order, then ours."""
    spelled: dict[str, str] = {}
    for reject in rejects:
        for name in reject.raw:
            key = normalize_column(name)
            if key and key not in REJECT_COLUMNS:
                spelled.setdefault(key, name.strip())
    known = [spelled.pop(c) for c in COLUMNS if c in spelled]
    return [*known, *spelled.values(), *REJECT_COLUMNS]


def write_rejects_file(path: Path, rejects: Sequence[FeedReject]) -> Path:
    """Write ``rejects`` (sorted by file and line) to ``path`` atomically; returns ``path``."""
    ordered = sorted(rejects, key=lambda r: (r.source, r.line_no))
    columns = rejects_columns(ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for reject in ordered:
                by_name = {normalize_column(k): v for k, v in reject.raw.items()}
                cells = [by_name.get(normalize_column(c), "") for c in columns[: -len(REJECT_COLUMNS)]]
                ours = [reject.source, str(reject.line_no), reject.reason]
                writer.writerow([neutralise(printable(v or "")) for v in [*cells, *ours]])
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the ops team reads it like any report
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
