"""The OMS view of the reconciliation: Square orders, or what ordersync took from the shipments feed
(schema: ``sync.domain.reconcile.schema`` OMS)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain import reconcile as rules
from sync.domain.square_mapping import listed_canceled_units
from sync.service.report_frames import ChunkedFrame, field_of, iso_text, tracking_key

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
    the OMS view; their refunds belong to the sale they point at (``returns[].source_order_id``)
    and make its ``refunded_minor``: the COMPLETED ones (APPROVED in an order's own ``refunds``,
    returns-refunds.md §2.3), each counted once even when the sale order lists it too.
    """
    acc = ChunkedFrame(_OMS_BUILD)
    refunds: dict[str, dict[str, tuple[int, str | None]]] = {}  # sale order id -> refund id -> (amount, at)
    for order in orders:
        lines = order.get("line_items") or []
        if order.get("returns"):
            _collect_refunds(order, refunds)
        if order.get("returns") and not lines:
            continue
        if order.get("refunds"):
            _collect_refunds(order, refunds, sale_id=order.get("id") or "")
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
            "tracking_ids": tracking_key(tracking),
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
    frame = acc.frame()
    ids = frame["oms_order_id"] if len(frame) else pd.Series([], dtype="str")
    totals = {sale: sum(a for a, _ in by_id.values()) for sale, by_id in refunds.items()}
    latest = {sale: max((t for _, t in by_id.values() if t), default=None) for sale, by_id in refunds.items()}
    frame["refunded_minor"] = pd.array(ids.map(totals).fillna(0).astype("int64").to_numpy(), dtype="Int64")
    frame["last_refunded_at"] = pd.to_datetime(ids.map(latest), utc=True, format="ISO8601")
    return rules.conform(frame, rules.OMS_SCHEMA, "oms")


_DONE_REFUNDS = ("COMPLETED", "APPROVED")  # PaymentRefund's / an order's own Refund vocabulary


def _collect_refunds(
    order: Mapping[str, Any], into: dict[str, dict[str, tuple[int, str | None]]], sale_id: str | None = None
) -> None:
    """The completed refunds ``order`` lists, under the sale order they belong to: ``sale_id``,
    else the refund's ``transaction_id`` when it names one of the returns' sale orders, else the
    first return's."""
    sources = [r.get("source_order_id") for r in order.get("returns") or () if r.get("source_order_id")]
    for refund in order.get("refunds") or ():
        if str(refund.get("status") or "") not in _DONE_REFUNDS:
            continue
        named = refund.get("transaction_id")
        target = sale_id or (named if named in sources else None) or (sources[0] if sources else None)
        if not target:
            continue
        amount = int((refund.get("amount_money") or {}).get("amount") or 0)
        key = str(refund.get("id") or f"{order.get('id')}:{len(into.get(target, {}))}")
        into.setdefault(target, {})[key] = (amount, str(refund.get("created_at") or "") or None)


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
        delivered = field_of(shipment, "state") == "delivered"
        for line in field_of(shipment, "lines") or ():
            yield {
                "order_id": str(field_of(shipment, "google_order_id")),
                "line_item_id": str(line.get("line_item_id") or ""),
                "quantity": str(line.get("quantity") or ""),
                "tracking_id": str(field_of(shipment, "tracking_id") or ""),
                "shipped_at": iso_text(field_of(shipment, "shipped_at")) or "",
                "delivered_at": (iso_text(field_of(shipment, "delivered_at")) or "") if delivered else "",
                "shipment_id": str(field_of(shipment, "shipment_id")),
            }
