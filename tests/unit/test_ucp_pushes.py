"""Which UCP pushes are due: ids derived from the events, monotonic timestamps, idle = nothing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from sync.domain.ucp.entity import EventKind, UcpOrderConfig, parse_entity
from sync.domain.ucp.pushes import PushHistory, due_pushes, webhook_timestamp
from sync.domain.ucp.square_order import SquareOrder
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, money, split_into_parcels, square_order

CONFIG = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")


def order_of(raw: dict, **kw) -> SquareOrder:
    return SquareOrder.from_square(raw, **kw)


def after(pushes, history: PushHistory = PushHistory()) -> PushHistory:
    keys = history.pushed | {p.event_key for p in pushes}
    last = max([p.timestamp for p in pushes], default=history.last_timestamp)
    return PushHistory(frozenset(keys), last)


def test_a_new_order_is_one_created_push_with_the_order_id_as_webhook_id() -> None:
    (push,) = due_pushes(order_of(square_order()), PushHistory(), CONFIG)
    assert (push.event_key, push.kind, push.webhook_id) == ("created", EventKind.CREATED, "ord_1001")
    assert push.timestamp == datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
    assert parse_entity(push.body).id == "ord_1001"


def test_an_unchanged_order_yields_nothing() -> None:
    order = order_of(square_order())
    history = after(due_pushes(order, PushHistory(), CONFIG))
    assert due_pushes(order, history, CONFIG) == []
    assert due_pushes(order_of(square_order()), history, CONFIG) == []  # re-read from Square: still nothing


def test_a_rerun_derives_the_same_ids_timestamps_and_bytes() -> None:
    raw = split_into_parcels(square_order(), PARCEL_1, PARCEL_2)
    first = due_pushes(order_of(raw), PushHistory(), CONFIG)
    again = due_pushes(order_of(copy.deepcopy(raw)), PushHistory(), CONFIG)
    assert [(p.webhook_id, p.timestamp, p.body) for p in first] == [
        (p.webhook_id, p.timestamp, p.body) for p in again
    ]
    assert [p.webhook_id for p in first] == ["ord_1001", "ord_1001:shipped:p1", "ord_1001:shipped:p2"]


def test_each_push_carries_the_order_as_of_its_event() -> None:
    pushes = due_pushes(
        order_of(split_into_parcels(square_order(), PARCEL_1, PARCEL_2)), PushHistory(), CONFIG
    )
    snapshots = [json.loads(p.body) for p in pushes]
    assert [len(s["fulfillment"].get("events", [])) for s in snapshots] == [0, 1, 2]
    assert [s["line_items"][0]["status"] for s in snapshots] == ["processing", "partial", "fulfilled"]


def test_only_new_events_are_due_and_earlier_ones_stay_in_the_body() -> None:
    created = due_pushes(order_of(square_order()), PushHistory(), CONFIG)
    history = after(created)
    shipped = due_pushes(order_of(split_into_parcels(square_order(), PARCEL_1)), history, CONFIG)
    assert [p.event_key for p in shipped] == ["shipped:p1"]
    history = after(shipped, history)
    p1 = copy.deepcopy(PARCEL_1)
    p1["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    raw = split_into_parcels(square_order(), p1, PARCEL_2)
    refund = {
        "id": "r1",
        "status": "COMPLETED",
        "amount_money": money(1620),
        "created_at": "2026-05-12T12:00:00Z",
    }
    later = due_pushes(order_of(raw, refunds=[refund]), history, CONFIG)
    assert [p.event_key for p in later] == ["shipped:p2", "delivered:p1", "refund:r1"]
    assert [p.webhook_id for p in later] == [
        "ord_1001:shipped:p2",
        "ord_1001:delivered:p1",
        "ord_1001:refund:r1",
    ]
    last_body = json.loads(later[-1].body)
    assert [e["id"] for e in last_body["fulfillment"]["events"]] == [
        "ord_1001:shipped:p1",
        "ord_1001:shipped:p2",
        "ord_1001:delivered:p1",
    ]
    assert [a["id"] for a in last_body["adjustments"]] == ["ord_1001:refund:r1"]
    # Cancellation of what is left is one more push, once.
    canceled = copy.deepcopy(raw)
    canceled.update(state="CANCELED", closed_at="2026-05-13T00:00:00Z")
    history = after(later, history)
    (cancel,) = due_pushes(order_of(canceled, refunds=[refund]), history, CONFIG)
    assert (cancel.event_key, cancel.webhook_id) == ("canceled", "ord_1001:canceled")
    assert due_pushes(order_of(canceled, refunds=[refund]), after([cancel], history), CONFIG) == []


def test_timestamps_never_go_backwards() -> None:
    # A parcel recorded with a shipped_at before the last push we sent.
    history = PushHistory(frozenset({"created"}), datetime(2026, 5, 6, 12, 0, 0, tzinfo=UTC))
    pushes = due_pushes(order_of(split_into_parcels(square_order(), PARCEL_1, PARCEL_2)), history, CONFIG)
    assert [p.timestamp for p in pushes] == [
        datetime(2026, 5, 6, 12, 0, 1, tzinfo=UTC),
        datetime(2026, 5, 6, 12, 0, 2, tzinfo=UTC),
    ]
    # Two events in the same second still get strictly increasing timestamps.
    p2 = copy.deepcopy(PARCEL_2)
    p2["shipment_details"]["shipped_at"] = PARCEL_1["shipment_details"]["shipped_at"]
    pushes = due_pushes(order_of(split_into_parcels(square_order(), PARCEL_1, p2)), PushHistory(), CONFIG)
    stamps = [p.timestamp for p in pushes]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_pending_refunds_wait_and_are_pushed_once_completed() -> None:
    history = after(due_pushes(order_of(square_order()), PushHistory(), CONFIG))
    pending = {
        "id": "r1",
        "status": "PENDING",
        "amount_money": money(100),
        "created_at": "2026-05-12T12:00:00Z",
    }
    assert due_pushes(order_of(square_order(), refunds=[pending]), history, CONFIG) == []
    (push,) = due_pushes(
        order_of(square_order(), refunds=[{**pending, "status": "COMPLETED"}]), history, CONFIG
    )
    assert push.webhook_id == "ord_1001:refund:r1"
    assert (
        due_pushes(order_of(square_order(), refunds=[{**pending, "status": "REJECTED"}]), history, CONFIG)
        == []
    )


def test_webhook_timestamp_formats() -> None:
    moment = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
    assert webhook_timestamp(moment) == "2026-05-04T10:00:00Z"
    assert webhook_timestamp(moment, "unix") == "1777888800"
