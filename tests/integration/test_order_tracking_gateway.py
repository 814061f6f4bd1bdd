"""The Merchant API order tracking client library (REST) against the sandbox emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from google.oauth2 import service_account

from sync.adapters.order_tracking_gateway import OrderTrackingGateway, SignalResult
from sync.config import OrderTrackingSettings
from sync.domain.order_tracking import TrackingConfig, tracking_signal
from sync.domain.ucp.square_order import SquareOrder
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, split_into_parcels, square_order

ACCOUNT = "7000001"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # A token list: only tokens the sandbox's /token issued (or "static") are accepted.
    with Sandbox(seed=5, tokens=["static"]).start() as sb:
        yield sb


def gateway(sandbox: Sandbox, tmp_path: Path, **settings) -> OrderTrackingGateway:
    key_file = tmp_path / "sa.json"
    write_service_account(key_file, sandbox.url)
    credentials = service_account.Credentials.from_service_account_file(
        str(key_file), scopes=["https://www.googleapis.com/auth/content"]
    )
    config = OrderTrackingSettings(
        enabled=True,
        account_id=ACCOUNT,
        endpoint=sandbox.url,
        origin_postal_code="94043",
        origin_region_code="US",
        max_backoff_seconds=0.05,
        **settings,
    )
    return OrderTrackingGateway(config, credentials, sleep=lambda s: None, backoff_base_seconds=0.001)


def signal(**config):
    raw = split_into_parcels(square_order(metadata={}), PARCEL_1, PARCEL_2)
    raw["fulfillments"][1]["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    settings = {"origin_postal_code": "94043", "origin_region_code": "US", **config}
    return tracking_signal(SquareOrder.from_square(raw), TrackingConfig(**settings))


def test_a_signal_is_created_once_through_the_official_client(sandbox: Sandbox, tmp_path: Path) -> None:
    with gateway(sandbox, tmp_path) as client:
        outcome = client.create_signal(signal())
        assert outcome.result is SignalResult.CREATED and outcome.signal_id
        again = client.create_signal(signal())
        assert again.result is SignalResult.ALREADY_EXISTS and again.sent
    (stored,) = httpx.get(f"{sandbox.url}/_sandbox/ordertracking/signals").json()["signals"]
    body = stored["signal"]
    assert stored["account"] == ACCOUNT and body["orderId"] == "ord_1001"
    assert [s["shipmentId"] for s in body["shippingInfo"]] == ["p1", "p2"]
    assert body["shippingInfo"][0]["actualDeliveryTime"]["day"] == 7
    assert [s["shippingStatus"] for s in body["shippingInfo"]] in (["DELIVERED", "SHIPPED"], [2, 1])
    assert {li["productId"] for li in body["lineItems"]} == {
        "online~en~US~sku_socks",
        "online~en~US~sku_bottle",
    }
    assert len(body["shipmentLineItemMapping"]) == 3
    assert body["customerShippingFee"] == {"amountMicros": "5000000", "currencyCode": "USD"}
    assert (body["deliveryPostalCode"], body["deliveryRegionCode"]) == ("78701", "US")
    stats = sandbox.stats.snapshot()
    assert stats["mutations"]["merchantapi.ordertracking.orderTrackingSignals.create"] == 1
    assert stats["requests"]["oauth2.token"] >= 1  # the service account's token, not a self-signed JWT


def test_missing_required_fields_are_rejected_with_the_field(sandbox: Sandbox, tmp_path: Path) -> None:
    with gateway(sandbox, tmp_path) as client:
        outcome = client.create_signal(signal(origin_postal_code=""))
    assert (outcome.result, outcome.status, outcome.reason) == (
        SignalResult.REJECTED,
        400,
        "INVALID_ARGUMENT",
    )
    assert "origin" in outcome.detail.lower()


def test_5xx_is_retried_then_handed_back_and_lands_once(sandbox: Sandbox, tmp_path: Path) -> None:
    with gateway(sandbox, tmp_path, max_attempts=3) as client:
        sandbox.configure_faults(fault_rate=1.0, seed=2)
        outcome = client.create_signal(signal())
        assert (outcome.result, outcome.attempts) == (SignalResult.RETRY, 3) and outcome.status in (
            429,
            500,
            503,
        )
        sandbox.configure_faults(fault_rate=0.5, seed=4)
        retried = next(
            o
            for o in (client.create_signal(signal()) for _ in range(5))
            if o.result is not SignalResult.RETRY
        )
        sandbox.configure_faults(fault_rate=0.0)
    assert retried.sent
    assert len(httpx.get(f"{sandbox.url}/_sandbox/ordertracking/signals").json()["signals"]) == 1


def test_requests_without_a_token_from_the_sandbox_are_refused(sandbox: Sandbox) -> None:
    url = f"{sandbox.url}/ordertracking/v1/accounts/{ACCOUNT}/orderTrackingSignals"
    answer = httpx.post(url, json={"orderId": "x"}, headers={"Authorization": "Bearer forged"})
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
    answer = httpx.post(
        url.replace("orderTrackingSignals", "ordertrackingsignals"),
        json={"orderId": "x"},
        headers={"Authorization": "Bearer static"},
    )
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
