"""Google order -> Square CreateOrder body, and Square fulfilment -> what Google should hear. Pure.

Totals must come out equal on both sides. Google states amounts (line price totals, line tax
totals, shipping, shipping tax, promotion discounts); Square computes them from prices and
percentages. So the mapping works backwards from Google's numbers:

* each line is an ad-hoc item (or a catalog item through ``sku_map``) with Google's unit price,
  its ``uid`` = Google's line item id (so fulfilment entries map back without a lookup);
* each product promotion becomes one LINE_ITEM-scoped FIXED_AMOUNT discount per line it touches,
  its amount allocated across the lines in proportion to their price (largest remainder, exact);
* each line's tax becomes its own LINE_ITEM-scoped ADDITIVE tax whose percentage is chosen so that
  Square's rounding of (discounted line price x percentage) gives Google's tax amount exactly;
  where no percentage can (a tax on a zero base), the tax travels as a non-taxable service charge;
* shipping, shipping tax and shipping promotions become non-taxable TOTAL_PHASE service charges.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from sync.domain.money import price_to_minor

REFERENCE_ID_MAX = 40
SOURCE_NAME = "Google Shopping"


class MappingError(ValueError):
    """The Google order cannot be expressed as a Square order (names the order and the field)."""


@dataclass(frozen=True)
class MappingOptions:
    location_id: str
    fulfillment_type: str = "SHIPMENT"  # or PICKUP
    sku_map: dict[str, str] | None = None


def _money(minor: int, currency: str) -> dict[str, Any]:
    return {"amount": minor, "currency": currency}


def _square_round(value: Decimal) -> int:
    # Square rounds money half to even ("Bankers' rounding"), once, on the exact value.
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def tax_percentage(base_minor: int, tax_minor: int) -> str | None:
    """A percentage string p such that Square's rounding of base x p / 100 gives tax, or None.

    Tries the shortest decimal first (a plain "8.25" where the numbers allow it) and lengthens it
    until the rounding lands on Google's amount.
    """
    if tax_minor == 0:
        return "0"
    if base_minor <= 0:
        return None
    exact = Decimal(tax_minor) * 100 / Decimal(base_minor)
    for places in range(0, 9):
        candidate = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if _square_round(Decimal(base_minor) * candidate / 100) == tax_minor:
            text = format(candidate.normalize(), "f")
            return text
    return None


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` across ``weights`` proportionally, exactly (largest remainder)."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        shares = [0] * len(weights)
        shares[0] = total
        return shares
    raw = [Decimal(total) * w / weight_sum for w in weights]
    shares = [int(r) for r in raw]
    remainder = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: raw[i] - shares[i], reverse=True)
    for i in order[:remainder]:
        shares[i] += 1
    return shares


def _recipient(order: dict[str, Any]) -> dict[str, Any]:
    details = order.get("deliveryDetails") or {}
    address = details.get("address") or {}
    name = address.get("recipientName") or (order.get("customer") or {}).get("fullName") or "Google customer"
    recipient: dict[str, Any] = {"display_name": name}
    if details.get("phoneNumber"):
        recipient["phone_number"] = details["phoneNumber"]
    if address:
        street = list(address.get("streetAddress") or [])
        recipient["address"] = {
            k: v
            for k, v in {
                "address_line_1": street[0] if street else None,
                "address_line_2": street[1] if len(street) > 1 else None,
                "locality": address.get("locality"),
                "administrative_district_level_1": address.get("region"),
                "postal_code": address.get("postalCode"),
                "country": address.get("country"),
            }.items()
            if v
        }
    return recipient


def google_to_square_order(order: dict[str, Any], options: MappingOptions) -> dict[str, Any]:
    """The ``order`` object of a Square CreateOrder request for one Google order."""
    order_id = str(order.get("id") or "")
    if not order_id:
        raise MappingError("Google order has no id")
    if len(order_id) > REFERENCE_ID_MAX:
        raise MappingError(
            f"order {order_id}: id longer than Square's reference_id limit ({REFERENCE_ID_MAX})"
        )
    lines = order.get("lineItems") or []
    if not lines:
        raise MappingError(f"order {order_id}: no lineItems")

    currency = ""
    line_items: list[dict[str, Any]] = []
    prices: list[int] = []
    taxes_minor: list[int] = []
    for line in lines:
        quantity = int(line.get("quantityOrdered", 0))
        if quantity <= 0:
            raise MappingError(f"order {order_id} line {line.get('id')}: quantityOrdered must be > 0")
        price_minor, line_currency = price_to_minor(line.get("price"))
        tax_minor, _ = price_to_minor(line.get("tax")) if line.get("tax") else (0, line_currency)
        currency = currency or line_currency
        if line_currency != currency:
            raise MappingError(
                f"order {order_id}: line items in several currencies ({currency}, {line_currency})"
            )
        if price_minor % quantity:
            raise MappingError(
                f"order {order_id} line {line.get('id')}: price {price_minor} not divisible by "
                f"quantity {quantity}"
            )
        product = line.get("product") or {}
        item: dict[str, Any] = {
            "uid": line["id"],
            "quantity": str(quantity),
            "note": f"offerId {product.get('offerId', '')}".strip(),
            # Lets reconciliation (and people reading the order in Square) find the Google line.
            "metadata": {"google_line_item_id": line["id"], "offer_id": str(product.get("offerId", ""))},
        }
        catalog_id = (options.sku_map or {}).get(product.get("offerId", ""))
        if catalog_id:
            item["catalog_object_id"] = catalog_id
        else:
            item["name"] = product.get("title") or product.get("offerId") or line["id"]
        item["base_price_money"] = _money(price_minor // quantity, currency)
        line_items.append(item)
        prices.append(price_minor)
        taxes_minor.append(tax_minor)

    discounts, line_discount = _discounts(order, lines, prices, currency)
    taxes: list[dict[str, Any]] = []
    service_charges: list[dict[str, Any]] = []
    for index, (item, price, tax, off) in enumerate(
        zip(line_items, prices, taxes_minor, line_discount, strict=True)
    ):
        if off:
            item["applied_discounts"] = [{"discount_uid": uid} for uid in off]
        if tax == 0:
            continue
        base = price - sum(off.values())
        percentage = tax_percentage(base, tax)
        if percentage is None:
            service_charges.append(
                {
                    "uid": f"tax-{index}",
                    "name": f"Tax ({item['uid']})",
                    "amount_money": _money(tax, currency),
                    "calculation_phase": "TOTAL_PHASE",
                    "taxable": False,
                }
            )
            continue
        uid = f"tax-{index}"
        taxes.append(
            {
                "uid": uid,
                "name": "Sales tax",
                "percentage": percentage,
                "scope": "LINE_ITEM",
                "type": "ADDITIVE",
            }
        )
        item["applied_taxes"] = [{"tax_uid": uid}]

    shipping, _ = price_to_minor(order.get("shippingCost")) if order.get("shippingCost") else (0, currency)
    shipping_tax, _ = (
        price_to_minor(order.get("shippingCostTax")) if order.get("shippingCostTax") else (0, currency)
    )
    shipping -= _shipping_discount(order)
    if shipping:
        service_charges.append(
            {
                "uid": "shipping",
                "name": "Shipping",
                "amount_money": _money(shipping, currency),
                "calculation_phase": "TOTAL_PHASE",
                "taxable": False,
            }
        )
    if shipping_tax:
        service_charges.append(
            {
                "uid": "shipping-tax",
                "name": "Shipping tax",
                "amount_money": _money(shipping_tax, currency),
                "calculation_phase": "TOTAL_PHASE",
                "taxable": False,
            }
        )

    body: dict[str, Any] = {
        "location_id": options.location_id,
        "reference_id": order_id,
        "source": {"name": SOURCE_NAME},
        "line_items": line_items,
        "fulfillments": [_fulfillment(order, options)],
        "metadata": {"google_order_id": order_id, "google_merchant_id": str(order.get("merchantId", ""))},
    }
    if taxes:
        body["taxes"] = taxes
    if discounts:
        body["discounts"] = discounts
    if service_charges:
        body["service_charges"] = service_charges
    return body


def _discounts(
    order: dict[str, Any], lines: list[dict[str, Any]], prices: list[int], currency: str
) -> tuple[list[dict[str, Any]], list[dict[str, int]]]:
    discounts: list[dict[str, Any]] = []
    per_line: list[dict[str, int]] = [{} for _ in lines]
    offer_of = [(line.get("product") or {}).get("offerId") for line in lines]
    for p_index, promotion in enumerate(order.get("promotions") or []):
        for b_index, benefit in enumerate(promotion.get("benefits") or []):
            if benefit.get("type", "product") != "product" or not benefit.get("discount"):
                continue
            amount, _ = price_to_minor(benefit["discount"])
            offers = set(benefit.get("offerIds") or [])
            targets = [i for i, offer in enumerate(offer_of) if not offers or offer in offers]
            if amount <= 0 or not targets:
                continue
            shares = allocate(amount, [prices[i] for i in targets])
            for target, share in zip(targets, shares, strict=True):
                if share <= 0:
                    continue
                uid = f"promo-{p_index}-{b_index}-{target}"
                discounts.append(
                    {
                        "uid": uid,
                        "name": promotion.get("longTitle") or promotion.get("id") or "Promotion",
                        "type": "FIXED_AMOUNT",
                        "amount_money": _money(share, currency),
                        "scope": "LINE_ITEM",
                    }
                )
                per_line[target][uid] = share
    return discounts, per_line


def _shipping_discount(order: dict[str, Any]) -> int:
    total = 0
    for promotion in order.get("promotions") or []:
        for benefit in promotion.get("benefits") or []:
            if benefit.get("type") == "shipping" and benefit.get("discount"):
                total += price_to_minor(benefit["discount"])[0]
    return total


def _fulfillment(order: dict[str, Any], options: MappingOptions) -> dict[str, Any]:
    recipient = _recipient(order)
    if options.fulfillment_type == "PICKUP":
        return {
            "uid": "google",
            "type": "PICKUP",
            "state": "PROPOSED",
            "pickup_details": {
                "recipient": {k: v for k, v in recipient.items() if k != "address"},
                "schedule_type": "ASAP",
                "note": f"Google order {order.get('id')}",
            },
        }
    return {
        "uid": "google",
        "type": "SHIPMENT",
        "state": "PROPOSED",
        "shipment_details": {"recipient": recipient, "shipping_note": f"Google order {order.get('id')}"},
    }


def square_total_minor(square_order: dict[str, Any]) -> int:
    return int(((square_order.get("total_money") or {}).get("amount")) or 0)


@dataclass(frozen=True)
class FulfilmentShipment:
    """A Square fulfilment that Google should hear about as a shipment."""

    fulfillment_uid: str
    kind: str  # SHIPMENT or PICKUP
    carrier: str
    tracking_id: str
    shipped_at: str | None
    lines: tuple[tuple[str, int], ...] | None  # (Google line item id, quantity); None = everything left


def completed_fulfilments(square_order: dict[str, Any]) -> list[FulfilmentShipment]:
    """COMPLETED fulfilments of a Square order, with the lines they carry when the seller split them."""
    uid_to_quantity = {
        li.get("uid"): int(li.get("quantity", "0")) for li in square_order.get("line_items") or []
    }
    result: list[FulfilmentShipment] = []
    for fulfilment in square_order.get("fulfillments") or []:
        if fulfilment.get("state") != "COMPLETED":
            continue
        lines: tuple[tuple[str, int], ...] | None = None
        if fulfilment.get("line_item_application") == "ENTRY_LIST" and fulfilment.get("entries"):
            lines = tuple(
                (
                    entry["line_item_uid"],
                    int(entry.get("quantity") or uid_to_quantity.get(entry["line_item_uid"], 0)),
                )
                for entry in fulfilment["entries"]
            )
        details = fulfilment.get("shipment_details") or {}
        pickup = fulfilment.get("pickup_details") or {}
        result.append(
            FulfilmentShipment(
                fulfillment_uid=fulfilment.get("uid") or "google",
                kind=fulfilment.get("type", "SHIPMENT"),
                carrier=details.get("carrier") or "",
                tracking_id=details.get("tracking_number") or "",
                shipped_at=details.get("shipped_at")
                or pickup.get("picked_up_at")
                or fulfilment.get("updated_at"),
                lines=lines,
            )
        )
    return result
