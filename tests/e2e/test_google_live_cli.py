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


def test_a_refused_push_is_a_live_break_that_fail_on_breaks_judges(workspace: Workspace) -> None:
    live_config(workspace)
    workspace.env["UCP_API_KEY"] = "AIza" + "x" * 35  # not the partner's: Google answers 400
    key = hs.new_private_key()
    (workspace.root / "state").mkdir(exist_ok=True)
    (workspace.root / "state" / "ucp.pem").write_bytes(hs.private_key_pem(key))
    http = httpx.Client(base_url=workspace.sandbox.url)
    profile = {"signing_keys": [hs.public_jwk(key, "shop-2026-12")]}
    http.post("/_sandbox/ucp/profiles", json={"profile_url": PROFILE, "profile": profile}).raise_for_status()
    partner = {"partner_id": MERCHANT_ID, "api_key": API_KEY, "profile_url": PROFILE}
    http.post("/_sandbox/ucp/partners", json=partner).raise_for_status()
    square = SquareGateway(SquareSettings(enabled=True, endpoint=workspace.sandbox.url), token="staff")
    ucp_id = create_checkout_order(square, "ucp", 0, "ucp_checkout_id")

    refused = workspace.ordersync("run", "--no-report")
    assert refused.returncode == 1, refused.stdout + refused.stderr  # a failed order, as before
    judged = workspace.ordersync("report", "--json", "--fail-on-breaks", "high")
    assert judged.returncode == 3, judged.stdout + judged.stderr
    document = json.loads(judged.stdout)
    assert document["by_category"] == {"live_push_refused": 1}
    report = workspace.root / "reports" / "latest"
    rows = (report / "live_orders.csv").read_text(encoding="utf-8")
    assert ucp_id in rows and "API_KEY_INVALID" in rows
    assert "live_push_refused" in (report / "breaks.csv").read_text(encoding="utf-8")
    assert workspace.ordersync("report", "--fail-on-breaks", "critical").returncode == 0


def test_live_channels_without_square_say_so_at_run_start_and_in_doctor(workspace: Workspace) -> None:
    live_config(workspace)
    text = workspace.config.read_text(encoding="utf-8")
    text = text.replace("[square]\nenabled = true", "[square]\nenabled = false")
    workspace.config.write_text(text, encoding="utf-8")
    run = workspace.ordersync("run", "--no-report", check=True)
    said = run.stdout + run.stderr
    assert "[ucp] and [order_tracking] are enabled but [square] is not" in said, said
    assert "nothing is sent to Google" in said
    doctor = workspace.ordersync("doctor")
    line = next(x for x in doctor.stdout.splitlines() if "live channels" in x)
    assert line.startswith("[warn]") and "[square]" in line and "fix: set [square] enabled = true" in line
