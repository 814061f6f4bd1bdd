from datetime import UTC, datetime, timedelta, timezone

import pytest

from sync.domain import operations
from sync.domain.feed import EventLine, ShipmentEvent
from sync.domain.orders import Order
from sync.domain.planning import (
    DeliverPlan,
    PlanningError,
    PlanProblem,
    ShipPlan,
    acknowledge_entry,
    cancel_entry,
    cancel_line_item_entry,
    merchant_order_id_entry,
    plan_delivery,
    plan_shipment,
)

try:
    from fixtures_google import google_order, line_item, shipment
except ModuleNotFoundError:  # tests/ laid out as a package
    from tests.unit.fixtures_google import google_order, line_item, shipment

ORDER_ID = "TEST-1234-56-7890"
SHIPPED_AT = datetime(2026, 11, 21, 10, tzinfo=UTC)


def order_of(**kwargs) -> Order:
    return Order.from_google(google_order(ORDER_ID, **kwargs))


def event(
    *lines: tuple[str | None, str | None, int],
    tracking: str = "1Z999AA10123456784",
    carrier: str = "ups",
    order_ref: str = ORDER_ID,
    shipment_id: str | None = None,
) -> ShipmentEvent:
    return ShipmentEvent(
        order_ref=order_ref,
        shipment_id=shipment_id or operations.feed_shipment_id(order_ref, tracking, carrier),
        carrier=carrier,
        tracking_id=tracking,
        shipped_at=SHIPPED_AT,
        delivered_at=None,
        lines=tuple(EventLine(*line) for line in lines),
        rows=(("feeds/a.csv", 2),),
        shipment_id_explicit=shipment_id is not None,
    )


def test_full_shipment_plan_and_entries():
    ev = event(("LI-A", None, 2), ("LI-B", None, 1))
    plan = plan_shipment(order_of(), ev, set())
    assert isinstance(plan, ShipPlan)
    assert plan.order_id == ORDER_ID
    assert plan.shipment_id == ev.shipment_id
    assert plan.operation_id == f"os:ship:{ev.shipment_id}"
    assert plan.lines == (("LI-A", 2), ("LI-B", 1))
    assert plan.rows == (("feeds/a.csv", 2),)
    body = {
        "lineItems": [{"lineItemId": "LI-A", "quantity": 2}, {"lineItemId": "LI-B", "quantity": 1}],
        "shipmentInfos": [
            {"shipmentId": ev.shipment_id, "carrier": "ups", "trackingId": "1Z999AA10123456784"}
        ],
    }
    assert plan.to_request() == {"operationId": plan.operation_id, **body}
    assert plan.to_batch_entry() == {
        "method": "shipLineItems",
        "orderId": ORDER_ID,
        "operationId": plan.operation_id,
        "shipLineItems": body,
    }
    # the same event planned again (a rerun) gives the same plan
    assert plan_shipment(order_of(), ev, set()) == plan


def test_partial_then_second_shipment():
    order = order_of()
    first = plan_shipment(order, event(("LI-A", None, 1)), set())
    assert isinstance(first, ShipPlan)
    order = order.with_shipped(first.lines)
    second = plan_shipment(
        order, event(("LI-A", None, 1), ("LI-B", None, 1), tracking="1Z999AA10000000002"), {first.shipment_id}
    )
    assert isinstance(second, ShipPlan)
    assert second.shipment_id != first.shipment_id
    assert second.operation_id != first.operation_id
    # a third parcel for the same line would over-ship
    order = order.with_shipped(second.lines)
    third = plan_shipment(
        order,
        event(("LI-A", None, 1), tracking="1Z999AA10000000003"),
        {first.shipment_id, second.shipment_id},
    )
    assert isinstance(third, PlanProblem)
    assert "cannot ship 1 more" in third.reason


