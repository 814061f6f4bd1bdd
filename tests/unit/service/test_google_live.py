"""The google_live step through whole cycles, over fakes of Square's reads, the UCP webhook client
and the order tracking gateway, with a real in-memory SQLite ledger: no server, no subprocess."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sync.adapters.ledger import Ledger
from sync.adapters.order_tracking_gateway import SignalOutcome, SignalResult
from sync.adapters.ucp_push_outcomes import PushOutcome, PushResult
from sync.config import OrderTrackingSettings, UcpSettings
from sync.domain.feed import FeedFile
from sync.domain.intents import IntentState, Target
from sync.domain.order_tracking import TrackingSignal
from sync.domain.records import OrderSnapshot
from sync.domain.square_records import SquarePayment, SquareRefund
from sync.service.bootstrap import build_cycle
from sync.service.context import LiveChannels
from sync.service.cycle import Step
from sync.service.results import CycleResult
from sync.service.steps import google_live
from tests.unit.service.conftest import settings_for
from tests.unit.service.fakes import FakeMarketplace, FakeOrderSystem, FakeShipments
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, money, split_into_parcels, square_order


class Crash(BaseException):
    """Stands in for a kill -9 mid-send (nothing after it runs, nothing catches it)."""


class FakeSquare:
    """Square's orders (SearchOrders on updated_at, inclusive), payments and refunds."""

    base_url = "http://127.0.0.1:3"

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, SquarePayment] = {}
        self.refunds: dict[str, SquareRefund] = {}
        self.calls = 0
        self.clock = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)

    def put(self, order: dict[str, Any]) -> None:
        """The order as it is now in Square (a new version, updated now)."""
        self.clock += timedelta(seconds=7)
        order = copy.deepcopy(order)
        previous = self.orders.get(order["id"])
        order["version"] = (previous["version"] + 1) if previous else 1
        order["updated_at"] = self.clock.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.orders[order["id"]] = order

    def location_id(self) -> str:
        return "L1"

    def iter_orders_updated_since(
        self, since: str | None, *, location_ids: Any = None, limit: int = 500, states: Any = None
    ) -> Iterator[dict[str, Any]]:
        self.calls += 1
        chosen = [o for o in self.orders.values() if since is None or o["updated_at"] >= since]
        yield from (copy.deepcopy(o) for o in sorted(chosen, key=lambda o: o["updated_at"]))

    def retrieve_orders(self, order_ids: list[str]) -> list[dict[str, Any]]:
        self.calls += 1
        return [copy.deepcopy(self.orders[i]) for i in order_ids if i in self.orders]

    def get_payment(self, payment_id: str) -> SquarePayment:
        self.calls += 1
        return self.payments.get(payment_id) or SquarePayment(
            payment_id, None, "COMPLETED", "EXTERNAL", 0, "USD"
        )

    def get_payment_refund(self, refund_id: str) -> SquareRefund:
        self.calls += 1
        return self.refunds[refund_id]

    def refund(self, order_id: str, refund_id: str, amount: int, *, status: str = "COMPLETED") -> None:
        """A refund of the order's payment: its return order appears as a changed order."""
        payment_id = self.orders[order_id]["tenders"][0]["payment_id"]
        payment = self.payments.get(payment_id) or SquarePayment(
            payment_id, order_id, "COMPLETED", "EXTERNAL", 6440, "USD"
        )
        ids = payment.refund_ids if refund_id in payment.refund_ids else (*payment.refund_ids, refund_id)
        self.payments[payment_id] = SquarePayment(
            payment_id, order_id, "COMPLETED", "EXTERNAL", 6440, "USD", refund_ids=ids
        )
        self.clock += timedelta(seconds=7)
        self.refunds[refund_id] = SquareRefund(
            refund_id, payment_id, f"ret-{refund_id}", status, amount, "USD", "Damaged",
            self.clock.isoformat(), self.clock.isoformat(),
        )  # fmt: skip
        self.put({"id": f"ret-{refund_id}", "state": "COMPLETED", "created_at": self.clock.isoformat(),
                  "returns": [{"source_order_id": order_id, "return_line_items": []}]})  # fmt: skip


@dataclass
class FakeUcp:
    """Google's UCP webhook endpoint as the client reports it; ``answers`` scripts the outcomes."""

    pushes: list[tuple[str, datetime, bytes]] = field(default_factory=list)
    answers: list[PushOutcome] = field(default_factory=list)
    crash: bool = False
    calls: int = 0

    def push(self, webhook_id: str, timestamp: datetime, body: bytes) -> PushOutcome:
        self.calls += 1
        self.pushes.append((webhook_id, timestamp, body))
        if self.crash:
            raise Crash
        return self.answers.pop(0) if self.answers else PushOutcome(PushResult.DELIVERED, 200)

    def ids(self) -> list[str]:
        return [webhook_id for webhook_id, _, _ in self.pushes]


