"""Return orders: what a refund looks like on Square's orders (pure builders, no state).

Square's documented model (Order, OrderReturn, OrderReturnLineItem, Refund references; "Refunds
and Exchanges"; Square staff answers on the developer forum):

* Every refund — itemized or custom amount — creates a return order of its own: ``returns[]``
  (one OrderReturn per sale order, ``source_order_id`` pointing back), ``return_amounts``,
  ``refunds[]`` and ``net_amounts`` ("sale money - return money"), COMPLETED, with a total of 0.
  The PaymentRefund's ``order_id`` is the return order.
* An itemized return line carries ``source_line_item_uid``, the catalog ids, ``item_type: ITEM``,
  and its share of the line's taxes and discounts as ``return_taxes`` / ``return_discounts``
  pointing at the sale's ``source_tax_uid`` / ``source_discount_uid``. A custom-amount refund is
  one CUSTOM_AMOUNT return line with no catalog information.
* The order-embedded ``Refund.status`` is PENDING/APPROVED/REJECTED/FAILED (PaymentRefund's is
  PENDING/COMPLETED/REJECTED/FAILED).

Our choices where Square is silent (all marked in the sandbox note): a partial return takes
``round(line amount x units returned so far / units)`` minus what earlier returns took, so the
returns of every unit add up to the line exactly; the custom-amount line is named "Custom Amount"
("Shipping" when the store marks it so); the return order's ``net_amounts`` are negative.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sync.sandbox.square.money import money, parse_decimal, round_half_even

ORDER_REFUND_STATUS = {
    "PENDING": "PENDING",
    "COMPLETED": "APPROVED",
    "REJECTED": "REJECTED",
    "FAILED": "FAILED",
}
AMOUNT_KEYS = ("total_money", "tax_money", "discount_money", "tip_money", "service_charge_money")
NewUid = Callable[[], str]


def amounts(currency: str, total: int = 0, tax: int = 0, discount: int = 0) -> dict[str, Any]:
    """An OrderMoneyAmounts."""
    values = {"total_money": total, "tax_money": tax, "discount_money": discount}
    return {key: money(values.get(key, 0), currency) for key in AMOUNT_KEYS}


def add_amounts(a: dict[str, Any] | None, b: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    currency = b["total_money"]["currency"]
    a = a or amounts(currency)
    return {key: money(a[key]["amount"] + sign * b[key]["amount"], currency) for key in AMOUNT_KEYS}


def sale_amounts(order: dict[str, Any]) -> dict[str, Any]:
    """The sale side of an order's money (its own totals)."""
    currency = order["total_money"]["currency"]
    keys = {
        "total_money": "total_money",
        "tax_money": "total_tax_money",
        "discount_money": "total_discount_money",
        "tip_money": "total_tip_money",
        "service_charge_money": "total_service_charge_money",
    }
    return {key: money(int((order.get(src) or {}).get("amount") or 0), currency) for key, src in keys.items()}


def returned_units(return_orders: list[dict[str, Any]], sale_order_id: str, line_uid: str) -> Fraction:
    total = Fraction(0)
    for ret in return_orders:
        for entry in ret.get("returns") or []:
            if entry.get("source_order_id") != sale_order_id:
                continue
            for line in entry.get("return_line_items") or []:
                if line.get("source_line_item_uid") == line_uid:
                    total += parse_decimal(line.get("quantity") or "0", "quantity")
    return total


