"""The input frames of the reconciliation: vocabularies, schemas, and ``conform`` (typing a frame
to its schema and keeping every order's lines contiguous, which the rules rely on).

Refund and return columns came with issue 15; snapshots from before read as "no refunds, no
returns" (Google) and "refunds unknown" (OMS).

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
    refunded_minor       int64     sum of Order.refunds[].amount (what Google refunded)
    last_refunded_at     datetime  creationDate of the latest refund (NaT: none)
    returned_amount_minor int64    what the returned units are worth: per line, (price + tax) x
                                   quantityReturned / quantityOrdered, rounded down
    last_returned_at     datetime  creationDate of the latest line return (NaT: none)
    qty_return_open      Int32     units of the line customers returned on Google (orderreturns) and
                                   nobody refunded yet, as the ledger follows them; NA: not known
                                   (snapshots from before, or written without the ledger's returns)
    return_waiting_since datetime  creationDate of the order's oldest such return (NaT: none or not
                                   known); the clock of return_not_refunded_past_sla when known,
                                   else last_returned_at
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
    refunded_minor       Int64     refunds the OMS recorded (Square: the COMPLETED refunds of the
                                   order's return orders); NA when the OMS keeps none (the feed)
    last_refunded_at     datetime  when the latest of them was made (NaT: none)

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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain.live_breaks import CATEGORIES as LIVE_CATEGORIES
from sync.domain.reconcile.columns import arrow_strings

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
    "refund_mismatch",
    "status_mismatch",
    "stuck_past_ship_sla",
    "shipped_not_delivered_past_sla",
    "return_not_refunded_past_sla",
    "tracking_mismatch",
    "failed_operation",
    "rejected_feed_row",
    *LIVE_CATEGORIES,  # Google's live channels (UCP webhooks, order tracking): domain.live_breaks
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
    "qty_returned",
    "qty_return_open",
    "amount_google",
    "amount_google_net",
    "amount_oms",
    "amount_refunded_google",
    "amount_refunded_oms",
    "currency",
    "last_synced_at",
)

STR, CAT, BOOL, NBOOL, DT, I64, NI64, I32, NI32 = (
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
QUANTITIES = ("qty_ordered", "qty_shipped", "qty_delivered", "qty_canceled")

# name -> (kind, required). Optional columns get their neutral default when absent.
GOOGLE_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (STR, True),
    "merchant_order_id": (STR, False),
    "status": (CAT, True),
    "acknowledged": (BOOL, True),
    "placed_at": (DT, True),
    "currency": (CAT, True),
    "amount_minor": (I64, True),
    "net_amount_minor": (NI64, False),
    "tracking_ids": (STR, False),
    "open_shipment_since": (DT, False),
    "line_no": (I32, False),
    "line_item_id": (STR, False),
    "offer_id": (STR, False),
    "qty_ordered": (I32, True),
    "qty_shipped": (I32, False),
    "qty_delivered": (I32, False),
    "qty_canceled": (I32, False),
    "qty_returned": (I32, False),
    "last_canceled_at": (DT, False),
    # Returns and refunds (issue 15; absent from older snapshots, which read as none):
    "refunded_minor": (I64, False),  # sum of Order.refunds[].amount
    "last_refunded_at": (DT, False),  # creationDate of the latest refund
    "returned_amount_minor": (I64, False),  # what the returned units are worth (price + tax)
    "last_returned_at": (DT, False),  # creationDate of the latest line return
    "qty_return_open": (NI32, False),  # customer-return units not refunded yet; NA: not known
    "return_waiting_since": (DT, False),  # the oldest of them was created (NaT: none / not known)
}
LEDGER_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (STR, True),
    "merchant_order_id": (STR, False),
    "square_order_id": (STR, False),
    "stage": (CAT, False),
    "acknowledged": (NBOOL, False),
    "last_synced_at": (DT, False),
    "failed_ops": (I32, False),
    "failed_detail": (STR, False),
    "last_failed_at": (DT, False),
    "last_seen_at": (DT, False),
    "square_skip_reason": (STR, False),
    "line_no": (I32, False),
    "line_item_id": (STR, False),
    "qty_ordered": (NI32, False),
    "qty_shipped": (NI32, False),
    "qty_delivered": (NI32, False),
    "qty_canceled": (NI32, False),
}
OMS_SCHEMA: dict[str, tuple[str, bool]] = {
    "source": (CAT, True),
    "oms_order_id": (STR, True),
    "order_ref": (STR, True),
    "oms_status": (CAT, False),
    "currency": (CAT, False),
    "amount_minor": (NI64, False),
    "tracking_ids": (STR, False),
    "created_at": (DT, False),
    "line_no": (I32, False),
    "line_item_id": (STR, False),
    "offer_id": (STR, False),
    "qty_ordered": (NI32, False),
    "qty_shipped": (NI32, False),
    "qty_delivered": (NI32, False),
    # Refunds the OMS recorded for the order (Square: its return orders' refunds); NA: it does
    # not keep refunds (the feed, or a snapshot from before issue 15).
    "refunded_minor": (NI64, False),
    "last_refunded_at": (DT, False),
}
REJECTS_SCHEMA: dict[str, tuple[str, bool]] = {
    "google_order_id": (STR, True),
    "source": (STR, True),
    "line_no": (I32, True),
    "reason": (STR, True),
    "retryable": (BOOL, False),
    "first_seen_at": (DT, False),
    "rejects_file": (STR, False),
}
PII_COLUMNS = ("customer_name", "customer_email")
_CATEGORY_VALUES = {"status": GOOGLE_STATUSES, "oms_status": OMS_STATUSES, "source": OMS_SOURCES}


class SchemaError(ValueError):
    """An input frame lacks a required column or holds a value of the wrong type."""



# ---------------------------------------------------------------------------------------------
# Conformance


def default_array(kind: str, n: int) -> pd.api.extensions.ExtensionArray | np.ndarray:
    # Built from arrays, never from n-element Python lists (a million pd.NA / "" objects).
    if kind == STR:
        empty: pd.api.extensions.ExtensionArray = pd.array(
            pc.fill_null(pa.nulls(n, pa.large_string()), ""), dtype="str"
        )  # an Arrow array in (Any without stubs): pandas' overloads cannot say which array comes out
        return empty
    if kind == CAT:
        if n == 0:
            return pd.Categorical([])
        return pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=pd.Index([""]))
    if kind == BOOL:
        return np.zeros(n, dtype=bool)
    if kind == NBOOL:
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    if kind == DT:
        return pd.array(np.full(n, np.datetime64("NaT", "us")), dtype="datetime64[us]").tz_localize("UTC")
    if kind in (I64, I32):
        return np.zeros(n, dtype=kind)
    return pd.arrays.IntegerArray(np.zeros(n, dtype=kind.lower()), np.ones(n, dtype=bool))


def _already(col: pd.Series, kind: str) -> bool:
    """True when the column already has the target dtype (the common case: our own builders)."""
    dt = col.dtype
    if kind == STR:
        return dt == "str" and not col.hasnans
    if kind == CAT:
        return isinstance(dt, pd.CategoricalDtype) and not col.hasnans
    if kind == DT:
        return str(dt) == "datetime64[us, UTC]"
    return str(dt) == kind


def _coerce(col: pd.Series, kind: str, name: str) -> pd.Series:
    if _already(col, kind):
        return col  # no copy: conforming our own frames must not double memory
    try:
        if kind == STR:
            return col.astype("str").fillna("")
        if kind == CAT:
            values = _CATEGORY_VALUES.get(name)
            col = col.astype("str").fillna("")
            if values is not None:
                extra = sorted(set(col.unique()) - set(values))
                return col.astype(pd.CategoricalDtype([*values, *extra]))
            return col.astype("category")
        if kind in (BOOL, NBOOL):
            if col.dtype == object or pd.api.types.is_string_dtype(col):
                col = (
                    col.astype("str")
                    .str.strip()
                    .str.lower()
                    .map({"true": True, "1": True, "false": False, "0": False, "": pd.NA})
                )
            col = col.astype("boolean")
            return col.fillna(False).astype(bool) if kind == BOOL else col
        if kind == DT:
            # ``.dt`` of a Series of unknown element type is Any to pandas-stubs.
            times: pd.Series
            if isinstance(col.dtype, pd.DatetimeTZDtype):
                times = col.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
                return times
            if pd.api.types.is_datetime64_dtype(col):
                times = col.dt.tz_localize("UTC").astype("datetime64[us, UTC]")
                return times
            col = col.astype("str").replace("", None)
            return pd.to_datetime(col, utc=True, format="ISO8601").astype("datetime64[us, UTC]")
        if not pd.api.types.is_numeric_dtype(col):
            col = pd.to_numeric(col.astype("str").str.strip().replace("", None))
        if pd.api.types.is_float_dtype(col) and not np.all(np.mod(col.fillna(0), 1) == 0):
            raise ValueError("fractional values")
        # The kind as a dtype object: pandas-stubs type astype() by literal dtype names only.
        if kind in (I64, I32):
            return col.fillna(0).astype(pd.api.types.pandas_dtype(kind))
        return col.astype(pd.api.types.pandas_dtype(kind))
    except (ValueError, TypeError) as exc:
        raise SchemaError(f"column {name!r}: cannot read as {kind}: {exc}") from None


def conform(
    frame: pd.DataFrame,
    schema: dict[str, tuple[str, bool]],
    what: str,
    *,
    lines: bool = True,
    contiguous: bool = False,
) -> pd.DataFrame:
    """Return a frame with exactly the schema's columns (plus PII columns if present), typed.

    Also guarantees every order's lines are contiguous with ``line_no`` 0..k-1, which the rules
    rely on to map line rows to orders with a cumulative sum instead of a hash join.
    ``contiguous=True``: the caller has checked that already (``lines_contiguous`` over the whole
    input it partitioned), so it is not checked again.
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
            cols[name] = default_array(kind, n)
    for name in PII_COLUMNS:
        if name in frame.columns:
            cols[name] = frame[name].reset_index(drop=True).astype("str").fillna("")
    out = pd.DataFrame(cols, copy=False)
    if not lines:  # not a line-per-row frame (REJECTS): line_no is the file's, kept as given
        return out
    key = "google_order_id" if "google_order_id" in schema else "oms_order_id"
    if "line_no" not in frame.columns or not (contiguous or _contiguous(out, key)):
        # Rare path (hand-made snapshots): group rows of one order together, number the lines.
        out = out.sort_values(key, kind="stable", ignore_index=True)
        out["line_no"] = out.groupby(key, sort=False).cumcount().astype("int32")
    return out


