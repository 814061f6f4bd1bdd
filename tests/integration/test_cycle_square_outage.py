"""A Square outage stops only the Square step: Google acknowledgements, cancellations and the
feed's shipments still happen in the same cycle, and the cycle reports the outage (exit 69: Square
is a required service when enabled; the Google work done is kept)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from google.oauth2.credentials import Credentials

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger, OrderChanges
from sync.adapters.square_errors import SquareApiError
from sync.config import GoogleSettings, LedgerSettings, Settings, ShipmentsSettings
from sync.domain.feed import COLUMNS
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import build_cycle


class SquareDown:
    """The merchant's Square account while Square answers 503 to everything (after the gateway's
    retries); it notes which Square orders it was asked to cancel."""

    calls = 0
    base_url = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.cancellations: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def unavailable(*_args: Any, **_kwargs: Any) -> Any:
            raise SquareApiError(
                status=503,
                code="SERVICE_UNAVAILABLE",
                category="API_ERROR",
                detail="The service is temporarily unavailable.",
                retryable=True,
            )

        return unavailable

    def cancel_order(self, order_id: str, **_kwargs: Any) -> Any:
        self.cancellations.append(order_id.removeprefix("SQ-"))
        return self.__getattr__("cancel_order")()


def test_square_outage_does_not_stop_the_google_steps(tmp_path: Path) -> None:
    with Sandbox(tokens={"test"}).start() as sb:
        settings = Settings(
            google=GoogleSettings(merchant_id="4242", endpoint=sb.url),
            ledger=LedgerSettings(url=f"sqlite:///{tmp_path / 'ledger.db'}"),
            shipments=ShipmentsSettings(
                feeds=[str(tmp_path / "feed*.csv")], rejects_dir=str(tmp_path / "rejects")
            ),
        )
        google = GoogleGateway(settings.google, credentials=Credentials(token="test"))
        ids = [google.create_test_order("template2") for _ in range(2)]
        for order_id in ids:
            google.advance_test_order(order_id)
        square = SquareDown()
        ledger = Ledger(settings.ledger.url)

        def cycle() -> Any:
            return build_cycle(settings, ledger=ledger, marketplace=google, order_system=square).run()

        first = cycle()
        assert first.square_unavailable and first.exit_code == 69
        assert "Square unavailable at 127.0.0.1:9" in first.outages[0].message()
        assert first.acknowledged == 2

        # Square orders made before the outage: Google's cancellation must still reach Square.
        ledger.update_orders({oid: OrderChanges(square_order_id=f"SQ-{oid}") for oid in ids})
        google.cancel_test_order_by_customer(ids[1])
        shipped = google.get_order(ids[0])
        with (tmp_path / "feed-1.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, COLUMNS, restval="")
            writer.writeheader()
            for line in shipped["lineItems"]:
                writer.writerow(
                    {
                        "order_id": ids[0],
                        "line_item_id": line["id"],
                        "quantity": line["quantityOrdered"],
                        "carrier": "UPS",
                        "tracking_id": "1ZOUTAGE1",
                        "shipped_at": "2026-11-20T10:00:00Z",
                    }
                )
        second = cycle()
        ledger.close()
    assert second.square_unavailable and second.exit_code == 69
    assert second.canceled == 1 and square.cancellations == [ids[1]]
    assert second.shipped == 1