def itemized_return(
    sale_order: dict[str, Any], line: dict[str, Any], quantity: Fraction, before: Fraction, new_uid: NewUid
) -> dict[str, Any]:
    """The OrderReturn for ``quantity`` units of ``line`` when ``before`` units were returned earlier."""
    currency = sale_order["total_money"]["currency"]
    units = parse_decimal(line.get("quantity") or "0", "quantity")
    after = before + quantity

    def part(amount: int) -> int:
        return round_half_even(amount * after / units) - round_half_even(amount * before / units)

    def amount_of(obj: dict[str, Any], key: str) -> int:
        return int((obj.get(key) or {}).get("amount") or 0)

    taxes = {t["uid"]: t for t in sale_order.get("taxes") or []}
    discounts = {d["uid"]: d for d in sale_order.get("discounts") or []}
    return_taxes, applied_taxes, additive = [], [], 0
    for applied in line.get("applied_taxes") or []:
        tax = taxes.get(applied.get("tax_uid"), {})
        share = part(amount_of(applied, "applied_money"))
        ret_uid = new_uid()
        return_taxes.append(
            {
                "uid": ret_uid,
                "source_tax_uid": applied.get("tax_uid"),
                "name": tax.get("name"),
                "type": tax.get("type", "ADDITIVE"),
                "percentage": tax.get("percentage"),
                "scope": "LINE_ITEM",
                "applied_money": money(share, currency),
            }
        )
        applied_taxes.append({"uid": new_uid(), "tax_uid": ret_uid, "applied_money": money(share, currency)})
        if tax.get("type", "ADDITIVE") == "ADDITIVE":
            additive += share
    return_discounts, applied_discounts = [], []
    for applied in line.get("applied_discounts") or []:
        discount = discounts.get(applied.get("discount_uid"), {})
        share = part(amount_of(applied, "applied_money"))
        ret_uid = new_uid()
        entry = {
            "uid": ret_uid,
            "source_discount_uid": applied.get("discount_uid"),
            "name": discount.get("name"),
            "type": discount.get("type"),
            "scope": "LINE_ITEM",
            "applied_money": money(share, currency),
        }
        for key in ("percentage", "amount_money", "catalog_object_id"):
            if discount.get(key) is not None:
                entry[key] = discount[key]
        return_discounts.append(entry)
        applied_discounts.append(
            {"uid": new_uid(), "discount_uid": ret_uid, "applied_money": money(share, currency)}
        )
    gross = part(amount_of(line, "gross_sales_money"))
    discount_total = sum(d["applied_money"]["amount"] for d in return_discounts)
    tax_total = sum(t["applied_money"]["amount"] for t in return_taxes)
    total = gross - discount_total + additive
    return_line: dict[str, Any] = {
        "uid": new_uid(),
        "source_line_item_uid": line["uid"],
        "name": line.get("name"),
        "quantity": _decimal_text(quantity),
        "item_type": "ITEM",
        "base_price_money": line.get("base_price_money"),
        "variation_total_price_money": money(part(amount_of(line, "variation_total_price_money")), currency),
        "gross_return_money": money(gross, currency),
        "total_tax_money": money(tax_total, currency),
        "total_discount_money": money(discount_total, currency),
        "total_money": money(total, currency),
    }
    for key in ("catalog_object_id", "catalog_version", "variation_name", "note"):
        if line.get(key) is not None:
            return_line[key] = line[key]
    if applied_taxes:
        return_line["applied_taxes"] = applied_taxes
    if applied_discounts:
        return_line["applied_discounts"] = applied_discounts
    entry: dict[str, Any] = {
        "uid": new_uid(),
        "source_order_id": sale_order["id"],
        "return_line_items": [return_line],
        "return_amounts": amounts(currency, total, tax_total, discount_total),
    }
    if return_taxes:
        entry["return_taxes"] = return_taxes
    if return_discounts:
        entry["return_discounts"] = return_discounts
    return entry


def custom_amount_return(
    sale_order: dict[str, Any], amount: int, new_uid: NewUid, name: str = "Custom Amount"
) -> dict[str, Any]:
    """The OrderReturn of a refund of an amount (Refunds API, Dashboard, POS custom refund)."""
    currency = sale_order["total_money"]["currency"]
    return {
        "uid": new_uid(),
        "source_order_id": sale_order["id"],
        "return_line_items": [
            {
                "uid": new_uid(),
                "name": name,
                "quantity": "1",
                "item_type": "CUSTOM_AMOUNT",
                "base_price_money": money(amount, currency),
                "variation_total_price_money": money(amount, currency),
                "gross_return_money": money(amount, currency),
                "total_tax_money": money(0, currency),
                "total_discount_money": money(0, currency),
                "total_money": money(amount, currency),
            }
        ],
        "return_amounts": amounts(currency, amount),
    }


def order_refund(refund: dict[str, Any], sale_order_id: str) -> dict[str, Any]:
    """The Refund an order lists for a PaymentRefund (``tender_id`` = the payment's tender)."""
    out = {
        "id": refund["id"],
        "location_id": refund["location_id"],
        "transaction_id": sale_order_id,
        "tender_id": refund["payment_id"],
        "created_at": refund["created_at"],
        "reason": refund.get("reason") or "",
        "amount_money": refund["amount_money"],
        "status": ORDER_REFUND_STATUS[refund["status"]],
    }
    return out


def return_order(
    order_id: str,
    location_id: str,
    entry: dict[str, Any],
    refund: dict[str, Any],
    now: str,
    source: str | None,
) -> dict[str, Any]:
    currency = entry["return_amounts"]["total_money"]["currency"]
    returned = entry["return_amounts"]
    order: dict[str, Any] = {
        "id": order_id,
        "location_id": location_id,
        "state": "COMPLETED",
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "closed_at": now,
        "returns": [entry],
        "return_amounts": returned,
        "net_amounts": add_amounts(amounts(currency), returned, sign=-1),
        "refunds": [order_refund(refund, entry["source_order_id"])],
        "total_money": money(0, currency),
        "total_tax_money": money(0, currency),
        "total_discount_money": money(0, currency),
        "total_tip_money": money(0, currency),
        "total_service_charge_money": money(0, currency),
        "net_amount_due_money": money(0, currency),
    }
    if source:
        order["source"] = {"name": source}
    return order


def _decimal_text(value: Fraction) -> str:
    """A quantity as Square writes it ("2", "1.5"); quantities have at most 5 decimal places."""
    if value.denominator == 1:
        return str(value.numerator)
    return format((Decimal(value.numerator) / Decimal(value.denominator)).normalize(), "f")