def test_over_shipping_message_for_ops():
    lines = [line_item("LI-9", "sku-9", quantity=2, shipped=1)]
    order = Order.from_google(google_order("TEST-1", lines=lines, promotions=[], status="partiallyShipped"))
    outcome = plan_shipment(order, event((None, "sku-9", 3), order_ref="TEST-1"), set())
    assert isinstance(outcome, PlanProblem)
    assert outcome.reason == (
        "order TEST-1 line 'sku-9' ordered 2, shipped 1, canceled 0: cannot ship 3 more (at most 1)"
    )
    assert outcome.rows == (("feeds/a.csv", 2),)
    assert not outcome.retryable
    assert isinstance(plan_shipment(order, event(("LI-9", None, 1), order_ref="TEST-1"), set()), ShipPlan)


def test_over_shipping_counts_canceled_units():
    order = order_of(lines=[line_item("LI-A", "sku-a", quantity=3, canceled=2)], promotions=[])
    outcome = plan_shipment(order, event(("LI-A", None, 2)), set())
    assert isinstance(outcome, PlanProblem)
    assert "ordered 3, shipped 0, canceled 2: cannot ship 2 more" in outcome.reason


def test_offer_id_resolution():
    plan = plan_shipment(order_of(), event((None, "sku-b", 1), (None, "sku-a", 2)), set())
    assert isinstance(plan, ShipPlan)
    assert plan.lines == (("LI-B", 1), ("LI-A", 2))


def test_ambiguous_offer_id_and_unknown_line_items():
    lines = [line_item("LI-1", "dup"), line_item("LI-2", "dup")]
    order = order_of(lines=lines, promotions=[])
    outcome = plan_shipment(order, event((None, "dup", 1)), set())
    assert isinstance(outcome, PlanProblem)
    assert "offer_id 'dup' is on 2 line items (LI-1, LI-2); give the line_item_id instead" in outcome.reason
    assert isinstance(plan_shipment(order, event(("LI-2", None, 1)), set()), ShipPlan)

    outcome = plan_shipment(order_of(), event(("LI-Z", None, 1), (None, "sku-9", 1)), set())
    assert isinstance(outcome, PlanProblem)
    assert len(outcome.reasons) == 2
    assert "no line item id 'LI-Z'" in outcome.reasons[0]
    assert "no line item with offer_id 'sku-9'" in outcome.reasons[1]


def test_same_line_listed_twice_is_a_problem():
    outcome = plan_shipment(order_of(), event(("LI-A", None, 1), (None, "sku-a", 1)), set())
    assert isinstance(outcome, PlanProblem)
    assert "LI-A is listed twice" in outcome.reason


def test_already_applied_returns_none():
    ev = event(("LI-A", None, 1))
    assert plan_shipment(order_of(), ev, {ev.shipment_id}) is None  # planned (ledger)
    applied = order_of(
        status="partiallyShipped",
        lines=[line_item("LI-A", "sku-a", quantity=2, shipped=1)],
        promotions=[],
        shipments=[shipment(ev.shipment_id, [("LI-A", 1)])],
    )
    assert plan_shipment(applied, ev, set()) is None  # in Google's order
    # fully shipped and applied: still "already applied", not an over-shipping problem
    done = order_of(
        status="shipped",
        lines=[line_item("LI-A", "sku-a", quantity=1, shipped=1)],
        promotions=[],
        shipments=[shipment(ev.shipment_id, [("LI-A", 1)])],
    )
    assert plan_shipment(done, ev, set()) is None


def test_same_parcel_under_merchant_order_id_is_already_applied():
    order = order_of(merchantOrderId="OS-1")
    by_google_id = event(("LI-A", None, 1))
    by_merchant_id = event(("LI-A", None, 1), order_ref="OS-1", tracking="1z999aa1-0123456784")
    assert by_merchant_id.shipment_id != by_google_id.shipment_id
    assert plan_shipment(order, by_merchant_id, {by_google_id.shipment_id}) is None
    # and Google's own record of the parcel (carrier + tracking) is recognised too
    shipped = order_of(
        merchantOrderId="OS-1",
        status="partiallyShipped",
        lines=[line_item("LI-A", "sku-a", quantity=2, shipped=1)],
        promotions=[],
        shipments=[shipment("whatever-id", [("LI-A", 1)])],
    )
    assert plan_shipment(shipped, by_merchant_id, set()) is None


