"""Returns and refunds: ``orderreturns`` get/list and the money-taking ``orders`` methods.

Rules (returns-refunds.md §1.4; [doc] = the discovery document, [D] = ours where Google is silent):
* Every amount must be in the order's currency and no finer than its minor unit.
* ``amountTax`` needs ``amountPretax`` [doc]; a tax Google computes for an explicit pre-tax
  amount uses the line's (or, for ``refund``, the order's) tax rate and is rounded to the
  currency's minor unit.
* A refund never exceeds what remains refundable: ``netAmount`` for the order [doc for
  cancelLineItem], and what is left of the line's price + tax for line refunds [D].
* ``returnRefundLineItem`` only on fully shipped orders [doc]; without ``amountPretax`` it is a
  refundless return [doc]. Units the customer already sent back (``createtestreturn``) are
  refunded first, the rest are new merchant-initiated returns.
* Once an order was charged through ``orderinvoices``, ``refund``, ``returnLineItem`` and
  ``returnRefundLineItem`` are refused: use ``createrefundinvoice`` (Order Invoices guide).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sync.sandbox.google.common import (
    REFUND_REASONS,
    REJECT_REASONS,
    RETURN_REASONS,
    GoogleError,
    bad,
    clone,
    dec,
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
from sync.sandbox.google.orders import OrdersResource, explicit_amounts, unit_amounts


def public_return(ret: dict[str, Any]) -> dict[str, Any]:
    out = clone({k: v for k, v in ret.items() if not k.startswith("_")})
    for it in out["returnItems"]:
        it.pop("lineItemId", None)
    return out


class ReturnsResource(OrdersResource):
    # ------------------------------------------------------------------ orderreturns
    def get_return(self, merchant_id: str, return_id: str) -> dict[str, Any]:
        with self._lock:
            ret = self._returns.get(return_id)
            if ret is None or ret["_merchantId"] != merchant_id:
                raise GoogleError(404, "notFound", f"Return {return_id} not found.")
            return public_return(ret)

    def list_returns(
        self,
        merchant_id: str,
        *,
        created_start: str | None = None,
        created_end: str | None = None,
        order_by: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        order_by = order_by or "RETURN_CREATION_TIME_ASC"
        if order_by not in ("RETURN_CREATION_TIME_ASC", "RETURN_CREATION_TIME_DESC"):
            raise bad(f"Invalid value for orderBy: {order_by!r}")
        desc = order_by.endswith("DESC")
        start = parse_time(created_start, "createdStartDate").timestamp() if created_start else None
        # Both bounds inclusive per the doc; a bare date as end means the whole day.
        end = None
        if created_end:
            end_dt = parse_time(created_end, "createdEndDate")
            if len(created_end.strip()) == 10:
                end_dt += timedelta(days=1) - timedelta(microseconds=1)
            end = end_dt.timestamp()
        size = page_size(max_results)
        after = decode_token(page_token, order_by) if page_token else None
        with self._lock:
            keys = self._account(merchant_id).return_keys
            seq = list(reversed(keys)) if desc else list(keys)
            if after:
                seq = [k for k in seq if (k < after if desc else k > after)]
            if start is not None or end is not None:
                # On the creationDate clients see (milliseconds), so a bound taken from a return's
                # own creationDate includes that return, at either end.
                seq = [k for k in seq if _within(self._returns[k[1]]["creationDate"], start, end)]
            page = seq[:size]
            out = [public_return(self._returns[k[1]]) for k in page]
        token = encode_token(page[-1], order_by) if len(seq) > size else None
        return out, token

    # ------------------------------------------------------------------ shared
    def _open_return_items(self, rec: dict[str, Any], line_id: str) -> list[dict[str, Any]]:
        items = []
        for rid in rec["returnIds"]:
            items += [
                it
                for it in self._returns[rid]["returnItems"]
                if it["lineItemId"] == line_id and it["state"] == "new"
            ]
        return items

    def _check_line_refundable(self, rec: dict[str, Any], li: dict[str, Any], amount: Decimal) -> None:
        left = dec(li["price"]) + dec(li["tax"]) - Decimal(rec.get("lineRefunded", {}).get(li["id"], "0"))
        if amount > left:
            raise bad(f"Refund of {amount} exceeds what is left to refund on line item {li['id']} ({left}).")

    def _refuse_if_invoiced(self, rec: dict[str, Any], method: str) -> None:
        if rec.get("invoices"):
            raise bad(
                f"Order {rec['order']['id']} was charged with orderinvoices.createchargeinvoice; "
                f"{method} is not available for it, use orderinvoices.createrefundinvoice."
            )

    @staticmethod
    def _return_entry(qty: int, why: str, text: str, stamp: str, actor: str = "merchant") -> dict[str, Any]:
        return {"actor": actor, "creationDate": stamp, "quantity": qty, "reason": why, "reasonText": text}

    # ------------------------------------------------------------------ mutators
    def _m_return_line_item(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._refuse_if_invoiced(rec, "returnLineItem")
        why = reason(req, RETURN_REASONS)
        li = self._line(rec["order"], req)
        qty = int_quantity(req.get("quantity"))
        if qty > _returnable(li):
            raise bad(
                f"Cannot return {qty} of line item {li['id']}: "
                f"only {_returnable(li)} shipped and not returned."
            )
        li["quantityReturned"] += qty
        li["returns"].append(self._return_entry(qty, why, req.get("reasonText", ""), now_iso()))

    def _m_return_refund_v2(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._return_refund(rec, req, "amountPretax", "amountTax")

    def _m_return_refund_v21(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._return_refund(rec, req, "priceAmount", "taxAmount")

    def _return_refund(
        self, rec: dict[str, Any], req: dict[str, Any], pretax_field: str, tax_field: str
    ) -> None:
        self._refuse_if_invoiced(rec, "returnRefundLineItem")
        why = reason(req, RETURN_REASONS)
        order = rec["order"]
        li = self._line(order, req)
        qty = int_quantity(req.get("quantity"))
        if any(x["quantityPending"] for x in order["lineItems"]):
            raise bad("returnRefundLineItem is only allowed on fully shipped orders.")
        open_items = self._open_return_items(rec, li["id"])
        fresh = max(0, qty - len(open_items))
        if fresh > _returnable(li):
            raise bad(
                f"Cannot return {qty} of line item {li['id']}: "
                f"only {_returnable(li) + len(open_items)} returnable."
            )
        cur = order["netAmount"]["currency"]
        pretax, tax = explicit_amounts(li, req, cur, pretax_field, tax_field) or (Decimal(0), Decimal(0))
        if pretax + tax > 0:
            self._check_refundable(rec, pretax + tax)
            self._check_line_refundable(rec, li, pretax + tax)
        stamp = now_iso()
        for it in open_items[:qty]:
            it["state"] = "refunded" if pretax + tax > 0 else "received"
            # "The reason that merchant chooses to accept a return item" (a RefundReason).
            it["merchantReturnReason"] = {"reasonCode": why, "description": req.get("reasonText", "")}
        if fresh:
            li["quantityReturned"] += fresh
            li["returns"].append(self._return_entry(fresh, why, req.get("reasonText", ""), stamp))
        self._record_refund(
            rec, pretax, tax, "merchant", why, req.get("reasonText", ""), stamp, line_id=li["id"]
        )
        self._save_returns(rec)

    def _m_reject_return_line_item(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        reason(req, REJECT_REASONS)
        li = self._line(rec["order"], req)
        qty = int_quantity(req.get("quantity"))
        open_items = self._open_return_items(rec, li["id"])
        if qty > len(open_items):
            raise bad(
                f"Cannot reject {qty} of line item {li['id']}: only {len(open_items)} open customer returns."
            )
        for it in open_items[:qty]:
            it["state"] = "rejected"
            it["merchantReturnReason"] = {
                "reasonCode": req["reason"],
                "description": req.get("reasonText", ""),
            }
        self._save_returns(rec)

    def _m_refund(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        self._refuse_if_invoiced(rec, "refund")
        why = reason(req, REFUND_REASONS)
        order = rec["order"]
        cur = order["netAmount"]["currency"]
        if req.get("amountTax") and not req.get("amountPretax"):
            raise bad("amountTax requires amountPretax: set amountPretax as well.", "required")
        if req.get("amountPretax"):
            pretax = order_price(req["amountPretax"], "amountPretax", cur)
            tax = (
                order_price(req["amountTax"], "amountTax", cur)
                if req.get("amountTax")
                else round_minor(pretax * _order_tax_rate(order), cur)
            )
        elif req.get("amount"):
            pretax, tax = order_price(req["amount"], "amount", cur), Decimal(0)
        else:
            raise bad("Required field: amountPretax", "required")
        if pretax + tax <= 0:
            raise bad("Refund amount must be positive.")
        self._check_refundable(rec, pretax + tax)
        self._record_refund(rec, pretax, tax, "merchant", why, req.get("reasonText", ""), now_iso())

    def _m_in_store_refund(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        why = reason(req, RETURN_REASONS)
        li = self._line(rec["order"], req)
        qty = int_quantity(req.get("quantity"))
        if not req.get("amountPretax") or not req.get("amountTax"):
            raise bad("Required fields: amountPretax and amountTax", "required")
        if qty > _returnable(li):
            raise bad(
                f"Cannot refund {qty} of line item {li['id']}: "
                f"only {_returnable(li)} shipped and not returned."
            )
        cur = rec["order"]["netAmount"]["currency"]
        pretax = order_price(req["amountPretax"], "amountPretax", cur)
        tax = order_price(req["amountTax"], "amountTax", cur)
        self._check_refundable(rec, pretax + tax)
        self._check_line_refundable(rec, li, pretax + tax)
        stamp = now_iso()
        li["quantityReturned"] += qty
        li["returns"].append(self._return_entry(qty, why, req.get("reasonText", ""), stamp))
        self._record_refund(
            rec, pretax, tax, "merchant", why, req.get("reasonText", ""), stamp, line_id=li["id"]
        )

    def _m_refund_item(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        """v2.1 refunditem: refund line items (full or an explicit MonetaryAmount) and/or shipping."""
        order = rec["order"]
        cur = order["netAmount"]["currency"]
        why = reason(req, REFUND_REASONS | RETURN_REASONS)
        total_pre = total_tax = Decimal(0)
        items = req.get("items") or []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise bad("Invalid value for items: a list of objects is required")
        for i, item in enumerate(items):
            li = self._line(order, item)
            qty = int_quantity(item.get("quantity"), f"items[{i}].quantity")
            if qty > li["quantityShipped"]:
                raise bad(
                    f"Cannot refund {qty} of line item {li['id']}: only {li['quantityShipped']} shipped."
                )
            unit, unit_tax = unit_amounts(li)
            if item.get("fullRefund"):
                total_pre += unit * qty
                total_tax += unit_tax * qty
            else:
                amount = _object(item.get("amount"), f"items[{i}].amount")
                total_pre += _v21_amount(amount, "priceAmount", f"items[{i}].amount", cur)
                total_tax += _v21_amount(amount, "taxAmount", f"items[{i}].amount", cur)
        shipping = _object(req.get("shipping"), "shipping")
        if shipping.get("fullRefund"):
            total_pre += dec(order["shippingCost"])
            total_tax += dec(order["shippingCostTax"])
        elif shipping.get("amount"):
            total_pre += order_price(shipping["amount"], "shipping.amount", cur)
        if total_pre + total_tax <= 0:
            raise bad("Required field: items or shipping with a positive amount", "required")
        self._check_refundable(rec, total_pre + total_tax)
        self._record_refund(rec, total_pre, total_tax, "merchant", why, req.get("reasonText", ""), now_iso())

    def _m_refund_order(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        why = reason(req, REFUND_REASONS | RETURN_REASONS)
        cur = rec["order"]["netAmount"]["currency"]
        if req.get("fullRefund"):
            pre, tax = dec(rec["order"]["netAmount"]), Decimal(0)
        else:
            amount = _object(req.get("amount"), "amount")
            pre = _v21_amount(amount, "priceAmount", "amount", cur)
            tax = _v21_amount(amount, "taxAmount", "amount", cur)
        if pre + tax <= 0:
            raise bad("Nothing to refund: set fullRefund or a positive amount.")
        self._check_refundable(rec, pre + tax)
        self._record_refund(rec, pre, tax, "merchant", why, req.get("reasonText", ""), now_iso())


RETURNS_MUTATORS = {
    ("v2", "returnlineitem"): "_m_return_line_item",
    ("v2", "returnrefundlineitem"): "_m_return_refund_v2",
    ("v2.1", "returnrefundlineitem"): "_m_return_refund_v21",
    ("*", "rejectreturnlineitem"): "_m_reject_return_line_item",
    ("v2", "refund"): "_m_refund",
    ("*", "instorerefundlineitem"): "_m_in_store_refund",
    ("v2.1", "refunditem"): "_m_refund_item",
    ("v2.1", "refundorder"): "_m_refund_order",
}


def _within(created: str, start: float | None, end: float | None) -> bool:
    when = parse_time(created, "creationDate").timestamp()
    return (start is None or when >= start) and (end is None or when <= end)


def _returnable(li: dict[str, Any]) -> int:
    return li["quantityShipped"] - li["quantityReturned"]


def _order_tax_rate(order: dict[str, Any]) -> Decimal:
    """Tax per unit of pre-tax money over the whole order (items and shipping)."""
    pretax = sum((dec(li["price"]) for li in order["lineItems"]), dec(order["shippingCost"]))
    tax = sum((dec(li["tax"]) for li in order["lineItems"]), dec(order["shippingCostTax"]))
    return tax / pretax if pretax else Decimal(0)


def _v21_amount(amount: dict[str, Any], key: str, field: str, currency: str) -> Decimal:
    return order_price(amount[key], f"{field}.{key}", currency) if amount.get(key) else Decimal(0)


def _object(value: Any, field: str) -> dict[str, Any]:
    """An optional JSON object of a v2.1 request (absent → empty)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise bad(f"Invalid value for {field}: an object is required")
    return value
