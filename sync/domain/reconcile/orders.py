"""The orders table: one row per order any view knows, Google's first (in input order), then those
only the ledger and/or the OMS know; and ``orders_table``, its orders.csv shape."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from sync.domain.reconcile.align import Alignment
from sync.domain.reconcile.columns import (
    FirstRows,
    differs,
    format_minor,
    index_in,
    nonempty,
    per_order_sum,
    sheet_time,
)
from sync.domain.reconcile.rules.oms_copy import oms_amounts, oms_statuses
from sync.domain.reconcile.rules.refunds import oms_refunds
from sync.domain.reconcile.schema import (
    DT,
    NI64,
    NOT_IN_SQUARE,
    PII_COLUMNS,
    QUANTITIES,
    STR,
    default_array,
)


def orders_only_elsewhere(a: Alignment) -> pd.DataFrame:
    """The rows of the orders only the ledger and/or the OMS know (see ``_orders_not_in_google``)."""
    return _orders_not_in_google(a.lo, a.led_not_in_google, a.oo, a.oms_not_in_google, a.stray_refs)


def order_rows(a: Alignment, others: pd.DataFrame) -> pd.DataFrame:
    """``Reconciliation.orders`` (see there) from the alignment and ``orders_only_elsewhere``."""
    n, has_led, has_oms = a.n, a.has_led, a.has_oms
    g_mid, oo = a.g_mid, a.oo
    l_mid = a.ledger_merchant_ids()
    if l_mid is not None:
        has_mid = nonempty(g_mid)
        merchant = g_mid.where(has_mid, l_mid.where(has_led, ""))
        square = a.led("square_order_id").where(has_led, "")
        synced = a.led("last_synced_at").where(has_led, pd.NaT)
    else:
        merchant, square = g_mid, pd.Series("", index=range(n), dtype="str")
        synced = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    if oo is not None:
        from_oms = a.oms("oms_order_id").where(has_oms & (a.oms("source") == "square").to_numpy(), "")
        square = square.where(nonempty(square), from_oms)
    # Google's orders, then the ones only the ledger / OMS know, stacked without copying either:
    # strings are Arrow already and numbers become Arrow-backed columns over the same buffers
    # (pd.concat would copy every numeric column: ~70 MB more per million orders).
    columns: dict[str, pd.Series] = {}

    def put(name: str, google_part: pd.Series | np.ndarray | pd.api.extensions.ExtensionArray) -> None:
        other = others[name] if name in others.columns else pd.Series(default_array(STR, len(others)))
        columns[name] = _stack(pd.Series(google_part, copy=False), other)

    put("google_order_id", a.ids)
    put("merchant_order_id", merchant.astype("str"))
    put("square_order_id", square.astype("str"))
    put("placed_at", a.placed_at)
    put("google_status", a.status.astype("str"))
    oms_text = oms_statuses(a).astype("str")
    kept_out = a.kept_out()
    if kept_out.any():
        oms_text = oms_text.where(~(kept_out & ~has_oms), NOT_IN_SQUARE)
    put("oms_status", oms_text)
    for q in (*QUANTITIES, "qty_returned"):
        put(q, a.sums[q])
    put("qty_return_open", _known_per_order(a.g["qty_return_open"], a.g_first))
    put("amount_google_minor", a.amount_g)
    put("amount_google_net_minor", a.go["net_amount_minor"])
    put("amount_oms_minor", oms_amounts(a) if oo is not None else default_array(NI64, n))
    put("refunded_google_minor", a.go["refunded_minor"].to_numpy(dtype="int64"))
    put("refunded_oms_minor", oms_refunds(a) if oo is not None else default_array(NI64, n))
    put("currency", a.currency)
    put("last_synced_at", synced)
    put("in_google", np.ones(n, dtype=bool))
    for name in PII_COLUMNS:
        if name in a.g.columns:
            put(name, a.go[name])  # only Google has them: "" for the others
    return pd.DataFrame(columns, copy=False)  # the columns are ours and fresh: no second copy


def _known_per_order(values: pd.Series, first: np.ndarray) -> pd.arrays.IntegerArray:
    """Per-order sum of a nullable line column whose lines are all known or all NA (one source
    wrote the whole frame): NA where the order's first line is."""
    sums = per_order_sum(values.to_numpy(dtype="int64", na_value=0), first)
    unknown = values.isna().to_numpy()[first] if len(first) else np.zeros(0, dtype=bool)
    return pd.arrays.IntegerArray(sums, unknown)


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
    lo: FirstRows | None,
    led_orders: np.ndarray,
    oo: FirstRows | None,
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
        pos = index_in(refs, led_ids)
        if lo is not None and (pos < 0).any():
            unresolved = np.flatnonzero(pos < 0)
            led_mids = lo.at("merchant_order_id", led_orders)
            by_mid = index_in(refs.iloc[unresolved], led_mids)
            by_mid[~nonempty(refs.iloc[unresolved])] = -1  # "" never matches ""
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

    def column(source: FirstRows | None, at: np.ndarray, col: str, kind: str) -> pd.Series:
        """``col`` of each row's ledger / OMS order; the kind's neutral default where it has none."""
        out = pd.Series(default_array(kind, k))
        present = np.flatnonzero(at >= 0)
        if source is not None and len(present):
            out.iloc[present] = source.at(col, at[present]).astype(out.dtype).array
        return out

    def quantity(source: FirstRows | None, at: np.ndarray, col: str) -> pd.Series:
        out = pd.Series(default_array(NI64, k))
        present = np.flatnonzero(at >= 0)
        if source is not None and len(present) and col in source.columns:
            out.iloc[present] = source.known_sums(col, at[present])
        return out

    square = column(lo, led_at, "square_order_id", STR)
    from_square = np.where((column(oo, oms_at, "source", STR) == "square").to_numpy(), oms_at, -1)
    square = square.where(nonempty(square), column(oo, from_square, "oms_order_id", STR))
    others = pd.DataFrame(
        {
            "google_order_id": pd.concat([led_ids, oms_only_refs], ignore_index=True).astype("str"),
            "merchant_order_id": column(lo, led_at, "merchant_order_id", STR),
            "square_order_id": square,
            "placed_at": pd.Series(default_array(DT, k)),
            "google_status": pd.Series(default_array(STR, k)),
            "oms_status": column(oo, oms_at, "oms_status", STR),
            # The ledger's count where it has one (what the sync last saw on Google), else the OMS's.
            **{q: quantity(lo, led_at, q).fillna(quantity(oo, oms_at, q)) for q in QUANTITIES},
            "qty_returned": pd.Series(default_array(NI64, k)),  # only Google counts returns
            "qty_return_open": pd.Series(default_array(NI64, k)),
            "amount_google_minor": pd.Series(default_array(NI64, k)),
            "amount_google_net_minor": pd.Series(default_array(NI64, k)),
            "amount_oms_minor": column(oo, oms_at, "amount_minor", NI64),
            "refunded_google_minor": pd.Series(default_array(NI64, k)),
            "refunded_oms_minor": column(oo, oms_at, "refunded_minor", NI64),
            "currency": column(oo, oms_at, "currency", STR),
            "last_synced_at": column(lo, led_at, "last_synced_at", DT),
            "in_google": np.zeros(k, dtype=bool),
        }
    )
    return others.sort_values("google_order_id", kind="stable", ignore_index=True)