@dataclass
class FakeTracking:
    signals: list[TrackingSignal] = field(default_factory=list)
    answers: list[SignalOutcome] = field(default_factory=list)
    calls: int = 0

    def create_signal(self, signal: TrackingSignal) -> SignalOutcome:
        self.calls += 1
        self.signals.append(signal)
        return (
            self.answers.pop(0) if self.answers else SignalOutcome(SignalResult.CREATED, 200, signal_id="s1")
        )


@dataclass
class FakeScans:
    """Carrier delivery scans: rows in the shipments feed's columns."""

    rows: list[dict[str, str]] = field(default_factory=list)

    def read(self) -> list[FeedFile]:
        return [
            FeedFile("scans.csv", ["order_id", "tracking_id", "delivered_at"], list(enumerate(self.rows, 2)))
        ]


@dataclass
class Live:
    ledger: Ledger
    tmp: Path
    square: FakeSquare = field(default_factory=FakeSquare)
    ucp: FakeUcp = field(default_factory=FakeUcp)
    tracking: FakeTracking = field(default_factory=FakeTracking)
    scans: FakeScans = field(default_factory=FakeScans)
    now: datetime = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)

    def cycle(self) -> CycleResult:
        self.now += timedelta(minutes=10)
        settings = settings_for(self.tmp, square=True).model_copy(
            update={
                "ucp": UcpSettings(enabled=True, webhook_url="https://google.example/ucp", concurrency=1),
                "order_tracking": OrderTrackingSettings(
                    enabled=True, account_id="123", origin_postal_code="94043", origin_region_code="US"
                ),
            }
        )
        return build_cycle(
            settings,
            ledger=self.ledger,
            marketplace=FakeMarketplace(),
            order_system=FakeOrderSystem(),
            shipments=FakeShipments(),
            live=LiveChannels(
                square=self.square, ucp=self.ucp, tracking=self.tracking, deliveries=self.scans
            ),
            clock=lambda: self.now,
            steps=[Step("google_live", google_live.run, order_system=True)],
        ).run()

    def intents(self, order_id: str = "ord_1001", target: Target = Target.UCP) -> list[Any]:
        return [r for r in self.ledger.intents_for_order(order_id) if r.target == target]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    ledger = Ledger("sqlite://")
    yield Live(ledger, tmp_path)
    ledger.close()


def paid(order: dict[str, Any]) -> dict[str, Any]:
    return {
        **order,
        "tenders": [{"id": "t1", "type": "OTHER", "payment_id": "pay1", "amount_money": money(6440)}],
    }


def web_order(**changes: Any) -> dict[str, Any]:
    return paid(square_order(**{"id": "web_1", "metadata": {}, **changes}))


def test_every_lifecycle_event_is_pushed_once_in_order_and_an_idle_cycle_pushes_nothing(live: Live) -> None:
    live.square.put(paid(square_order()))
    assert live.cycle().live["ucp"]["sent"] == 1
    calls = live.square.calls
    idle = live.cycle()
    assert idle.live == {} and live.ucp.ids() == ["ord_1001"]
    assert live.square.calls - calls == 1  # one SearchOrders, nothing else

    live.square.put(split_into_parcels(paid(square_order()), PARCEL_1))
    live.cycle()
    delivered = {**copy.deepcopy(PARCEL_1), "metadata": {"delivered_at": "2026-05-07T15:00:00Z"}}
    live.square.put(split_into_parcels(paid(square_order()), delivered, PARCEL_2))
    live.cycle()
    live.square.refund("ord_1001", "r1", 1620)
    live.cycle()
    final = split_into_parcels(
        paid(square_order(state="CANCELED", closed_at="2026-05-13T00:00:00Z")), delivered, PARCEL_2
    )
    live.square.put(final)
    live.cycle()
    assert live.cycle().live == {}
    assert live.ucp.ids() == [
        "ord_1001",
        "ord_1001:shipped:p1",
        "ord_1001:shipped:p2",
        "ord_1001:delivered:p1",
        "ord_1001:refund:r1",
        "ord_1001:canceled",
    ]
    stamps = [stamp for _, stamp, _ in live.ucp.pushes]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    body = json.loads(live.ucp.pushes[2][2])  # shipped p2: the parcel's own tracking and lines
    parcel = body["fulfillment"]["events"][-1]
    assert (parcel["carrier"], parcel["tracking_number"]) == ("UPS", "1Z999AA10123456791")
    assert parcel["tracking_url"].endswith("1Z999AA10123456791")
    assert parcel["line_items"] == [{"id": "li_1", "quantity": 1}, {"id": "li_2", "quantity": 1}]
    last = json.loads(live.ucp.pushes[-1][2])
    assert [a["type"] for a in last["adjustments"]] == ["refund", "cancellation"]
    assert all(r.state is IntentState.DONE for r in live.intents())
    for record, (webhook_id, _, sent) in zip(live.intents(), live.ucp.pushes, strict=True):
        assert record.key == webhook_id and record.payload["body"].encode() == sent  # recorded = sent


