"""The reconciliation's input frames built from what the sync has: Google v2 orders, the ledger's
records, its open feed rejects (schemas: ``sync.domain.reconcile.schema``).

Streaming: at most ``CHUNK_ROWS`` rows of Python lists are alive at a time; each chunk is frozen
into compact pandas columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from sync.domain import money
from sync.domain import reconcile as rules
from sync.domain.reconcile.returns import oldest_waiting, open_units_by_line
from sync.domain.refunds.returns import FollowedReturn

CHUNK_ROWS = 50_000
# The masked (NA-holding) kinds as dtype objects: pandas-stubs type pd.array's dtype names as literals.
_MASKED: dict[str, pd.Int32Dtype | pd.Int64Dtype | pd.BooleanDtype] = {
    "Int32": pd.Int32Dtype(), "Int64": pd.Int64Dtype(), "boolean": pd.BooleanDtype()
}


class ChunkedFrame:
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
        data: dict[str, pd.api.extensions.ExtensionArray | pd.Series | np.ndarray] = {}
        for c, kind in self.columns.items():
            values = self.lists[c]
            if kind == "str":
                data[c] = pd.array([v if v is not None else "" for v in values], dtype="str")
            elif kind == "datetime":
                data[c] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True, format="ISO8601")
            elif kind in _MASKED:
                data[c] = pd.array(values, dtype=_MASKED[kind])
            else:
                data[c] = np.asarray(values, dtype=kind)
        self.frames.append(pd.DataFrame(data))
        self.lists = {c: [] for c in self.columns}

    def frame(self) -> pd.DataFrame:
        self._freeze()
        if not self.frames:
            return pd.DataFrame({c: pd.Series([], dtype="object") for c in self.columns})
        return pd.concat(self.frames, ignore_index=True)


def field_of(obj: Any, key: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def first_of(obj: Any, *keys: str) -> Any:
    for key in keys:
        value = field_of(obj, key)
        if value not in (None, ""):
            return value
    return None


def iso_text(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def tracking_key(values: Iterable[Any]) -> str:
    # Carriers print ids with spaces and mixed case; compare on the bare upper-case token.
    return "|".join(sorted({"".join(str(v).split()).upper() for v in values if v not in (None, "")}))


def _price(price: Any) -> tuple[int, str]:
    """A Google Price in minor units. Read defensively (this is a report, not a sync step): digits
    beyond the currency's minor unit are rounded half-even, and a currency that is no ISO code
    ("" when absent) formats with the default exponent, rather than failing the whole report."""
    if not price:
        return 0, ""
    cur = str(price.get("currency") or "")
    value = price.get("value")
    if value is None or value == "":
        return 0, cur
    return money.to_minor(value, cur, rounding=money.ROUND_HALF_EVEN, lenient=True), cur


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
    "refunded_minor": "int64",
    "last_refunded_at": "datetime",
    "returned_amount_minor": "int64",
    "last_returned_at": "datetime",
    "qty_return_open": "Int32",
    "return_waiting_since": "datetime",
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


def google_refunds(order: Mapping[str, Any]) -> tuple[int, str | None]:
    """(what Google refunded: the sum of ``refunds[].amount``, the latest refund's creationDate)."""
    refunds = order.get("refunds") or ()
    total = sum(_price(r.get("amount"))[0] for r in refunds)
    times = [r.get("creationDate") for r in refunds if r.get("creationDate")]
    return total, max(times) if times else None


def google_returns(order: Mapping[str, Any]) -> tuple[int, str | None]:
    """(what the returned units are worth: per line (price + tax) x quantityReturned /
    quantityOrdered, rounded down, in minor units; the latest line return's creationDate)."""
    worth, times = 0, []
    for line in order.get("lineItems") or ():
        returned, ordered = int(line.get("quantityReturned") or 0), int(line.get("quantityOrdered") or 0)
        if returned and ordered:
            value = _price(line.get("price"))[0] + _price(line.get("tax"))[0]
            worth += value * min(returned, ordered) // ordered
        times += [r.get("creationDate") for r in line.get("returns") or () if r.get("creationDate")]
    return worth, max(times) if times else None


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
    orders: Iterable[Mapping[str, Any]],
    *,
    include_pii: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    returns: Sequence[FollowedReturn] | None = None,
) -> pd.DataFrame:
    """Google v2 Order dicts (e.g. GoogleGateway.iter_orders()) -> GOOGLE frame, streamed.
    ``returns``: the customer returns waiting for money as the ledger follows them (each line's
    ``qty_return_open``, a return on no known line counted on the order's first line; the order's
    ``return_waiting_since``); None: not known (NA, NaT)."""
    open_returns = open_units_by_line(returns) if returns is not None else None
    waiting_since = oldest_waiting(returns or ())
    columns = dict(_GOOGLE_BUILD)
    if include_pii:
        columns |= {"customer_name": "str", "customer_email": "str"}
    acc = ChunkedFrame(columns, chunk_rows)
    for order in orders:
        amount, currency = google_order_amount(order)
        net = order.get("netAmount")
        shipments = order.get("shipments") or ()
        open_since = [s.get("creationDate") for s in shipments if s.get("status") == "shipped"]
        open_since = [t for t in open_since if t]
        order_id: str = order.get("id") or ""
        base = {
            "google_order_id": order_id,
            "merchant_order_id": order.get("merchantOrderId") or "",
            "status": order.get("status") or "",
            "acknowledged": bool(order.get("acknowledged")),
            "placed_at": order.get("placedDate"),
            "currency": currency,
            "amount_minor": amount,
            "net_amount_minor": _price(net)[0] if net else None,
            "tracking_ids": tracking_key(s.get("trackingId") for s in shipments),
            # ISO 8601 UTC strings sort chronologically, so min() is the oldest.
            "open_shipment_since": min(open_since) if open_since else None,
            "last_canceled_at": _last_cancellation(order),
            "return_waiting_since": waiting_since.get(order.get("id") or ""),
        }
        base["refunded_minor"], base["last_refunded_at"] = google_refunds(order)
        base["returned_amount_minor"], base["last_returned_at"] = google_returns(order)
        if include_pii:
            customer = order.get("customer") or {}
            base["customer_name"] = customer.get("fullName") or ""
            base["customer_email"] = customer.get("email") or customer.get("invoiceReceivingEmail") or ""
        lines = order.get("lineItems") or [{}]
        for line_no, line in enumerate(lines):
            open_units = None
            if open_returns is not None:
                open_units = open_returns.get((order_id, line.get("id") or ""), 0)
                if line_no == 0 and line.get("id"):
                    open_units += open_returns.get((order_id, ""), 0)
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
                    "qty_return_open": open_units,
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