def orders_table(o: pd.DataFrame) -> pd.DataFrame:
    """orders.csv content for ``Reconciliation.orders`` (or a slice of it, to write in chunks):
    ORDER_COLUMNS with money as decimal strings, times as "YYYY-MM-DD HH:MM:SS" UTC (the form a
    spreadsheet reads as a date)."""
    # format_minor numbers its output from 0: a later slice (index 100000...) must be too, or
    # the frame below aligns two indexes and writes every order as two half-empty rows.
    o = o.reset_index(drop=True)
    table = pd.DataFrame(
        {
            "google_order_id": o["google_order_id"],
            "merchant_order_id": o["merchant_order_id"],
            # Only where it tells something: with Square, merchantOrderId is the Square order id.
            "square_order_id": o["square_order_id"].where(
                differs(o["square_order_id"], o["merchant_order_id"]), ""
            ),
            "placed_at": sheet_time(o["placed_at"]),
            "google_status": o["google_status"],
            "oms_status": o["oms_status"],
            "qty_ordered": o["qty_ordered"],
            "qty_shipped": o["qty_shipped"],
            "qty_delivered": o["qty_delivered"],
            "qty_canceled": o["qty_canceled"],
            "qty_returned": o["qty_returned"],
            "qty_return_open": o["qty_return_open"],
            "amount_google": format_minor(o["amount_google_minor"], o["currency"]),
            # netAmount: what the customer paid after Google's refunds (empty: Google gave none)
            "amount_google_net": format_minor(o["amount_google_net_minor"], o["currency"]),
            "amount_oms": format_minor(o["amount_oms_minor"], o["currency"]),
            "amount_refunded_google": format_minor(o["refunded_google_minor"], o["currency"]),
            "amount_refunded_oms": format_minor(o["refunded_oms_minor"], o["currency"]),
            "currency": o["currency"],
            "last_synced_at": sheet_time(o["last_synced_at"]),
        }
    )
    for name in PII_COLUMNS:
        if name in o.columns:
            table[name] = o[name]
    return table

