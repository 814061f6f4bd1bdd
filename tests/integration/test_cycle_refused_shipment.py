"""A shipment Google refuses (here: the line was shipped behind ordersync's back, so the feed's
parcel over-ships) is recorded as failed with Google's reason and never counts as shipped."""

from __future__ import annotations

import csv
from pathlib import Path

from google.oauth2.credentials import Credentials

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger
from sync.config import GoogleSettings, LedgerSettings, Settings, ShipmentsSettings
from sync.domain.feed import COLUMNS
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import build_cycle


def test_refused_shipment_is_failed_and_not_counted(tmp_path: Path) -> None:
    with Sandbox(tokens={"test"}).start() as sb:
        settings = Settings(
            google=GoogleSettings(merchant_id="4343", endpoint=sb.url),
            ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
            shipments=ShipmentsSettings(
                feeds=[str(tmp_path / "feed*.csv")], rejects_dir=str(tmp_path / "rej")
            ),
        )
        google = GoogleGateway(settings.google, credentials=Credentials(token="test"))
        order_id = google.create_test_order("template1")
        google.advance_test_order(order_id)
        ledger = Ledger(settings.ledger.url)

        def cycle() -> object:
            return build_cycle(settings, ledger=ledger, marketplace=google).run()  # the configured feeds

        cycle()
        line = next(li for li in google.get_order(order_id)["lineItems"] if li["quantityOrdered"] > 1)
        google.ship_line_items(
            order_id,
            "manual-op",
            [{"lineItemId": line["id"], "quantity": line["quantityOrdered"]}],
            [{"shipmentId": "manual", "carrier": "ups", "trackingId": "1ZMANUAL"}],
        )
        with (tmp_path / "feed-1.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS, restval="")
            writer.writeheader()
            writer.writerow(
                {
                    "order_id": order_id,
                    "line_item_id": line["id"],
                    "quantity": 1,
                    "carrier": "UPS",
                    "tracking_id": "1ZFEED1",
                    "shipped_at": "2026-11-20T10:00:00Z",
                }
            )
        result = cycle()
        assert order_id in result.failed_orders  # type: ignore[attr-defined]
        (shipment,) = ledger.shipments_for([order_id])[order_id]
        assert shipment.state == "failed"
        (failed,) = ledger.failed_intents()
        assert failed.kind == "shipLineItems" and failed.error_reason
        record = ledger.get_orders([order_id])[order_id]
        assert sum(li.shipped for li in record.line_items) == 0  # ours never left; the manual one
        # is not in the ledger's snapshot either, which is what the report flags as quantity_mismatch
        again = cycle()  # the refused parcel is not retried as if it were pending
        assert again.shipped == 0  # type: ignore[attr-defined]
        ledger.close()
