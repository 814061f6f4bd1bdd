from datetime import UTC, datetime

import pytest

from sync.domain.orders import (
    AmbiguousLineItemError,
    LineItemLookupError,
    Order,
    OrderDataError,
    Quantities,
    derive_status,
)

try:
    from fixtures_google import google_order, line_item, price, shipment
except ModuleNotFoundError:  # tests/ laid out as a package
    from tests.unit.fixtures_google import google_order, line_item, price, shipment


def test_from_google_reads_the_fields():
    order = Order.from_google(google_order(merchantOrderId="OS-TEST", acknowledged=True))
    assert order.id == "TEST-1234-56-7890"
    assert order.merchant_id == "1234567"
    assert order.merchant_order_id == "OS-TEST"
    assert order.acknowledged is True
    assert order.status == "pendingShipment"
    assert order.placed_date == datetime(2026, 11, 20, 9, 30, 12, 345000, tzinfo=UTC)
    assert order.currency == "USD"
    assert order.customer_name == "Pam Beesly"
    a, b = order.line_items
    assert (a.id, a.offer_id, a.product_id, a.title) == (
        "LI-A",
        "sku-a",
        "online:en:US:sku-a",
        "Product sku-a",
    )
    assert (a.quantity_ordered, a.quantity_pending, a.unit_price_minor, a.price_minor, a.tax_minor) == (
        2,
        2,
        1999,
        3998,
        320,
    )
    assert (b.price_minor, b.tax_minor, b.currency) == (500, 40, "USD")
    assert order.shipping_cost_minor == 499
    assert order.shipping_tax_minor == 40
    assert order.promotions_minor == 500
    assert order.net_amount_minor == 4897
    assert order.raw["someFutureField"] == {"ignored": True}  # unknown fields tolerated and kept


def test_total_minor_is_lines_plus_taxes_plus_shipping_minus_promotions():
    order = Order.from_google(google_order())
    # 39.98 + 5.00 + 3.20 + 0.40 + 4.99 + 0.40 - 5.00
    assert order.total_minor == 4897
    no_promo = Order.from_google(google_order(promotions=[], shippingCostTax=None))
    assert no_promo.total_minor == 3998 + 500 + 320 + 40 + 499


def test_positive_discounts_count_as_discounts_too():
    d = google_order()
    d["promotions"][0]["benefits"][0]["discount"] = price("5.00")
    assert Order.from_google(d).promotions_minor == 500


def test_jpy_order():
    d = google_order(
        lines=[line_item("L1", "sku", quantity=3, unit="1200", tax="360", currency="JPY")],
        currency="JPY",
        promotions=[],
        shippingCost=price("500", "JPY"),
        shippingCostTax=None,
        netAmount=None,
    )
    order = Order.from_google(d)
    assert order.currency == "JPY"
    assert order.total_minor == 3600 + 360 + 500
    assert order.net_amount_minor is None


def test_raw_is_a_private_copy():
    d = google_order()
    order = Order.from_google(d)
    d["lineItems"][0]["id"] = "changed"
    assert order.raw["lineItems"][0]["id"] == "LI-A"


