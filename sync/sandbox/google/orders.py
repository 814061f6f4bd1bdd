"""The ``orders`` resource's own rules: reads, listing, and the fulfilment mutations.

Rules worth knowing (also in docs/architecture.md):
* ``shipmentId`` is unique per order. Shipping an existing shipmentId again with the *same* line
  items, carrier and tracking id under a new operationId is a no-op answered with
  ``executionStatus: duplicate`` (a resent fulfilment event cannot ship twice); with different
  contents it is a 409 ``conflict``.
* Orders of ``enableOrderinvoices`` test orders need ``shipmentGroupId`` on ``shipLineItems``
  (the Order Invoices guide) and are charged by ``orderinvoices.createchargeinvoice``; other
  orders are charged when their first units ship.
* Every mutator validates everything first, then changes ``rec``; returning "duplicate" means
  "valid but already applied" (a resent shipment).
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sync.sandbox.google.common import (
    CANCEL_REASONS,
    SHIPMENT_UPDATE_STATUSES,
    STATUS_ENUM,
    STATUS_GROUPS,
    GoogleError,
    bad,
    decode_token,
    encode_token,
    int_quantity,
    now_iso,
    order_price,
    page_size,
    parse_time,
    reason,
    round_minor,
)
from sync.sandbox.google.state import OrderBook


def unit_amounts(li: dict[str, Any]) -> tuple[Decimal, Decimal]:
    """Unit price and unit tax of a line (its totals divided by the ordered quantity)."""
    qty = li["quantityOrdered"]
    return Decimal(li["price"]["value"]) / qty, Decimal(li["tax"]["value"]) / qty


def proportional_tax(li: dict[str, Any], pretax: Decimal, currency: str) -> Decimal:
    """The tax Google computes for an explicit pre-tax amount: the line's rate, in minor units."""
    price = Decimal(li["price"]["value"])
    if not price:
        return Decimal(0)
    return round_minor(pretax * Decimal(li["tax"]["value"]) / price, currency)


def explicit_amounts(
    li: dict[str, Any] | None, req: dict[str, Any], currency: str, pretax_field: str, tax_field: str
) -> tuple[Decimal, Decimal] | None:
    """``amountPretax``/``amountTax`` of a request: None when absent; tax needs pre-tax (the doc)."""
    if req.get(tax_field) and not req.get(pretax_field):
        raise bad(f"{tax_field} requires {pretax_field}: set {pretax_field} as well.", "required")
    if not req.get(pretax_field):
        return None
    pretax = order_price(req[pretax_field], pretax_field, currency)
    if req.get(tax_field):
        return pretax, order_price(req[tax_field], tax_field, currency)
    return pretax, proportional_tax(li, pretax, currency) if li is not None else Decimal(0)


