"""Refunds in the report (issue 15.6), as a user meets them: the store refunds a Google order in
the Square Dashboard (played by ``ordersync testorders square-refund``), Google has not refunded
it, and the next ``ordersync report`` shows both amounts and a refund_mismatch."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from square import Square

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(300)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_square_only_refund_is_a_refund_mismatch_with_both_amounts(workspace: Workspace) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, square=True)
    (order_id,) = ws.create_orders(1, "template1")
    ws.ordersync("run", "--no-report", check=True)
    square = Square(token="store-staff", base_url=ws.sandbox.url)
    found = square.orders.search(location_ids=["L_SANDBOX_MAIN"]).orders
    (sale,) = [o for o in found if o.reference_id == order_id]
    ws.ordersync("testorders", "square-refund", sale.id, "--amount", "5.00", check=True)

    proc = ws.ordersync("report", check=True)
    run = ws.root / Path(proc.stdout.split("report written to ", 1)[1].split(" (", 1)[0])
    (order,) = [o for o in _read(run / "orders.csv") if o["google_order_id"] == order_id]
    assert (order["amount_refunded_google"], order["amount_refunded_oms"]) == ("0.00", "5.00")
    assert order["qty_returned"] == "0"
    breaks = [b for b in _read(run / "breaks.csv") if b["google_order_id"] == order_id]
    assert [b["category"] for b in breaks] == ["refund_mismatch"], breaks
    assert "Google refunded 0.00, the OMS 5.00 USD" in breaks[0]["detail"]
    # The return order Square made for the refund is no order of its own in the report.
    assert len(_read(run / "orders.csv")) == 1
