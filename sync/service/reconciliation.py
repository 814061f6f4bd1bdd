"""Reconciliation job: build the three frames from real sources, run the rules, write a report.

Public API (what the sync service and the CLI call)::

    result = write_report(
        google_orders,            # Iterable[dict] of Google v2 Order JSON, or a GOOGLE frame
        ledger_orders,            # Iterable[dict | OrderRecord] from Ledger.iter_orders(), a LEDGER
                                  # frame, or None
        oms,                      # OMS frame from frames_from_square_orders(...) or
                                  # frames_from_feed(...) (or a loaded snapshot), or None
        settings=settings.reports,  # ReportsSettings: dir, SLA hours, include_pii, excel_bom
        now=datetime.now(UTC),    # timezone-aware; also names the run
        out_dir=Path(settings.reports.dir),
        run_id=None,              # default: now as 20261123T101500Z
        save_inputs=False,        # also write google/ledger/oms.parquet snapshots into the run
        failed_operations=(),     # Iterable[dict] from Ledger.failed_intents()
        rejects=None,             # REJECTS frame from frames_from_rejects(...), or None
        freshness=None,           # rules.Freshness: how far the ledger's view of Google reaches
    )
    result.path, result.orders, result.breaks, result.by_category, result.by_severity, result.critical

    frames_from_google_orders(orders, include_pii=False) -> GOOGLE frame  (streamed in chunks)
    frames_from_ledger(orders, failed=()) -> LEDGER frame
    frames_from_square_orders(orders) -> OMS frame;  frames_from_feed(rows) -> OMS frame
    feed_rows_from_shipments(shipments) -> rows for frames_from_feed (what the ledger took from the feed)
    frames_from_rejects(rejects, resolve) -> REJECTS frame
    save_snapshot(frame, path); load_snapshot(path, kind=None) -> frame   (.csv or .parquet)

The frame schemas are documented in ``sync.domain.reconcile``.

Files written under ``out_dir/<run-id>/``: orders.csv, breaks.csv, summary.csv, index.html (and
the snapshots when asked). The run is assembled in a hidden temporary directory beside it and
renamed into place, so readers never see a half-written report; rerunning a run-id replaces the
old report only once the new one is complete (a failed rerun leaves the old one untouched).

CSV safety rule: every *text* cell starting with = + - @ TAB or CR gets a leading apostrophe
(spreadsheets would run it as a formula). Money cells are left alone when they are exactly a
number we formatted ("-5.00"): a spreadsheet reads those as numbers, and a quote would turn them
into text that no longer sums. Integer and float columns cannot hold formulas.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.domain.square_mapping import listed_canceled_units
from sync.service.report_html import render_html

CHUNK_ROWS = 50_000
WRITE_CHUNK_ORDERS = 100_000
RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
MONEY_COLUMNS = frozenset({"amount_google", "amount_oms", "amount"})
_NUMBER_RE = r"^-?[0-9]+(\.[0-9]+)?$"
_FORMULA_RE = r"^[=+\-@\t\r]"

SnapshotKind = Literal["google", "ledger", "oms"]


# ---------------------------------------------------------------------------------------------
# Frame builders (streaming: at most CHUNK_ROWS rows of Python lists alive at a time)


class _ChunkedFrame:
    """Accumulates rows column-wise and freezes every chunk into compact pandas columns."""

    def __init__(self, columns: dict[str, str], chunk_rows: int = CHUNK_ROWS) -> None:
        self.columns = columns
        self.chunk_rows = chunk_rows
        self.lists: dict[str, list[Any]] = {c: [] for c in columns}
        self.frames: list[pd.DataFrame] = []

    def add(self, row: dict[str, Any]) -> None:
        for c, values in self.lists.items():
            values.append(row.get(c))
        if len(self.lists["line_no"]) >= self.chunk_rows:
            self._freeze()

    def _freeze(self) -> None:
        if not self.lists["line_no"]:
            return
        data = {}
        for c, kind in self.columns.items():
            values = self.lists[c]
            if kind == "str":
                data[c] = pd.array([v if v is not None else "" for v in values], dtype="str")
            elif kind == "datetime":
                data[c] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
            elif kind in ("Int32", "Int64", "boolean"):
                data[c] = pd.array(values, dtype=kind)
            else:
                data[c] = np.asarray(values, dtype=kind)
        self.frames.append(pd.DataFrame(data))
        self.lists = {c: [] for c in self.columns}

    def frame(self) -> pd.DataFrame:
        self._freeze()
        if not self.frames:
            return pd.DataFrame({c: pd.Series([], dtype="object") for c in self.columns})
        return pd.concat(self.frames, ignore_index=True)


def _get(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _first(obj: Any, *keys: str) -> Any:
    for key in keys:
        value = _get(obj, key)
        if value not in (None, ""):
            return value
    return None


def _ts(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _norm_tracking(values: Iterable[Any]) -> str:
    # Carriers print ids with spaces and mixed case; compare on the bare upper-case token.
    return "|".join(sorted({"".join(str(v).split()).upper() for v in values if v not in (None, "")}))


def _price(price: Any) -> tuple[int, str]:
    if not price:
        return 0, ""
    cur = str(price.get("currency") or "")
    return rules.to_minor(price.get("value"), cur), cur


_GOOGLE_BUILD = {
    "google_order_id": "str",
    "merchant_order_id": "str",
    "status": "str",
    "acknowledged": "bool",
    "placed_at": "datetime",
    "currency": "str",
    "amount_minor": "int64",
    "net_amount_minor": "Int64",
    "tracking_ids": "str",
    "open_shipment_since": "datetime",
    "line_no": "int32",
    "line_item_id": "str",
    "offer_id": "str",
    "qty_ordered": "int32",
    "qty_shipped": "int32",
    "qty_delivered": "int32",
    "qty_canceled": "int32",
    "qty_returned": "int32",
    "last_canceled_at": "datetime",
}


def _last_cancellation(order: Mapping[str, Any]) -> str | None:
    """creationDate of the order's latest line cancellation (ISO 8601 UTC strings sort by time)."""
    times = [
        c.get("creationDate")
        for line in order.get("lineItems") or ()
        for c in line.get("cancellations") or ()
        if c.get("creationDate")
    ]
    return max(times) if times else None


