"""Column helpers of the reconciliation: Arrow-backed comparisons and lookups, per-order gathers
and sums over line frames, and the vectorised money and time formatting of the report.

Everything here works on whole columns and returns numpy / pandas values; nothing loops over rows.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain import money


def arrow_strings(col: pd.Series) -> pa.ChunkedArray | pa.Array:
    arr = pa.array(col.array) if not isinstance(col, pa.ChunkedArray | pa.Array) else col
    return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr


def index_in(values: pd.Series | pa.Array, value_set: pd.Series | pa.Array) -> np.ndarray:
    """Position of each value in value_set (first occurrence), -1 when absent; hash-based."""
    v = values if isinstance(values, pa.Array | pa.ChunkedArray) else arrow_strings(values)
    s = value_set if isinstance(value_set, pa.Array | pa.ChunkedArray) else arrow_strings(value_set)
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    if len(v) == 0:
        return np.zeros(0, dtype=np.int32)
    out = pc.index_in(v, value_set=s)
    # int32 as Arrow returns it (half of int64 per row); a writable copy, callers patch it.
    return np.array(pc.fill_null(out, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


def join_key(a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(a, b, pa.scalar("\x1f", pa.large_string()))


def order_index(line_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row position of each order's first line, order number of every row)."""
    starts = line_no == 0
    # int32 positions: half the memory of int64 for the multi-million-row line frames.
    order_of_row = np.cumsum(starts, dtype=np.int32)
    order_of_row -= 1  # in place: no second line-length temporary
    return np.flatnonzero(starts).astype(np.int32), order_of_row


