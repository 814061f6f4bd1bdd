"""Real HTTP: cycles of the google_live step push UCP order webhooks to the sandbox receiver
(which checks the API key, digest, signature and schema) and create order tracking signals, from
Square orders in the Square emulator, with a real SQLite ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials

from sync.adapters.feed_reader import FeedFiles
from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger
from sync.adapters.order_tracking_gateway import OrderTrackingGateway
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.ucp_webhook_client import UcpWebhookClient
from sync.config import (
    GoogleSettings,
    LedgerSettings,
    OrderTrackingSettings,
    Settings,
    ShipmentsSettings,
    SquareSettings,
    UcpSettings,
)
from sync.domain.intents import IntentState, Target
from sync.domain.ucp import http_signatures as hs
from sync.entrypoints.testorders_square import SOURCES, checkout_order, create_checkout_order
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import build_cycle
from sync.service.context import LiveChannels
from sync.service.cycle import Step
from sync.service.results import CycleResult
from sync.service.steps import google_live

PARTNER = "1234567"
API_KEY = "AIza" + "q" * 35
PROFILE = "https://shop.example.com/.well-known/ucp"
ACCOUNT = "7000001"
TOKEN = "sandbox-token-1"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Shop:
    sandbox: Sandbox
    settings: Settings
    ledger: Ledger
    square: SquareGateway
    google: GoogleGateway
    key: Any
    http: httpx.Client
    tmp: Path
    api_key: str = API_KEY
    live_calls: list[int] = field(default_factory=list)

    def live(self) -> LiveChannels:
        ucp = UcpWebhookClient(
            self.settings.ucp, api_key=self.api_key, private_key=self.key, sleep=lambda s: None
        )
        key_file = self.tmp / "sa.json"
        write_service_account(key_file, self.sandbox.url)
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/content"]
        )
        tracking = OrderTrackingGateway(
            self.settings.order_tracking, credentials, sleep=lambda s: None, backoff_base_seconds=0.001
        )
        deliveries = FeedFiles(self.settings.ucp.deliveries)
        return LiveChannels(square=self.square, ucp=ucp, tracking=tracking, deliveries=deliveries)

    def cycle(self) -> CycleResult:
        live = self.live()
        try:
            return build_cycle(
                self.settings,
                ledger=self.ledger,
                marketplace=self.google,
                order_system=self.square,
                live=live,
                steps=[Step("google_live", google_live.run, order_system=True)],
            ).run()
        finally:
            assert live.ucp is not None and live.tracking is not None
            live.ucp.close()  # type: ignore[attr-defined]
            live.tracking.close()  # type: ignore[attr-defined]

    def order(self, channel: str = "ucp") -> str:
        return create_checkout_order(self.square, channel, 0, "ucp_checkout_id")  # type: ignore[arg-type]

    def two_parcel_order(self) -> str:
        """A UCP checkout whose two lines leave as two parcels (p1: li_1, p2: li_2)."""
        body = checkout_order(
            "ucp", 0, location_id=self.square.location_id(), checkout_id_metadata_key="ucp_checkout_id"
        )
        shipment = body["fulfillments"][0]

        def parcel(uid: str, line: str) -> dict[str, Any]:
            entries = [{"uid": f"e_{uid}", "line_item_uid": line, "quantity": "1"}]
            return {**shipment, "uid": uid, "line_item_application": "ENTRY_LIST", "entries": entries}

        body["fulfillments"] = [parcel("p1", "li_1")]  # CreateOrder takes one fulfilment
        order = self.square.create_order(body, "two-parcels")
        order = self.square.update_order(
            order["id"], {"version": order["version"], "fulfillments": [parcel("p2", "li_2")]}
        )
        return str(self.square.pay_order_external(order, "two-parcels", source=SOURCES["ucp"])["id"])

    def ship(self, order_id: str, uid: str = "shipment", *, delivered_at: str | None = None) -> None:
        order = self.square.retrieve_order(order_id)
        fulfilment: dict[str, Any] = {
            "uid": uid,
            "state": "COMPLETED",
            "shipment_details": {"carrier": "UPS", "tracking_number": f"1Z{uid}{order_id[-8:]}"},
        }
        if delivered_at:
            fulfilment["metadata"] = {"delivered_at": delivered_at}
        self.square.update_order(order_id, {"version": order["version"], "fulfillments": [fulfilment]})

    def refund(self, order_id: str, amount: int) -> None:
        order = self.square.retrieve_order(order_id)
        payment_id = order["tenders"][0]["payment_id"]
        self.square.refund_payment(payment_id, amount, "USD", f"refund:{order_id}", reason="Damaged")

    def accepted(self, order_id: str) -> list[str]:
        answer = self.http.get(f"/_sandbox/ucp/orders/{order_id}")
        return list(answer.json()["webhook_ids"]) if answer.status_code == 200 else []

    def latest(self, order_id: str) -> dict[str, Any]:
        return dict(json.loads(self.http.get(f"/_sandbox/ucp/orders/{order_id}").json()["latest"]))

    def signals(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sandbox/ordertracking/signals").json()["signals"])

    def intents(self, order_id: str, target: Target = Target.UCP) -> list[Any]:
        return [r for r in self.ledger.intents_for_order(order_id) if r.target == target]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with Sandbox(seed=7, tokens={TOKEN}).start() as sb:
        key = hs.new_private_key()
        http = httpx.Client(base_url=sb.url)
        http.post(
            "/_sandbox/ucp/profiles",
            json={"profile_url": PROFILE, "profile": {"signing_keys": [hs.public_jwk(key, "shop-1")]}},
        ).raise_for_status()
        http.post(
            "/_sandbox/ucp/partners", json={"partner_id": PARTNER, "api_key": API_KEY, "profile_url": PROFILE}
        ).raise_for_status()
        settings = Settings(
            google=GoogleSettings(merchant_id="4242", endpoint=sb.url),
            square=SquareSettings(enabled=True, endpoint=sb.url),
            ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
            shipments=ShipmentsSettings(feeds=[], rejects_dir=str(tmp_path / "rejects")),
            ucp=UcpSettings(
                enabled=True,
                webhook_url=f"{sb.url}/ucp/v1/webhooks/partners/{PARTNER}/events/order",
                key_id="shop-1",
                profile_url=PROFILE,
                max_attempts=1,  # a 5xx or a lost answer is left to the next cycle
                deliveries=[str(tmp_path / "scans" / "*.csv")],
            ),
            order_tracking=OrderTrackingSettings(
                enabled=True,
                account_id=ACCOUNT,
                endpoint=sb.url,
                origin_postal_code="94043",
                origin_region_code="US",
                max_attempts=1,
            ),
        )
        ledger = Ledger(settings.ledger.url)
        square = SquareGateway(settings.square, token=TOKEN)
        google = GoogleGateway(settings.google, credentials=Credentials(token=TOKEN))
        yield Shop(sb, settings, ledger, square, google, key, http, tmp_path)
        ledger.close()
        http.close()


def test_created_shipped_delivered_refunded_canceled_are_each_pushed_once(shop: Shop) -> None:
    kept, canceled = shop.two_parcel_order(), shop.order()
    first = shop.cycle()
    assert first.live["ucp"] == {"sent": 2, "retry": 0, "failed": 0}
    assert shop.accepted(kept) == [kept] and shop.accepted(canceled) == [canceled]

    idle = shop.cycle()
    assert idle.live == {} and idle.api_calls == 1  # one SearchOrders, nothing pushed
    assert shop.sandbox.stats.snapshot()["mutations"]["ucp.webhooks.order"] == 2

    shop.ship(kept, "p1")
    shop.square.cancel_order(canceled)
    shop.cycle()
    shop.ship(kept, "p1", delivered_at=now())  # Square has no delivered state
    shop.cycle()
    shop.refund(kept, 700)
    shop.cycle()
    shop.ship(kept, "p2")  # the last parcel: the order completes in Square
    shop.cycle()
    assert shop.cycle().live == {}  # idle again
    refund_key = next(r.payload["event_key"] for r in shop.intents(kept) if r.payload["kind"] == "refund")
    assert shop.accepted(kept) == [
        kept,
        f"{kept}:shipped:p1",
        f"{kept}:delivered:p1",
        f"{kept}:{refund_key}",
        f"{kept}:shipped:p2",
    ]
    assert shop.accepted(canceled) == [canceled, f"{canceled}:canceled"]
    latest = shop.latest(kept)
    events = latest["fulfillment"]["events"]
    assert sorted((e["id"], e["type"], e["line_items"][0]["id"]) for e in events) == [
        (f"{kept}:delivered:p1", "delivered", "li_1"),
        (f"{kept}:shipped:p1", "shipped", "li_1"),
        (f"{kept}:shipped:p2", "shipped", "li_2"),
    ]
    assert all(len(e["line_items"]) == 1 and e["tracking_number"].startswith("1Z") for e in events)
    assert latest["fulfillment"]["events"][0]["tracking_url"].startswith("https://www.ups.com/")
    assert latest["adjustments"][0]["totals"] == [{"type": "total", "amount": -700}]
    assert shop.latest(canceled)["adjustments"][0]["type"] == "cancellation"
    assert shop.sandbox.stats.snapshot()["mutations"]["ucp.webhooks.order"] == 7
    stamps = [datetime.fromisoformat(r.payload["timestamp"]) for r in shop.intents(kept)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # never backwards
    assert all(r.state is IntentState.DONE for r in shop.intents(kept) + shop.intents(canceled))


def test_a_lost_answer_is_resent_next_cycle_with_the_same_id_and_bytes(shop: Shop) -> None:
    order_id = shop.order()
    shop.sandbox.configure_faults(lost_response_rate=1.0)
    lost = shop.cycle()
    assert lost.live["ucp"] == {"sent": 0, "retry": 1, "failed": 0}
    assert shop.accepted(order_id) == [order_id]  # Google has it; we could not know
    (pending,) = shop.intents(order_id)
    assert pending.state is IntentState.PENDING and pending.attempts == 1
    shop.sandbox.configure_faults(lost_response_rate=0.0)
    shop.ship(order_id)  # a new event meanwhile: held behind the undelivered push, in order
    shop.sandbox.configure_faults(lost_response_rate=1.0)
    shop.cycle()
    (first, shipped) = shop.intents(order_id)
    assert first.state is IntentState.PENDING and shipped.error_reason == "held"
    assert shop.accepted(order_id) == [order_id]

    shop.sandbox.configure_faults(lost_response_rate=0.0)
    resent = shop.cycle()
    assert resent.live["ucp"] == {"sent": 2, "retry": 0, "failed": 0}
    first, shipped = shop.intents(order_id)
    assert first.payload == pending.payload and first.state is IntentState.DONE
    assert shop.accepted(order_id) == [order_id, f"{order_id}:shipped:shipment"]
    requests = shop.sandbox.stats.snapshot()["requests"]
    # The receiver answers a different body under a known Webhook-Id with 409: the resends were
    # byte-identical (one per lost-answer cycle), and stored once.
    assert requests["ucp.webhooks.order.duplicate"] == 2
    assert shop.sandbox.stats.snapshot()["mutations"]["ucp.webhooks.order"] == 2


def test_a_refused_push_fails_with_googles_reason_and_is_not_retried(shop: Shop) -> None:
    order_id = shop.order()
    shop.api_key = "AIza" + "x" * 35  # not the partner's
    refused = shop.cycle()
    assert refused.live["ucp"] == {"sent": 0, "retry": 0, "failed": 1}
    assert order_id in refused.failed_orders and refused.exit_code == 1
    (intent,) = shop.intents(order_id)
    assert intent.state is IntentState.FAILED and intent.error_reason == "API_KEY_INVALID"
    assert "400" in (intent.last_error or "")
    shop.api_key = API_KEY
    assert shop.cycle().live == {}  # never resent blindly
    assert shop.intents(order_id)[0].attempts == 1 and shop.accepted(order_id) == []


def test_a_web_shop_order_gets_one_signal_once_completely_shipped(shop: Shop) -> None:
    web = shop.order("web")
    assert shop.cycle().live == {}  # not shipped: no signal
    assert shop.signals() == []
    shop.ship(web)
    # Google creates the signal but its answer is lost (a 5xx): the intent stays pending ...
    shop.sandbox.configure_faults(lost_response_rate=1.0)
    lost = shop.cycle()
    shop.sandbox.configure_faults(lost_response_rate=0.0)
    assert lost.live["ordertracking"] == {"sent": 0, "retry": 1, "failed": 0}
    assert len(shop.signals()) == 1
    # ... and the resend meets ALREADY_EXISTS: sent, and still one signal.
    sent = shop.cycle()
    assert sent.live["ordertracking"] == {"sent": 1, "retry": 0, "failed": 0}
    shop.refund(web, 100)  # a later change of the order: still the one signal
    assert shop.cycle().live == {}
    (stored,) = shop.signals()
    signal = stored["signal"]
    assert stored["account"] == ACCOUNT and signal["orderId"] == web
    assert len(signal["shippingInfo"]) == 1 and signal["shippingInfo"][0]["carrier"] == "UPS"
    assert {li["lineItemId"] for li in signal["lineItems"]} == {"li_1", "li_2"}
    (intent,) = shop.intents(web, Target.ORDER_TRACKING)
    assert intent.state is IntentState.DONE and intent.key == f"ordertracking:{web}"
    assert shop.intents(web) == []  # not a UCP order


def test_a_delivery_scan_reports_the_parcel_of_a_completed_order_delivered(shop: Shop) -> None:
    order_id = shop.order()
    shop.ship(order_id)  # its only parcel: Square completes the order, no update is possible now
    shop.cycle()
    assert shop.square.retrieve_order(order_id)["state"] == "COMPLETED"
    assert shop.accepted(order_id) == [order_id, f"{order_id}:shipped:shipment"]
    scans = shop.tmp / "scans"
    scans.mkdir()
    tracking = f"1Zshipment{order_id[-8:]}"
    (scans / "carrier-1.csv").write_text(
        "order_id,quantity,carrier,tracking_id,shipped_at,delivered_at\n"
        f"{order_id},,UPS,{tracking.lower()},,{now()}\n"
        "someone-else,,UPS,1ZOTHER,,2026-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    delivered = shop.cycle()
    assert delivered.live["ucp"] == {"sent": 1, "retry": 0, "failed": 0}
    assert shop.accepted(order_id)[-1] == f"{order_id}:delivered:shipment"
    assert shop.latest(order_id)["fulfillment"]["events"][-1]["type"] == "delivered"
    calls = shop.cycle()
    assert calls.live == {} and calls.api_calls == 1  # the scan is known: the order is not read again
