"""``orderinvoices``: charge and refund invoices of orders that use the Order Invoices flow.

From the discovery document and Google's "Order Invoices API" guide (v2):
* Only for orderinvoice-enabled orders (a test order sets ``enableOrderinvoices``); their
  ``shipLineItems`` carry a ``shipmentGroupId`` and ``createchargeinvoice`` comes after it.
  ``createchargeinvoice`` "triggers a charge capture" for the shipment group.
* ``createrefundinvoice`` "can only be used for line items that have previously been charged
  using createChargeInvoice"; exactly one of ``refundOnlyOption`` or ``returnOption``; the return
  option marks the invoiced items returned. Once an order was charged this way, ``refund``,
  ``returnLineItem`` and ``returnRefundLineItem`` are refused (returns.py).
* Both carry an ``operationId`` (unique per order, replay → ``duplicate``) and answer
  ``{executionStatus, kind}``.

Ours, where the documents are silent ([D]): each entry of ``shipmentUnitIds`` is one unit; the
invoice summary must equal the sum of the unit invoices; an ``invoiceId`` is used once per
order; refund-invoice amounts are the refunded amounts (either sign accepted, the magnitude
counts) and never exceed what is left to refund.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sync.sandbox.google.common import (
    REFUND_RECORD_REASONS,
    RETURN_REASONS,
    GoogleError,
    bad,
    now_iso,
    order_price,
    reason,
)
from sync.sandbox.google.returns import ReturnsResource

TAX_TYPES = frozenset({"otherFee", "otherFeeTax", "sales"})
CHARGE_TYPES = frozenset({"shipping"})


class _Invoice:
    """A parsed list of line-item invoices of one shipment group, with its totals."""

    def __init__(self) -> None:
        self.units: dict[str, int] = {}  # line id → units
        self.pretax = Decimal(0)
        self.tax = Decimal(0)
        self.charges: dict[str, list[Decimal]] = {}  # additional charge type → [pretax, tax]

    @property
    def total(self) -> Decimal:
        return self.pretax + self.tax + sum((p + t for p, t in self.charges.values()), Decimal(0))


class InvoicesResource(ReturnsResource):
    def _parse_invoice(
        self, order: dict[str, Any], group: dict[str, Any], field: str, *, signed: bool
    ) -> _Invoice:
        cur = order["netAmount"]["currency"]
        items = group.get("lineItemInvoices")
        if not items or not isinstance(items, list):
            raise bad(f"Required field: {field}lineItemInvoices", "required")
        inv = _Invoice()
        for i, item in enumerate(items):
            where = f"{field}lineItemInvoices[{i}]"
            if not isinstance(item, dict):
                raise bad(f"{where} must be an object")
            li = self._line(order, item)
            unit_ids = item.get("shipmentUnitIds")
            if (
                not unit_ids
                or not isinstance(unit_ids, list)
                or not all(isinstance(u, str) and u for u in unit_ids)
            ):
                raise bad(f"Required field: {where}.shipmentUnitIds", "required")
            unit = item.get("unitInvoice")
            if not isinstance(unit, dict) or not unit.get("unitPricePretax"):
                raise bad(f"Required field: {where}.unitInvoice.unitPricePretax", "required")
            qty = len(unit_ids)
            price = abs(
                order_price(
                    unit["unitPricePretax"], f"{where}.unitInvoice.unitPricePretax", cur, signed=signed
                )
            )
            tax = Decimal(0)
            for j, line in enumerate(
                _objects(unit.get("unitPriceTaxes"), f"{where}.unitInvoice.unitPriceTaxes")
            ):
                if line.get("taxType") not in TAX_TYPES:
                    raise bad(
                        f"Invalid value for {where}.unitInvoice.unitPriceTaxes[{j}].taxType: "
                        f"{line.get('taxType')!r}"
                    )
                tax += abs(
                    order_price(
                        line.get("taxAmount"),
                        f"{where}.unitInvoice.unitPriceTaxes[{j}].taxAmount",
                        cur,
                        signed=signed,
                    )
                )
            for j, charge in enumerate(
                _objects(unit.get("additionalCharges"), f"{where}.unitInvoice.additionalCharges")
            ):
                kind = charge.get("type")
                if kind not in CHARGE_TYPES:
                    raise bad(f"Invalid value for {where}.unitInvoice.additionalCharges[{j}].type: {kind!r}")
                amount = charge.get("additionalChargeAmount") or {}
                totals = inv.charges.setdefault(kind, [Decimal(0), Decimal(0)])
                totals[0] += qty * abs(
                    order_price(
                        amount.get("pretax"), f"{where}.additionalCharges[{j}].pretax", cur, signed=signed
                    )
                )
                totals[1] += qty * abs(
                    order_price(amount.get("tax"), f"{where}.additionalCharges[{j}].tax", cur, signed=signed)
                )
            inv.units[li["id"]] = inv.units.get(li["id"], 0) + qty
            inv.pretax += qty * price
            inv.tax += qty * tax
        _check_summary(group.get("invoiceSummary"), inv, f"{field}invoiceSummary", cur, signed=signed)
        return inv

    def _new_invoice_id(self, rec: dict[str, Any], req: dict[str, Any]) -> str:
        invoice_id = req.get("invoiceId")
        if not invoice_id or not isinstance(invoice_id, str):
            raise bad("Required field: invoiceId", "required")
        if invoice_id in rec.get("invoices", {}):
            raise GoogleError(
                409, "conflict", f"Invoice {invoice_id} already exists for order {rec['order']['id']}."
            )
        return invoice_id

    # ------------------------------------------------------------------ mutators
    def _m_create_charge_invoice(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        order = rec["order"]
        if not rec.get("orderinvoices"):
            raise bad(
                f"Order {order['id']} does not use orderinvoices (test orders set enableOrderinvoices)."
            )
        invoice_id = self._new_invoice_id(rec, req)
        group_id = req.get("shipmentGroupId")
        if not group_id:
            raise bad("Required field: shipmentGroupId", "required")
        shipped = _group_units(order, group_id)
        if not shipped:
            raise bad(f"Unknown shipmentGroupId {group_id}: assign it in shipLineItems first.")
        inv = self._parse_invoice(order, req, "", signed=False)
        charged = rec.setdefault("charged", {}).setdefault(group_id, {})
        for line_id, qty in inv.units.items():
            left = shipped.get(line_id, 0) - charged.get(line_id, 0)
            if qty > left:
                raise bad(
                    f"Cannot invoice {qty} units of line item {line_id} in shipment group {group_id}: "
                    f"{left} left."
                )
        for line_id, qty in inv.units.items():
            charged[line_id] = charged.get(line_id, 0) + qty
        rec.setdefault("invoices", {})[invoice_id] = {
            "type": "charge",
            "group": group_id,
            "total": str(inv.total),
        }
        rec["chargedTotal"] = str(Decimal(rec.get("chargedTotal", "0")) + inv.total)
        order["paymentStatus"] = "paymentCaptured"
        self._book_transaction(rec, inv.pretax, inv.tax, now_iso())

    def _m_create_refund_invoice(self, rec: dict[str, Any], req: dict[str, Any]) -> None:
        order = rec["order"]
        if not rec.get("charged"):
            raise bad(
                f"Order {order['id']} has no charge invoice: createRefundInvoice can only be used for line "
                "items previously charged with createChargeInvoice."
            )
        invoice_id = self._new_invoice_id(rec, req)
        refund_only, returning = req.get("refundOnlyOption"), req.get("returnOption")
        if bool(refund_only) == bool(returning):
            raise bad("Exactly one of refundOnlyOption or returnOption must be provided.", "required")
        option = returning or refund_only
        if not isinstance(option, dict):
            raise bad("refundOnlyOption / returnOption must be an object with a reason")
        why = reason(option, RETURN_REASONS if returning else REFUND_RECORD_REASONS, "reason")
        groups = req.get("shipmentInvoices")
        if not groups or not isinstance(groups, list):
            raise bad("Required field: shipmentInvoices", "required")
        parsed: list[tuple[str, _Invoice]] = []
        for i, group in enumerate(groups):
            if not isinstance(group, dict) or not group.get("shipmentGroupId"):
                raise bad(f"Required field: shipmentInvoices[{i}].shipmentGroupId", "required")
            charged = rec["charged"].get(group["shipmentGroupId"])
            if not charged:
                raise bad(
                    f"Shipment group {group['shipmentGroupId']} was never charged with createChargeInvoice."
                )
            inv = self._parse_invoice(order, group, f"shipmentInvoices[{i}].", signed=True)
            for line_id, qty in inv.units.items():
                if qty > charged.get(line_id, 0):
                    raise bad(
                        f"Cannot refund {qty} units of line item {line_id}: "
                        f"{charged.get(line_id, 0)} charged."
                    )
            parsed.append((group["shipmentGroupId"], inv))
        amount = sum((inv.total for _, inv in parsed), Decimal(0))
        left = Decimal(rec.get("chargedTotal", "0")) - Decimal(rec.get("invoiceRefunded", "0"))
        if amount <= 0:
            raise bad("Nothing to refund: the refund invoice amounts are all zero.")
        if amount > left:
            raise bad(f"Refund of {amount} exceeds what is left of the charged amount ({left}).")
        self._check_refundable(rec, amount)
        if returning:
            for _, inv in parsed:
                for line_id, qty in inv.units.items():
                    li = self._line(order, {"lineItemId": line_id})
                    if qty > li["quantityShipped"] - li["quantityReturned"]:
                        raise bad(f"Cannot return {qty} of line item {line_id}: already returned.")
        stamp = now_iso()
        text = str(option.get("description") or "")
        if returning:
            for _, inv in parsed:
                for line_id, qty in inv.units.items():
                    li = self._line(order, {"lineItemId": line_id})
                    li["quantityReturned"] += qty
                    li["returns"].append(self._return_entry(qty, why, text, stamp))
        rec["invoices"][invoice_id] = {"type": "refund", "total": str(amount)}
        rec["invoiceRefunded"] = str(Decimal(rec.get("invoiceRefunded", "0")) + amount)
        pretax = sum(
            (inv.pretax + sum((c[0] for c in inv.charges.values()), Decimal(0)) for _, inv in parsed),
            Decimal(0),
        )
        self._record_refund(rec, pretax, amount - pretax, "merchant", why, text, stamp)


INVOICE_MUTATORS = {
    ("v2", "createchargeinvoice"): "_m_create_charge_invoice",
    ("v2", "createrefundinvoice"): "_m_create_refund_invoice",
}


def _objects(value: Any, field: str) -> list[dict[str, Any]]:
    """An optional list of objects (absent → empty); anything else is a 400."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad(f"Invalid value for {field}: a list of objects is required")
    return value


