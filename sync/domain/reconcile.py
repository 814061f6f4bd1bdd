"""Reconciliation rules: Google's view vs our ledger vs the merchant's OMS, as vectorised pandas.

Pure: no files, no network, no clock (``now`` is passed in). Everything runs on whole columns
(merges, bincounts, boolean masks); nothing loops over rows in Python, so a million orders cost
seconds, not minutes.

Input frames (also the snapshot formats of ``ordersync report --google FILE --oms FILE``, as CSV or
Parquet). Each is *one row per line item* with the order's columns repeated on every line, so a
snapshot is a single flat file. An order without line items has one row with an empty
``line_item_id``. ``line_no`` (0-based position of the line in its order) is optional in files;
row ``line_no == 0`` carries the order. Text columns are UTF-8 strings ("" when absent), money is
integer minor units of ``currency`` (JPY exponent 0, KWD/BHD/... 3, others 2), times are UTC.

GOOGLE (what Google says; built by ``sync.service.reconciliation.frames_from_google_orders``)
    google_order_id      str       Order.id
    merchant_order_id    str       Order.merchantOrderId ("" when unset)
    status               category  Order.status (inProgress, pendingShipment, ..., canceled)
    acknowledged         bool      Order.acknowledged
    placed_at            datetime  Order.placedDate (UTC)
    currency             category  currency of the line prices
    amount_minor         int64     gross order total: sum(line price + line tax) + shippingCost +
                                   shippingCostTax - promotion discounts (and their tax impact)
    net_amount_minor     Int64     Order.netAmount (after refunds), may be NA; an OMS total equal
                                   to it is accepted when Google canceled units of the order
    tracking_ids         str       the order's shipment tracking ids, normalised, sorted, "|"-joined
    open_shipment_since  datetime  creationDate of the oldest shipment not yet delivered (NaT: none)
    line_no              int32     position of the line in the order
    line_item_id         str       OrderLineItem.id
    offer_id             str       product.offerId
    qty_ordered, qty_shipped, qty_delivered, qty_canceled, qty_returned   int32
    last_canceled_at     datetime  creationDate of the order's latest cancellation (NaT: none);
                                   a change newer than the ledger's last look is "pending_sync"
    customer_name, customer_email  str   optional; only present when PII was asked for

LEDGER (our view; built by ``frames_from_ledger`` from plain dicts of the ledger's records)
    google_order_id, merchant_order_id, square_order_id   str
    stage                category  ledger stage (free vocabulary, reported only)
    acknowledged         boolean   what we believe (nullable)
    last_synced_at       datetime
    failed_ops           int32     number of failed operations of the order
    failed_detail        str       "kind: reason; kind: reason"
    last_failed_at       datetime  NaT when none failed
    last_seen_at         datetime  when the sync last stored Google's copy of the order (NaT: unknown)
    square_skip_reason   str       why the order was kept out of Square on purpose ("" = it was not)
    line_no              int32
    line_item_id         str
    qty_ordered, qty_shipped, qty_delivered, qty_canceled   Int32 (NA: the ledger does not know)

OMS (merchant's view; ``frames_from_square_orders`` or ``frames_from_feed``)
    source               category  "square" (every order must be there) or "feed" (shipments only)
    oms_order_id         str       Square order id; for the feed the order reference itself
    order_ref            str       Google order id, or our merchantOrderId (feed); "" = not ours
    oms_status           category  open, draft, completed, canceled, shipped, partially_shipped,
                                   delivered
    currency             category  may be empty (feed)
    amount_minor         Int64     Square total_money; NA when the OMS has no amounts (feed)
    tracking_ids         str       normalised, sorted, "|"-joined
    created_at           datetime  optional: when the OMS first saw the order
    line_no              int32
    line_item_id         str       Google line item id when the OMS knows it
    offer_id             str       fallback match within the order when line_item_id is empty
    qty_ordered, qty_shipped, qty_delivered   Int32 (NA: the OMS does not track it)

REJECTS (open feed rejects from the ledger; built by ``frames_from_rejects``; optional)
    google_order_id      str       the order the row names (resolved to Google's id when the ledger
                                   knows it), "" for a whole-file reject
    source               str       the feed file
    line_no              int32
    reason               str
    retryable            bool      retried every cycle (an order not polled or released yet)
    first_seen_at        datetime
    rejects_file         str       the rejects file that lists it

Break output: google_order_id, category, severity, detail, age_hours — one row per (order,
category); several findings of one kind on one order (e.g. two lines off) become one row whose
detail names the first and counts the rest, at the highest severity found. rejected_feed_row is
the exception: one row per rejected row (its detail names the file and line).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain import money
from sync.domain.severity import SEVERITIES

GOOGLE_STATUSES = (
    "inProgress",
    "pendingShipment",
    "partiallyShipped",
    "shipped",
    "partiallyDelivered",
    "delivered",
    "partiallyReturned",
    "returned",
    "canceled",
)
OMS_STATUSES = ("open", "draft", "completed", "canceled", "shipped", "partially_shipped", "delivered")
OMS_SOURCES = ("square", "feed")

# Order matters: it is the order of breaks.csv sections, the summary and the HTML charts.
CATEGORIES = (
    "missing_in_oms",
    "missing_in_google",
    "unacknowledged_past_sla",
    "no_merchant_order_id",
    "duplicate_merchant_order_id",
    "merchant_order_id_mismatch",
    "quantity_mismatch",
    "amount_mismatch",
    "status_mismatch",
    "stuck_past_ship_sla",
    "shipped_not_delivered_past_sla",
    "tracking_mismatch",
    "failed_operation",
    "rejected_feed_row",
    "pending_sync",
)
# One break per rejected row, not per (order, category): each names its own file and line.
UNCOLLAPSED = frozenset({"rejected_feed_row"})
AGE_BUCKETS = ("0-1d", "1-3d", "3-7d", ">7d", "unknown")
BREAK_COLUMNS = ("google_order_id", "category", "severity", "detail", "age_hours")
# summary.csv orders_by_status key of the orders only the ledger or the OMS know (their
# google_status cell in orders.csv is empty); bracketed so it cannot be taken for a Google status.
NOT_IN_GOOGLE = "(not in Google)"
# orders.csv oms_status of an order kept out of Square on purpose (shipped before it was enabled).
NOT_IN_SQUARE = "not_in_square"
ORDER_COLUMNS = (
    "google_order_id",
    "merchant_order_id",
    "square_order_id",
    "placed_at",
    "google_status",
    "oms_status",
    "qty_ordered",
    "qty_shipped",
    "qty_delivered",
    "qty_canceled",
    "amount_google",
    "amount_oms",
    "currency",
    "last_synced_at",
)

_STR, _CAT, _BOOL, _NBOOL, _DT, _I64, _NI64, _I32, _NI32 = (
    "str",
    "category",
    "bool",
    "boolean",
    "datetime",
    "int64",
    "Int64",
    "int32",
    "Int32",
)
_QTY = ("qty_ordered", "qty_shipped", "qty_delivered", "qty_canceled")

# name -> (kind, required). Optional columns get their neutral default when absent.
GOOGLE_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (_STR, True),
    "merchant_order_id": (_STR, False),
    "status": (_CAT, True),
    "acknowledged": (_BOOL, True),
    "placed_at": (_DT, True),
    "currency": (_CAT, True),
    "amount_minor": (_I64, True),
    "net_amount_minor": (_NI64, False),
    "tracking_ids": (_STR, False),
    "open_shipment_since": (_DT, False),
    "line_no": (_I32, False),
    "line_item_id": (_STR, False),
    "offer_id": (_STR, False),
    "qty_ordered": (_I32, True),
    "qty_shipped": (_I32, False),
    "qty_delivered": (_I32, False),
    "qty_canceled": (_I32, False),
    "qty_returned": (_I32, False),
    "last_canceled_at": (_DT, False),
}
LEDGER_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (_STR, True),
    "merchant_order_id": (_STR, False),
    "square_order_id": (_STR, False),
    "stage": (_CAT, False),
    "acknowledged": (_NBOOL, False),
    "last_synced_at": (_DT, False),
    "failed_ops": (_I32, False),
    "failed_detail": (_STR, False),
    "last_failed_at": (_DT, False),
    "last_seen_at": (_DT, False),
    "square_skip_reason": (_STR, False),
    "line_no": (_I32, False),
    "line_item_id": (_STR, False),
    "qty_ordered": (_NI32, False),
    "qty_shipped": (_NI32, False),
    "qty_delivered": (_NI32, False),
    "qty_canceled": (_NI32, False),
}
OMS_SCHEMA: dict[str, tuple[str, bool]] = {
    "source": (_CAT, True),
    "oms_order_id": (_STR, True),
    "order_ref": (_STR, True),
    "oms_status": (_CAT, False),
    "currency": (_CAT, False),
    "amount_minor": (_NI64, False),
    "tracking_ids": (_STR, False),
    "created_at": (_DT, False),
    "line_no": (_I32, False),
    "line_item_id": (_STR, False),
    "offer_id": (_STR, False),
    "qty_ordered": (_NI32, False),
    "qty_shipped": (_NI32, False),
    "qty_delivered": (_NI32, False),
}
REJECTS_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (_STR, True),
    "source": (_STR, True),
    "line_no": (_I32, True),
    "reason": (_STR, True),
    "retryable": (_BOOL, False),
    "first_seen_at": (_DT, False),
    "rejects_file": (_STR, False),
}
PII_COLUMNS = ("customer_name", "customer_email")
_CATEGORY_VALUES = {"status": GOOGLE_STATUSES, "oms_status": OMS_STATUSES, "source": OMS_SOURCES}


class SchemaError(ValueError):
    """An input frame lacks a required column or holds a value of the wrong type."""


# ---------------------------------------------------------------------------------------------
# Money


def currency_exponent(currency: str) -> int:
    """ISO 4217 exponent (``sync.domain.money``); anything that is not a currency code ("",
    "MIXED") formats with the default 2 instead of failing a whole report."""
    try:
        return money.exponent(currency or "")
    except money.MoneyError:
        return money.DEFAULT_EXPONENT


def to_minor(value: str | int | Decimal | None, currency: str) -> int:
    """A decimal string ("19.99") in major units -> integer minor units, exactly (never float).

    More fraction digits than the currency has are rounded half-even (Google never sends them;
    an emulator or snapshot might), so the result is still exact integer arithmetic.
    """
    if value is None or value == "":
        return 0
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass the decimal string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    scaled = amount.scaleb(currency_exponent(currency)).to_integral_value(rounding=ROUND_HALF_EVEN)
    return int(scaled)


def format_minor(minor: pd.Series, currency: pd.Series) -> pd.Series:
    """Integer minor units -> decimal strings in major units ("-5.00", "1200", "0.125").

    Built with integer division and zero padding per exponent (a handful of distinct exponents,
    so the loop is over exponents, not rows). NA stays NA (written as an empty cell).
    """
    minor = pd.Series(minor, copy=False).reset_index(drop=True).astype("Int64")
    exps = _exponents(pd.Series(currency, copy=False).reset_index(drop=True))
    out = pd.Series(pd.NA, index=minor.index, dtype="str")
    valid = minor.notna().to_numpy()
    values = minor.to_numpy(dtype="int64", na_value=0)
    for exp in np.unique(exps[valid]):
        rows = valid & (exps == exp)
        v = values[rows]
        sign = pd.Series(np.where(v < 0, "-", ""), dtype="str")
        a = np.abs(v)
        if exp == 0:
            text = sign + pd.Series(a).astype("str")
        else:
            scale = 10 ** int(exp)
            whole = pd.Series(a // scale).astype("str")
            frac = pd.Series(a % scale).astype("str").str.zfill(int(exp))
            text = sign + whole + "." + frac
        out.iloc[np.flatnonzero(rows)] = text.to_numpy()
    return out


def _exponents(currencies: pd.Series) -> np.ndarray:
    """Exponent per row, looked up once per distinct currency (categorical codes), not per row."""
    cats = currencies.astype("str").fillna("").astype("category")
    table = np.array([currency_exponent(c) for c in cats.cat.categories] + [2], dtype=np.int64)
    codes = cats.cat.codes.to_numpy().astype(np.int64)
    return table[np.where(codes >= 0, codes, len(table) - 1)]


# ---------------------------------------------------------------------------------------------
# Schema conformance


def _default(kind: str, n: int) -> pd.api.extensions.ExtensionArray | np.ndarray:
    # Built from arrays, never from n-element Python lists (a million pd.NA / "" objects).
    if kind == _STR:
        return pd.array(pc.fill_null(pa.nulls(n, pa.large_string()), ""), dtype="str")
    if kind == _CAT:
        if n == 0:
            return pd.Categorical([])
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[""])
    if kind == _BOOL:
        return np.zeros(n, dtype=bool)
    if kind == _NBOOL:
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    if kind == _DT:
        return pd.array(np.full(n, np.datetime64("NaT", "us")), dtype="datetime64[us]").tz_localize("UTC")
    if kind in (_I64, _I32):
        return np.zeros(n, dtype=kind)
    return pd.arrays.IntegerArray(np.zeros(n, dtype=kind.lower()), np.ones(n, dtype=bool))


def _already(col: pd.Series, kind: str) -> bool:
    """True when the column already has the target dtype (the common case: our own builders)."""
    dt = col.dtype
    if kind == _STR:
        return dt == "str" and not col.hasnans
    if kind == _CAT:
        return isinstance(dt, pd.CategoricalDtype) and not col.hasnans
    if kind == _DT:
        return str(dt) == "datetime64[us, UTC]"
    return str(dt) == kind


def _coerce(col: pd.Series, kind: str, name: str) -> pd.Series:
    if _already(col, kind):
        return col  # no copy: conforming our own frames must not double memory
    try:
        if kind == _STR:
            return col.astype("str").fillna("")
        if kind == _CAT:
            values = _CATEGORY_VALUES.get(name)
            col = col.astype("str").fillna("")
            if values is not None:
                extra = sorted(set(col.unique()) - set(values))
                return col.astype(pd.CategoricalDtype([*values, *extra]))
            return col.astype("category")
        if kind in (_BOOL, _NBOOL):
            if col.dtype == object or pd.api.types.is_string_dtype(col):
                col = (
                    col.astype("str")
                    .str.strip()
                    .str.lower()
                    .map({"true": True, "1": True, "false": False, "0": False, "": pd.NA})
                )
            col = col.astype("boolean")
            return col.fillna(False).astype(bool) if kind == _BOOL else col
        if kind == _DT:
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                return col.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
            if pd.api.types.is_datetime64_dtype(col):
                return col.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
            col = col.astype("str").replace("", None)
            return pd.to_datetime(col, utc=True, format="ISO8601").astype("datetime64[us, UTC]")
        if not pd.api.types.is_numeric_dtype(col):
            col = pd.to_numeric(col.astype("str").str.strip().replace("", None))
        if pd.api.types.is_float_dtype(col) and not np.all(np.mod(col.fillna(0), 1) == 0):
            raise ValueError("fractional values")
        if kind in (_I64, _I32):
            return col.fillna(0).astype(kind)
        return col.astype(kind)
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"column {name!r}: cannot read as {kind}: {exc}") from None


def conform(
    frame: pd.DataFrame, schema: dict[str, tuple[str, bool]], what: str, *, lines: bool = True
) -> pd.DataFrame:
    """Return a frame with exactly the schema's columns (plus PII columns if present), typed.

    Also guarantees every order's lines are contiguous with ``line_no`` 0..k-1, which the rules
    rely on to map line rows to orders with a cumulative sum instead of a hash join.
    """
    missing = [c for c, (_, req) in schema.items() if req and c not in frame.columns]
    if missing:
        raise SchemaError(f"{what} frame lacks required column(s): {', '.join(missing)}")
    n = len(frame)
    cols: dict[str, object] = {}
    for name, (kind, _) in schema.items():
        if name in frame.columns:
            cols[name] = _coerce(frame[name].reset_index(drop=True), kind, name)
        else:
            cols[name] = _default(kind, n)
    for name in PII_COLUMNS:
        if name in frame.columns:
            cols[name] = frame[name].reset_index(drop=True).astype("str").fillna("")
    out = pd.DataFrame(cols, copy=False)
    if not lines:  # not a line-per-row frame (REJECTS): line_no is the file's, kept as given
        return out
    key = "google_order_id" if "google_order_id" in schema else "oms_order_id"
    if "line_no" not in frame.columns or not _contiguous(out, key):
        # Rare path (hand-made snapshots): group rows of one order together, number the lines.
        out = out.sort_values(key, kind="stable", ignore_index=True)
        out["line_no"] = out.groupby(key, sort=False).cumcount().astype("int32")
    return out


def _contiguous(frame: pd.DataFrame, key: str) -> bool:
    if frame.empty:
        return True
    line_no = frame["line_no"].to_numpy()
    starts = line_no == 0
    if not starts[0]:
        return False
    # Numbering restarts at 0 and otherwise counts up by one (bool arrays only, no int temps).
    if not np.all(starts[1:] | (line_no[1:] == line_no[:-1] + 1)):
        return False
    first = np.flatnonzero(starts)
    ids = _arrow(frame[key])
    # Every non-first line carries the same id as the row before it (slices are zero-copy).
    same = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    same = pc.or_(same, pa.array(starts[1:]))
    firsts = ids.take(pa.array(first))
    # One order must not appear as two separate blocks.
    ok = bool(pc.all(same).as_py() is not False) and pc.count_distinct(firsts).as_py() == len(first)
    del same, firsts
    pa.default_memory_pool().release_unused()  # the hash table's pages, before the next frame
    return ok


# ---------------------------------------------------------------------------------------------
# Helpers


def _arrow(col: pd.Series) -> pa.ChunkedArray | pa.Array:
    arr = pa.array(col.array) if not isinstance(col, pa.ChunkedArray | pa.Array) else col
    return arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr


def _index_in(values: pd.Series | pa.Array, value_set: pd.Series | pa.Array) -> np.ndarray:
    """Position of each value in value_set (first occurrence), -1 when absent; hash-based."""
    v = values if isinstance(values, pa.Array | pa.ChunkedArray) else _arrow(values)
    s = value_set if isinstance(value_set, pa.Array | pa.ChunkedArray) else _arrow(value_set)
    if isinstance(s, pa.ChunkedArray):
        s = s.combine_chunks()
    if len(v) == 0:
        return np.zeros(0, dtype=np.int32)
    out = pc.index_in(v, value_set=s)
    # int32 as Arrow returns it (half of int64 per row); a writable copy, callers patch it.
    return np.array(pc.fill_null(out, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


def _join_key(a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(a, b, pa.scalar("\x1f", pa.large_string()))


def _order_index(line_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row position of each order's first line, order number of every row)."""
    starts = line_no == 0
    # int32 positions: half the memory of int64 for the multi-million-row line frames.
    order_of_row = np.cumsum(starts, dtype=np.int32)
    order_of_row -= 1  # in place: no second line-length temporary
    return np.flatnonzero(starts).astype(np.int32), order_of_row