def google_order_amount(order: Mapping[str, Any]) -> tuple[int, str]:
    """Gross total in minor units: lines (price + tax) + shipping (+ tax) - promotions.

    Line ``price`` is the line total (unit x quantity) per the v2 schema. Promotion benefits carry
    the discount (and its tax impact) as amounts; their sign varies between sources, so their
    magnitude is taken off. Components in another currency make the currency "MIXED" so the
    amount comparison flags the order instead of adding apples to pears.
    """
    total, currencies = 0, set()
    parts: list[Any] = []
    for line in order.get("lineItems") or ():
        parts += [line.get("price"), line.get("tax")]
    parts += [order.get("shippingCost"), order.get("shippingCostTax")]
    for price in parts:
        minor, cur = _price(price)
        total += minor
        if cur:
            currencies.add(cur)
    for promo in order.get("promotions") or ():
        for benefit in promo.get("benefits") or ():
            for key in ("discount", "taxImpact"):
                minor, cur = _price(benefit.get(key))
                total -= abs(minor)
                if cur:
                    currencies.add(cur)
    if not currencies:
        net = order.get("netAmount") or {}
        currencies.add(str(net.get("currency") or ""))
    currency = currencies.pop() if len(currencies) == 1 else "MIXED"
    return total, currency


def frames_from_google_orders(
    orders: Iterable[Mapping[str, Any]], *, include_pii: bool = False, chunk_rows: int = CHUNK_ROWS
) -> pd.DataFrame:
    """Google v2 Order dicts (e.g. GoogleGateway.iter_orders()) -> GOOGLE frame, streamed."""
    columns = dict(_GOOGLE_BUILD)
    if include_pii:
        columns |= {"customer_name": "str", "customer_email": "str"}
    acc = _ChunkedFrame(columns, chunk_rows)
    for order in orders:
        amount, currency = google_order_amount(order)
        net = order.get("netAmount")
        shipments = order.get("shipments") or ()
        open_since = [s.get("creationDate") for s in shipments if s.get("status") == "shipped"]
        open_since = [t for t in open_since if t]
        base = {
            "google_order_id": order.get("id") or "",
            "merchant_order_id": order.get("merchantOrderId") or "",
            "status": order.get("status") or "",
            "acknowledged": bool(order.get("acknowledged")),
            "placed_at": order.get("placedDate"),
            "currency": currency,
            "amount_minor": amount,
            "net_amount_minor": _price(net)[0] if net else None,
            "tracking_ids": _norm_tracking(s.get("trackingId") for s in shipments),
            # ISO 8601 UTC strings sort chronologically, so min() is the oldest.
            "open_shipment_since": min(open_since) if open_since else None,
            "last_canceled_at": _last_cancellation(order),
        }
        if include_pii:
            customer = order.get("customer") or {}
            base["customer_name"] = customer.get("fullName") or ""
            base["customer_email"] = customer.get("email") or customer.get("invoiceReceivingEmail") or ""
        lines = order.get("lineItems") or [{}]
        for line_no, line in enumerate(lines):
            acc.add(
                base
                | {
                    "line_no": line_no,
                    "line_item_id": line.get("id") or "",
                    "offer_id": (line.get("product") or {}).get("offerId") or "",
                    "qty_ordered": int(line.get("quantityOrdered") or 0),
                    "qty_shipped": int(line.get("quantityShipped") or 0),
                    "qty_delivered": int(line.get("quantityDelivered") or 0),
                    "qty_canceled": int(line.get("quantityCanceled") or 0),
                    "qty_returned": int(line.get("quantityReturned") or 0),
                }
            )
    frame = acc.frame()
    if frame.empty:
        frame = pd.DataFrame({c: [] for c in columns})
    return rules.conform(frame, rules.GOOGLE_SCHEMA, "google")