def test_a_5xx_is_resent_next_cycle_with_the_same_id_and_bytes_and_holds_later_pushes(live: Live) -> None:
    live.square.put(paid(square_order()))
    live.ucp.answers = [PushOutcome(PushResult.RETRY, 503, "UNAVAILABLE", "try later")]
    first = live.cycle()
    assert first.live["ucp"] == {"sent": 0, "retry": 1, "failed": 0} and first.exit_code == 0
    live.square.put(split_into_parcels(paid(square_order()), PARCEL_1))
    live.ucp.answers = [PushOutcome(PushResult.RETRY, None, "timeout", "no answer")]
    live.cycle()  # the created push times out again; the shipped push waits behind it
    created, shipped = live.intents()
    assert (created.state, created.attempts, created.error_reason) == (IntentState.PENDING, 2, "timeout")
    assert (shipped.state, shipped.error_reason) == (IntentState.PENDING, "held")
    assert live.ucp.ids() == ["ord_1001", "ord_1001"]
    live.cycle()
    assert live.ucp.ids() == ["ord_1001"] * 3 + ["ord_1001:shipped:p1"]
    assert live.ucp.pushes[0] == live.ucp.pushes[1] == live.ucp.pushes[2]  # id, timestamp, bytes
    assert all(r.state is IntentState.DONE for r in live.intents())


def test_a_4xx_is_a_failed_order_with_googles_reason_and_never_resent(live: Live) -> None:
    live.square.put(paid(square_order()))
    live.ucp.answers = [PushOutcome(PushResult.REJECTED, 400, "invalid_order", "line_items[0]: bad")]
    refused = live.cycle()
    assert refused.failed_orders == {"ord_1001"} and refused.exit_code == 1
    (intent,) = live.intents()
    assert (intent.state, intent.error_reason) == (IntentState.FAILED, "invalid_order")
    assert intent.last_error == "HTTP 400 invalid_order: line_items[0]: bad"
    live.square.put(split_into_parcels(paid(square_order()), PARCEL_1))
    live.cycle()  # later events still go: each push carries the whole order
    assert live.ucp.ids() == ["ord_1001", "ord_1001:shipped:p1"]


def test_a_crash_mid_send_resends_the_recorded_bytes(live: Live) -> None:
    live.square.put(paid(square_order()))
    live.ucp.crash = True
    with pytest.raises(Crash):
        live.cycle()
    (recorded,) = live.intents()
    assert recorded.state is IntentState.PENDING  # recorded before the send
    live.ucp.crash = False
    live.cycle()
    assert live.ucp.pushes[0] == live.ucp.pushes[1]
    assert live.ucp.pushes[1][2] == recorded.payload["body"].encode()
    assert [r.state for r in live.intents()] == [IntentState.DONE]


def test_an_order_google_cannot_take_fails_alone(live: Live) -> None:
    details = {"carrier": "Pony Express", "tracking_number": "PX1", "shipped_at": "2026-05-05T09:00:00Z"}
    no_url = {**copy.deepcopy(PARCEL_1), "shipment_details": details}
    live.square.put(split_into_parcels(paid(square_order()), no_url))
    live.square.put(paid(square_order(id="ord_2002", metadata={"ucp_checkout_id": "chk_2002"})))
    result = live.cycle()
    assert result.failed_orders == {"ord_1001"} and live.ucp.ids() == ["ord_2002"]
    assert live.cycle().failed_orders == set()  # reported once; looked at again when it changes


def test_a_pending_refund_is_pushed_once_it_completes(live: Live) -> None:
    live.square.put(paid(square_order()))
    live.cycle()
    live.square.refund("ord_1001", "r1", 1620, status="PENDING")
    live.cycle()
    assert live.ucp.ids() == ["ord_1001"]
    live.square.refunds["r1"] = dataclasses.replace(live.square.refunds["r1"], status="COMPLETED")
    live.cycle()  # no order changed in Square: the pending refund is looked at again
    assert live.ucp.ids() == ["ord_1001", "ord_1001:refund:r1"]
    calls = live.square.calls
    live.cycle()
    assert live.square.calls - calls == 1  # final now: not read again


