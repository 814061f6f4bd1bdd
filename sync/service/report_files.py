"""Writing a report's files: the CSV safety rule, CSVs in chunks, the atomic publish of a run.

CSV safety rule: every *text* cell starting with = + - @ TAB or CR gets a leading apostrophe
(spreadsheets would run it as a formula). Money cells are left alone when they are exactly a
number we formatted ("-5.00"): a spreadsheet reads those as numbers, and a quote would turn them
into text that no longer sums. Integer and float columns cannot hold formulas.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

MONEY_COLUMNS = frozenset(
    {"amount_google", "amount_oms", "amount_refunded_google", "amount_refunded_oms", "amount"}
)
_NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"
# The first characters a spreadsheet takes for a formula.
_RISKY_FIRST = pa.array(["=", "+", "-", "@", "\t", "\r"], pa.large_string())
_QUOTE, _NOTHING = pa.scalar("'", pa.large_string()), pa.scalar("", pa.large_string())


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the CSV safety rule (module docstring) to every text column of ``frame``: a new frame,
    the untouched columns shared with ``frame``. Looks at each cell's first character in Arrow."""
    out: dict[str, pd.Series] = {}
    for name in frame.columns:
        col = frame[name]
        if not (pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype)):
            out[name] = col
            continue
        col = col.astype("str")
        arr = pa.array(col.array)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.cast(pa.large_string())
        risky = pc.fill_null(pc.is_in(pc.utf8_slice_codeunits(arr, 0, 1), value_set=_RISKY_FIRST), False)
        if name in MONEY_COLUMNS:
            number = pc.fill_null(pc.match_substring_regex(arr, _NUMBER_RE), False)
            risky = pc.and_(risky, pc.invert(number))
        if pc.any(risky).as_py():
            quoted = pc.binary_join_element_wise(_QUOTE, arr, _NOTHING)
            col = pd.Series(pd.arrays.ArrowStringArray(pc.if_else(risky, quoted, arr)), index=col.index)
            col = col.astype("str")
        out[name] = col
    return pd.DataFrame(out, index=frame.index, copy=False)


def write_csv(frames: pd.DataFrame | Iterable[pd.DataFrame], path: Path, bom: bool) -> None:
    """Write one frame, or an iterable of same-shaped chunks (one header), neutralised."""
    chunks = [frames] if isinstance(frames, pd.DataFrame) else frames
    with open(path, "wb") as fh:
        if bom:
            fh.write(b"\xef\xbb\xbf")
        writer, schema = None, None
        for chunk in chunks:
            table = pa.Table.from_pandas(neutralise(chunk), preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pacsv.CSVWriter(fh, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
            writer.write_table(table if table.schema == schema else table.cast(schema))
        if writer is not None:
            writer.close()
        fh.flush()
        os.fsync(fh.fileno())


def publish(tmp: Path, final: Path) -> None:
    """Rename the finished run into place; an existing run is swapped out only now."""
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:
        if old is not None:
            os.replace(old, final)  # put the previous report back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# The reports folder: run folders, reports/latest, pruning

MARKER = ".ordersync-report"  # in every run folder ordersync writes: what pruning looks for
# A run id ordersync makes: the UTC second, and "-2", "-3", ... for more runs in that second.
RUN_FOLDER_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
OUR_FILES = frozenset(
    {MARKER, "orders.csv", "breaks.csv", "summary.csv", "returns.csv", "index.html", "live_orders.csv"}
    | {f"{name}.parquet" for name in ("google", "ledger", "oms", "rejects")}
)
LATEST = "latest"


def reserve_run_id(out_dir: Path, base: str) -> str:
    """A run id no run in ``out_dir`` has: ``base``, else ``base-2``, ``base-3``, ... The folder
    is created empty (mkdir is atomic), so two reports in the same second never share one; the
    finished run replaces the empty folder."""
    for n in range(1, 10_000):
        candidate = base if n == 1 else f"{base}-{n}"
        try:
            (out_dir / candidate).mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RuntimeError(f"{out_dir}: no free run id for {base}")


def _run_key(name: str) -> tuple[str, int] | None:
    match = RUN_FOLDER_RE.match(name)
    return None if match is None else (match.group(1), int(match.group(2) or 1))


def run_folders(out_dir: Path) -> list[str]:
    """Run folders of ``out_dir`` that ordersync wrote (our name shape and our files), oldest first."""
    found = []
    for entry in out_dir.iterdir() if out_dir.is_dir() else ():
        key = _run_key(entry.name)
        if key is None or entry.is_symlink() or not entry.is_dir():
            continue
        names = {p.name for p in entry.iterdir()}
        ours = MARKER in names or {"orders.csv", "breaks.csv", "summary.csv", "index.html"} <= names
        if ours and names <= OUR_FILES:
            found.append((key, entry.name))
    return [name for _, name in sorted(found)]


def previous_run(out_dir: Path, run_id: str) -> str | None:
    """The newest run folder before ``run_id`` (for the page's "previous report" link)."""
    key = _run_key(run_id)
    earlier = [name for name in run_folders(out_dir) if key is None or (_run_key(name) or key) < key]
    return earlier[-1] if earlier else None


def update_latest(out_dir: Path, run_id: str) -> Path:
    """Point ``out_dir/latest`` at the run: a relative symlink, replaced atomically; where the file
    system has no symlinks, a small file holding the run id. A ``latest`` that is a real folder
    (not ours) is left alone."""
    latest = out_dir / LATEST
    if latest.is_dir() and not latest.is_symlink():
        return latest
    tmp = out_dir / f".{LATEST}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    try:
        os.symlink(run_id, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        tmp.write_text(run_id + "\n", encoding="utf-8")
    os.replace(tmp, latest)
    return latest


def prune_runs(out_dir: Path, keep_days: float, now: datetime, keep: str) -> list[str]:
    """Delete run folders older than ``keep_days`` (by the time in their id), never ``keep`` nor
    anything ``run_folders`` does not recognise as ordersync's (rejects/, a user's folder, ...).
    ``keep_days`` 0 keeps everything."""
    if keep_days <= 0:
        return []
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for name in run_folders(out_dir):
        when = datetime.strptime(name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if name != keep and when < cutoff:
            shutil.rmtree(out_dir / name)
            removed.append(name)
    return removed
