"""Google order -> Square CreateOrder body, and Square fulfilment -> what Google should hear. Pure.

Totals must come out equal on both sides. Google states amounts (line price totals, line tax
totals, shipping, shipping tax, promotion discounts); Square computes them from prices and
percentages. So the mapping works backwards from Google's numbers:

* each line is a catalog item when its ``offerId`` maps to a Square ITEM_VARIATION (``sku_map``
  first, else the variation whose SKU is the offerId: ``resolve_offer_variations``), otherwise an
  ad-hoc item, with Google's unit price either way (``base_price_money`` overrides the catalog
  price, so totals stay Google's); its ``uid`` = Google's line item id (so fulfilment entries map
  back without a lookup). Ad-hoc lines skip Square's inventory: ``unmapped_lines`` says which;
* each product promotion becomes one LINE_ITEM-scoped FIXED_AMOUNT discount per line it touches,
  its amount allocated across the lines in proportion to their price (largest remainder, exact);
* each line's tax becomes its own LINE_ITEM-scoped ADDITIVE tax whose percentage is chosen so that
  Square's rounding of (discounted line price x percentage) gives Google's tax amount exactly;
  where no percentage can (a tax on a zero base), the tax travels as a non-taxable service charge;
* shipping, shipping tax and shipping promotions become non-taxable TOTAL_PHASE service charges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from sync.domain.money import price_to_minor
from sync.domain.square_records import CatalogVariationRef

REFERENCE_ID_MAX = 40
SOURCE_NAME = "Google Shopping"


class MappingError(ValueError):
    """The Google order cannot be expressed as a Square order (names the order and the field)."""


@dataclass(frozen=True)
class MappingOptions:
    location_id: str
    fulfillment_type: str = "SHIPMENT"  # or PICKUP
    sku_map: dict[str, str] | None = None  # offerId -> catalog object id: the merchant's own map
    catalog_ids: dict[str, str] | None = None  # offerId -> variation id found by SKU


# ---------------------------------------------------------------------------- offerId -> catalog
NO_VARIATION = "no_variation"  # no ITEM_VARIATION has the offerId as its SKU
AMBIGUOUS_SKU = "ambiguous_sku"  # several do
LOOKUP_FAILED = "lookup_failed"  # the catalog could not be searched
LOOKUP_OFF = "sku_lookup_off"  # [square] sku_lookup = false


@dataclass(frozen=True)
class SkuResolution:
    """How the offerIds of a batch of orders map to Square catalog variations."""

    catalog_ids: dict[str, str]  # offerId -> variation id
    unmapped: dict[str, str]  # offerId -> NO_VARIATION | AMBIGUOUS_SKU | LOOKUP_FAILED


@dataclass(frozen=True)
class UnmappedLine:
    """A Google line that goes to Square as an ad-hoc line (no catalog item: no inventory)."""

    line_item_id: str
    offer_id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"line_item_id": self.line_item_id, "offer_id": self.offer_id, "reason": self.reason}


def offer_ids(order: dict[str, Any]) -> list[str]:
    return [str((li.get("product") or {}).get("offerId") or "") for li in order.get("lineItems") or []]


def offers_to_look_up(orders: list[dict[str, Any]], sku_map: dict[str, str] | None) -> list[str]:
    """The offerIds of ``orders`` that ``sku_map`` does not map (each once, in first-seen order)."""
    mapped = sku_map or {}
    return list(dict.fromkeys(o for order in orders for o in offer_ids(order) if o and o not in mapped))


def resolve_offer_variations(
    offers: list[str], found: dict[str, list[CatalogVariationRef]] | None
) -> SkuResolution:
    """The variation for each offerId from a SKU search (``found``: SKU -> matches; None when the
    search failed). Square matches SKUs case-insensitively: one match is taken; of several, the one
    whose SKU is exactly the offerId; otherwise the offer stays unmapped as ambiguous rather than
    guessed."""
    catalog_ids: dict[str, str] = {}
    unmapped: dict[str, str] = {}
    for offer in offers:
        if found is None:
            unmapped[offer] = LOOKUP_FAILED
            continue
        matches = {m.variation_id: m for m in found.get(offer) or []}
        exact = [m for m in matches.values() if m.sku == offer]
        if len(matches) == 1:
            catalog_ids[offer] = next(iter(matches))
        elif len(exact) == 1:
            catalog_ids[offer] = exact[0].variation_id
        else:
            unmapped[offer] = AMBIGUOUS_SKU if matches else NO_VARIATION
    return SkuResolution(catalog_ids, unmapped)


def unmapped_lines(
    order: dict[str, Any], options: MappingOptions, resolution: SkuResolution
) -> list[UnmappedLine]:
    """The order's lines that will be ad-hoc in Square, and why."""
    sku_map = options.sku_map or {}
    catalog_ids = options.catalog_ids or {}
    out = []
    for line in order.get("lineItems") or []:
        offer = str((line.get("product") or {}).get("offerId") or "")
        if offer in sku_map or offer in catalog_ids:
            continue
        reason = resolution.unmapped.get(offer, NO_VARIATION)
        out.append(UnmappedLine(str(line.get("id") or ""), offer, reason))
    return out


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
        offer = product.get("offerId", "")
        catalog_id = (options.sku_map or {}).get(offer) or (options.catalog_ids or {}).get(offer)
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


# ---------------------------------------------------------------------------- line cancellations
NOTE_MAX = 500  # Square's limit on shipping_note and pickup note
METADATA_VALUE_MAX = 255  # Square's limit on a metadata value
CANCELED_METADATA_KEY = "google_canceled"
LINES_KEPT = "kept|"  # metadata prefix: the canceled units are still listed on the (paid) lines