class OrdersResource(OrderBook):
    # ------------------------------------------------------------------ reads
    def get_order(self, merchant_id: str, order_id: str, *, version: str = "v2") -> dict[str, Any]:
        with self._lock:
            return self._render(self._rec(merchant_id, order_id), version)

    def get_order_json(self, merchant_id: str, order_id: str, *, version: str = "v2") -> str:
        with self._lock:
            return self._order_json(self._rec(merchant_id, order_id), version)

    def get_by_merchant_order_id(
        self, merchant_id: str, merchant_order_id: str, *, version: str = "v2"
    ) -> dict[str, Any]:
        with self._lock:
            acc = self._account(merchant_id)
            order_id = acc.by_merchant_order_id.get(merchant_order_id)
            if order_id is None:
                raise GoogleError(
                    404, "notFound", f"Order with merchantOrderId {merchant_order_id} not found."
                )
            return self._render(self._orders[order_id], version)

    def list_orders(
        self,
        merchant_id: str,
        *,
        acknowledged: bool | None = None,
        statuses: list[str] | None = None,
        placed_date_start: str | None = None,
        placed_date_end: str | None = None,
        order_by: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        version: str = "v2",
        as_json: bool = False,
    ) -> tuple[list[Any], str | None]:
        """One page, keyset-paginated on (placedDate, id) so concurrent changes never skip orders."""
        wanted: set[str] | None = None
        if statuses:
            wanted = set()
            for s in statuses:
                if s.lower() in STATUS_GROUPS:
                    wanted |= STATUS_GROUPS[s.lower()]
                elif s in STATUS_ENUM or s in STATUS_ENUM.values():
                    wanted.add(STATUS_ENUM.get(s, s))
                else:
                    raise bad(f"Invalid value for statuses: {s!r}")
        order_by = order_by or "placedDateAsc"
        if order_by not in ("placedDateAsc", "placedDateDesc"):
            raise bad(f"Invalid value for orderBy: {order_by!r}; use placedDateAsc or placedDateDesc")
        desc = order_by == "placedDateDesc"
        start = parse_time(placed_date_start, "placedDateStart").timestamp() if placed_date_start else None
        end = parse_time(placed_date_end, "placedDateEnd").timestamp() if placed_date_end else None
        size = page_size(max_results)
        after = decode_token(page_token, order_by) if page_token else None
        out: list[Any] = []
        with self._lock:
            keys = self._account(merchant_id).keys
            if desc:
                hi = bisect.bisect_left(keys, after) if after else len(keys)
                candidates = (keys[i] for i in range(hi - 1, -1, -1))
            else:
                lo = bisect.bisect_right(keys, after) if after else 0
                candidates = (keys[i] for i in range(lo, len(keys)))
            last: tuple[float, str] | None = None
            more = False
            for key in candidates:
                if start is not None and key[0] < start:
                    if desc:
                        break
                    continue
                if end is not None and key[0] >= end:
                    if desc:
                        continue
                    break
                rec = self._orders[key[1]]
                order = rec["order"]
                if acknowledged is not None and order["acknowledged"] != acknowledged:
                    continue
                if wanted is not None and order["status"] not in wanted:
                    continue
                if len(out) == size:
                    more = True
                    break
                out.append(self._order_json(rec, version) if as_json else self._render(rec, version))
                last = key
        token = encode_token(last, order_by) if more and last else None
        return out, token

    # ------------------------------------------------------------------ shared by cancellations
    def _cancel_units(
        self,
        rec: dict[str, Any],
        li: dict[str, Any],
        qty: int,
        actor: str,
        why: str,
        reason_text: str,
        stamp: str,
        amounts: tuple[Decimal, Decimal] | None = None,
    ) -> None:
        li["quantityCanceled"] += qty
        li["cancellations"].append(
            {"actor": actor, "creationDate": stamp, "quantity": qty, "reason": why, "reasonText": reason_text}
        )
        unit, unit_tax = unit_amounts(li)
        pretax, tax = amounts if amounts is not None else (unit * qty, unit_tax * qty)
        # Canceled units never shipped, so Google never charged them (orderreports books nothing).
        self._record_refund(rec, pretax, tax, actor, why, reason_text, stamp, line_id=li["id"], charged=False)

    # ------------------------------------------------------------------ mutators
    def _m_acknowledge(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        rec["order"]["acknowledged"] = True

    def _m_update_merchant_order_id(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        new = req.get("merchantOrderId")
        if not new or not isinstance(new, str):
            raise bad("Required field: merchantOrderId", "required")
        if len(new) > 128:
            raise bad("Invalid value for merchantOrderId: longer than 128 characters")
        order = rec["order"]
        acc = self._account(order["merchantId"])
        owner = acc.by_merchant_order_id.get(new)
        if owner and owner != order["id"]:
            raise GoogleError(
                409, "conflict", f"merchantOrderId {new} is already used by another order ({owner})."
            )
        old = order.get("merchantOrderId")
        if old and acc.by_merchant_order_id.get(old) == order["id"]:
            del acc.by_merchant_order_id[old]
        acc.by_merchant_order_id[new] = order["id"]
        order["merchantOrderId"] = new
        for rid in rec["returnIds"]:
            self._returns[rid]["merchantOrderId"] = new
        self._save_returns(rec)

    def _m_ship_v2(self, rec: dict[str, Any], req: dict[str, Any]) -> str | None:
        return self._ship(rec, req, "v2")

    def _m_ship_v21(self, rec: dict[str, Any], req: dict[str, Any]) -> str | None:
        return self._ship(rec, req, "v2.1")

    def _ship(self, rec: dict[str, Any], req: dict[str, Any], version: str) -> str | None:
        order = rec["order"]
        infos = _shipment_infos(req, version)
        items = req.get("lineItems")
        if not items or not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise bad("Required field: lineItems (a list of objects)", "required")
        plan: dict[str, int] = {}
        for i, item in enumerate(items):
            li = self._line(order, item)
            plan[li["id"]] = plan.get(li["id"], 0) + int_quantity(
                item.get("quantity"), f"lineItems[{i}].quantity"
            )
        wanted_lines = sorted(plan.items())
        existing = {s["id"]: s for s in order["shipments"]}
        clashes = [info for info in infos if info["shipmentId"] in existing]
        if clashes:
            # Same contents → the resent fulfilment event is a no-op; anything else is a conflict.
            if _same_shipment(existing, infos, wanted_lines, clashes):
                return "duplicate"
            raise GoogleError(
                409,
                "conflict",
                f"Shipment ID {clashes[0]['shipmentId']} already exists with different contents.",
            )
        status = order["status"]
        if status == "inProgress":
            raise bad(f"Order {order['id']} is still inProgress and cannot be shipped yet.")
        if status == "canceled":
            raise bad(f"Order {order['id']} is canceled and cannot be shipped.")
        if rec.get("orderinvoices") and not req.get("shipmentGroupId"):
            raise bad("Required field: shipmentGroupId (the order uses orderinvoices)", "required")
        for line_id, qty in wanted_lines:
            li = self._line(order, {"lineItemId": line_id})
            pending = li["quantityOrdered"] - li["quantityShipped"] - li["quantityCanceled"]
            if qty > pending:
                raise bad(f"Cannot ship {qty} of line item {line_id}: only {pending} pending.")
        stamp = now_iso()
        charge = [Decimal(0), Decimal(0)]
        for line_id, qty in wanted_lines:
            li = self._line(order, {"lineItemId": line_id})
            li["quantityShipped"] += qty
            unit, unit_tax = unit_amounts(li)
            charge[0] += unit * qty
            charge[1] += unit_tax * qty
        for n, info in enumerate(infos):
            shipment = {
                "id": info["shipmentId"],
                "carrier": info.get("carrier") or "",
                "trackingId": info.get("trackingId") or "",
                "status": "shipped",
                "creationDate": stamp,
                # The first parcel carries the quantities; further infos are extra parcels
                # (tracking ids) of the same shipment, so units are never counted twice.
                "lineItems": [{"lineItemId": lid, "quantity": q} for lid, q in wanted_lines]
                if n == 0
                else [],
            }
            if req.get("shipmentGroupId"):
                shipment["shipmentGroupId"] = req["shipmentGroupId"]
            order["shipments"].append(shipment)
        if not rec.get("orderinvoices"):
            # Without orderinvoices Google captures the payment for what ships.
            cur = order["netAmount"]["currency"]
            order["paymentStatus"] = "paymentCaptured"
            self._book_transaction(rec, round_minor(charge[0], cur), round_minor(charge[1], cur), stamp)
        return None

    def _m_update_shipment_v2(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._update_shipment(rec, req, "v2")

    def _m_update_shipment_v21(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._update_shipment(rec, req, "v2.1")

    def _update_shipment(self, rec: dict[str, Any], req: dict[str, Any], version: str) -> None:
        order = rec["order"]
        sid = req.get("shipmentId")
        if not sid:
            raise bad("Required field: shipmentId", "required")
        shipment = next((s for s in order["shipments"] if s["id"] == sid), None)
        if shipment is None:
            raise bad(f"Unknown shipmentId {sid} in order {order['id']}.")
        status = req.get("status")
        if status is not None and status not in SHIPMENT_UPDATE_STATUSES:
            raise bad(
                f"Invalid value for status: {status!r}; allowed: delivered, undeliverable, readyForPickup"
            )
        if req.get("deliveryDate") and status != "delivered":
            raise bad("deliveryDate may only be set together with status delivered.")
        delivery = parse_time(req["deliveryDate"], "deliveryDate") if req.get("deliveryDate") else None
        if shipment["status"] == "delivered" and status not in (None, "delivered"):
            raise bad(f"Shipment {sid} is already delivered.")
        if req.get("carrier"):
            shipment["carrier"] = req["carrier"]
        if req.get("trackingId"):
            shipment["trackingId"] = req["trackingId"]
        if status == "delivered" and shipment["status"] != "delivered":
            for item in shipment["lineItems"]:
                self._line(order, {"lineItemId": item["lineItemId"]})["quantityDelivered"] += item["quantity"]
            shipment["status"] = "delivered"
            shipment["deliveryDate"] = now_iso(delivery) if delivery else now_iso()
        elif status and status != "delivered":
            shipment["status"] = status
        for field in ("undeliveredDate", "readyPickupDate", "lastPickupDate"):
            if version != "v2" and req.get(field):
                shipment[field] = req[field]

    def _m_cancel(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        why = reason(req, CANCEL_REASONS)
        order = rec["order"]
        if not any(li["quantityPending"] for li in order["lineItems"]):
            raise bad(f"Order {order['id']} has no pending quantity to cancel.")
        stamp = now_iso()
        for li in order["lineItems"]:
            if li["quantityPending"]:
                self._cancel_units(
                    rec, li, li["quantityPending"], "merchant", why, req.get("reasonText", ""), stamp
                )

    def _m_cancel_line_item(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        why = reason(req, CANCEL_REASONS)
        order = rec["order"]
        li = self._line(order, req)
        qty = int_quantity(req.get("quantity"))
        if qty > li["quantityPending"]:
            raise bad(f"Cannot cancel {qty} of line item {li['id']}: only {li['quantityPending']} pending.")
        cur = order["netAmount"]["currency"]
        priced = dict(req)
        if not priced.get("amountPretax") and priced.get("amount"):
            priced["amountPretax"] = priced["amount"]  # the deprecated field
        amounts = explicit_amounts(li, priced, cur, "amountPretax", "amountTax")
        if amounts is not None:
            self._check_refundable(rec, amounts[0] + amounts[1])
        self._cancel_units(rec, li, qty, "merchant", why, req.get("reasonText", ""), now_iso(), amounts)

    def _m_set_line_item_metadata(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        li = self._line(rec["order"], req)
        annotations = req.get("annotations")
        if not annotations or not isinstance(annotations, list):
            raise bad("Required field: annotations", "required")
        for i, a in enumerate(annotations):
            if not isinstance(a, dict) or not a.get("key"):
                raise bad(f"Required field: annotations[{i}].key", "required")
        current = {a["key"]: a for a in li["annotations"]}
        for a in annotations:
            current[a["key"]] = {"key": a["key"], "value": str(a.get("value", ""))}
        li["annotations"] = list(current.values())

    def _m_update_line_item_shipping_details(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        li = self._line(rec["order"], req)
        if not req.get("shipByDate") and not req.get("deliverByDate"):
            raise bad("Required field: shipByDate or deliverByDate", "required")
        today = datetime.now(UTC).date()
        parsed: dict[str, date] = {}
        for field in ("shipByDate", "deliverByDate"):
            if req.get(field):
                d = parse_time(req[field], field).date()
                if d < today or d > today + timedelta(days=366):
                    raise bad(f"Invalid value for {field}: must be between today and one year from now.")
                parsed[field] = d
        if (
            "shipByDate" in parsed
            and "deliverByDate" in parsed
            and parsed["deliverByDate"] < parsed["shipByDate"]
        ):
            raise bad("deliverByDate must not be before shipByDate.")
        for field, d in parsed.items():
            li["shippingDetails"][field] = d.isoformat()

    def _m_capture_order(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        order = rec["order"]
        if order["status"] == "canceled":
            raise bad(f"Order {order['id']} is canceled; nothing to capture.")
        order["paymentStatus"] = "paymentCaptured"


# (version or "*", discovery method name) → OrdersResource method name.
ORDERS_MUTATORS = {
    ("*", "acknowledge"): "_m_acknowledge",
    ("*", "updatemerchantorderid"): "_m_update_merchant_order_id",
    ("v2", "shiplineitems"): "_m_ship_v2",
    ("v2.1", "shiplineitems"): "_m_ship_v21",
    ("v2", "updateshipment"): "_m_update_shipment_v2",
    ("v2.1", "updateshipment"): "_m_update_shipment_v21",
    ("*", "cancel"): "_m_cancel",
    ("*", "cancellineitem"): "_m_cancel_line_item",
    ("*", "setlineitemmetadata"): "_m_set_line_item_metadata",
    ("*", "updatelineitemshippingdetails"): "_m_update_line_item_shipping_details",
    ("v2.1", "captureorder"): "_m_capture_order",
}


def _shipment_infos(req: dict[str, Any], version: str) -> list[dict[str, Any]]:
    infos = req.get("shipmentInfos") or []
    if not isinstance(infos, list):
        raise bad("shipmentInfos must be a list")
    if not infos and version == "v2" and req.get("shipmentId"):
        # Deprecated flat fields, still accepted by v2.
        infos = [
            {
                "shipmentId": req["shipmentId"],
                "carrier": req.get("carrier"),
                "trackingId": req.get("trackingId"),
            }
        ]
    if not infos:
        raise bad("Required field: shipmentInfos", "required")
    ids = set()
    for i, info in enumerate(infos):
        if not isinstance(info, dict) or not info.get("shipmentId"):
            raise bad(f"Required field: shipmentInfos[{i}].shipmentId", "required")
        if not isinstance(info["shipmentId"], str):
            raise bad(f"Invalid value for shipmentInfos[{i}].shipmentId: a string is required")
        if info["shipmentId"] in ids:
            raise bad(f"Duplicate shipmentId {info['shipmentId']} in request.")
        ids.add(info["shipmentId"])
    return infos


def _same_shipment(
    existing: dict[str, dict[str, Any]],
    infos: list[dict[str, Any]],
    wanted_lines: list[tuple[str, int]],
    clashes: list[dict[str, Any]],
) -> bool:
    first = infos[0]
    return (
        len(clashes) == len(infos)
        and all(
            (existing[info["shipmentId"]].get("carrier") or None) == (info.get("carrier") or None)
            and (existing[info["shipmentId"]].get("trackingId") or None) == (info.get("trackingId") or None)
            for info in infos
        )
        and sorted((x["lineItemId"], x["quantity"]) for x in existing[first["shipmentId"]]["lineItems"])
        == wanted_lines
    )
