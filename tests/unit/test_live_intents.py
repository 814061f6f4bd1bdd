"""UCP pushes and tracking signals as outbox intents: recorded exactly as they are sent."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from sync.domain.intents import IntentRecord, IntentState, Target
from sync.domain.order_tracking import TrackingConfig, signal_intent, stored_signal, tracking_signal
from sync.domain.ucp.entity import UcpOrderConfig, lifecycle_events
from sync.domain.ucp.intents import StoredPushError, push_history, push_intent, stored_push
from sync.domain.ucp.pushes import PushHistory, due_pushes
from sync.domain.ucp.square_order import SquareOrder
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, split_into_parcels, square_order

CONFIG = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")
NOW = datetime(2026, 5, 4, tzinfo=UTC)


def record_of(intent, record_id: int = 1) -> IntentRecord:
    return IntentRecord(
        record_id, intent.order_id, intent.target, intent.kind, intent.key, dict(intent.payload),
        IntentState.PENDING, None, 0, None, None, NOW, NOW, None, None,
    )  # fmt: skip


def test_a_push_round_trips_with_its_exact_bytes_and_builds_the_history() -> None:
    raw = split_into_parcels(square_order(), PARCEL_1)
    raw["line_items"][0]["name"] = "Socken für Wanderer ✓"  # non-ASCII bytes survive the JSON payload
    pushes = due_pushes(SquareOrder.from_square(raw), PushHistory(), CONFIG)
    records = [record_of(push_intent(p), i) for i, p in enumerate(pushes, start=1)]
    for push, record in zip(pushes, records, strict=True):
        stored = stored_push(record)
        assert record.target is Target.UCP and record.key == push.webhook_id
        assert (stored.webhook_id, stored.timestamp, stored.body) == (
            push.webhook_id,
            push.timestamp,
            push.body,
        )
    history = push_history(records)
    assert history == PushHistory(frozenset({"created", "shipped:p1"}), pushes[-1].timestamp)


def test_a_damaged_payload_is_refused_not_sent() -> None:
    (push,) = due_pushes(SquareOrder.from_square(square_order()), PushHistory(), CONFIG)
    record = record_of(push_intent(push))
    tampered = record_of(push_intent(push))
    tampered.payload["body"] = record.payload["body"].replace("ord_1001", "ord_9999")  # type: ignore[index]
    with pytest.raises(StoredPushError, match="digest"):
        stored_push(tampered)


def test_a_signal_round_trips_through_its_payload() -> None:
    raw = split_into_parcels(square_order(metadata={}), PARCEL_1, PARCEL_2)
    raw["fulfillments"][1]["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    signal = tracking_signal(SquareOrder.from_square(raw), TrackingConfig("94043", "US"))
    intent = signal_intent(signal)
    assert (intent.target, intent.key) == (Target.ORDER_TRACKING, "ordertracking:ord_1001")
    assert stored_signal(record_of(intent)) == signal


def test_a_parcel_shipped_and_delivered_in_one_second_ships_first() -> None:
    same = copy.deepcopy(PARCEL_1)
    same["metadata"] = {"delivered_at": PARCEL_1["shipment_details"]["shipped_at"]}
    events = lifecycle_events(SquareOrder.from_square(split_into_parcels(square_order(), same)), CONFIG)
    assert [e.key for e in events] == ["created", "shipped:p1", "delivered:p1"]