@dataclass(frozen=True)
class CanceledLine:
    """A Google line item with units canceled on Google's side (absolute counts, not deltas)."""

    line_item_id: str
    title: str
    ordered: int
    canceled: int


@dataclass(frozen=True)
class SquareUpdate:
    """A sparse UpdateOrder: ``order`` carries the version it was computed from."""

    order: dict[str, Any]
    fields_to_clear: tuple[str, ...] = ()


def canceled_metadata(lines: list[CanceledLine], *, lines_kept: bool) -> str:
    """``[kept|]<line id>=<units canceled>;…`` sorted by line id: what the order records about
    Google's cancellations, so a replay can tell they were already applied, and reconciliation
    can tell units still listed on a paid order's lines (``kept|``) from shipped ones."""
    text = ";".join(f"{li.line_item_id}={li.canceled}" for li in sorted(lines, key=lambda x: x.line_item_id))
    return LINES_KEPT + text if lines_kept else text


def parse_canceled_metadata(square_order: Mapping[str, Any]) -> tuple[dict[str, int], bool]:
    """(Google line id -> units canceled, whether the lines still list them)."""
    text = ((square_order.get("metadata") or {}).get(CANCELED_METADATA_KEY)) or ""
    kept = text.startswith(LINES_KEPT)
    text = text.removeprefix(LINES_KEPT)
    out: dict[str, int] = {}
    for part in text.split(";"):
        line_id, sep, units = part.rpartition("=")
        if sep and line_id and units.isdigit():
            out[line_id] = int(units)
    return out, kept


def cancellation_note(google_order_id: str, lines: list[CanceledLine]) -> str:
    """The fulfilment note the store reads: which units not to send."""
    items = "; ".join(f"{li.canceled} x {li.title}" for li in lines if li.canceled > 0)
    note = f"Google order {google_order_id}. Canceled on Google, do not send: {items}"
    return note if len(note) <= NOTE_MAX else note[: NOTE_MAX - 1] + "…"


def line_cancellation_update(
    google_order_id: str, square_order: dict[str, Any], lines: list[CanceledLine]
) -> SquareUpdate | None:
    """What the Square order needs after Google canceled some of its units; None when nothing.

    An unpaid order gets its quantities reduced (a fully canceled line removed), and Square
    recomputes its totals. A paid one cannot: Square refuses line changes once tenders are
    finalized ("LineItems cannot be modified for finalized tenders"), so its lines stay as sold
    and the fulfilment note tells the store which units not to send. Either way the order's
    metadata records the canceled counts. Nothing is done to an order that is already closed
    (COMPLETED or CANCELED), or when the whole order is canceled (the order cancellation does it).
    """
    if square_order.get("state") in ("COMPLETED", "CANCELED"):
        return None
    wanted = [li for li in lines if li.canceled > 0]
    if not wanted or all(li.canceled >= li.ordered for li in lines):
        return None
    square_lines = {li.get("uid"): li for li in square_order.get("line_items") or []}
    by_google_id = {
        (li.get("metadata") or {}).get("google_line_item_id") or uid: li for uid, li in square_lines.items()
    }
    paid = bool(square_order.get("tenders"))
    metadata = canceled_metadata(wanted, lines_kept=paid)
    recorded, _kept = parse_canceled_metadata(square_order)
    if recorded and all(recorded.get(li.line_item_id, 0) >= li.canceled for li in wanted):
        return None  # applied already (a replay, a crash after the update, or a newer cancellation)
    order: dict[str, Any] = {"version": square_order.get("version")}
    if len(metadata) <= METADATA_VALUE_MAX:
        order["metadata"] = {CANCELED_METADATA_KEY: metadata}
    clear: list[str] = []
    if paid:
        fulfilment = next(
            (
                f
                for f in square_order.get("fulfillments") or []
                if f.get("state") not in ("COMPLETED", "CANCELED", "FAILED")
            ),
            None,
        )
        if fulfilment is not None:
            note = cancellation_note(google_order_id, wanted)
            details = "pickup_details" if fulfilment.get("type") == "PICKUP" else "shipment_details"
            field = "note" if details == "pickup_details" else "shipping_note"
            if (fulfilment.get(details) or {}).get(field) != note:
                order["fulfillments"] = [{"uid": fulfilment.get("uid"), details: {field: note}}]
    else:
        reduced = []
        for li in wanted:
            square_line = by_google_id.get(li.line_item_id)
            if square_line is None:
                continue  # the store removed it already
            remaining = li.ordered - li.canceled
            if remaining <= 0:
                clear.append(f"line_items[{square_line['uid']}]")
            elif Decimal(str(square_line.get("quantity") or "0")) > remaining:  # never raise it back
                reduced.append({"uid": square_line["uid"], "quantity": str(remaining)})
        if reduced:
            order["line_items"] = reduced
    if len(order) == 1 and not clear:
        return None
    return SquareUpdate(order, tuple(clear))


def listed_canceled_units(square_order: Mapping[str, Any]) -> dict[str, int]:
    """Square line uid -> units Google canceled that the line still lists (a paid order's lines
    cannot shrink). Reconciliation takes them off what a whole-order fulfilment shipped."""
    canceled, kept = parse_canceled_metadata(square_order)
    if not kept:
        return {}
    out: dict[str, int] = {}
    for li in square_order.get("line_items") or []:
        google_id = (li.get("metadata") or {}).get("google_line_item_id") or li.get("uid")
        if google_id in canceled:
            out[li.get("uid") or ""] = canceled[google_id]
    return out
