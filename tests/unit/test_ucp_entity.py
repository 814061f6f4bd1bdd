"""The UCP order entity built from Square orders validates against ucp-sdk and follows the rules."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest
from ucp_sdk.models.schemas.shopping.order import Order

from sync.domain.ucp.entity import (
    UcpMappingError,
    UcpOrderConfig,
    build_entity,
    entity_dict,
    is_ucp_order,
    lifecycle_events,
    parse_entity,
    serialize,
)
from sync.domain.ucp.square_order import SquareOrder, SquareOrderError
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, money, parcel, split_into_parcels, square_order

CONFIG = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")


def entity(order: dict, **kw) -> dict:
    built = build_entity(SquareOrder.from_square(order, **kw), CONFIG)
    return entity_dict(built)


def lines(body: dict) -> dict[str, tuple[dict, str]]:
    return {li["id"]: (li["quantity"], li["status"]) for li in body["line_items"]}


def test_created_snapshot_matches_the_worked_example_e1() -> None:
    body = entity(square_order())
    assert body["ucp"] == {
        "version": "2026-04-08",
        "capabilities": {"dev.ucp.shopping.order": [{"version": "2026-04-08"}]},
    }
    assert (body["id"], body["checkout_id"], body["currency"]) == ("ord_1001", "chk_1001", "USD")
    assert body["permalink_url"] == "https://shop.example.com/orders/ord_1001"
    socks, bottle = body["line_items"]
    assert socks == {
        "id": "li_1",
        "item": {"id": "sku_socks", "title": "Trail Socks", "price": 1500},
        "quantity": {"original": 2, "total": 2, "fulfilled": 0},
        "totals": [
            {"type": "subtotal", "amount": 3000},
            {"type": "tax", "amount": 240},
            {"type": "total", "amount": 3240},
        ],
        "status": "processing",
    }
    assert bottle["quantity"] == {"original": 1, "total": 1, "fulfilled": 0}
    assert body["totals"] == [
        {"type": "subtotal", "amount": 5500},
        {"type": "fulfillment", "display_text": "Shipping", "amount": 500},
        {"type": "tax", "amount": 440},
        {"type": "total", "amount": 6440},
    ]
    (expectation,) = body["fulfillment"]["expectations"]
    assert expectation["line_items"] == [{"id": "li_1", "quantity": 2}, {"id": "li_2", "quantity": 1}]
    assert expectation["method_type"] == "shipping" and expectation["fulfillable_on"] == "now"
    assert expectation["destination"] == {
        "first_name": "Alex",
        "last_name": "Buyer",
        "street_address": "123 Main St",
        "address_locality": "Austin",
        "address_region": "TX",
        "postal_code": "78701",
        "address_country": "US",
    }
    assert "events" not in body["fulfillment"] and "adjustments" not in body
    # The serialized bytes are the same object again, and they validate against the 2026-04-08 schema.
    assert isinstance(
        parse_entity(serialize(build_entity(SquareOrder.from_square(square_order()), CONFIG))), Order
    )


def test_parcels_raise_fulfilled_and_append_one_shipped_event_each() -> None:
    order = split_into_parcels(square_order(), PARCEL_1)
    body = entity(order)
    assert lines(body) == {
        "li_1": ({"original": 2, "total": 2, "fulfilled": 1}, "partial"),
        "li_2": ({"original": 1, "total": 1, "fulfilled": 0}, "processing"),
    }
    (event,) = body["fulfillment"]["events"]
    assert event == {
        "id": "ord_1001:shipped:p1",
        "occurred_at": "2026-05-05T09:00:00Z",
        "type": "shipped",
        "line_items": [{"id": "li_1", "quantity": 1}],
        "tracking_number": "1Z999AA10123456784",
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        "carrier": "UPS",
    }
    body = entity(split_into_parcels(square_order(), PARCEL_1, PARCEL_2))
    assert {li: status for li, (_q, status) in lines(body).items()} == {
        "li_1": "fulfilled",
        "li_2": "fulfilled",
    }
    assert [e["id"] for e in body["fulfillment"]["events"]] == ["ord_1001:shipped:p1", "ord_1001:shipped:p2"]


def test_delivered_comes_from_the_fulfilment_metadata_or_the_caller() -> None:
    p1 = copy.deepcopy(PARCEL_1)
    p1["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    body = entity(split_into_parcels(square_order(), p1, PARCEL_2))
    delivered = [e for e in body["fulfillment"]["events"] if e["type"] == "delivered"]
    assert [(e["id"], e["occurred_at"], e["tracking_number"]) for e in delivered] == [
        ("ord_1001:delivered:p1", "2026-05-07T15:00:00Z", "1Z999AA10123456784")
    ]
    body = entity(
        split_into_parcels(square_order(), p1, PARCEL_2),
        deliveries={"p2": datetime(2026, 5, 8, 15, tzinfo=UTC)},
    )
    assert [e["id"] for e in body["fulfillment"]["events"] if e["type"] == "delivered"] == [
        "ord_1001:delivered:p1",
        "ord_1001:delivered:p2",
    ]


def test_a_completed_refund_is_a_negative_total_adjustment_and_totals_stay() -> None:
    order = split_into_parcels(square_order(), PARCEL_1, PARCEL_2)
    refund = {
        "id": "r1",
        "status": "COMPLETED",
        "amount_money": money(1620),
        "created_at": "2026-05-12T12:00:00Z",
        "order_id": "ret1",
        "reason": "Partial refund: 1 x Trail Socks",
    }
    pending = {
        "id": "r2",
        "status": "PENDING",
        "amount_money": money(100),
        "created_at": "2026-05-12T13:00:00Z",
    }
    body = entity(order, refunds=[refund, pending])
    (adjustment,) = body["adjustments"]
    assert adjustment == {
        "id": "ord_1001:refund:r1",
        "type": "refund",
        "occurred_at": "2026-05-12T12:00:00Z",
        "status": "completed",
        "totals": [{"type": "total", "amount": -1620}],
        "description": "Partial refund: 1 x Trail Socks",
    }
    assert body["totals"][-1] == {"type": "total", "amount": 6440}
    assert lines(body)["li_1"] == ({"original": 2, "total": 2, "fulfilled": 2}, "fulfilled")


def test_an_itemized_refund_is_a_return_that_lowers_the_line_total() -> None:
    order = split_into_parcels(square_order(), PARCEL_1, PARCEL_2)
    refund = {
        "id": "r1",
        "status": "COMPLETED",
        "amount_money": money(1620),
        "created_at": "2026-05-12T12:00:00Z",
        "order_id": "ret1",
    }
    return_order = {
        "id": "ret1",
        "returns": [
            {
                "uid": "x",
                "source_order_id": "ord_1001",
                "return_line_items": [
                    {"uid": "rl", "source_line_item_uid": "li_1", "quantity": "1", "item_type": "ITEM"}
                ],
            }
        ],
    }
    body = entity(order, refunds=[refund], return_orders=[return_order])
    (adjustment,) = body["adjustments"]
    assert adjustment["type"] == "return" and adjustment["line_items"] == [{"id": "li_1", "quantity": -1}]
    # total 1, fulfilled clamped to it: a fully shipped, partly returned line stays "fulfilled".
    assert lines(body)["li_1"] == ({"original": 2, "total": 1, "fulfilled": 1}, "fulfilled")
    # A refund whose return order belongs to another sale order is not this order's.
    other = {**return_order, "returns": [{**return_order["returns"][0], "source_order_id": "ord_9"}]}
    assert "adjustments" not in entity(order, refunds=[refund], return_orders=[other])
    # Without its return order a refund is a plain refund: no line is guessed.
    (plain,) = entity(order, refunds=[refund])["adjustments"]
    assert plain["type"] == "refund" and "line_items" not in plain


def test_a_canceled_order_removes_unshipped_units_in_one_cancellation() -> None:
    order = square_order(state="CANCELED", closed_at="2026-05-05T08:00:00Z")
    order["fulfillments"][0]["state"] = "CANCELED"
    body = entity(order)
    assert lines(body) == {
        "li_1": ({"original": 2, "total": 0, "fulfilled": 0}, "removed"),
        "li_2": ({"original": 1, "total": 0, "fulfilled": 0}, "removed"),
    }
    (cancellation,) = body["adjustments"]
    assert cancellation["type"] == "cancellation" and cancellation["id"] == "ord_1001:canceled"
    assert cancellation["line_items"] == [{"id": "li_1", "quantity": -2}, {"id": "li_2", "quantity": -1}]
    assert "expectations" not in body["fulfillment"]
    # Shipped units stay when the rest of the order is canceled.
    shipped_then_canceled = split_into_parcels(square_order(state="CANCELED"), PARCEL_1)
    assert lines(entity(shipped_then_canceled))["li_1"] == (
        {"original": 2, "total": 1, "fulfilled": 1},
        "fulfilled",
    )


def test_totals_with_discount_and_fee_add_up_and_validate() -> None:
    order = square_order()
    socks = order["line_items"][0]
    socks.update(total_discount_money=money(300), total_money=money(2940))
    order["service_charges"].append(
        {"uid": "gift", "name": "Gift wrap", "total_money": money(200), "total_tax_money": money(0)}
    )
    order.update(total_discount_money=money(300), total_money=money(6340))
    body = entity(order)
    assert {t["type"]: t["amount"] for t in body["totals"]} == {
        "subtotal": 5500,
        "discount": -300,
        "fulfillment": 500,
        "fee": 200,
        "tax": 440,
        "total": 6340,
    }
    assert body["line_items"][0]["totals"][1] == {"type": "discount", "amount": -300}
    json.loads(serialize(build_entity(SquareOrder.from_square(order), CONFIG)))


def test_orders_that_cannot_be_expressed_are_refused_with_the_reason() -> None:
    broken = square_order(total_money=money(6441))
    with pytest.raises(UcpMappingError, match="do not add up"):
        entity(broken)
    half_unit = square_order()
    half_unit["line_items"][0]["quantity"] = "1.5"
    with pytest.raises(SquareOrderError, match="whole number"):
        SquareOrder.from_square(half_unit)
    no_tracking = split_into_parcels(square_order(), parcel("p1", [("li_1", 1)], "", "2026-05-05T09:00:00Z"))
    with pytest.raises(UcpMappingError, match="tracking number"):
        entity(no_tracking)
    not_ucp = square_order(metadata={"google_order_id": "G-1"})
    assert not is_ucp_order(SquareOrder.from_square(not_ucp), CONFIG)
    with pytest.raises(UcpMappingError, match="ucp_checkout_id"):
        entity(not_ucp)


def test_a_missing_tracking_url_is_derived_for_known_carriers() -> None:
    p1 = copy.deepcopy(PARCEL_1)
    del p1["shipment_details"]["tracking_url"]
    p1["shipment_details"]["carrier"] = "FedEx Ground"
    (event,) = entity(split_into_parcels(square_order(), p1))["fulfillment"]["events"]
    assert event["tracking_url"] == "https://www.fedex.com/fedextrack/?trknbr=1Z999AA10123456784"


def test_events_are_created_first_then_by_time() -> None:
    p2 = copy.deepcopy(PARCEL_2)
    p2["shipment_details"]["shipped_at"] = "2026-05-04T12:00:00Z"  # the second parcel left first
    events = lifecycle_events(
        SquareOrder.from_square(split_into_parcels(square_order(), PARCEL_1, p2)), CONFIG
    )
    assert [e.key for e in events] == ["created", "shipped:p2", "shipped:p1"]
    assert events[0].occurred_at == datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)  # milliseconds dropped