def _first_rows(line_no: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row position of each order's first line, number of lines of each order), int32.

    For the ledger and OMS frames, whose per-row order number is only ever needed as "the value
    of my order", built with np.repeat over these counts instead of a line-length index array.
    """
    first = np.flatnonzero(line_no == 0).astype(np.int32)
    return first, np.diff(first, append=np.int32(len(line_no))).astype(np.int32, copy=False)


def _hours(now: pd.Timestamp, times: pd.Series) -> np.ndarray:
    """Hours from each time to now; NaN for an unknown time (NaT would cast to -2.6e9 hours)."""
    delta = (now - times).to_numpy(dtype="timedelta64[us]")
    hours = delta.astype("float64") / 3.6e9
    hours[np.isnat(delta)] = np.nan
    return hours


def _after(times: pd.Series, since: pd.Series | pd.Timestamp | None) -> np.ndarray:
    """Element-wise ``times > since``; False where either is unknown (NaT / None)."""
    if since is None:
        return np.zeros(len(times), dtype=bool)
    later = times.reset_index(drop=True) > (
        since.reset_index(drop=True) if isinstance(since, pd.Series) else since
    )
    return np.asarray(later.fillna(False), dtype=bool)


def _nonempty(col: pd.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    lengths = pc.fill_null(pc.binary_length(_arrow(col)), 0)
    return np.asarray(pc.greater(lengths, 0).to_numpy(zero_copy_only=False), dtype=bool)


def _differs(a: pd.Series | pa.Array, b: pd.Series | pa.Array) -> np.ndarray:
    """Element-wise string inequality in Arrow (no million Python str objects)."""
    eq = pc.fill_null(pc.equal(_arrow(a), _arrow(b)), False)
    return ~np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)


class _FirstRows:
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
        return self.frame[col].iloc[self.first[orders]].reset_index(drop=True)

    def arrow(self, col: str) -> pa.Array | pa.ChunkedArray:
        return _arrow(self.frame[col]).take(pa.array(self.first))

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


def _rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows], without the copy when rows is every row (the usual, fully matched case)."""
    return values if len(rows) == len(values) else values[rows]


def _per_order_sum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    # Lines are contiguous per order, so a segmented sum is exact integer maths with no hashing.
    if len(first) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(values.astype(np.int64, copy=False), first)


def _match_lines(
    g: pd.DataFrame,
    g_first: np.ndarray,
    g_count: np.ndarray,
    g_order_of_row: np.ndarray,
    order_g: np.ndarray,
    line_no: np.ndarray,
    line_ids: pd.Series,
    offer_ids: pd.Series | None,
) -> np.ndarray:
    """Google line row for every row of another frame (-1: no such line, or order unknown).

    Fast path: the line at the same position of the order has the same line id (or, for rows
    without one, offer id) — true when the ledger and the OMS keep Google's line order, so it is
    an element-wise compare with no hash table. Only the rest are matched through a hash of
    (order, line id) / (order, offer id), built on the Google rows of just those orders.
    """
    out = np.full(len(order_g), -1, dtype=np.int32)  # int32: half the memory per line row
    if len(out) == 0 or len(g) == 0:
        return out
    og = np.maximum(order_g, 0)
    ok = (order_g >= 0) & (line_no < g_count[og])
    cand = np.where(ok, g_first[og] + line_no, 0).astype(np.int32, copy=False)
    del og
    cand_arr = pa.array(cand)  # zero-copy view of the numpy buffer
    own_line = _arrow(line_ids)
    has_line = _nonempty(line_ids)
    same = pc.fill_null(pc.equal(own_line, _arrow(g["line_item_id"]).take(cand_arr)), False)
    hit = ok & has_line & np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    if offer_ids is not None and not has_line.all():
        same_offer = pc.fill_null(pc.equal(_arrow(offer_ids), _arrow(g["offer_id"]).take(cand_arr)), False)
        hit |= (
            ok
            & ~has_line
            & _nonempty(offer_ids)
            & np.asarray(same_offer.to_numpy(zero_copy_only=False), dtype=bool)
        )
    out[hit] = cand[hit]
    del cand, cand_arr, same
    rest = np.flatnonzero(~hit & (order_g >= 0))
    if len(rest) == 0:
        return out
    g_rows = np.flatnonzero(np.isin(g_order_of_row, np.unique(order_g[rest])))

    def keyed(orders: np.ndarray, ids: pa.Array) -> pa.Array:
        return _join_key(pa.array(orders, pa.int64()).cast(pa.large_string()), ids)

    g_take = pa.array(g_rows)
    g_orders = g_order_of_row[g_rows]
    by_line = rest[has_line[rest]]
    if len(by_line):
        pos = _index_in(
            keyed(order_g[by_line], own_line.take(pa.array(by_line))),
            keyed(g_orders, _arrow(g["line_item_id"]).take(g_take)),
        )
        out[by_line] = np.where(pos >= 0, g_rows[np.maximum(pos, 0)], -1)
    by_offer = rest[~has_line[rest]]
    if offer_ids is not None and len(by_offer):
        pos = _index_in(
            keyed(order_g[by_offer], _arrow(offer_ids).take(pa.array(by_offer))),
            keyed(g_orders, _arrow(g["offer_id"]).take(g_take)),
        )
        # An empty offer id must not match a Google line that has none either.
        pos[~_nonempty(offer_ids.iloc[by_offer])] = -1
        out[by_offer] = np.where(pos >= 0, g_rows[np.maximum(pos, 0)], -1)
    return out


@dataclass(frozen=True)
class Slas:
    unacknowledged_hours: float = 24
    ship_hours: float = 72
    delivery_hours: float = 240


@dataclass(frozen=True)
class Freshness:
    """How far the ledger's view of Google reaches, so that a Google-side change newer than the
    sync's last look is reported as low ``pending_sync`` rather than as a high break.

    ``cycle_started_at``: start of the last sync cycle (new orders and whole cancellations are
    known up to then); ``recheck_minutes``: how often open orders are re-read for line
    cancellations (``[google] recheck_open_orders_minutes``). None: unknown (snapshots)."""

    cycle_started_at: pd.Timestamp | None = None
    recheck_minutes: float | None = None

    def recheck_text(self) -> str:
        if self.recheck_minutes is None:
            return "the next open-order recheck"
        if self.recheck_minutes <= 0:
            return "the next cycle"
        return f"the next open-order recheck (every {self.recheck_minutes:g} min)"


@dataclass
class Reconciliation:
    """orders: one row per order (ORDER_COLUMNS, amounts still integer minor units in
    ``amount_google_minor``/``amount_oms_minor``, plus ``in_google``): Google's orders in input
    order, then those only the ledger and/or the OMS know (missing_in_google) by id, with
    Google's cells empty. Text columns are Arrow strings; the others are Arrow-backed and
    nullable, so the two parts share their buffers instead of being copied into one.
    breaks: BREAK_COLUMNS, oldest first."""

    orders: pd.DataFrame
    breaks: pd.DataFrame


class _Breaks:
    """Collects break fragments; vectorised per category, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, ids, category: str, severity, detail, age_hours) -> None:
        ids = pd.Series(ids, copy=False).reset_index(drop=True)
        if len(ids) == 0:
            return
        n = len(ids)

        def col(v, dtype):
            if isinstance(v, pd.Series):
                return v.reset_index(drop=True).astype(dtype)
            if np.isscalar(v):
                return pd.Series([v] * n, dtype=dtype)
            return pd.Series(v, dtype=dtype)

        self.parts.append(
            pd.DataFrame(
                {
                    "google_order_id": ids.astype("str"),
                    "category": category,
                    "severity": col(severity, "str"),
                    "detail": col(detail, "str"),
                    "age_hours": col(age_hours, "float64"),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            df = pd.DataFrame({c: pd.Series([], dtype="str") for c in BREAK_COLUMNS})
            df["age_hours"] = df["age_hours"].astype("float64")
        else:
            df = pd.concat(self.parts, ignore_index=True)
        rank = pd.Categorical(df["severity"], categories=SEVERITIES).codes
        # The collapsing key: (order, category), plus the detail for categories never collapsed.
        own = df["category"].isin(list(UNCOLLAPSED)).to_numpy()
        distinct = df["detail"].where(own, "") if own.any() else pd.Series("", index=df.index, dtype="str")
        df = df.assign(_rank=rank, _own=distinct.to_numpy())
        keys = ["google_order_id", "category", "_own"]
        df = df.sort_values([*keys, "_rank"], kind="stable")
        size = df.groupby(keys, sort=False)["_rank"].transform("size")
        df = df.assign(_n=size.to_numpy()).drop_duplicates(keys, keep="first")
        more = df["_n"].to_numpy() > 1
        if more.any():
            extra = " (+" + (df.loc[more, "_n"] - 1).astype("str") + " more like this)"
            df.loc[more, "detail"] = df.loc[more, "detail"] + extra
        df["age_hours"] = df["age_hours"].round(1)
        df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
        df["severity"] = pd.Categorical(df["severity"], categories=SEVERITIES)
        df = df.sort_values(
            ["age_hours", "_rank"], ascending=[False, True], kind="stable", na_position="last"
        )
        return df.drop(columns=["_rank", "_n", "_own"]).reset_index(drop=True)


def _sev(mask: np.ndarray, hi: str, lo: str) -> np.ndarray:
    return np.where(mask, hi, lo)


def _s(values) -> pd.Series:
    """Anything -> str Series, for building detail sentences column-wise."""
    return pd.Series(values, copy=False).reset_index(drop=True).astype("str")


# ---------------------------------------------------------------------------------------------
# The rules


def reconcile(
    google: pd.DataFrame,
    ledger: pd.DataFrame | None,
    oms: pd.DataFrame | None,
    *,
    slas: Slas,
    now: pd.Timestamp,
    rejects: pd.DataFrame | None = None,
    freshness: Freshness | None = None,
) -> Reconciliation:
    """Compare the three views and return per-order rows plus every break found.

    ``google`` should cover every order the ledger and OMS know: an order they know and Google
    does not is reported as missing_in_google and still gets its row in ``orders``, with what
    the ledger and OMS know of it. ``oms=None`` skips the OMS rules (no Square, no feed).
    ``rejects`` (REJECTS) adds one rejected_feed_row break per open reject; ``freshness`` says
    how far the ledger's view of Google reaches (see Freshness).
    """
    freshness = freshness or Freshness()
    now = pd.Timestamp(now)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.tz_convert("UTC")
    g = conform(google, GOOGLE_SCHEMA, "google")
    lg = conform(ledger, LEDGER_SCHEMA, "ledger") if ledger is not None else None
    om = conform(oms, OMS_SCHEMA, "oms") if oms is not None else None
    out = _Breaks()

    # conform's hash tables (contiguity check) are garbage now: hand those pages back.
    pa.default_memory_pool().release_unused()

    # ---- Google orders: one entry per order, keyed by position 0..n-1 ------------------------
    # Order-level columns are read from each order's first line only when a rule needs them.
    g_first, g_order_of_row = _order_index(g["line_no"].to_numpy())
    go = _FirstRows(g, g_first)
    n = len(go)
    ids = go["google_order_id"]
    g_ids = _arrow(ids)
    sums = {q: _per_order_sum(g[q].to_numpy(), g_first) for q in (*_QTY, "qty_returned")}
    status = go["status"]
    canceled = (status == "canceled").to_numpy()
    placed_at = go["placed_at"]
    age = _hours(now, placed_at)
    currency = go["currency"].astype("str")
    amount_g = go["amount_minor"].to_numpy(dtype="int64")
    g_mid = go["merchant_order_id"]
    canceled_at = go["last_canceled_at"]  # the order's latest cancellation on Google (NaT: none)
    cycle_at = freshness.cycle_started_at

    # Duplicated Google order ids (same order twice in the input) are collapsed to the first.
    # conform() already guarantees one contiguous block per order id (it regroups the rows
    # otherwise, and its contiguity check hashes the ids once), so every position is the first
    # of its id: no second hash over a million ids is needed here.
    first_g = np.ones(n, dtype=bool)

    # ---- Ledger: order rows mapped onto Google positions -------------------------------------
    led_pos = np.full(n, -1, dtype=np.int32)  # ledger order row per Google order
    lo: _FirstRows | None = None
    led_not_in_google = np.zeros(0, dtype=np.int32)  # ledger order rows Google does not list
    if lg is not None and len(lg):
        l_first, l_count = _first_rows(lg["line_no"].to_numpy())
        lo = _FirstRows(lg, l_first)
        l_ids = lo.arrow("google_order_id")
        l_to_g = _index_in(l_ids, g_ids)
        known = l_to_g >= 0
        # First ledger row wins if the ledger lists an order twice.
        order = np.flatnonzero(known)[::-1]
        led_pos[l_to_g[order]] = order
        gone = ~known & _nonempty(l_ids)
        del l_ids
        led_not_in_google = np.flatnonzero(gone).astype(np.int32)
        if gone.any():
            out.add(
                lo.at("google_order_id", np.flatnonzero(gone)),
                "missing_in_google",
                "high",
                "Our ledger has this order but Google did not return it: check the order in "
                "Merchant Center (deleted test order, other account?) before acting on it.",
                np.full(int(gone.sum()), np.nan),
            )

    has_led = led_pos >= 0
    lsel = np.maximum(led_pos, 0)

    def led(col: str) -> pd.Series:
        assert lo is not None
        return lo.at(col, lsel)

    # ---- OMS: order rows mapped onto Google positions (by id, else by merchant order id) -----
    oms_pos = np.full(n, -1, dtype=np.int32)
    om_to_g = np.zeros(0, dtype=np.int32)
    oo: _FirstRows | None = None
    oms_not_in_google = np.zeros(0, dtype=np.int32)  # OMS order rows naming an order Google lacks
    stray_refs = pd.Series([], dtype="str")  # their order_ref
    oms_complete = False
    if om is not None and len(om):
        o_first, o_count = _first_rows(om["line_no"].to_numpy())
        oo = _FirstRows(om, o_first)
        oms_complete = bool((oo["source"] == "square").any())
        refs = oo.arrow("order_ref")
        om_to_g = _index_in(refs, g_ids)
        unresolved = np.flatnonzero(om_to_g < 0)
        if len(unresolved):
            unresolved_refs = refs.take(pa.array(unresolved))
            by_mid = _index_in(unresolved_refs, _arrow(g_mid))
            # "" never matches: an order without a merchant id must not catch OMS rows without a ref.
            by_mid[~_nonempty(unresolved_refs)] = -1
            om_to_g[unresolved] = by_mid
            del unresolved_refs
        ours = _nonempty(refs)
        del refs
        stray = np.flatnonzero((om_to_g < 0) & ours).astype(np.int32)
        oms_not_in_google = stray
        # Gathered once (a gather from a chunked string column joins its chunks first): for the
        # break here and for these orders' rows in orders.csv.
        stray_refs = oo.at("order_ref", stray)
        if len(stray):
            out.add(
                stray_refs,
                "missing_in_google",
                "high",
                "OMS order " + _s(oo.at("oms_order_id", stray)) + " refers to this Google order, which "
                "Google did not return: check the reference, or cancel the OMS order if it is not real.",
                _hours(now, oo.at("created_at", stray)),
            )
        # Several distinct OMS orders for one Google order: risk of shipping twice.
        linked = np.flatnonzero(om_to_g >= 0)
        # Only Google orders referenced by more than one OMS row can have duplicates: look at those.
        multi = np.bincount(om_to_g[linked], minlength=n) > 1
        suspects = linked[multi[om_to_g[linked]]]
        pairs = pd.DataFrame({"g": om_to_g[suspects], "oid": oo.at("oms_order_id", suspects).to_numpy()})
        pairs = pairs.drop_duplicates()
        counts = pairs.groupby("g")["oid"].agg(["size"])
        dup_g = counts.index[counts["size"] > 1].to_numpy()
        if len(dup_g):
            listed = pairs[pairs["g"].isin(dup_g)].groupby("g")["oid"].agg(lambda s: ", ".join(sorted(s)))
            out.add(
                ids.iloc[listed.index.to_numpy()],
                "duplicate_merchant_order_id",
                "critical",
                (
                    _s(counts.loc[listed.index, "size"]) + " OMS orders (" + _s(listed) + ") refer to one "
                    "Google order: cancel the extra ones before anything ships twice."
                ).to_numpy(),
                age[listed.index.to_numpy()],
            )
        order = linked[::-1]  # first OMS order per Google order wins
        oms_pos[om_to_g[order]] = order
    has_oms = oms_pos >= 0
    osel = np.maximum(oms_pos, 0)

    def oms_col(col: str) -> pd.Series:
        assert oo is not None
        return oo.at(col, osel)

    live = first_g & ~canceled

    # ---- missing_in_oms -----------------------------------------------------------------------
    kept_out = np.zeros(n, dtype=bool)  # kept out of Square on purpose (shipped before it was on)
    if lo is not None:
        kept_out = has_led & _nonempty(led("square_skip_reason"))
    if om is not None:
        shipped_any = sums["qty_shipped"] > 0
        mask = live & ~has_oms & (oms_complete | shipped_any)
        if oms_complete:
            mask &= ~kept_out
        # A new order placed after the last cycle started: the next cycle creates it in the OMS.
        newer = mask & ~has_led & _after(placed_at, cycle_at) if oms_complete and lg is not None else None
        if newer is not None and newer.any():
            out.add(
                ids[newer],
                "pending_sync",
                "low",
                (
                    "Placed on Google at " + _s(_iso(placed_at[newer])) + ", after the last sync cycle "
                    "started: the next cycle acknowledges it and creates it in the OMS; nothing to do "
                    "unless it is still here after that."
                ).to_numpy(),
                age[newer],
            )
            mask &= ~newer
        if mask.any():
            why = (
                "Google order is not in the OMS: the sync creates it there (the same order, never a "
                "second one) and retries every cycle; if it stays, see this order's failed_operation "
                "and the Square step in the run log. Do not create it by hand: that would be a duplicate."
                if oms_complete
                else "Google shows items shipped but ordersync took no shipment of this order from the "
                "shipments feed: if the warehouse shipped it, check that its export has the rows; if it "
                "was shipped in Merchant Center, record it in the feed so both views agree."
            )
            out.add(
                ids[mask],
                "missing_in_oms",
                _sev(age[mask] > slas.ship_hours, "critical", "high"),
                why,
                age[mask],
            )

    # ---- unacknowledged_past_sla -------------------------------------------------------------
    acked = go["acknowledged"].to_numpy()
    mask = first_g & ~canceled & ~acked & (age > slas.unacknowledged_hours)
    if mask.any():
        out.add(
            ids[mask],
            "unacknowledged_past_sla",
            _sev(age[mask] > 2 * slas.unacknowledged_hours, "critical", "high"),
            f"Not acknowledged within {slas.unacknowledged_hours:g} h of being placed: Google may cancel "
            "it; check that the sync runs and acknowledges new orders.",
            age[mask],
        )

    # ---- merchant order ids --------------------------------------------------------------------
    has_mid = _nonempty(g_mid)
    # The ledger's merchant order id per Google order: read once, used here and in orders.csv.
    l_mid = led("merchant_order_id") if lo is not None else None
    mask = first_g & ~canceled & acked & ~has_mid
    if mask.any():
        hint = pd.Series("", index=range(int(mask.sum())), dtype="str")
        if l_mid is not None:
            known_mid = l_mid[mask].reset_index(drop=True)
            hint = hint.where(
                known_mid == "",
                " Our ledger has " + known_mid + ": the sync resends it while it is pending; if it "
                "stays, see this order's failed_operation.",
            )
        out.add(
            ids[mask],
            "no_merchant_order_id",
            "medium",
            (
                "Acknowledged but Google has no merchantOrderId, so support cannot find the order in "
                "the OMS; the sync sets it (see failed_operation if it never arrives)." + hint
            ).to_numpy(),
            age[mask],
        )
    dup = first_g & has_mid & g_mid.duplicated(keep=False).to_numpy()
    if dup.any():
        out.add(
            ids[dup],
            "duplicate_merchant_order_id",
            "critical",
            (
                "merchantOrderId " + _s(g_mid[dup]) + " is set on more than one Google order: give each "
                "order its own id."
            ).to_numpy(),
            age[dup],
        )
    if l_mid is not None:
        mask = first_g & has_led & has_mid & _nonempty(l_mid) & _differs(l_mid, g_mid)
        if mask.any():
            out.add(
                ids[mask],
                "merchant_order_id_mismatch",
                "medium",
                (
                    "Google has merchantOrderId "
                    + _s(g_mid[mask])
                    + " but our ledger set "
                    + _s(l_mid[mask])
                    + ": someone changed it outside ordersync, which never overwrites it; find out who, "
                    "and set the right one in Merchant Center."
                ).to_numpy(),
                age[mask],
            )

    # ---- quantities (line level) -----------------------------------------------------------------
    g_line_ids = g["line_item_id"]
    g_q = {q: g[q].to_numpy() for q in _QTY}  # int32 views, no copies
    g_count = np.diff(g_first, append=np.int32(len(g))).astype(np.int32, copy=False)
    line_parts: list[tuple[np.ndarray, pd.Series, str]] = []  # (google line rows, detail, severity)
    pending_parts: list[tuple[np.ndarray, pd.Series]] = []  # ledger behind a newer Google change
    # Per Google order: canceled on Google after the ledger last stored its copy of the order.
    canceled_since_look = _after(canceled_at, led("last_seen_at")) & has_led if lo is not None else None

    if lg is not None and len(lg):
        grow_all = _match_lines(
            g,
            g_first,
            g_count,
            g_order_of_row,
            np.repeat(l_to_g, l_count),  # the Google order of every ledger line
            lg["line_no"].to_numpy(),
            lg["line_item_id"],
            None,
        )
        rows = np.flatnonzero(grow_all >= 0)
        grow = grow_all[rows] if len(rows) < len(grow_all) else grow_all
        del grow_all
        for q in _QTY:
            known = _rows(lg[q].notna().to_numpy(), rows)
            lvi = _rows(lg[q].to_numpy(dtype="int32", na_value=0), rows)
            diff = known & (lvi != g_q[q][grow])
            del known
            if diff.any():
                gr, ledger_value = grow[diff], lvi[diff]
                lagging = np.zeros(len(gr), dtype=bool)
                if q == "qty_canceled" and canceled_since_look is not None:
                    # Units canceled on Google since the ledger's last look: the recheck catches up.
                    lagging = canceled_since_look[g_order_of_row[gr]] & (g_q[q][gr] > ledger_value)
                said = (
                    "line "
                    + _s(g_line_ids.iloc[gr])
                    + ": Google "
                    + q[4:]
                    + " "
                    + _s(g_q[q][gr])
                    + ", our ledger "
                    + _s(ledger_value)
                )
                if lagging.any():
                    lag = gr[lagging]
                    seen = led("last_seen_at").iloc[g_order_of_row[lag]]
                    pending_parts.append((
                        lag,
                        said[lagging].reset_index(drop=True)
                        + " — pending sync: canceled on Google at "
                        + _s(_iso(canceled_at.iloc[g_order_of_row[lag]]))
                        + ", after the ledger last read the order ("
                        + _s(_iso(seen))
                        + f"); {freshness.recheck_text()} records it and tells the OMS: nothing to do "
                        "unless it is still here after that.",
                    ))
                if (~lagging).any():
                    detail = said[~lagging].reset_index(drop=True) + (
                        " — the ledger is out of step with Google: see this order's failed operations; "
                        f"{freshness.recheck_text()} reads the order again."
                    )
                    line_parts.append((gr[~lagging], detail, "high"))
            del lvi, diff
        del rows, grow

    if om is not None and len(om) and n:  # with no Google order there is no line to compare
        # Only lines of the OMS order we matched (not a duplicate's) are compared: decided per
        # OMS order, then repeated onto its lines.
        matched = oms_pos[np.maximum(om_to_g, 0)] == np.arange(len(om_to_g))
        o_order_g = np.repeat(np.where(matched, om_to_g, np.int32(-1)), o_count)
        del matched
        grow_all = _match_lines(
            g,
            g_first,
            g_count,
            g_order_of_row,
            o_order_g,
            om["line_no"].to_numpy(),
            om["line_item_id"],
            om["offer_id"],
        )
        rows = np.flatnonzero(o_order_g >= 0)
        grow = grow_all[rows] if len(rows) < len(grow_all) else grow_all
        del grow_all
        known_q = [q for q in ("qty_ordered", "qty_shipped", "qty_delivered") if om[q].notna().any()]
        unmatched = grow < 0
        if unmatched.any():
            um = rows[unmatched]
            line_parts.append(
                (
                    g_first[o_order_g[um]],
                    "OMS line "
                    + _s(
                        om["line_item_id"]
                        .iloc[um]
                        .where(_nonempty(om["line_item_id"].iloc[um]), om["offer_id"].iloc[um])
                    )
                    + " matches no line of the Google order: fix the line mapping in the OMS order.",
                    "high",
                )
            )
        if unmatched.any():
            rows, grow = rows[~unmatched], grow[~unmatched]
        del o_order_g, unmatched
        in_oms_order = has_oms[g_order_of_row]
        for q in known_q:
            # OMS total per Google line row (one quantity at a time, so only one such array is
            # alive); lines the OMS does not list count as 0 of what it tracks.
            ov = np.zeros(len(g), dtype=np.int32)
            np.add.at(ov, grow, _rows(om[q].to_numpy(dtype="int32", na_value=0), rows))
            gv = g_q[q]
            if q == "qty_ordered":
                # Square may keep the original quantity after a Google cancellation or reduce it.
                diff = in_oms_order & (ov != gv) & (ov != gv - g_q["qty_canceled"])
            else:
                diff = in_oms_order & (ov != gv)
            if diff.any():
                gr = np.flatnonzero(diff)
                fewer_in_oms = ov[gr] < gv[gr]
                what = q[4:]
                advice = np.where(
                    fewer_in_oms,
                    f" — Google counts more {what} than the OMS: confirm with the warehouse before "
                    "the customer is told it is on its way.",
                    f" — the OMS has {what} items Google does not know about: the next sync should "
                    "report them; if it does not, see failed_operation.",
                )
                detail = (
                    "line "
                    + _s(g_line_ids.iloc[gr])
                    + ": Google "
                    + what
                    + " "
                    + _s(gv[gr])
                    + ", OMS "
                    + _s(ov[gr])
                    + _s(advice)
                )
                line_parts.append((gr, detail, "high"))
            del ov, diff
        del rows, grow, in_oms_order

    for grow_, detail, sev in line_parts:
        oi = g_order_of_row[grow_]
        keep = first_g[oi]
        out.add(ids.iloc[oi[keep]], "quantity_mismatch", sev, detail[keep], age[oi[keep]])
    for grow_, detail in pending_parts:
        oi = g_order_of_row[grow_]
        keep = first_g[oi]
        out.add(ids.iloc[oi[keep]], "pending_sync", "low", detail[keep], age[oi[keep]])

    # The line phase is the widest; hand its freed Arrow pages back before the next one.
    del g_q
    pa.default_memory_pool().release_unused()

    # ---- amounts -----------------------------------------------------------------------------------
    amount_oms = pd.array(np.zeros(n, dtype="int64"), dtype="Int64")
    oms_status = pd.Series(_default(_CAT, n))
    if oo is not None:
        amount_oms = oms_col("amount_minor").where(has_oms, pd.NA).astype("Int64")
        o_cur = oms_col("currency").astype("str")
        oms_status = oms_col("oms_status").astype("str").where(has_oms, "")
        known_amt = amount_oms.notna().to_numpy()
        a_oms = amount_oms.to_numpy(dtype="int64", na_value=0)
        other_cur = _nonempty(o_cur) & _differs(o_cur, currency)
        # After a line cancellation the OMS either keeps the order as sold (a paid Square order
        # cannot change its lines) or reduces it: Google's gross or its net amount both match.
        net_g = go["net_amount_minor"].to_numpy(dtype="int64", na_value=-1)
        reduced = (sums["qty_canceled"] > 0) & (net_g >= 0) & (a_oms == net_g)
        mask = first_g & has_oms & known_amt & (((a_oms != amount_g) & ~reduced) | other_cur)
        if mask.any():
            gtxt = format_minor(pd.Series(amount_g[mask]), currency[mask].reset_index(drop=True))
            otxt = format_minor(pd.Series(a_oms[mask]), o_cur[mask].reset_index(drop=True))
            delta = format_minor(
                pd.Series(a_oms[mask] - amount_g[mask]), currency[mask].reset_index(drop=True)
            )
            cur_g, cur_o = _s(currency[mask]), _s(o_cur[mask])
            detail = (
                "Google total "
                + gtxt
                + " "
                + cur_g
                + ", OMS total "
                + otxt
                + " "
                + cur_o
                + pd.Series(np.where(other_cur[mask], " (different currency)", ""))
                + " (OMS minus Google: "
                + delta
                + "): check prices, tax, shipping and promotions "
                "in the OMS order."
            )
            out.add(ids[mask], "amount_mismatch", "high", detail.to_numpy(), age[mask])
        oms_status = oms_status.astype("str")

        # ---- status -------------------------------------------------------------------------------
        def ost(*values: str) -> np.ndarray:
            return oms_status.isin(values).to_numpy()

        moved = ost("completed", "shipped", "partially_shipped", "delivered")
        early = status.isin(["inProgress", "pendingShipment"]).to_numpy()
        # Canceled on Google after the last cycle started: that cycle could not know yet.
        canceled_lately = canceled & _after(canceled_at, cycle_at)
        rules = [
            (
                canceled_lately & ost("open", "draft"),
                "pending",
                "Canceled on Google after the last sync cycle started: pending sync, the next cycle "
                "cancels the OMS order; nothing to do unless it is still here after that.",
            ),
            (
                canceled & ~canceled_lately & ost("open", "draft"),
                "critical",
                "Canceled on Google but still open in the OMS: the sync cancels it there every cycle; "
                "if it stays open, see this order's failed_operation and cancel it in the OMS so it is "
                "not shipped.",
            ),
            (
                canceled & moved,
                "critical",
                "Canceled on Google but the OMS shipped it: contact the carrier or the customer.",
            ),
            (
                ~canceled & ost("canceled"),
                "critical",
                "Canceled in the OMS but live on Google: cancel it on Google (the customer is waiting).",
            ),
            (
                early & moved,
                "high",
                "The OMS shipped it but Google still shows it unshipped: the shipment was not reported; "
                "see failed_operation or rerun the sync.",
            ),
            (
                ~canceled & ost("draft"),
                "high",
                "The OMS order is still DRAFT, so it cannot be paid or fulfilled: open it in the OMS.",
            ),
        ]
        for rule_mask, sev, text in rules:
            mask = rule_mask & first_g & has_oms
            if mask.any():
                detail = "Google " + _s(status[mask]) + ", OMS " + _s(oms_status[mask]) + ": " + text
                category, sev = ("pending_sync", "low") if sev == "pending" else ("status_mismatch", sev)
                out.add(ids[mask], category, sev, detail.to_numpy(), age[mask])

        # ---- tracking -----------------------------------------------------------------------------
        g_trk = go["tracking_ids"]
        o_trk = oms_col("tracking_ids")
        mask = first_g & has_oms & _nonempty(g_trk) & _nonempty(o_trk) & _differs(g_trk, o_trk)
        if mask.any():
            from_square = (oms_col("source") == "square").to_numpy()[mask]
            advice = np.where(
                from_square,
                ": the sync sends Square's tracking to Google when the fulfilment changes; if this stays, "
                "see this order's failed_operation, and check with the carrier which id is right.",
                ": a corrected tracking id in the feed is a new parcel to ordersync, so check with the "
                "carrier which id is right and correct that parcel's shipment in Merchant Center.",
            )
            detail = "Google has tracking " + _s(g_trk[mask]) + ", OMS has " + _s(o_trk[mask]) + _s(advice)
            out.add(ids[mask], "tracking_mismatch", "medium", detail.to_numpy(), age[mask])
        del g_trk, o_trk

    # ---- stuck / not delivered -----------------------------------------------------------------
    pending = sums["qty_ordered"] - sums["qty_shipped"] - sums["qty_canceled"]
    mask = live & acked & ~status.isin(["inProgress"]).to_numpy() & (pending > 0) & (age > slas.ship_hours)
    if mask.any():
        detail = (
            _s(pending[mask]) + f" item(s) still unshipped {slas.ship_hours:g} h after the order was "
            "placed: ship or cancel them (Google penalises late shipping)."
        )
        out.add(ids[mask], "stuck_past_ship_sla", "high", detail.to_numpy(), age[mask])

    open_since = go["open_shipment_since"]
    ship_age = _hours(now, open_since.where(open_since.notna(), placed_at))
    del open_since
    in_transit = sums["qty_shipped"] - sums["qty_delivered"] - sums["qty_returned"]
    mask = live & (in_transit > 0) & (ship_age > slas.delivery_hours)
    if mask.any():
        detail = (
            _s(in_transit[mask]) + f" item(s) shipped more than {slas.delivery_hours:g} h ago and not "
            "marked delivered: check tracking with the carrier, then mark delivered or lost."
        )
        out.add(ids[mask], "shipped_not_delivered_past_sla", "medium", detail.to_numpy(), ship_age[mask])

    # ---- failed operations ---------------------------------------------------------------------
    if lo is not None:
        f = np.flatnonzero(lo["failed_ops"].to_numpy() > 0)
        if len(f):
            since = lo.at("last_failed_at", f)
            g_of = l_to_g[f]
            # No Google order at all (n == 0) leaves nothing to gather a placed date from.
            placed = placed_at.iloc[np.maximum(g_of, 0)] if n else pd.Series(_default(_DT, len(f)))
            placed = placed.reset_index(drop=True)
            since = since.where(since.notna(), placed.where(pd.Series(g_of >= 0), pd.NaT))
            detail = (
                _s(lo.at("failed_ops", f))
                + " failed operation(s): "
                + _s(lo.at("failed_detail", f))
                + " — refused for good and not sent again: fix the cause (a parcel: export it again "
                "with its real tracking id or a new shipment_id; an order change: make it in "
                "Merchant Center or the OMS); it is listed until then."
            )
            out.add(
                lo.at("google_order_id", f), "failed_operation", "high", detail.to_numpy(), _hours(now, since)
            )

    # ---- rejected feed rows ----------------------------------------------------------------------
    if rejects is not None and len(rejects):
        rj = conform(rejects, REJECTS_SCHEMA, "rejects", lines=False)
        whole_file = rj["reason"].str.startswith("whole file not read").to_numpy()
        listed = rj["rejects_file"].where(_nonempty(rj["rejects_file"]), "the rejects file")
        fix = pd.Series(
            np.where(
                whole_file,
                "fix the file in the feed folder (or export it again)",
                np.where(
                    rj["retryable"].to_numpy(),
                    "retried every cycle: if the order id is right, nothing to do until Google has the "
                    "order; if it is wrong, correct the row in " + listed + " and drop that file into "
                    "the feed folder",
                    "correct the row in " + listed + " and drop that file into the feed folder",
                ),
            ),
            dtype="str",
        )
        detail = rj["source"] + " line " + _s(rj["line_no"]) + ": " + rj["reason"] + " — " + fix
        out.add(rj["google_order_id"], "rejected_feed_row", "high", detail.to_numpy(),
                _hours(now, rj["first_seen_at"]))

    breaks = out.frame()
    pa.default_memory_pool().release_unused()

    # ---- per-order rows ------------------------------------------------------------------------
    if l_mid is not None:
        merchant = g_mid.where(has_mid, l_mid.where(has_led, ""))
        del l_mid
        square = led("square_order_id").where(has_led, "")
        synced = led("last_synced_at").where(has_led, pd.NaT)
    else:
        merchant, square = g_mid, pd.Series("", index=range(n), dtype="str")
        synced = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if oo is not None:
        from_oms = oms_col("oms_order_id").where(has_oms & (oms_col("source") == "square").to_numpy(), "")
        square = square.where(_nonempty(square), from_oms)
    # Google's orders, then the ones only the ledger / OMS know, stacked without copying either:
    # strings are Arrow already and numbers become Arrow-backed columns over the same buffers
    # (pd.concat would copy every numeric column: ~70 MB more per million orders).
    others = _orders_not_in_google(lo, led_not_in_google, oo, oms_not_in_google, stray_refs)
    # Its few-row gathers from chunked string columns join each column's chunks first (a
    # transient copy of the column): hand those pages back before the orders frame is built.
    pa.default_memory_pool().release_unused()
    columns: dict[str, pd.Series] = {}

    def put(name: str, google_part: pd.Series | np.ndarray | pd.api.extensions.ExtensionArray) -> None:
        other = others[name] if name in others.columns else pd.Series(_default(_STR, len(others)))
        columns[name] = _stack(pd.Series(google_part, copy=False), other)

    put("google_order_id", ids)
    put("merchant_order_id", merchant.astype("str"))
    put("square_order_id", square.astype("str"))
    put("placed_at", placed_at)
    put("google_status", status.astype("str"))
    oms_text = oms_status.astype("str")
    if kept_out.any():
        oms_text = oms_text.where(~(kept_out & ~has_oms), NOT_IN_SQUARE)
    put("oms_status", oms_text)
    for q in _QTY:
        put(q, sums[q])
    put("amount_google_minor", amount_g)
    put("amount_oms_minor", amount_oms if oo is not None else _default(_NI64, n))
    put("currency", currency)
    put("last_synced_at", synced)
    put("in_google", np.ones(n, dtype=bool))
    for name in PII_COLUMNS:
        if name in go.columns:
            put(name, go[name])  # only Google has them: "" for the others
    orders = pd.DataFrame(columns, copy=False)  # the columns are ours and fresh: no second copy
    if not first_g.all():
        keep = np.concatenate([first_g, np.ones(len(others), dtype=bool)])
        orders = orders[keep].reset_index(drop=True)  # a filtered copy only when needed
    return Reconciliation(orders=orders, breaks=breaks)


def _stack(google_part: pd.Series, other_part: pd.Series) -> pd.Series:
    """One orders column: the Google orders' values, then the other orders'. Neither part is
    copied: text stays an Arrow string column (of two chunks), anything else becomes an
    Arrow-backed column (nullable: the others lack Google's values) over both parts' buffers."""
    google_part = google_part.reset_index(drop=True)
    if pd.api.types.is_string_dtype(google_part.dtype):
        if len(other_part) == 0:
            return google_part.astype("str")
        return pd.concat([google_part, other_part.astype("str")], ignore_index=True)
    chunks = [pa.array(google_part)]
    if len(other_part):
        chunks.append(pa.array(other_part).cast(chunks[0].type))
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks, type=chunks[0].type)))


def _orders_not_in_google(
    lo: _FirstRows | None,
    led_orders: np.ndarray,
    oo: _FirstRows | None,
    oms_orders: np.ndarray,
    oms_refs: pd.Series,
) -> pd.DataFrame:
    """orders rows for the orders only the ledger and/or the OMS know (missing_in_google).

    ``led_orders`` / ``oms_orders`` are the ledger / OMS order rows whose reference matches no
    Google order; ``oms_refs`` is the latter's order_ref. An OMS order is folded into the ledger
    order it refers to (by Google order id, else by merchant order id, as on the Google side),
    so such an order is one row; the first ledger or OMS order wins when several name the same
    reference. Google's columns stay empty (no placed date, status or Google amount); quantities
    come from the ledger where it knows them, else from the OMS; amount, currency and status
    from the OMS. Sorted by id.
    """
    empty = np.zeros(0, dtype=np.int32)
    if lo is None or len(led_orders) == 0:
        lo, led_orders = None, empty
    if oo is None or len(oms_orders) == 0:
        oo, oms_orders = None, empty
    if lo is None and oo is None:
        return pd.DataFrame()

    led_ids = pd.Series([], dtype="str")
    if lo is not None:
        led_ids = lo.at("google_order_id", led_orders)
        first = ~led_ids.duplicated().to_numpy()
        led_orders, led_ids = led_orders[first], led_ids[first].reset_index(drop=True)
    oms_of_led = np.full(len(led_orders), -1, dtype=np.int32)
    oms_only, oms_only_refs = empty, pd.Series([], dtype="str")
    if oo is not None:
        refs = oms_refs.reset_index(drop=True)
        pos = _index_in(refs, led_ids)
        if lo is not None and (pos < 0).any():
            unresolved = np.flatnonzero(pos < 0)
            led_mids = lo.at("merchant_order_id", led_orders)
            by_mid = _index_in(refs.iloc[unresolved], led_mids)
            by_mid[~_nonempty(refs.iloc[unresolved])] = -1  # "" never matches ""
            pos[unresolved] = by_mid
        matched = np.flatnonzero(pos >= 0)[::-1]  # reversed: the first OMS order is written last
        oms_of_led[pos[matched]] = oms_orders[matched]
        rest = np.flatnonzero(pos < 0)
        first = ~refs.iloc[rest].duplicated().to_numpy()
        oms_only = oms_orders[rest[first]]
        oms_only_refs = refs.iloc[rest[first]].reset_index(drop=True)

    # One entry per output row: its ledger order row and its OMS order row (-1: none).
    led_at = np.concatenate([led_orders, np.full(len(oms_only), -1)]).astype(np.int32)
    oms_at = np.concatenate([oms_of_led, oms_only]).astype(np.int32)
    k = len(led_at)

    def column(source: _FirstRows | None, at: np.ndarray, col: str, kind: str) -> pd.Series:
        """``col`` of each row's ledger / OMS order; the kind's neutral default where it has none."""
        out = pd.Series(_default(kind, k))
        present = np.flatnonzero(at >= 0)
        if source is not None and len(present):
            out.iloc[present] = source.at(col, at[present]).astype(out.dtype).array
        return out

    def quantity(source: _FirstRows | None, at: np.ndarray, col: str) -> pd.Series:
        out = pd.Series(_default(_NI64, k))
        present = np.flatnonzero(at >= 0)
        if source is not None and len(present) and col in source.columns:
            out.iloc[present] = source.known_sums(col, at[present])
        return out

    square = column(lo, led_at, "square_order_id", _STR)
    from_square = np.where((column(oo, oms_at, "source", _STR) == "square").to_numpy(), oms_at, -1)
    square = square.where(_nonempty(square), column(oo, from_square, "oms_order_id", _STR))
    others = pd.DataFrame(
        {
            "google_order_id": pd.concat([led_ids, oms_only_refs], ignore_index=True).astype("str"),
            "merchant_order_id": column(lo, led_at, "merchant_order_id", _STR),
            "square_order_id": square,
            "placed_at": pd.Series(_default(_DT, k)),
            "google_status": pd.Series(_default(_STR, k)),
            "oms_status": column(oo, oms_at, "oms_status", _STR),
            # The ledger's count where it has one (what the sync last saw on Google), else the OMS's.
            **{q: quantity(lo, led_at, q).fillna(quantity(oo, oms_at, q)) for q in _QTY},
            "amount_google_minor": pd.Series(_default(_NI64, k)),
            "amount_oms_minor": column(oo, oms_at, "amount_minor", _NI64),
            "currency": column(oo, oms_at, "currency", _STR),
            "last_synced_at": column(lo, led_at, "last_synced_at", _DT),
            "in_google": np.zeros(k, dtype=bool),
        }
    )
    return others.sort_values("google_order_id", kind="stable", ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Report shaping (still pure)


def age_bucket(age_hours: pd.Series) -> pd.Series:
    bins = [-np.inf, 24, 72, 168, np.inf]
    cut = pd.cut(age_hours, bins=bins, labels=list(AGE_BUCKETS[:4]), right=False)
    return cut.cat.add_categories(["unknown"]).fillna("unknown").astype(pd.CategoricalDtype(AGE_BUCKETS))


def orders_table(o: pd.DataFrame) -> pd.DataFrame:
    """orders.csv content for ``Reconciliation.orders`` (or a slice of it, to write in chunks):
    ORDER_COLUMNS with money as decimal strings, times as ISO 8601 UTC."""
    # format_minor numbers its output from 0: a later slice (index 100000...) must be too, or
    # the frame below aligns two indexes and writes every order as two half-empty rows.
    o = o.reset_index(drop=True)
    table = pd.DataFrame(
        {
            "google_order_id": o["google_order_id"],
            "merchant_order_id": o["merchant_order_id"],
            "square_order_id": o["square_order_id"],
            "placed_at": _iso(o["placed_at"]),
            "google_status": o["google_status"],
            "oms_status": o["oms_status"],
            "qty_ordered": o["qty_ordered"],
            "qty_shipped": o["qty_shipped"],
            "qty_delivered": o["qty_delivered"],
            "qty_canceled": o["qty_canceled"],
            "amount_google": format_minor(o["amount_google_minor"], o["currency"]),
            "amount_oms": format_minor(o["amount_oms_minor"], o["currency"]),
            "currency": o["currency"],
            "last_synced_at": _iso(o["last_synced_at"]),
        }
    )
    for name in PII_COLUMNS:
        if name in o.columns:
            table[name] = o[name]
    return table


def _iso(times: pd.Series) -> pd.Series:
    """ISO 8601 UTC to the second, formatted in Arrow (numpy or Arrow-backed input alike)."""
    arr = pa.array(times.array)  # zero-copy for either
    # Whole seconds first: for a microsecond timestamp Arrow's %S would print "05.000000".
    secs = pc.cast(arr, pa.timestamp("s", tz="UTC"), safe=False)
    text = pc.strftime(secs, format="%Y-%m-%dT%H:%M:%SZ").cast(pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(text), index=times.index)


def summarise(rec: Reconciliation) -> pd.DataFrame:
    """summary.csv, long format: section, key, count, amount, currency.

    Sections: totals (orders, breaks, orders_with_breaks, and orders_not_in_square when there are
    any), orders_by_status, breaks_by_category,
    breaks_by_severity, breaks_by_age. ``amount`` is the Google total of the orders concerned, per
    currency (one row per currency; a zero-count key gets one row with empty amount/currency so
    every category and bucket is always listed). orders_by_status counts the orders Google does
    not list under NOT_IN_GOOGLE, after the Google statuses, in one row with no amount (Google
    has none for them); breaks on those orders likewise add no amount.
    """
    o, b = rec.orders, rec.breaks
    with_breaks = b.loc[b["google_order_id"] != "", "google_order_id"].nunique()  # "": a whole feed file
    totals = {"orders": len(o), "breaks": len(b), "orders_with_breaks": with_breaks}
    kept_out = int((o["oms_status"] == NOT_IN_SQUARE).sum()) if len(o) else 0
    if kept_out:
        totals["orders_not_in_square"] = kept_out  # shipped before Square was enabled: no break
    parts = [
        pd.DataFrame(
            {
                "section": "totals",
                "key": list(totals),
                "count": list(totals.values()),
                "amount": "",
                "currency": "",
            }
        )
    ]

    def grouped(section: str, frame: pd.DataFrame, key: str, keys: tuple[str, ...]) -> pd.DataFrame:
        agg = (
            frame.groupby([key, "currency"], observed=True, dropna=False)["amount_google_minor"]
            .agg(["size", "sum"])
            .reset_index()
        )
        agg[key] = agg[key].astype("str")
        amt = agg["sum"].astype("Int64").where(agg["currency"].astype("str") != "", pd.NA)
        rows = pd.DataFrame(
            {
                "section": section,
                "key": agg[key],
                "count": agg["size"].astype("int64"),
                "amount": format_minor(amt, agg["currency"].astype("str")).fillna(""),
                "currency": agg["currency"].astype("str").fillna(""),
            }
        )
        absent = [k for k in keys if k not in set(rows["key"])]
        zero = pd.DataFrame({"section": section, "key": absent, "count": 0, "amount": "", "currency": ""})
        rows = pd.concat([rows, zero], ignore_index=True)
        order = {k: i for i, k in enumerate(keys)}
        rows["_o"] = rows["key"].map(lambda k: order.get(k, len(order)))
        return rows.sort_values(["_o", "key", "currency"], kind="stable").drop(columns="_o")

    in_google = o["in_google"].to_numpy(dtype=bool)
    status = o["google_status"].astype("category")
    currency = o["currency"].fillna("").astype("category")
    if not in_google.all():
        # Orders only the ledger / OMS know: one key of their own, and no Google amount to add,
        # so they count as one row (amount and currency empty) instead of one per OMS currency.
        status = status.cat.add_categories([NOT_IN_GOOGLE]).where(in_google, NOT_IN_GOOGLE)
        if "" not in currency.cat.categories:
            currency = currency.cat.add_categories([""])
        currency = currency.where(in_google, "")
    status_frame = pd.DataFrame(
        {"google_status": status, "currency": currency, "amount_google_minor": o["amount_google_minor"]},
        copy=False,
    )
    observed = set(status.cat.categories)
    status_keys = tuple(s for s in (*GOOGLE_STATUSES, NOT_IN_GOOGLE) if s in observed)
    parts.append(grouped("orders_by_status", status_frame, "google_status", status_keys))
    # The Google amount of each break's order: a hash lookup of the (few) break ids among the
    # order ids (unique), not a merge that factorises a million order ids; same rows as a left join.
    # A break on an order Google does not list has no Google amount (as if not found).
    pos = _index_in(b["google_order_id"], o["google_order_id"])
    found = pos >= 0
    found[found] = in_google[pos[found]]
    currency, amount = np.full(len(b), "", dtype=object), np.zeros(len(b), dtype="int64")
    if len(o) and found.any():
        rows = pos[found]
        currency[found] = o["currency"].iloc[rows].astype("str").fillna("").to_numpy()
        amount[found] = o["amount_google_minor"].iloc[rows].to_numpy(dtype="int64", na_value=0)
    bm = b.assign(currency=pd.Series(currency, index=b.index, dtype="str"), amount_google_minor=amount)
    bm["age_bucket"] = age_bucket(bm["age_hours"])
    parts.append(grouped("breaks_by_category", bm, "category", CATEGORIES))
    parts.append(grouped("breaks_by_severity", bm, "severity", SEVERITIES))
    parts.append(grouped("breaks_by_age", bm, "age_bucket", AGE_BUCKETS))
    return pd.concat(parts, ignore_index=True)[["section", "key", "count", "amount", "currency"]]
