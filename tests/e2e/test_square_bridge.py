"""Square as the merchant's order system, end to end through the CLI, both emulators, both SDKs."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.domain.orders import Order

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def square_ws(workspace: Workspace) -> Workspace:
    write_config(workspace.config, workspace.sandbox.url, square=True)
    return workspace


def _square(ws: Workspace) -> SquareGateway:
    return SquareGateway(SquareSettings(enabled=True, endpoint=ws.sandbox.url), token="store-staff-token")


def _square_orders_by_reference(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for order in _square(ws).iter_orders_updated_since(None):
        found.setdefault(order.get("reference_id", ""), []).append(order)
    return found


def _complete(square: SquareGateway, square_order: dict[str, Any], tracking: str) -> None:
    """What the store does in Square: the parcel leaves with a carrier and a tracking number."""
    current = square.retrieve_order(square_order["id"])
    fulfilment = current["fulfillments"][0]
    square.update_order(
        current["id"],
        {
            "version": current["version"],
            "fulfillments": [
                {
                    "uid": fulfilment["uid"],
                    "state": "COMPLETED",
                    "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
                }
            ],
        },
    )


def test_google_orders_become_square_orders_and_square_drives_google(square_ws: Workspace) -> None:
    ws = square_ws
    ids = (
        ws.create_orders(10, "template1")
        + ws.create_orders(10, "template2")
        + ws.create_orders(10, "template1a")
    )

    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)  # a rerun must not create anything twice
    by_reference = _square_orders_by_reference(ws)
    assert ws.stats()["mutations"].get("square.orders.create") == 30
    for order_id in ids:
        google_order = ws.google.get_order(order_id)
        (square_order,) = by_reference[order_id]
        assert google_order["merchantOrderId"] == square_order["id"]
        assert square_order["total_money"]["amount"] == Order.from_google(google_order).total_minor
        assert square_order["fulfillments"][0]["type"] == "SHIPMENT"
        assert square_order.get("tenders"), "paid with an EXTERNAL payment so it shows in the POS"
        names = sorted(li["uid"] for li in square_order["line_items"])
        assert names == sorted(li["id"] for li in google_order["lineItems"])

    square = _square(ws)
    shipped_ids, store_canceled, customer_canceled = ids[:10], ids[10:12], ids[12:14]
    for n, order_id in enumerate(shipped_ids):
        _complete(square, by_reference[order_id][0], f"1ZSQ{n:06d}")
    for order_id in store_canceled:
        square.cancel_order(by_reference[order_id][0]["id"])
    for order_id in customer_canceled:
        ws.google.cancel_test_order_by_customer(order_id)

    ws.ordersync("run", "--no-report", check=True)
    for order_id in shipped_ids:
        google_order = ws.google.get_order(order_id)
        assert google_order["status"] == "shipped"
        (shipment,) = google_order["shipments"]
        assert shipment["carrier"] == "ups" and shipment["trackingId"].startswith("1ZSQ")
    for order_id in store_canceled:
        assert ws.google.get_order(order_id)["status"] == "canceled"
    for order_id in customer_canceled:
        assert square.retrieve_order(by_reference[order_id][0]["id"])["state"] == "CANCELED"

    before = ws.stats()["mutations"]
    ws.ordersync("run", "--no-report", check=True)
    after = ws.stats()["mutations"]
    assert after == before, "an idle cycle changes nothing on either side"
    assert all(len(v) == 1 for v in _square_orders_by_reference(ws).values())


def test_tracking_corrected_in_square_updates_the_google_shipment(square_ws: Workspace) -> None:
    """Square completes an order once it is paid and fulfilled, after which nothing can change;
    a store that does not mark orders paid can still correct a shipped parcel's tracking."""
    ws = square_ws
    ws.env["ORDERSYNC_SQUARE__MARK_PAID"] = "false"
    (order_id,) = ws.create_orders(1, "template1")
    ws.ordersync("run", "--no-report", check=True)
    square = _square(ws)
    (square_order,) = _square_orders_by_reference(ws)[order_id]
    _complete(square, square_order, "1ZWRONG0001")
    ws.ordersync("run", "--no-report", check=True)
    current = square.retrieve_order(square_order["id"])
    assert current["state"] == "OPEN"
    square.update_order(
        current["id"],
        {
            "version": current["version"],
            "fulfillments": [
                {
                    "uid": current["fulfillments"][0]["uid"],
                    "shipment_details": {"carrier": "FedEx", "tracking_number": "FX-CORRECTED-1"},
                }
            ],
        },
    )
    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)  # a replay must not send it again
    (shipment,) = ws.google.get_order(order_id)["shipments"]
    assert (shipment["carrier"], shipment["trackingId"]) == ("fedex", "FX-CORRECTED-1")
    assert ws.stats()["mutations"].get("content.orders.updateshipment") == 1


def test_kill_9_during_square_creation_never_makes_a_second_square_order(square_ws: Workspace) -> None:
    ws = square_ws
    ids = ws.create_orders(25, "template2")
    ws.sandbox.configure_faults(latency_ms=120)
    victim = ws.popen("run", "--no-report")
    deadline = time.monotonic() + 60
    while ws.stats()["mutations"].get("square.orders.create", 0) < 3:
        assert time.monotonic() < deadline, "the run never created a Square order"
        assert victim.poll() is None, victim.communicate()
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    ws.sandbox.configure_faults(latency_ms=0, lost_response_rate=0.05)
    for _ in range(3):
        ws.ordersync("run", "--no-report")
    ws.sandbox.configure_faults(lost_response_rate=0.0)
    ws.ordersync("run", "--no-report", check=True)
    by_reference = _square_orders_by_reference(ws)
    assert sorted(by_reference) == sorted(ids)
    assert all(len(orders) == 1 for orders in by_reference.values())
    for order_id in ids:
        assert ws.google.get_order(order_id)["merchantOrderId"] == by_reference[order_id][0]["id"]


def test_pickup_completed_in_square_is_shipped_and_delivered_on_google(square_ws: Workspace) -> None:
    ws = square_ws
    ws.env["ORDERSYNC_SQUARE__FULFILLMENT_TYPE"] = "PICKUP"
    (order_id,) = ws.create_orders(1, "template2")
    ws.ordersync("run", "--no-report", check=True)
    square = _square(ws)
    (square_order,) = _square_orders_by_reference(ws)[order_id]
    fulfilment = square_order["fulfillments"][0]
    assert fulfilment["type"] == "PICKUP"
    square.update_order(
        square_order["id"],
        {
            "version": square_order["version"],
            "fulfillments": [{"uid": fulfilment["uid"], "state": "COMPLETED"}],
        },
    )
    ws.ordersync("run", "--no-report", check=True)
    google_order = ws.google.get_order(order_id)
    assert google_order["status"] == "delivered"
    (shipment,) = google_order["shipments"]
    assert shipment["status"] == "delivered"