def _contiguous(frame: pd.DataFrame, key: str) -> bool:
    if frame.empty:
        return True
    return lines_contiguous(arrow_strings(frame[key]), frame["line_no"].to_numpy())


def lines_contiguous(ids: pa.Array | pa.ChunkedArray, line_no: np.ndarray, *, distinct: bool = True) -> bool:
    """Every order's lines are one block numbered 0..k-1 (``ids``: the order id of every row);
    ``distinct=False`` allows an order in several such blocks."""
    if len(line_no) == 0:
        return True
    starts = line_no == 0
    if not starts[0]:
        return False
    # Numbering restarts at 0 and otherwise counts up by one (bool arrays only, no int temps).
    if not np.all(starts[1:] | (line_no[1:] == line_no[:-1] + 1)):
        return False
    first = np.flatnonzero(starts)
    # Every non-first line carries the same id as the row before it (slices are zero-copy).
    same = pc.equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    same = pc.or_(same, pa.array(starts[1:]))
    ok = bool(pc.all(same).as_py() is not False)
    if ok and distinct:
        # One order must not appear as two separate blocks.
        ok = pc.count_distinct(ids.take(pa.array(first))).as_py() == len(first)
    del same
    pa.default_memory_pool().release_unused()  # the hash table's pages, before the next frame
    return ok
