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
import pyarrow.csv as pacsv

MONEY_COLUMNS = frozenset({"amount_google", "amount_oms", "amount"})
_NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"
_FORMULA_RE = r"^[=+\-@\t\r]"


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Apply the CSV safety rule (module docstring) to every text column of ``frame``."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if not (pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype)):
            continue
        col = col.astype("str")
        risky = col.str.contains(_FORMULA_RE, regex=True, na=False)
        if name in MONEY_COLUMNS:
            risky &= ~col.str.fullmatch(_NUMBER_RE, na=False)
        out[name] = col.where(~risky, "'" + col)
    return out


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