def test_explicit_shipment_id_is_only_matched_by_id():
    shipped = order_of(
        status="partiallyShipped",
        lines=[line_item("LI-A", "sku-a", quantity=3, shipped=1)],
        promotions=[],
        shipments=[shipment("S1", [("LI-A", 1)])],
    )
    outcome = plan_shipment(shipped, event(("LI-A", None, 1), shipment_id="S2"), set())
    assert isinstance(outcome, ShipPlan) and outcome.operation_id == "os:ship:S2"


def test_order_ref_mismatch():
    outcome = plan_shipment(order_of(), event(("LI-A", None, 1), order_ref="TEST-OTHER"), set())
    assert isinstance(outcome, PlanProblem) and "TEST-OTHER" in outcome.reason


@pytest.mark.parametrize(
    ("status", "retryable", "text"),
    [("inProgress", True, "not released for shipping yet"), ("canceled", False, "is canceled")],
)
def test_unshippable_orders(status, retryable, text):
    outcome = plan_shipment(order_of(status=status), event(("LI-A", None, 1)), set())
    assert isinstance(outcome, PlanProblem)
    assert text in outcome.reason and outcome.retryable is retryable


def test_plan_delivery():
    ev = event(("LI-A", None, 2), ("LI-B", None, 1))
    shipped = order_of(
        status="shipped",
        lines=[line_item("LI-A", "sku-a", quantity=2, shipped=2), line_item("LI-B", "sku-b", shipped=1)],
        shipments=[shipment(ev.shipment_id, [("LI-A", 2), ("LI-B", 1)])],
    )
    when = datetime(2026, 11, 23, 17, 30, 5, 123, tzinfo=timezone(timedelta(hours=2)))
    plan = plan_delivery(shipped, ev.shipment_id, when)
    assert isinstance(plan, DeliverPlan)
    assert plan.operation_id == f"os:deliver:{ev.shipment_id}"
    body = {"shipmentId": ev.shipment_id, "status": "delivered", "deliveryDate": "2026-11-23T15:30:05Z"}
    assert plan.to_batch_entry() == {
        "method": "updateShipment",
        "orderId": ORDER_ID,
        "operationId": plan.operation_id,
        "updateShipment": body,
    }
    assert plan.to_request() == {"operationId": plan.operation_id, **body}
    # a snapshot older than the shipment still gets a plan (the ledger knows it shipped)
    assert isinstance(plan_delivery(order_of(), ev.shipment_id, when), DeliverPlan)

    delivered = order_of(
        status="delivered",
        shipments=[
            shipment(
                ev.shipment_id,
                [("LI-A", 2), ("LI-B", 1)],
                status="delivered",
                delivery_date="2026-11-23T15:30:05Z",
            )
        ],
    )
    assert plan_delivery(delivered, ev.shipment_id, when) is None
    with pytest.raises(PlanningError):
        plan_delivery(shipped, ev.shipment_id, None)


def test_acknowledge_and_merchant_order_id_entries():
    assert acknowledge_entry(ORDER_ID) == {
        "method": "acknowledge",
        "orderId": ORDER_ID,
        "operationId": "os:ack:1",
    }
    entry = merchant_order_id_entry(ORDER_ID, "OS-TEST")
    assert entry["method"] == "updateMerchantOrderId" and entry["merchantOrderId"] == "OS-TEST"
    assert entry["operationId"] == merchant_order_id_entry("OTHER", "OS-TEST")["operationId"]
    assert entry["operationId"] != merchant_order_id_entry(ORDER_ID, "OS-NEW")["operationId"]