def _group_units(order: dict[str, Any], group_id: str) -> dict[str, int]:
    units: dict[str, int] = {}
    for shipment in order["shipments"]:
        if shipment.get("shipmentGroupId") == group_id:
            for item in shipment["lineItems"]:
                units[item["lineItemId"]] = units.get(item["lineItemId"], 0) + item["quantity"]
    return units


def _check_summary(summary: Any, inv: _Invoice, field: str, cur: str, *, signed: bool) -> None:
    if not isinstance(summary, dict) or not isinstance(summary.get("productTotal"), dict):
        raise bad(f"Required field: {field}.productTotal", "required")
    total = summary["productTotal"]
    pretax = abs(order_price(total.get("pretax"), f"{field}.productTotal.pretax", cur, signed=signed))
    tax = abs(order_price(total.get("tax"), f"{field}.productTotal.tax", cur, signed=signed))
    if (pretax, tax) != (inv.pretax, inv.tax):
        raise bad(
            f"{field}.productTotal ({pretax} + {tax} tax) does not match the line item invoices "
            f"({inv.pretax} + {inv.tax} tax)."
        )
    sent: dict[str, tuple[Decimal, Decimal]] = {}
    for j, charge in enumerate(
        _objects(summary.get("additionalChargeSummaries"), f"{field}.additionalChargeSummaries")
    ):
        amount = charge.get("totalAmount") or {}
        where = f"{field}.additionalChargeSummaries[{j}].totalAmount"
        sent[charge.get("type")] = (
            abs(order_price(amount.get("pretax"), f"{where}.pretax", cur, signed=signed)),
            abs(order_price(amount.get("tax"), f"{where}.tax", cur, signed=signed)),
        )
    expected = {kind: (p, t) for kind, (p, t) in inv.charges.items()}
    if sent != expected:
        raise bad(f"{field}.additionalChargeSummaries do not match the unit invoices' additional charges.")
