"""Line items canceled on Google reach the Square order, through the CLI, both emulators and SDKs.

A paid Square order cannot change its lines (Square: "LineItems cannot be modified for finalized
tenders"), so the store is told in the fulfilment note; an unpaid one has its quantities reduced.
Either way, what the store then ships in Square leaves the canceled units out on Google, and the
reconciliation report finds nothing wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def square_ws(workspace: Workspace) -> Workspace:
    write_config(workspace.config, workspace.sandbox.url, square=True)
    workspace.env["ORDERSYNC_GOOGLE__RECHECK_OPEN_ORDERS_MINUTES"] = "0"  # every cycle
    return workspace


def _square(ws: Workspace) -> SquareGateway:
    return SquareGateway(SquareSettings(enabled=True, endpoint=ws.sandbox.url), token="store-staff-token")


def _square_order(ws: Workspace, google_order_id: str) -> dict[str, Any]:
    square_id = ws.google.get_order(google_order_id)["merchantOrderId"]
    return _square(ws).retrieve_order(square_id)


def _complete(ws: Workspace, square_order: dict[str, Any], tracking: str) -> None:
    current = _square(ws).retrieve_order(square_order["id"])
    _square(ws).update_order(
        current["id"],
        {
            "version": current["version"],
            "fulfillments": [
                {
                    "uid": current["fulfillments"][0]["uid"],
                    "state": "COMPLETED",
                    "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
                }
            ],
        },
    )


def _breaks(ws: Workspace) -> list[dict[str, str]]:
    proc = ws.ordersync("report", check=True)
    path = Path(proc.stdout.split("report written to ", 1)[1].split(" (", 1)[0])
    with (ws.root / path / "breaks.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _cancel_one_unit(ws: Workspace, order_id: str, line_index: int = 0) -> str:
    line_id = ws.google.get_order(order_id)["lineItems"][line_index]["id"]
    ws.ordersync("testorders", "cancel", order_id, "--line-item", line_id, "--quantity", "1", check=True)
    return line_id


def test_paid_square_order_keeps_its_lines_and_the_store_is_told_what_not_to_send(
    square_ws: Workspace,
) -> None:
    ws = square_ws
    (order_id,) = ws.create_orders(1, "template1a")  # paper x2, mug x2
    ws.ordersync("run", "--no-report", check=True)
    before = _square_order(ws, order_id)
    assert before.get("tenders")

    line_id = _cancel_one_unit(ws, order_id)
    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)  # a rerun must not update it again
    after = _square_order(ws, order_id)
    assert after["state"] == "OPEN"
    assert [li["quantity"] for li in after["line_items"]] == [li["quantity"] for li in before["line_items"]]
    assert after["total_money"] == before["total_money"]
    note = after["fulfillments"][0]["shipment_details"]["shipping_note"]
    assert "Canceled on Google, do not send: 1 x " in note
    assert after["metadata"]["google_canceled"] == f"kept|{line_id}=1"
    assert ws.stats()["mutations"].get("square.orders.update") == 1

    _complete(ws, after, "1ZPARTIAL01")
    ws.ordersync("run", "--no-report", check=True)
    google_order = ws.google.get_order(order_id)
    assert google_order["status"] == "shipped"
    shipped = {li["id"]: (li["quantityShipped"], li["quantityCanceled"]) for li in google_order["lineItems"]}
    assert shipped[line_id] == (1, 1)
    assert all(s + c == 2 for s, c in shipped.values())
    # Google refunded the canceled unit; the paid Square order is kept as sold and Google's refund
    # is recorded on its EXTERNAL payment (issue 15.2), once: the books match, no refund_mismatch.
    google_refunded = sum(round(float(r["amount"]["value"]) * 100) for r in google_order["refunds"])
    payment_id = after["tenders"][0]["payment_id"]
    recorded = [r for r in _square(ws).iter_payment_refunds() if r.payment_id == payment_id]
    assert [r.amount_minor for r in recorded] == [google_refunded] and google_refunded > 0
    assert "refund_mismatch" not in [b["category"] for b in _breaks(ws)]


def test_unpaid_square_order_has_its_quantities_reduced(square_ws: Workspace) -> None:
    ws = square_ws
    ws.env["ORDERSYNC_SQUARE__MARK_PAID"] = "false"
    (order_id,) = ws.create_orders(1, "template1a")
    ws.ordersync("run", "--no-report", check=True)
    reduced_line = _cancel_one_unit(ws, order_id, 0)
    gone_line = ws.google.get_order(order_id)["lineItems"][1]["id"]
    ws.ordersync("testorders", "cancel", order_id, "--line-item", gone_line, check=True)  # both units
    ws.ordersync("run", "--no-report", check=True)

    square_order = _square_order(ws, order_id)
    assert {li["uid"]: li["quantity"] for li in square_order["line_items"]} == {reduced_line: "1"}
    google_order = ws.google.get_order(order_id)
    net = round(float(google_order["netAmount"]["value"]) * 100)
    assert square_order["total_money"]["amount"] == net, "Square's recomputed total is Google's net amount"
    assert _breaks(ws) == []

    _complete(ws, square_order, "1ZREDUCED01")
    ws.ordersync("run", "--no-report", check=True)
    google_order = ws.google.get_order(order_id)
    assert google_order["status"] == "shipped"
    assert _breaks(ws) == []


def test_store_ships_before_the_recheck_and_the_canceled_units_stay_behind(square_ws: Workspace) -> None:
    """The hourly recheck has not seen the cancellation yet when the store completes the
    fulfilment: the bridge reads the order from Google before shipping it."""
    ws = square_ws
    ws.env["ORDERSYNC_GOOGLE__RECHECK_OPEN_ORDERS_MINUTES"] = "60"
    (order_id,) = ws.create_orders(1, "template1b")  # stapler x2, beets x4
    ws.ordersync("run", "--no-report", check=True)
    line_id = _cancel_one_unit(ws, order_id, 1)
    _complete(ws, _square_order(ws, order_id), "1ZEARLY0001")
    ws.ordersync("run", "--no-report", check=True)
    google_order = ws.google.get_order(order_id)
    assert google_order["status"] == "shipped"
    line = next(li for li in google_order["lineItems"] if li["id"] == line_id)
    assert (line["quantityShipped"], line["quantityCanceled"]) == (3, 1)
    assert ws.stats()["mutations"].get("content.orders.shiplineitems") == 1


def test_units_canceled_while_square_was_down_follow_the_order_into_square(square_ws: Workspace) -> None:
    ws = square_ws
    (order_id,) = ws.create_orders(1, "template1a")
    unreachable = {"ORDERSYNC_SQUARE__ENDPOINT": "http://127.0.0.1:9", "ORDERSYNC_SQUARE__MAX_ATTEMPTS": "1"}
    down = {**ws.env, **unreachable}
    healthy, ws.env = ws.env, down
    assert ws.ordersync("run", "--no-report").returncode == 69  # acknowledged; Square unreachable
    line_id = _cancel_one_unit(ws, order_id)
    assert ws.ordersync("run", "--no-report").returncode == 69  # the cancellation is in the ledger
    ws.env = healthy
    ws.ordersync("run", "--no-report", check=True)
    square_order = _square_order(ws, order_id)
    assert square_order["metadata"]["google_canceled"] == f"kept|{line_id}=1"
    assert "do not send: 1 x " in square_order["fulfillments"][0]["shipment_details"]["shipping_note"]
    assert ws.stats()["mutations"].get("square.orders.create") == 1