def test_cancel_entries():
    assert cancel_entry(ORDER_ID, "noInventory", "out of stock") == {
        "method": "cancel",
        "orderId": ORDER_ID,
        "operationId": "os:cancel:1",
        "cancel": {"reason": "noInventory", "reasonText": "out of stock"},
    }
    with pytest.raises(PlanningError, match="cancel reason"):
        cancel_entry(ORDER_ID, "changedMind")

    order = order_of(lines=[line_item("LI-A", "sku-a", quantity=3, canceled=1)], promotions=[])
    entry = cancel_line_item_entry(order, "sku-a", 1, "noInventory")
    assert entry == {
        "method": "cancelLineItem",
        "orderId": ORDER_ID,
        "operationId": "os:cancel-line:LI-A:2",
        "cancelLineItem": {"lineItemId": "LI-A", "quantity": 1, "reason": "noInventory", "reasonText": ""},
    }
    # same intent from the same snapshot -> same id; more units -> another id
    assert cancel_line_item_entry(order, "LI-A", 1)["operationId"] == entry["operationId"]
    assert cancel_line_item_entry(order, "LI-A", 2)["operationId"] == "os:cancel-line:LI-A:3"
    with pytest.raises(PlanningError, match="cannot cancel 3 more"):
        cancel_line_item_entry(order, "LI-A", 3)
    with pytest.raises(PlanningError, match="no line item"):
        cancel_line_item_entry(order, "sku-zzz", 1)
    with pytest.raises(PlanningError):
        cancel_line_item_entry(order, "LI-A", 0)


def test_feed_to_plans_end_to_end():
    """Two exports of one warehouse -> parse -> group -> plan, with a rerun planning nothing new."""
    from sync.domain.feed import group_shipments, parse_rows

    def feed_row(line, qty, tracking, delivered=""):
        return {
            "order_id": ORDER_ID,
            "offer_id": line,
            "quantity": qty,
            "carrier": "UPS Ground",
            "tracking_id": tracking,
            "shipped_at": "2026-11-21T10:00:00Z",
            "delivered_at": delivered,
        }

    monday = [(2, feed_row("sku-a", "1", "T-1"))]
    tuesday = [
        (2, feed_row("sku-a", "1", "T-1", "2026-11-22")),
        (3, feed_row("sku-a", "1", "T-2")),
        (4, feed_row("sku-b", "1", "T-2")),
    ]
    rows = parse_rows(monday, "mon.csv")[0] + parse_rows(tuesday, "tue.csv")[0]
    events, conflicts = group_shipments(rows)
    assert not conflicts and len(events) == 2
    order = order_of()
    known: set[str] = set()
    plans = []
    for ev in events:
        plan = plan_shipment(order, ev, known)
        assert isinstance(plan, ShipPlan)
        known.add(plan.shipment_id)
        order = order.with_shipped(plan.lines)
        plans.append(plan)
    assert [p.lines for p in plans] == [(("LI-A", 1),), (("LI-A", 1), ("LI-B", 1))]
    assert order.status == "shipped"
    assert all(plan_shipment(order, ev, known) is None for ev in events)  # the next cycle
    assert events[0].delivered_at == datetime(2026, 11, 22, tzinfo=UTC)


def test_square_pickup_event_without_carrier_or_tracking():
    """The Square bridge builds events from fulfillments: plain 3-tuples, maybe no carrier/tracking."""
    order = order_of(merchantOrderId="SQ-ORDER-1", acknowledged=True)
    sid = operations.square_shipment_id("SQ-ORDER-1", "fulfil-1")
    ev = ShipmentEvent(
        order_ref=ORDER_ID,
        shipment_id=sid,
        carrier="",
        tracking_id="",
        shipped_at=SHIPPED_AT,
        delivered_at=SHIPPED_AT,
        lines=(("LI-A", None, 2), ("LI-B", None, 1)),
        rows=(),
    )
    plan = plan_shipment(order, ev, set())
    assert isinstance(plan, ShipPlan)
    assert plan.to_batch_entry()["shipLineItems"]["shipmentInfos"] == [{"shipmentId": sid}]
    assert plan_shipment(order, ev, {sid}) is None
    bad = ShipmentEvent(ORDER_ID, sid, "", "", SHIPPED_AT, None, (("LI-A", None, 0),), ())
    outcome = plan_shipment(order, bad, set())
    assert isinstance(outcome, PlanProblem) and "quantity 0" in outcome.reason
