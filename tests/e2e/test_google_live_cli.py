"""`ordersync run` with [ucp] and [order_tracking] enabled, as a user runs it, against the
in-process sandbox: UCP checkouts are pushed to the receiver (which verifies signature, digest
and schema), the web shop's shipped order gets its one tracking signal, the Google Content API
order's Square twin gets none."""

from __future__ import annotations

import json
from typing import Any

import httpx

from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.domain.ucp import http_signatures as hs
from sync.entrypoints.testorders_square import create_checkout_order

from .conftest import MERCHANT_ID, Workspace, write_config

PROFILE = "https://shop.example.com/.well-known/ucp"
API_KEY = "AIza" + "e" * 35


def live_config(ws: Workspace) -> None:
    write_config(
        ws.config,
        ws.sandbox.url,
        square=True,
        extra=f"""
[ucp]
enabled = true
webhook_url = "{ws.sandbox.url}/ucp/v1/webhooks/partners/{MERCHANT_ID}/events/order"
signing_key_file = "state/ucp.pem"
key_id = "shop-2026-12"
profile_url = "{PROFILE}"
[order_tracking]
enabled = true
account_id = "{MERCHANT_ID}"
endpoint = "{ws.sandbox.url}"
origin_postal_code = "94043"
origin_region_code = "US"
""",
    )


def ship(square: SquareGateway, order_id: str, tracking: str) -> None:
    order = square.retrieve_order(order_id)
    fulfilment = order["fulfillments"][0]
    square.update_order(
        order_id,
        {
            "version": order["version"],
            "fulfillments": [
                {
                    "uid": fulfilment["uid"],
                    "state": "COMPLETED",
                    "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
                }
            ],
        },
    )


def test_run_pushes_ucp_orders_and_sends_one_tracking_signal(workspace: Workspace) -> None:
    live_config(workspace)
    workspace.env["UCP_API_KEY"] = API_KEY
    # Set-up as `ordersync ucp keys|profile` and `testorders create --channel ucp|web` do it
    # (their own e2e tests run them; in-process here to keep this test fast).
    key = hs.new_private_key()
    (workspace.root / "state").mkdir(exist_ok=True)
    (workspace.root / "state" / "ucp.pem").write_bytes(hs.private_key_pem(key))
    profile = {"signing_keys": [hs.public_jwk(key, "shop-2026-12")]}
    http = httpx.Client(base_url=workspace.sandbox.url)
    http.post("/_sandbox/ucp/profiles", json={"profile_url": PROFILE, "profile": profile}).raise_for_status()
    http.post(
        "/_sandbox/ucp/partners",
        json={"partner_id": MERCHANT_ID, "api_key": API_KEY, "profile_url": PROFILE},
    ).raise_for_status()
    square = SquareGateway(SquareSettings(enabled=True, endpoint=workspace.sandbox.url), token="staff")
    ucp_id = create_checkout_order(square, "ucp", 0, "ucp_checkout_id")
    web_id = create_checkout_order(square, "web", 1, "ucp_checkout_id")
    (google_id,) = workspace.create_orders(1)

    first = workspace.ordersync("run", "--no-report", check=True)
    assert "ucp=1" in first.stdout, first.stdout
    assert API_KEY not in first.stdout + first.stderr

    def accepted(order_id: str) -> list[str]:
        answer = http.get(f"/_sandbox/ucp/orders/{order_id}")
        return list(answer.json()["webhook_ids"]) if answer.status_code == 200 else []

    def signals() -> list[dict[str, Any]]:
        return list(http.get("/_sandbox/ordertracking/signals").json()["signals"])

    assert accepted(ucp_id) == [ucp_id] and signals() == []
    google_twin = workspace.google.get_order(google_id)["merchantOrderId"]
    for order_id, tracking in ((ucp_id, "1ZUCP0001"), (web_id, "1ZWEB0001"), (google_twin, "1ZGGL0001")):
        ship(square, order_id, tracking)

    second = workspace.ordersync("run", "--no-report", check=True)
    assert "ucp=1" in second.stdout and "ordertracking=1" in second.stdout, second.stdout
    assert accepted(ucp_id) == [ucp_id, f"{ucp_id}:shipped:shipment"]
    (signal,) = signals()
    assert signal["signal"]["orderId"] == web_id  # not the Content API order's Square twin
    assert workspace.google.get_order(google_id)["status"] == "shipped"

    idle = workspace.ordersync("run", "--no-report", "--json", check=True)
    summary = json.loads(idle.stdout)
    assert "ucp" not in json.dumps(summary.get("live", {})), summary
    assert len(signals()) == 1 and len(accepted(ucp_id)) == 2
    assert workspace.stats()["mutations"]["ucp.webhooks.order"] == 2
