"""Writing a report's files: the CSV safety rule, CSVs in chunks, the atomic publish of a run.

CSV safety rule: every *text* cell starting with = + - @ TAB or CR gets a leading apostrophe
(spreadsheets would run it as a formula). Money cells are left alone when they are exactly a
number we formatted ("-5.00"): a spreadsheet reads those as numbers, and a quote would turn them
into text that no longer sums. Integer and float columns cannot hold formulas.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
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
