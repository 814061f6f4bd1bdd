"""Turning `[square] enabled` on for a ledger with history (issue 12.7).

Decided: an order that already has units shipped (through the shipments feed) when it would first be
created in Square is kept out of Square, with the reason recorded on the order and shown in the
report (orders.csv oms_status not_in_square, summary.csv totals orders_not_in_square, the run
line square_skipped=N). Creating it would give the store an open fulfilment for goods already sent;
the feed finishes it. Orders with nothing shipped yet go to Square as usual.
"""

from __future__ import annotations

import csv
from typing import Any

import pytest

from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(300)

QUICK = 60


def _csv(ws: Workspace, proc: Any, name: str) -> list[dict[str, str]]:
    report = next(p for p in proc.stdout.split() if p.startswith("report="))[len("report=") :]
    with (ws.root / report / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _square_orders(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    square = SquareGateway(SquareSettings(enabled=True, endpoint=ws.sandbox.url), token="store-staff")
    found: dict[str, list[dict[str, Any]]] = {}
    for order in square.iter_orders_updated_since(None):
        found.setdefault(order.get("reference_id", ""), []).append(order)
    return found


def _row(order: dict[str, Any], line: dict[str, Any], quantity: int, tracking: str) -> dict[str, str]:
    return {"order_id": order["id"], "line_item_id": line["id"], "quantity": str(quantity), "carrier": "UPS",
            "tracking_id": tracking, "shipped_at": "2026-11-20T10:00:00Z"}


def test_enabling_square_never_opens_a_fulfilment_for_orders_already_shipped(workspace: Workspace) -> None:
    ws = workspace
    full, partial, fresh = ws.create_orders(3, "template1")
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)  # Square off: feed only
    whole = ws.google.get_order(full)
    part = ws.google.get_order(partial)
    rows = [_row(whole, li, int(li["quantityOrdered"]), "1ZFULL1") for li in whole["lineItems"]]
    rows.append(_row(part, part["lineItems"][0], 1, "1ZPART1"))
    ws.write_feed("shipments-1.csv", rows)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert ws.google.get_order(full)["status"] == "shipped"
    assert ws.google.get_order(partial)["status"] == "partiallyShipped"

    write_config(ws.config, ws.sandbox.url, square=True)  # the merchant turns Square on
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "square=1 square_skipped=2" in proc.stdout
    assert "kept out of Square" in proc.stderr
    in_square = _square_orders(ws)
    assert full not in in_square and partial not in in_square  # nothing for the store to ship again
    [created] = in_square[fresh]
    assert [f["state"] for f in created["fulfillments"]] == ["PROPOSED"]  # the unshipped one, as usual

    # Reported, without a break: the orders' OMS status says why they are not in Square.
    orders = {o["google_order_id"]: o for o in _csv(ws, proc, "orders.csv")}
    assert orders[full]["oms_status"] == orders[partial]["oms_status"] == "not_in_square"
    # merchantOrderId is the Square order id: square_order_id does not repeat it (issue 17 item 10)
    assert (orders[fresh]["merchant_order_id"], orders[fresh]["square_order_id"]) == (created["id"], "")
    assert [b for b in _csv(ws, proc, "breaks.csv") if b["google_order_id"] in (full, partial)] == []
    totals = {r["key"]: r["count"] for r in _csv(ws, proc, "summary.csv") if r["section"] == "totals"}
    assert totals["orders_not_in_square"] == "2"

    # The feed finishes the partial order; it still never reaches Square, and nothing is skipped twice.
    rest = [
        _row(part, li, int(li["quantityOrdered"]) - (1 if n == 0 else 0), "1ZPART2")
        for n, li in enumerate(part["lineItems"])
        if int(li["quantityOrdered"]) - (1 if n == 0 else 0) > 0
    ]
    ws.write_feed("shipments-2.csv", rest)
    again = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "square_skipped" not in again.stdout
    assert ws.google.get_order(partial)["status"] == "shipped"
    assert partial not in _square_orders(ws)
