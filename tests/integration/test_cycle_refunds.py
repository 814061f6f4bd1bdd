"""The refund steps in whole cycles against the emulators (real HTTP: googleapiclient, squareup;
a real SQLite ledger): a POS refund in Square reaches Google once, a Merchant Center refund on
Google is recorded on the EXTERNAL payment once, neither echoes, and an idle cycle's cost."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.square_sandbox import SquareSandboxControls
from sync.config import GoogleSettings, LedgerSettings, Settings, ShipmentsSettings, SquareSettings
from sync.domain.feed import COLUMNS
from sync.domain.refunds.rules import own_refund_key
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import build_cycle
from sync.service.results import CycleResult
from tests.integration.conftest import TOKEN
from tests.integration.square_sdk import client

LOCATION = "L_SANDBOX_MAIN"


@dataclass
class Shop:
    sandbox: Sandbox
    settings: Settings
    google: GoogleGateway
    square: SquareGateway
    ledger: Ledger
    feed_dir: Path
    now: datetime

    def cycle(self, minutes: float = 61) -> CycleResult:
        self.now += timedelta(minutes=minutes)
        return build_cycle(
            self.settings,
            ledger=self.ledger,
            marketplace=self.google,
            order_system=self.square,
            clock=lambda: self.now,
        ).run()

    def ship_all(self, order_id: str) -> None:
        order = self.google.get_order(order_id)
        with (self.feed_dir / f"feed-{order_id}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS, restval="")
            writer.writeheader()
            for line in order["lineItems"]:
                writer.writerow(
                    {
                        "order_id": order_id,
                        "line_item_id": line["id"],
                        "quantity": line["quantityPending"],
                        "carrier": "UPS",
                        "tracking_id": "1ZREFUND",
                        "shipped_at": "2026-11-23T09:00:00Z",
                        "delivered_at": "2026-11-24T09:00:00Z",
                    }
                )


@pytest.fixture
def shop(sandbox: Sandbox, tmp_path: Path) -> Iterator[Shop]:
    settings = Settings(
        google=GoogleSettings(
            merchant_id="4242", endpoint=sandbox.url, sandbox=True, max_backoff_seconds=0.05
        ),
        square=SquareSettings(enabled=True, endpoint=sandbox.url, location_id=LOCATION),
        ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
        shipments=ShipmentsSettings(
            feeds=[str(tmp_path / "feed-*.csv")], rejects_dir=str(tmp_path / "rejects")
        ),
    )
    google = GoogleGateway(settings.google, credentials=Credentials(token=TOKEN))
    square = SquareGateway(settings.square, token=TOKEN)
    ledger = Ledger(settings.ledger.url)
    yield Shop(sandbox, settings, google, square, ledger, tmp_path, datetime.now(UTC))
    ledger.close()


def synced_delivered_order(shop: Shop) -> tuple[str, Any]:
    order_id = shop.google.create_test_order("template1")
    shop.google.advance_test_order(order_id)
    assert shop.cycle().square_orders == 1
    shop.ship_all(order_id)
    assert shop.cycle().delivered == 1
    sale = next(
        o
        for o in client(shop.sandbox).orders.search(location_ids=[LOCATION]).orders or []
        if o.reference_id == order_id
    )
    return order_id, sale


def square_refunds_of(shop: Shop, sale_id: str) -> list[Any]:
    payment_id = client(shop.sandbox).orders.get(sale_id).order.tenders[0].payment_id
    return [
        r for r in client(shop.sandbox).refunds.list(source_type="EXTERNAL") if r.payment_id == payment_id
    ]


def test_a_pos_refund_reaches_google_once_and_a_google_refund_reaches_square_once(shop: Shop) -> None:
    order_id, sale = synced_delivered_order(shop)
    line = sale.line_items[0]
    controls = SquareSandboxControls(shop.sandbox.url)
    pos = controls.pos_itemized_refund(sale.id, line.uid, "1", "Damaged in transit")
    refunded = pos["refund"]["amount_money"]["amount"]
    net_before = shop.google.get_order(order_id)["netAmount"]

    shop.cycle()
    order = shop.google.get_order(order_id)
    (google_refund,) = order["refunds"]
    assert google_refund["reason"] == "productArrivedDamaged"
    assert round(float(google_refund["amount"]["value"]) * 100) == refunded
    assert round((float(net_before["value"]) - float(order["netAmount"]["value"])) * 100) == refunded
    returned = next(li for li in order["lineItems"] if li["id"] == line.uid)
    assert returned["quantityReturned"] == 1

    # Merchant Center refunds 3.00 on Google: recorded on Square's EXTERNAL payment once.
    shop.google.refund(
        order_id,
        "merchant-center-1",
        {"value": "3.00", "currency": "USD"},
        {"value": "0.00", "currency": "USD"},
        "priceError",
    )
    shop.cycle()
    for _ in range(2):
        shop.cycle()
    refunds = square_refunds_of(shop, sale.id)
    assert sorted(r.amount_money.amount for r in refunds) == sorted([refunded, 300])
    ours = [r for r in refunds if own_refund_key(r.reason)]
    assert [r.amount_money.amount for r in ours] == [300]
    assert len(shop.google.get_order(order_id)["refunds"]) == 2  # nothing echoed to Google either


def test_an_idle_cycle_with_refund_polling_costs_three_calls_and_the_hourly_one_five(shop: Shop) -> None:
    synced_delivered_order(shop)
    shop.cycle(minutes=61)  # the hourly reads are done here

    def calls_of(minutes: float) -> dict[str, int]:
        before = shop.sandbox.stats.snapshot()["requests"]
        result = shop.cycle(minutes=minutes)
        after = shop.sandbox.stats.snapshot()["requests"]
        calls = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        assert result.api_calls == sum(calls.values())
        return calls

    idle = {"content.orders.list": 1, "square.orders.search": 1, "square.refunds.list": 1}
    assert calls_of(10) == idle  # nothing open: no canceled-orders list either
    hourly = calls_of(61)
    assert hourly == {**idle, "content.orderreturns.list": 1, "content.orders.custombatch": 1}
