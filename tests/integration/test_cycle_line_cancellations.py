"""Line items canceled on Google are found by the periodic recheck of open orders (real HTTP to the
emulator, a real SQLite ledger): one custombatch `get` per check, none between checks."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger
from sync.config import GoogleSettings, LedgerSettings, Settings, ShipmentsSettings
from sync.domain.feed import COLUMNS
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import build_cycle


def test_recheck_finds_line_cancellations_on_schedule_and_the_rest_ships(tmp_path: Path) -> None:
    now = [datetime(2026, 11, 23, 8, 0, tzinfo=UTC)]
    with Sandbox(tokens={"test"}).start() as sb:
        settings = Settings(
            google=GoogleSettings(merchant_id="4242", endpoint=sb.url, recheck_open_orders_minutes=60),
            ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
            shipments=ShipmentsSettings(feeds=[str(tmp_path / "feed*.csv")], rejects_dir=str(tmp_path)),
        )
        google = GoogleGateway(settings.google, credentials=Credentials(token="test"))
        order_id = google.create_test_order("template1a")  # paper x2, mug x2
        google.advance_test_order(order_id)
        ledger = Ledger(settings.ledger.url)

        def cycle() -> Any:
            return build_cycle(settings, ledger=ledger, marketplace=google, clock=lambda: now[0]).run()

        assert cycle().acknowledged == 1
        paper, mug = google.get_order(order_id)["lineItems"]
        google.cancel_line_item(order_id, "customer-1", paper["id"], 1, "customerInitiatedCancel")

        now[0] += timedelta(minutes=30)
        calls_before = sb.stats.snapshot()["requests"].get("content.orders.custombatch", 0)
        cycle()
        assert sb.stats.snapshot()["requests"].get("content.orders.custombatch", 0) == calls_before
        lines = ledger.get_orders([order_id])[order_id].line_items
        line = next(li for li in lines if li.line_item_id == paper["id"])
        assert line.canceled == 0, "not checked yet: the interval has not passed"

        now[0] += timedelta(minutes=31)
        assert cycle().lines_canceled == 1
        assert sb.stats.snapshot()["requests"].get("content.orders.custombatch", 0) == calls_before + 1
        record = ledger.get_orders([order_id])[order_id]
        line = next(li for li in record.line_items if li.line_item_id == paper["id"])
        assert line.canceled == 1

        with (tmp_path / "feed-1.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS, restval="")
            writer.writeheader()
            for line_id, quantity in ((paper["id"], 1), (mug["id"], 2)):
                writer.writerow(
                    {
                        "order_id": order_id,
                        "line_item_id": line_id,
                        "quantity": quantity,
                        "carrier": "UPS",
                        "tracking_id": "1ZREST",
                        "shipped_at": "2026-11-23T09:00:00Z",
                    }
                )
        assert cycle().shipped == 1
        now[0] += timedelta(minutes=61)
        assert cycle().lines_canceled == 0, "a cancellation is found once"
        stage = ledger.get_orders([order_id])[order_id].stage
        ledger.close()
        assert google.get_order(order_id)["status"] == "shipped"
    assert stage == "shipped", "the canceled unit is not waiting to be shipped"