def test_placed_date_variants_are_utc():
    assert Order.from_google(google_order(placedDate="2026-11-20T10:00:00+02:00")).placed_date == datetime(
        2026, 11, 20, 8, 0, tzinfo=UTC
    )
    assert Order.from_google(google_order(placedDate="2026-11-20T10:00:00")).placed_date == datetime(
        2026, 11, 20, 10, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("id"), "id"),
        (lambda d: d.update(id=""), "id"),
        (lambda d: d.pop("status"), "status"),
        (lambda d: d.update(status="PENDING_SHIPMENT"), "status"),
        (lambda d: d.pop("placedDate"), "placedDate"),
        (lambda d: d.update(placedDate="yesterday"), "placedDate"),
        (lambda d: d.update(lineItems=[]), "lineItems"),
        (lambda d: d.pop("lineItems"), "lineItems"),
        (lambda d: d["lineItems"][1].pop("id"), "lineItems[1].id"),
        (lambda d: d["lineItems"][0].pop("quantityOrdered"), "lineItems[0].quantityOrdered"),
        (lambda d: d["lineItems"][0].update(quantityOrdered="two"), "lineItems[0].quantityOrdered"),
        (lambda d: d["lineItems"][0].update(quantityOrdered=0), "lineItems[0].quantityOrdered"),
        (lambda d: d["lineItems"][0].update(quantityShipped=-1), "lineItems[0].quantityShipped"),
        (lambda d: d["lineItems"][0].pop("price"), "lineItems[0].price"),
        (
            lambda d: d["lineItems"][0].update(price={"value": "1.999", "currency": "USD"}),
            "lineItems[0].price",
        ),
        (lambda d: d["lineItems"][0].update(price={"value": "abc", "currency": "USD"}), "lineItems[0].price"),
        (
            lambda d: d["lineItems"].__setitem__(1, line_item("LI-B", "sku-b", currency="EUR")),
            "lineItems[1].price.currency",
        ),
        (lambda d: d["lineItems"][1].update(price=price("5.00", "EUR")), "lineItems[1].tax.currency"),
        (lambda d: d["lineItems"][1].update(id="LI-A"), "lineItems[].id"),
        (lambda d: d.update(shippingCost=price("4.99", "EUR")), "shippingCost.currency"),
        (lambda d: d.update(shipments=[{"carrier": "ups"}]), "shipments[0].id"),
    ],
)
def test_from_google_names_the_bad_field(mutate, field):
    d = google_order()
    mutate(d)
    with pytest.raises(OrderDataError) as info:
        Order.from_google(d)
    assert info.value.field == field
    assert field in str(info.value)
    assert info.value.order_id in (d.get("id") or "<no id>", "<no id>")


def test_pending_is_derived_when_absent_and_digit_strings_accepted():
    li = line_item("L1", "sku", quantity=5, shipped=2, canceled=1)
    del li["quantityPending"]
    li["quantityOrdered"] = "5"
    order = Order.from_google(google_order(lines=[li], promotions=[]))
    assert order.line_items[0].quantity_pending == 2


def test_shipments_are_read_and_product_ids_resolved():
    s = shipment("fd-1", [("LI-A", 1)], delivery_date="2026-11-23T12:00:00Z", status="delivered")
    s["lineItems"].append({"productId": "online:en:US:sku-b", "quantity": 1})
    order = Order.from_google(google_order(status="partiallyDelivered", shipments=[s]))
    (got,) = order.shipments
    assert got.id == "fd-1" and got.carrier == "ups" and got.status == "delivered"
    assert got.delivery_date == datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert [(x.line_item_id, x.quantity) for x in got.lines] == [("LI-A", 1), ("LI-B", 1)]
    assert order.shipment("fd-1") is got and order.shipment("nope") is None


def test_line_item_lookup_by_id_or_offer():
    lines = [
        line_item("LI-1", "sku-1"),
        line_item("LI-2", "dup"),
        line_item("LI-3", "dup"),
        line_item("LI-4", "LI-1"),
    ]
    order = Order.from_google(google_order(lines=lines, promotions=[]))
    assert order.line_item("LI-2").id == "LI-2"
    assert order.line_item("sku-1").id == "LI-1"
    assert order.line_item("LI-1").id == "LI-1"  # a line item id wins over an equal offerId
    with pytest.raises(AmbiguousLineItemError, match="LI-2, LI-3"):
        order.line_item("dup")
    with pytest.raises(LineItemLookupError, match="sku-9"):
        order.line_item("sku-9")
    with pytest.raises(LineItemLookupError):
        order.line_item_by_id("sku-1")