_LEDGER_BUILD = {
    "google_order_id": "str",
    "merchant_order_id": "str",
    "square_order_id": "str",
    "stage": "str",
    "acknowledged": "boolean",
    "last_synced_at": "datetime",
    "failed_ops": "int32",
    "failed_detail": "str",
    "last_failed_at": "datetime",
    "last_seen_at": "datetime",
    "square_skip_reason": "str",
    "line_no": "int32",
    "line_item_id": "str",
    "qty_ordered": "Int32",
    "qty_shipped": "Int32",
    "qty_delivered": "Int32",
    "qty_canceled": "Int32",
}


def _as_mapping(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    return obj


def frames_from_ledger(orders: Iterable[Any], failed: Iterable[Any] = ()) -> pd.DataFrame:
    """Ledger records (dicts or objects with the same attribute names) -> LEDGER frame.

    Order keys read: google_order_id, merchant_order_id, square_order_id, stage (or status),
    acknowledged, last_synced_at, line_items[{id|line_item_id, ordered, shipped, delivered, canceled}]
    (``quantity_*`` / ``qty_*`` spellings accepted). Failed-operation keys: google_order_id (or order_id),
    kind (or action), error (or reason, last_error), failed_at (or updated_at, created_at).
    """
    failures: dict[str, list[tuple[str, str, str | None]]] = {}
    for item in failed:
        item = _as_mapping(item)
        gid = str(_first(item, "google_order_id", "order_id") or "")
        kind = str(_first(item, "kind", "action") or "operation")
        reason = str(_first(item, "error", "reason", "last_error") or "no reason recorded")
        failures.setdefault(gid, []).append(
            (kind, reason, _ts(_first(item, "failed_at", "updated_at", "created_at")))
        )
    acc = _ChunkedFrame(_LEDGER_BUILD)
    for order in orders:
        order = _as_mapping(order)
        gid = str(_get(order, "google_order_id") or "")
        fails = failures.get(gid, [])
        times = [t for _, _, t in fails if t]
        ack = _get(order, "acknowledged")
        base = {
            "google_order_id": gid,
            "merchant_order_id": _get(order, "merchant_order_id") or "",
            "square_order_id": _get(order, "square_order_id") or "",
            "stage": str(_first(order, "stage", "status") or ""),
            "acknowledged": None if ack is None else bool(ack),
            "last_synced_at": _ts(_get(order, "last_synced_at")),
            "failed_ops": len(fails),
            "failed_detail": "; ".join(f"{k}: {r}" for k, r, _ in fails),
            "last_failed_at": max(times) if times else None,
            "last_seen_at": _ts(_get(order, "last_seen_at")),
            "square_skip_reason": _get(order, "square_skip_reason") or "",
        }
        lines = _get(order, "line_items") or [{}]
        for line_no, line in enumerate(lines):
            line = _as_mapping(line)

            def q(name: str, line: Any = line) -> int | None:
                # The ledger repository names them bare ("shipped"); accept the longer spellings too.
                v = _first(line, name, f"quantity_{name}", f"qty_{name}")
                return None if v is None else int(v)

            acc.add(
                base
                | {
                    "line_no": line_no,
                    "line_item_id": str(_first(line, "id", "line_item_id") or ""),
                    "qty_ordered": q("ordered"),
                    "qty_shipped": q("shipped"),
                    "qty_delivered": q("delivered"),
                    "qty_canceled": q("canceled"),
                }
            )
    return rules.conform(acc.frame(), rules.LEDGER_SCHEMA, "ledger")


_OMS_BUILD = {
    "source": "str",
    "oms_order_id": "str",
    "order_ref": "str",
    "oms_status": "str",
    "currency": "str",
    "amount_minor": "Int64",
    "tracking_ids": "str",
    "created_at": "datetime",
    "line_no": "int32",
    "line_item_id": "str",
    "offer_id": "str",
    "qty_ordered": "Int32",
    "qty_shipped": "Int32",
    "qty_delivered": "Int32",
}
_SQUARE_STATE = {"OPEN": "open", "COMPLETED": "completed", "CANCELED": "canceled", "DRAFT": "draft"}


def _square_qty(value: Any) -> int:
    # Square quantities are decimal strings ("2"); weight-based lines may be fractional.
    return int(Decimal(str(value or "0")))


def frames_from_square_orders(orders: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Square Order dicts (SearchOrders / BatchRetrieve) -> OMS frame.

    A Square line is matched to a Google line by ``metadata.google_line_item_id`` (or
    ``metadata.line_item_id``), else by ``metadata.offer_id`` / ``catalog_object_id`` within the
    order. Shipped quantities come from COMPLETED fulfilments (all lines for application ALL, the
    entries for ENTRY_LIST); Square knows nothing of delivery, so qty_delivered stays NA.
    Return orders (Square makes one per refund: ``returns`` and no sale lines) are not orders of
    the OMS view; their refunds belong to the sale they point at.
    """
    acc = _ChunkedFrame(_OMS_BUILD)
    for order in orders:
        lines = order.get("line_items") or []
        if order.get("returns") and not lines:
            continue
        fulfillments = [
            f for f in order.get("fulfillments") or () if f.get("state") not in ("CANCELED", "FAILED")
        ]
        shipped: dict[str, int] = {}
        done = [f for f in fulfillments if f.get("state") == "COMPLETED"]
        for f in done:
            if f.get("line_item_application") == "ENTRY_LIST":
                for entry in f.get("entries") or ():
                    uid = entry.get("line_item_uid") or ""
                    shipped[uid] = shipped.get(uid, 0) + _square_qty(entry.get("quantity"))
            else:
                # A paid order still lists units Google canceled (its lines cannot shrink): the
                # store did not send those.
                kept = listed_canceled_units(order)
                for line in lines:
                    uid = line.get("uid") or ""
                    units = max(0, _square_qty(line.get("quantity")) - kept.get(uid, 0))
                    shipped[uid] = shipped.get(uid, 0) + units
        state = _SQUARE_STATE.get(str(order.get("state") or "OPEN"), str(order.get("state") or "").lower())
        if state == "open" and done:
            state = "shipped" if len(done) == len(fulfillments) else "partially_shipped"
        total = order.get("total_money") or {}
        tracking = [(f.get("shipment_details") or {}).get("tracking_number") for f in fulfillments]
        base = {
            "source": "square",
            "oms_order_id": order.get("id") or "",
            "order_ref": order.get("reference_id") or "",
            "oms_status": state,
            "currency": total.get("currency") or "",
            "amount_minor": int(total["amount"]) if total.get("amount") is not None else None,
            "tracking_ids": _norm_tracking(tracking),
            "created_at": order.get("created_at"),
        }
        for line_no, line in enumerate(lines or [{}]):
            meta = line.get("metadata") or {}
            acc.add(
                base
                | {
                    "line_no": line_no,
                    "line_item_id": meta.get("google_line_item_id") or meta.get("line_item_id") or "",
                    "offer_id": meta.get("offer_id") or line.get("catalog_object_id") or "",
                    "qty_ordered": _square_qty(line.get("quantity")) if line else None,
                    "qty_shipped": shipped.get(line.get("uid") or "", 0) if line else None,
                    "qty_delivered": None,
                }
            )
    return rules.conform(acc.frame(), rules.OMS_SCHEMA, "oms")


def frames_from_feed(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Shipments-feed rows (design.md §7, dicts of strings) -> OMS frame, vectorised.

    The same row recurs in every export and a later export may add delivered_at: rows are one
    per (order, line, shipment) with the delivered version winning. Rows whose quantity is not a
    positive integer are skipped here (the sync's feed parser reports them as rejects).
    """
    cols = [
        "order_id",
        "line_item_id",
        "offer_id",
        "quantity",
        "tracking_id",
        "shipped_at",
        "delivered_at",
        "shipment_id",
    ]
    df = pd.DataFrame(list(rows))
    for c in cols:
        if c not in df.columns:
            df[c] = ""
    df = df[cols].astype("str").fillna("")
    df = df.apply(lambda s: s.str.strip())
    qty = pd.to_numeric(df["quantity"], errors="coerce")
    df = df[(qty > 0) & (qty % 1 == 0) & (df["order_id"] != "")].assign(quantity=qty.astype("float64"))
    df["shipment"] = df["shipment_id"].where(df["shipment_id"] != "", "trk:" + df["tracking_id"])
    df["delivered"] = df["delivered_at"] != ""
    df = df.sort_values("delivered", kind="stable").drop_duplicates(
        ["order_id", "line_item_id", "offer_id", "shipment"], keep="last"
    )
    df["qty_delivered"] = df["quantity"].where(df["delivered"], 0)
    lines = (
        df.groupby(["order_id", "line_item_id", "offer_id"], sort=True)
        .agg(qty_shipped=("quantity", "sum"), qty_delivered=("qty_delivered", "sum"))
        .reset_index()
    )
    shipped_at = pd.to_datetime(
        df["shipped_at"].replace("", None), utc=True, format="ISO8601", errors="coerce"
    )
    per_order = (
        df.assign(shipped_at=shipped_at)
        .groupby("order_id", sort=True)
        .agg(created_at=("shipped_at", "min"), all_delivered=("delivered", "all"))
    )
    trk = df.loc[df["tracking_id"] != "", ["order_id", "tracking_id"]]
    trk = trk.assign(tracking_id=trk["tracking_id"].str.replace(r"\s+", "", regex=True).str.upper())
    trk_table = pa.Table.from_pandas(
        trk.drop_duplicates().sort_values(["order_id", "tracking_id"]), preserve_index=False
    )
    joined = trk_table.group_by("order_id", use_threads=False).aggregate([("tracking_id", "list")])
    tracking = pd.Series(
        pc.binary_join(joined["tracking_id_list"], pa.scalar("|", pa.large_string())).to_pandas().to_numpy(),
        index=joined["order_id"].to_pandas(),
        dtype="str",
    )
    lines = lines.merge(per_order, left_on="order_id", right_index=True, how="left")
    frame = pd.DataFrame(
        {
            "source": "feed",
            "oms_order_id": lines["order_id"],
            "order_ref": lines["order_id"],
            "oms_status": np.where(lines["all_delivered"].astype(bool), "delivered", "shipped"),
            "currency": "",
            "amount_minor": pd.array([pd.NA] * len(lines), dtype="Int64"),
            # astype first: with no tracking id at all the lookup is all-NaN float64.
            "tracking_ids": lines["order_id"].map(tracking).astype("str").fillna(""),
            "created_at": lines["created_at"],
            "line_no": lines.groupby("order_id", sort=False).cumcount().astype("int32"),
            "line_item_id": lines["line_item_id"],
            "offer_id": lines["offer_id"],
            "qty_ordered": pd.array([pd.NA] * len(lines), dtype="Int32"),
            "qty_shipped": lines["qty_shipped"].astype("int64").astype("Int32"),
            "qty_delivered": lines["qty_delivered"].astype("int64").astype("Int32"),
        }
    )
    return rules.conform(frame, rules.OMS_SCHEMA, "oms")


def feed_rows_from_shipments(shipments: Iterable[Any]) -> Iterator[dict[str, str]]:
    """Ledger shipments (ShipmentRecord-like) as shipments-feed rows for ``frames_from_feed``: the
    OMS view without a Square is what ordersync took from the feed, so archiving applied exports
    changes nothing and rejected rows never count as shipped. A parcel Google refused still
    counts (the warehouse did send it); its failed_operation break says why Google lacks it."""
    for shipment in shipments:
        delivered = _get(shipment, "state") == "delivered"
        for line in _get(shipment, "lines") or ():
            yield {
                "order_id": str(_get(shipment, "google_order_id")),
                "line_item_id": str(line.get("line_item_id") or ""),
                "quantity": str(line.get("quantity") or ""),
                "tracking_id": str(_get(shipment, "tracking_id") or ""),
                "shipped_at": _ts(_get(shipment, "shipped_at")) or "",
                "delivered_at": (_ts(_get(shipment, "delivered_at")) or "") if delivered else "",
                "shipment_id": str(_get(shipment, "shipment_id")),
            }


def frames_from_rejects(rejects: Iterable[Any], resolve: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Open feed rejects (RejectRecord-like) -> REJECTS frame. ``resolve`` maps the order ids the
    rows name (merchant order ids too) to Google order ids; others are kept as written."""
    resolve = resolve or {}
    rows = [
        {
            "google_order_id": resolve.get(ref, ref),
            "source": str(_get(r, "source")),
            "line_no": int(_get(r, "line_no") or 0),
            "reason": str(_get(r, "reason")),
            "retryable": bool(_get(r, "retryable")),
            "first_seen_at": _ts(_get(r, "first_seen_at")),
            "rejects_file": str(_get(r, "rejects_file") or ""),
        }
        for r in rejects
        for ref in [str(_get(r, "order_ref") or "")]
    ]
    frame = pd.DataFrame(rows, columns=list(rules.REJECTS_SCHEMA))
    return rules.conform(frame, rules.REJECTS_SCHEMA, "rejects", lines=False)


# ---------------------------------------------------------------------------------------------
# Snapshots


def save_snapshot(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write a frame as Parquet or CSV by suffix. Snapshots are exact data, not for spreadsheets:
    no formula neutralisation here (it would change ids); times are ISO 8601 UTC in CSV."""
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path)
    elif path.suffix.lower() == ".csv":
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    else:
        raise ValueError(f"{path}: snapshot must end in .csv or .parquet")
    return path


def _detect_kind(columns: Iterable[str]) -> SnapshotKind:
    cols = set(columns)
    if {"source", "order_ref"} <= cols:
        return "oms"
    if {"status", "acknowledged", "amount_minor"} <= cols:
        return "google"
    if "google_order_id" in cols:
        return "ledger"
    raise rules.SchemaError(f"cannot tell which snapshot this is from its columns: {sorted(cols)}")


def load_snapshot(path: Path | str, kind: SnapshotKind | None = None) -> pd.DataFrame:
    """Read a GOOGLE / LEDGER / OMS snapshot (.csv or .parquet), typed to its schema."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        # Everything as text first: ids such as "00123" must not become numbers.
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    else:
        raise ValueError(f"{path}: snapshot must end in .csv or .parquet")
    kind = kind or _detect_kind(frame.columns)
    schema = {"google": rules.GOOGLE_SCHEMA, "ledger": rules.LEDGER_SCHEMA, "oms": rules.OMS_SCHEMA}[kind]
    return rules.conform(frame, schema, f"{kind} snapshot {path}")


# ---------------------------------------------------------------------------------------------
# Writing


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


def _write_csv(frames: pd.DataFrame | Iterable[pd.DataFrame], path: Path, bom: bool) -> None:
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


@dataclass
class ReportResult:
    path: Path
    run_id: str
    orders: int
    breaks: int
    by_category: dict[str, int] = field(default_factory=dict)
    by_category_severity: dict[tuple[str, str], int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    critical: int = 0
    seconds: float = 0.0


def _frame_or_build(source: Any, builder: Any, **kw: Any) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else builder(source, **kw)


def _publish(tmp: Path, final: Path) -> None:
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


def write_report(
    google_orders: Iterable[Mapping[str, Any]] | pd.DataFrame,
    ledger_orders: Iterable[Any] | pd.DataFrame | None,
    oms: pd.DataFrame | None,
    *,
    settings: ReportsSettings,
    now: datetime,
    out_dir: Path,
    run_id: str | None = None,
    save_inputs: bool = False,
    failed_operations: Iterable[Any] = (),
    rejects: pd.DataFrame | None = None,
    freshness: rules.Freshness | None = None,
) -> ReportResult:
    """Reconcile and write ``out_dir/<run-id>/`` atomically; see the module docstring."""
    started = time.perf_counter()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    run_id = run_id or now_ts.strftime("%Y%m%dT%H%M%SZ")
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '.', '_' or '-'")

    google = _frame_or_build(google_orders, frames_from_google_orders, include_pii=settings.include_pii)
    if not settings.include_pii:
        google = google.drop(columns=[c for c in rules.PII_COLUMNS if c in google.columns])
    ledger = None
    if ledger_orders is not None:
        ledger = _frame_or_build(ledger_orders, frames_from_ledger, failed=failed_operations)
    slas = rules.Slas(settings.unacknowledged_sla_hours, settings.ship_sla_hours, settings.delivery_sla_hours)
    rec = rules.reconcile(google, ledger, oms, slas=slas, now=now_ts, rejects=rejects, freshness=freshness)
    summary = rules.summarise(rec)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        bom = settings.excel_bom
        # orders.csv in slices: formatting a million rows of strings at once doubles peak memory.
        slices = (
            rules.orders_table(rec.orders.iloc[i : i + WRITE_CHUNK_ORDERS])
            for i in range(0, max(len(rec.orders), 1), WRITE_CHUNK_ORDERS)
        )
        _write_csv(slices, tmp / "orders.csv", bom)
        _write_csv(rec.breaks, tmp / "breaks.csv", bom)
        _write_csv(summary, tmp / "summary.csv", bom)
        html = render_html(run_id=run_id, now=now_ts, summary=summary, breaks=rec.breaks)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        if save_inputs:
            save_snapshot(google, tmp / "google.parquet")
            if ledger is not None:
                save_snapshot(ledger, tmp / "ledger.parquet")
            if oms is not None:
                save_snapshot(oms, tmp / "oms.parquet")
        # mkdtemp makes 0700; a report is meant to be read by the ops team like any other file.
        os.chmod(tmp, 0o755)  # noqa: S103
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = rec.breaks["category"].value_counts()
    per_severity = rec.breaks.groupby(["category", "severity"], observed=True).size()
    severities = rec.breaks["severity"].value_counts()
    return ReportResult(
        path=final,
        run_id=run_id,
        orders=len(rec.orders),
        breaks=len(rec.breaks),
        by_category={str(k): int(v) for k, v in counts.items() if v},
        by_category_severity={(str(c), str(s)): int(n) for (c, s), n in per_severity.items()},
        by_severity={str(k): int(v) for k, v in severities.items() if v},
        critical=int((rec.breaks["severity"] == "critical").sum()),
        seconds=time.perf_counter() - started,
    )