def first_rows(line_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row position of each order's first line, number of lines of each order), int32.

    For the ledger and OMS frames, whose per-row order number is only ever needed as "the value
    of my order", built with np.repeat over these counts instead of a line-length index array.
    """
    first = np.flatnonzero(line_no == 0).astype(np.int32)
    return first, np.diff(first, append=np.int32(len(line_no))).astype(np.int32, copy=False)


def hours_since(now: pd.Timestamp, times: pd.Series) -> np.ndarray:
    """Hours from each time to now; NaN for an unknown time (NaT would cast to -2.6e9 hours)."""
    delta = (now - times).to_numpy(dtype="timedelta64[us]")
    hours = delta.astype("float64") / 3.6e9
    hours[np.isnat(delta)] = np.nan
    return hours


def later_than(times: pd.Series, since: pd.Series | datetime | None) -> np.ndarray:
    """Element-wise ``times > since``; False where either is unknown (NaT / None)."""
    if since is None:
        return np.zeros(len(times), dtype=bool)
    later = times.reset_index(drop=True) > (
        since.reset_index(drop=True) if isinstance(since, pd.Series) else since
    )
    return np.asarray(later.fillna(False), dtype=bool)


def nonempty(col: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    lengths = pc.fill_null(pc.binary_length(arrow_strings(col)), 0)
    return np.asarray(pc.greater(lengths, 0).to_numpy(zero_copy_only=False), dtype=bool)


def differs(a: pd.Series | pa.Array, b: pd.Series | pa.Array) -> np.ndarray:
    """Element-wise string inequality in Arrow (no million Python str objects)."""
    eq = pc.fill_null(pc.equal(arrow_strings(a), arrow_strings(b)), False)
    return ~np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)


class FirstRows:
    """Order-level columns of a line frame, read from each order's first line on demand.

    The input frames repeat every order column on every line. Copying all of them into an
    order frame up front holds a second copy of columns most rules never read (about 100 MB
    per million orders per input); this gathers one column at a time, only for the orders
    asked for, so each copy lives just as long as the rule that needs it.
    """

    def __init__(self, frame: pd.DataFrame, first: np.ndarray) -> None:
        self.frame, self.first = frame, first
        self.columns = frame.columns

    def __len__(self) -> int:
        return len(self.first)

    def __getitem__(self, col: str) -> pd.Series:
        return self.frame[col].iloc[self.first].reset_index(drop=True)

    def at(self, col: str, orders: np.ndarray) -> pd.Series:
        """``col`` of the given order positions (a gather straight from the line frame)."""
        positions: np.ndarray = self.first[orders]  # an untyped ndarray's item is Any to numpy's stubs
        return self.frame[col].iloc[positions].reset_index(drop=True)

    def arrow(self, col: str) -> pa.Array | pa.ChunkedArray:
        return arrow_strings(self.frame[col]).take(pa.array(self.first))

    def known_sums(self, col: str, orders: np.ndarray) -> pd.arrays.IntegerArray:
        """Sum of a nullable line column over each given order's lines; NA where no line knows it.

        Gathers only those orders' lines (a contiguous block each), not the whole column.
        """
        if len(orders) == 0:
            return pd.array(np.zeros(0, dtype="int64"), dtype="Int64")
        starts = self.first[orders].astype(np.int64)
        nxt = orders.astype(np.int64) + 1
        ends = np.where(
            nxt < len(self.first), self.first[np.minimum(nxt, len(self.first) - 1)], len(self.frame)
        )
        counts = ends - starts
        offsets = np.cumsum(counts) - counts  # where each order's block starts in the gather
        rows = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)
        values = self.frame[col].iloc[rows]
        known = np.add.reduceat(values.notna().to_numpy().astype(np.int64), offsets)
        sums = np.add.reduceat(values.to_numpy(dtype="int64", na_value=0), offsets)
        return pd.arrays.IntegerArray(sums, known == 0)


def rows_of(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows], without the copy when rows is every row (the usual, fully matched case)."""
    return values if len(rows) == len(values) else values[rows]


def per_order_sum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    # Lines are contiguous per order, so a segmented sum is exact integer maths with no hashing.
    if len(first) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(values.astype(np.int64, copy=False), first)



def severity_where(mask: np.ndarray, hi: str, lo: str) -> np.ndarray:
    return np.where(mask, hi, lo)


def text(values: pd.Series | np.ndarray | pd.Index) -> pd.Series:
    """Anything -> str Series, for building detail sentences column-wise."""
    return pd.Series(values, copy=False).reset_index(drop=True).astype("str")



# Formatting (report shaping, still pure)


def format_minor(minor: pd.Series, currency: pd.Series) -> pd.Series:
    """Integer minor units -> decimal strings in major units ("-5.00", "1200", "0.125").

    Built in Arrow from integer division and zero padding, once per exponent over that
    exponent's rows only (a handful of distinct exponents, usually one), then put back in row
    order with one take. NA stays NA (written as an empty cell).
    """
    minor = pd.Series(minor, copy=False).reset_index(drop=True)
    exps = _exponents(pd.Series(currency, copy=False).reset_index(drop=True))
    valid = minor.notna().to_numpy()
    values = minor.to_numpy(dtype="int64", na_value=0)
    present = np.unique(exps[valid])
    if len(present) == 1 and valid.all():
        return _format_exponent(values, int(present[0]))
    order = np.argsort(np.where(valid, exps, -1), kind="stable")
    sorted_exps = np.where(valid, exps, -1)[order]
    chunks: list[pa.Array] = []
    for exp in np.unique(sorted_exps):
        rows = order[sorted_exps == exp]
        if exp < 0:
            chunks.append(pa.nulls(len(rows), pa.large_string()))
        else:
            chunks.append(pa.array(_format_exponent(values[rows], int(exp)).array))
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    out = pa.chunked_array(chunks, pa.large_string()).take(pa.array(back))
    return pd.Series(pd.arrays.ArrowStringArray(out), dtype="str")


_MINUS, _DOT, _NOTHING = (pa.scalar(t, pa.large_string()) for t in ("-", ".", ""))


def _format_exponent(values: np.ndarray, exp: int) -> pd.Series:
    negative = values < 0
    magnitude = np.abs(values)
    if exp == 0:
        body = pa.array(magnitude).cast(pa.large_string())
    else:
        scale = 10**exp
        whole = pa.array(magnitude // scale).cast(pa.large_string())
        frac = pc.utf8_lpad(pa.array(magnitude % scale).cast(pa.large_string()), exp, "0")
        body = pc.binary_join_element_wise(whole, frac, _DOT)
    if negative.any():
        body = pc.if_else(pa.array(negative), pc.binary_join_element_wise(_MINUS, body, _NOTHING), body)
    return pd.Series(pd.arrays.ArrowStringArray(body), dtype="str")


def _exponents(currencies: pd.Series) -> np.ndarray:
    """Exponent per row, looked up once per distinct currency (categorical codes), not per row."""
    cats = currencies.astype("str").fillna("").astype("category")
    table = np.array([money.exponent_or_default(c) for c in cats.cat.categories] + [2], dtype=np.int64)
    codes = cats.cat.codes.to_numpy().astype(np.int64)
    return table[np.where(codes >= 0, codes, len(table) - 1)]



def iso_utc(times: pd.Series) -> pd.Series:
    """ISO 8601 UTC to the second ("2026-11-23T10:15:00Z"), formatted by Arrow's cast (numpy or
    Arrow-backed input alike): a cast, not strftime, which is about ten times slower."""
    arr = pa.array(times.array)  # zero-copy for either
    # Whole seconds first (a microsecond timestamp would print its fraction); the cast of a
    # timestamp without zone prints "YYYY-MM-DD HH:MM:SS".
    secs = pc.cast(pc.cast(arr, pa.timestamp("s", tz="UTC"), safe=False), pa.timestamp("s"))
    text = pc.cast(secs, pa.large_string())
    text = pc.binary_join_element_wise(
        pc.replace_substring(text, " ", "T", max_replacements=1),
        pa.scalar("Z", pa.large_string()),
        pa.scalar("", pa.large_string()),
    )
    return pd.Series(pd.arrays.ArrowStringArray(text), index=times.index)


def sheet_time(times: pd.Series) -> pd.Series:
    """UTC to the second as "2026-11-23 10:15:00": the form spreadsheets read as a date and time
    (ISO 8601's "T...Z" stays text in Excel). For CSV columns; prose keeps ``iso_utc``."""
    arr = pa.array(times.array)  # zero-copy for either
    secs = pc.cast(pc.cast(arr, pa.timestamp("s", tz="UTC"), safe=False), pa.timestamp("s"))
    return pd.Series(pd.arrays.ArrowStringArray(pc.cast(secs, pa.large_string())), index=times.index)