def as_mapping(obj: Any) -> Any:
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
        item = as_mapping(item)
        gid = str(first_of(item, "google_order_id", "order_id") or "")
        kind = str(first_of(item, "kind", "action") or "operation")
        reason = str(first_of(item, "error", "reason", "last_error") or "no reason recorded")
        failures.setdefault(gid, []).append(
            (kind, reason, iso_text(first_of(item, "failed_at", "updated_at", "created_at")))
        )
    acc = ChunkedFrame(_LEDGER_BUILD)
    for order in orders:
        order = as_mapping(order)
        gid = str(field_of(order, "google_order_id") or "")
        fails = failures.get(gid, [])
        times = [t for _, _, t in fails if t]
        ack = field_of(order, "acknowledged")
        base = {
            "google_order_id": gid,
            "merchant_order_id": field_of(order, "merchant_order_id") or "",
            "square_order_id": field_of(order, "square_order_id") or "",
            "stage": str(first_of(order, "stage", "status") or ""),
            "acknowledged": None if ack is None else bool(ack),
            "last_synced_at": iso_text(field_of(order, "last_synced_at")),
            "failed_ops": len(fails),
            "failed_detail": "; ".join(f"{k}: {r}" for k, r, _ in fails),
            "last_failed_at": max(times) if times else None,
            "last_seen_at": iso_text(field_of(order, "last_seen_at")),
            "square_skip_reason": field_of(order, "square_skip_reason") or "",
        }
        lines = field_of(order, "line_items") or [{}]
        for line_no, line in enumerate(lines):
            line = as_mapping(line)

            def q(name: str, line: Any = line) -> int | None:
                # The ledger repository names them bare ("shipped"); accept the longer spellings too.
                v = first_of(line, name, f"quantity_{name}", f"qty_{name}")
                return None if v is None else int(v)

            acc.add(
                base
                | {
                    "line_no": line_no,
                    "line_item_id": str(first_of(line, "id", "line_item_id") or ""),
                    "qty_ordered": q("ordered"),
                    "qty_shipped": q("shipped"),
                    "qty_delivered": q("delivered"),
                    "qty_canceled": q("canceled"),
                }
            )
    return rules.conform(acc.frame(), rules.LEDGER_SCHEMA, "ledger")


def frames_from_rejects(rejects: Iterable[Any], resolve: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Open feed rejects (RejectRecord-like) -> REJECTS frame. ``resolve`` maps the order ids the
    rows name (merchant order ids too) to Google order ids; others are kept as written."""
    resolve = resolve or {}
    rows = [
        {
            "google_order_id": resolve.get(ref, ref),
            "source": str(field_of(r, "source")),
            "line_no": int(field_of(r, "line_no") or 0),
            "reason": str(field_of(r, "reason")),
            "retryable": bool(field_of(r, "retryable")),
            "first_seen_at": iso_text(field_of(r, "first_seen_at")),
            "rejects_file": str(field_of(r, "rejects_file") or ""),
        }
        for r in rejects
        for ref in [str(field_of(r, "order_ref") or "")]
    ]
    frame = pd.DataFrame(rows, columns=list(rules.REJECTS_SCHEMA))
    return rules.conform(frame, rules.REJECTS_SCHEMA, "rejects", lines=False)
