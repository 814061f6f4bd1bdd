"""Refunds both ways through `ordersync run`, as a user runs it (issue 15 flows 1 and 2): the store
refunds in Square POS and Google refunds the line once; Google refunds in Merchant Center and
Square's EXTERNAL payment records it once; reruns change nothing on either side; the demo with
Square shows one refund each way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from square import Square

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


def _delivered_sale(ws: Workspace) -> tuple[Square, str, Any]:
    # Refunds are looked for on every run here (the default is the hourly open-order rhythm).
    write_config(ws.config, ws.sandbox.url, square=True)
    ws.env["ORDERSYNC_GOOGLE__RECHECK_OPEN_ORDERS_MINUTES"] = "0"
    (order_id,) = ws.create_orders(1, "template1")
    ws.ordersync("run", "--no-report", check=True)
    order = ws.google.get_order(order_id)
    ws.write_feed(
        "shipped.csv",
        [
            {
                "order_id": order_id,
                "line_item_id": line["id"],
                "quantity": str(line["quantityPending"]),
                "carrier": "UPS",
                "tracking_id": "1ZE2EREFUND",
                "shipped_at": "2026-11-23T09:00:00Z",
                "delivered_at": "2026-11-24T09:00:00Z",
            }
            for line in order["lineItems"]
        ],
    )
    ws.ordersync("run", "--no-report", check=True)
    assert ws.google.get_order(order_id)["status"] == "delivered"
    square = Square(token="store-staff", base_url=ws.sandbox.url)
    (sale,) = [
        o for o in square.orders.search(location_ids=["L_SANDBOX_MAIN"]).orders if o.reference_id == order_id
    ]
    return square, order_id, sale


def test_a_square_pos_refund_reaches_google_once(workspace: Workspace) -> None:
    ws = workspace
    _square, order_id, sale = _delivered_sale(ws)
    line = sale.line_items[0]
    pos = ws.ordersync(
        "testorders", "square-refund", sale.id, "--line-uid", line.uid, "--quantity", "1", check=True
    )
    _refund_id, _status, amount, *_ = pos.stdout.split()
    ws.ordersync("run", "--no-report", check=True)
    order = ws.google.get_order(order_id)
    (refund,) = order["refunds"]
    assert refund["amount"]["value"] == amount
    assert next(li for li in order["lineItems"] if li["id"] == line.uid)["quantityReturned"] == 1
    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)
    assert len(ws.google.get_order(order_id)["refunds"]) == 1


def test_a_google_refund_is_recorded_once_on_the_square_external_payment(workspace: Workspace) -> None:
    ws = workspace
    square, order_id, sale = _delivered_sale(ws)
    ws.google.refund(
        order_id,
        "merchant-center-1",
        {"value": "4.00", "currency": "USD"},
        {"value": "0.00", "currency": "USD"},
        "priceError",
    )
    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)
    payment_id = sale.tenders[0].payment_id
    refunds = [r for r in square.refunds.list(source_type="EXTERNAL") if r.payment_id == payment_id]
    assert [(r.amount_money.amount, r.status) for r in refunds] == [(400, "COMPLETED")]
    assert "[ordersync osr:" in (refunds[0].reason or "")
    assert square.payments.get(payment_id).payment.refunded_money.amount == 400
    assert len(ws.google.get_order(order_id)["refunds"]) == 1  # not echoed back to Google


def test_the_demo_with_square_shows_one_refund_each_way(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    proc = subprocess.run(
        [sys.executable, "-m", "sync", "demo", "--orders", "2", "--dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "in the Square Dashboard; Google refunded 3.00 USD of order" in proc.stdout
    assert "refunds_to_google=1 refunds_to_square=1" in proc.stdout
    assert "refunds: Square -> Google reached Google; Google -> Square recorded on the EXTERNAL payment" in (
        proc.stdout
    )
    assert "(0 breaks;" in proc.stdout
