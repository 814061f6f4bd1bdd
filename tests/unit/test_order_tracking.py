"""Order tracking signal rules: web-shop orders only, none before completely shipped, then one."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from sync.domain.order_tracking import (
    CatalogItem,
    ShippingState,
    TrackingConfig,
    completely_shipped,
    due_signal,
    is_web_shop_order,
    signal_key,
    tracking_signal,
)
from sync.domain.ucp.entity import UcpOrderConfig
from sync.domain.ucp.square_order import SquareOrder
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, split_into_parcels, square_order

UCP = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")
CONFIG = TrackingConfig(origin_postal_code="940-43", origin_region_code="US")
GOOGLE_ORDERS = {"G-111"}


def web_order(**changes) -> dict:
    return square_order(metadata={"source": "web"}, **changes)


def is_content_api(order: SquareOrder) -> bool:
    return order.reference_id in GOOGLE_ORDERS


def due(raw: dict, sent: frozenset[str] = frozenset(), **kw):
    return due_signal(
        SquareOrder.from_square(raw),
        sent=sent,
        config=CONFIG,
        is_content_api_order=is_content_api,
        ucp=UCP,
        **kw,
    )


def test_which_orders_are_the_web_shops() -> None:
    def web(raw: dict) -> bool:
        return is_web_shop_order(SquareOrder.from_square(raw), is_content_api_order=is_content_api, ucp=UCP)

    assert web(web_order())
    assert not web(square_order())  # a UCP checkout (ucp_checkout_id metadata)
    assert not web(web_order(reference_id="G-111"))  # a Content API order
    pickup = web_order()
    pickup["fulfillments"][0]["type"] = "PICKUP"
    assert not web(pickup)


def test_no_signal_before_the_order_is_completely_shipped() -> None:
    assert due(web_order()) is None
    assert due(split_into_parcels(web_order(), PARCEL_1)) is None  # one sock still at the warehouse
    assert not completely_shipped(SquareOrder.from_square(split_into_parcels(web_order(), PARCEL_1)))


def test_one_signal_once_completely_shipped_then_never_again() -> None:
    raw = split_into_parcels(web_order(), PARCEL_1, PARCEL_2)
    signal = due(raw)
    assert signal is not None and signal.key == signal_key("ord_1001") == "ordertracking:ord_1001"
    assert due(raw, sent=frozenset({signal.key})) is None
    delivered = copy.deepcopy(raw)
    delivered["fulfillments"][1]["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    assert due(delivered, sent=frozenset({signal.key})) is None  # create only: no update later
    assert due(copy.deepcopy(raw)) == signal  # deterministic


def test_the_signal_carries_parcels_lines_mapping_destination_and_fee() -> None:
    raw = split_into_parcels(web_order(), PARCEL_1, PARCEL_2)
    raw["fulfillments"][1]["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    signal = tracking_signal(
        SquareOrder.from_square(raw),
        CONFIG,
        {"sku_socks": CatalogItem(gtins=("00012345678905",), brand="Trail")},
    )
    assert signal.order_id == "ord_1001"
    assert signal.order_created_at == datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    p1, p2 = signal.shipments
    assert (p1.shipment_id, p1.tracking_id, p1.carrier, p1.status) == (
        "p1",
        "1Z999AA10123456784",
        "UPS",
        ShippingState.DELIVERED,
    )
    assert p1.delivered_at == datetime(2026, 5, 7, 15, tzinfo=UTC)
    assert (p2.status, p2.delivered_at, p2.shipped_at) == (
        ShippingState.SHIPPED,
        None,
        datetime(2026, 5, 6, 9, tzinfo=UTC),
    )
    assert (p1.origin_postal_code, p1.origin_region_code) == ("94043", "US")
    socks, bottle = signal.lines
    assert (socks.line_item_id, socks.product_id, socks.quantity) == ("li_1", "online~en~US~sku_socks", 2)
    assert (socks.gtins, socks.brand, socks.title) == (("00012345678905",), "Trail", "Trail Socks")
    assert (bottle.gtins, bottle.brand) == ((), "")
    assert [(m.shipment_id, m.line_item_id, m.quantity) for m in signal.shipment_lines] == [
        ("p1", "li_1", 1),
        ("p2", "li_1", 1),
        ("p2", "li_2", 1),
    ]
    assert (signal.delivery_postal_code, signal.delivery_region_code) == ("78701", "US")
    assert (signal.shipping_fee_micros, signal.currency) == (5_000_000, "USD")


def test_a_canceled_order_gets_no_signal() -> None:
    raw = split_into_parcels(web_order(state="CANCELED"), PARCEL_1, PARCEL_2)
    assert due(raw) is None
    with pytest.raises(ValueError, match="not completely shipped"):
        tracking_signal(SquareOrder.from_square(raw), CONFIG)