def test_a_web_shop_order_gets_one_signal_once_completely_shipped(live: Live) -> None:
    live.square.put(web_order())
    live.square.put(split_into_parcels(web_order(), PARCEL_1))  # li_1 half shipped
    assert live.cycle().live == {} and live.tracking.signals == []
    live.square.put(split_into_parcels(web_order(), PARCEL_1, PARCEL_2))
    live.tracking.answers = [SignalOutcome(SignalResult.RETRY, 503, "UNAVAILABLE")]
    assert live.cycle().live["ordertracking"]["retry"] == 1
    assert live.cycle().live["ordertracking"]["sent"] == 1  # retried with the recorded signal
    delivered = {**copy.deepcopy(PARCEL_2), "metadata": {"delivered_at": "2026-05-07T15:00:00Z"}}
    live.square.put(split_into_parcels(web_order(), PARCEL_1, delivered))
    assert live.cycle().live == {}  # never twice
    first, second = live.tracking.signals
    assert first == second and {s.shipment_id for s in first.shipments} == {"p1", "p2"}
    (intent,) = live.intents("web_1", Target.ORDER_TRACKING)
    assert intent.state is IntentState.DONE and intent.key == "ordertracking:web_1"
    assert live.ucp.pushes == []


def test_ucp_and_content_api_orders_get_no_tracking_signal(live: Live) -> None:
    live.ledger.upsert_orders([OrderSnapshot(google_order_id="G-1", merchant_id="1234567")])
    content_api = web_order(id="sq_g1", reference_id="G-1")
    live.square.put(split_into_parcels(content_api, PARCEL_1, PARCEL_2))
    live.square.put(split_into_parcels(paid(square_order()), PARCEL_1, PARCEL_2))
    live.cycle()
    assert live.tracking.signals == [] and "ord_1001:shipped:p2" in live.ucp.ids()


def test_a_delivery_scan_delivers_a_parcel_of_an_order_square_completed(live: Live) -> None:
    shipped = split_into_parcels(paid(square_order(state="COMPLETED")), PARCEL_1, PARCEL_2)
    live.square.put(shipped)
    live.cycle()
    assert live.ucp.ids()[-1] == "ord_1001:shipped:p2"
    live.scans.rows = [
        {
            "order_id": "ord_1001",
            "tracking_id": "1z999aa1-0123456791",
            "delivered_at": "2026-05-08T15:00:00Z",
        },
        {"order_id": "ord_1001", "tracking_id": "1ZUNKNOWN", "delivered_at": "2026-05-08T15:00:00Z"},
        {"order_id": "ord_9999", "tracking_id": "1Z999AA10123456784", "delivered_at": "2026-05-08T15:00:00Z"},
    ]
    calls = live.square.calls
    live.cycle()  # the order did not change in Square: read because of the scan
    assert live.ucp.ids()[-1] == "ord_1001:delivered:p2" and live.square.calls - calls == 3
    calls = live.square.calls
    assert live.cycle().live == {} and live.square.calls - calls == 1  # pushed: not read again


def test_an_endpoint_outage_holds_the_rest_of_the_batch_for_the_next_cycle(live: Live) -> None:
    for n in range(8):
        live.square.put(paid(square_order(id=f"ord_{n}", metadata={"ucp_checkout_id": f"chk_{n}"})))
    live.ucp.answers = [PushOutcome(PushResult.RETRY, 503, "UNAVAILABLE", "down")] * 5
    first = live.cycle()
    assert live.ucp.calls == 5 and first.live["ucp"] == {"sent": 0, "retry": 8, "failed": 0}
    held = [r for n in range(5, 8) for r in live.intents(f"ord_{n}")]
    assert [(r.attempts, r.error_reason) for r in held] == [(1, "held")] * 3
    assert live.cycle().live["ucp"]["sent"] == 8 and live.ucp.calls == 13


def test_the_first_cycle_reaches_back_lookback_days_only(live: Live) -> None:
    live.square.clock = live.now - timedelta(days=45)
    live.square.put(paid(square_order(id="ord_old", metadata={"ucp_checkout_id": "chk_old"})))
    live.square.put(split_into_parcels(web_order(id="web_old"), PARCEL_1, PARCEL_2))
    live.square.clock = live.now - timedelta(days=2)
    live.square.put(paid(square_order()))
    live.cycle()
    assert live.ucp.ids() == ["ord_1001"] and live.tracking.signals == []