Q = Quantities


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ([Q(ordered=2, pending=2)], "pendingShipment"),
        ([Q(ordered=2, pending=1, shipped=1)], "partiallyShipped"),
        ([Q(ordered=1, shipped=1), Q(ordered=1, pending=1)], "partiallyShipped"),
        ([Q(ordered=2, pending=1, shipped=1, delivered=1)], "partiallyShipped"),
        ([Q(ordered=2, shipped=2)], "shipped"),
        ([Q(ordered=2, shipped=1, canceled=1)], "shipped"),
        ([Q(ordered=2, shipped=2, delivered=1)], "partiallyDelivered"),
        ([Q(ordered=2, shipped=2, delivered=2)], "delivered"),
        ([Q(ordered=3, shipped=2, delivered=2, canceled=1)], "delivered"),
        ([Q(ordered=2, canceled=2)], "canceled"),
        ([Q(ordered=2, canceled=2), Q(ordered=1, canceled=1)], "canceled"),
        ([Q(ordered=1, canceled=1), Q(ordered=1, pending=1)], "pendingShipment"),
        ([Q(ordered=2, shipped=2, delivered=2, returned=1)], "partiallyReturned"),
        ([Q(ordered=2, shipped=2, delivered=2, returned=2)], "returned"),
        ([Q(ordered=2, shipped=2, delivered=2, returned=2), Q(ordered=1, canceled=1)], "returned"),
    ],
)
def test_derive_status(lines, status):
    assert derive_status(lines) == status


def test_derive_status_accepts_line_items_and_google_dicts():
    raw = [line_item("L1", "a", quantity=2, shipped=2, delivered=1)]
    assert derive_status(raw) == "partiallyDelivered"
    order = Order.from_google(google_order(lines=raw, promotions=[], status="partiallyDelivered"))
    assert derive_status(order.line_items) == "partiallyDelivered"
    with pytest.raises(ValueError):
        derive_status([])


def test_quantities_sum_over_lines():
    lines = [
        line_item("L1", "a", quantity=3, shipped=1, delivered=1, canceled=1),
        line_item("L2", "b", quantity=2, shipped=2),
    ]
    order = Order.from_google(google_order(lines=lines, promotions=[], status="partiallyShipped"))
    assert order.quantities == Q(ordered=5, pending=1, shipped=3, delivered=1, canceled=1, returned=0)
    assert order.quantities.to_ship == 4


@pytest.mark.parametrize(
    ("status", "lines", "shippable", "final"),
    [
        ("inProgress", None, False, False),
        ("pendingShipment", None, True, False),
        ("partiallyShipped", [line_item("L1", "a", quantity=2, shipped=1)], True, False),
        ("shipped", [line_item("L1", "a", quantity=2, shipped=2)], False, False),
        ("delivered", [line_item("L1", "a", quantity=2, shipped=2, delivered=2)], False, True),
        ("canceled", [line_item("L1", "a", quantity=2, canceled=2)], False, True),
        ("canceled", None, False, True),  # Google's word wins, whatever the counters say
        ("returned", [line_item("L1", "a", quantity=1, shipped=1, delivered=1, returned=1)], False, True),
        (
            "partiallyReturned",
            [line_item("L1", "a", quantity=2, shipped=2, delivered=2, returned=1)],
            False,
            False,
        ),
    ],
)
def test_shippable_and_final(status, lines, shippable, final):
    order = Order.from_google(google_order(status=status, lines=lines, promotions=[]))
    assert order.is_shippable is shippable
    assert order.is_final is final


def test_with_shipped_moves_pending_to_shipped_and_rederives_status():
    order = Order.from_google(google_order())
    part = order.with_shipped([("LI-A", 1)])
    assert part.line_item("LI-A").quantity_shipped == 1
    assert part.line_item("LI-A").quantity_pending == 1
    assert part.status == "partiallyShipped"
    full = part.with_shipped([("LI-A", 1), ("LI-B", 1)])
    assert full.status == "shipped" and full.quantities.pending == 0 and not full.is_shippable
    assert order.line_item("LI-A").quantity_shipped == 0  # immutable
    with pytest.raises(LineItemLookupError):
        order.with_shipped([("nope", 1)])
    in_progress = Order.from_google(google_order(status="inProgress"))
    assert in_progress.with_shipped([("LI-A", 1)]).status == "inProgress"


def test_orders_are_hashable_values():
    a = Order.from_google(google_order())
    b = Order.from_google(google_order())
    assert a == b and hash(a) == hash(b)
