"""Real HTTP: the UCP webhook client pushes to the sandbox receiver, which verifies and records."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sync.adapters.ucp_push_outcomes import PushResult
from sync.adapters.ucp_webhook_client import UcpWebhookClient
from sync.config import UcpSettings
from sync.domain.ucp import http_signatures as hs
from sync.domain.ucp.entity import UcpOrderConfig
from sync.domain.ucp.pushes import DuePush, PushHistory, due_pushes
from sync.domain.ucp.square_order import SquareOrder
from sync.sandbox.server import Sandbox
from tests.unit.ucp_fixtures import PARCEL_1, PARCEL_2, money, split_into_parcels, square_order

PARTNER = "1234567"
API_KEY = "AIza" + "k" * 35
PROFILE = "https://shop.example.com/.well-known/ucp"
CONFIG = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")


class Shop:
    """A merchant wired to the sandbox: its key registered in its profile, its partner id known."""

    def __init__(self, sandbox: Sandbox, **settings) -> None:
        self.sandbox = sandbox
        self.key = hs.new_private_key()
        self.http = httpx.Client(base_url=sandbox.url)
        self.http.post(
            "/_sandbox/ucp/profiles",
            json={"profile_url": PROFILE, "profile": {"signing_keys": [hs.public_jwk(self.key, "shop-1")]}},
        ).raise_for_status()
        self.http.post(
            "/_sandbox/ucp/partners", json={"partner_id": PARTNER, "api_key": API_KEY, "profile_url": PROFILE}
        ).raise_for_status()
        self.settings = UcpSettings(
            webhook_url=f"{sandbox.url}/ucp/v1/webhooks/partners/{PARTNER}/events/order",
            key_id="shop-1",
            profile_url=PROFILE,
            max_backoff_seconds=0.05,
            **settings,
        )
        self.client = UcpWebhookClient(
            self.settings,
            api_key=API_KEY,
            private_key=self.key,
            sleep=lambda s: None,
            backoff_base_seconds=0.01,
        )
        self.history: dict[str, PushHistory] = {}

    def sync(self, raw: dict, **kw) -> list[DuePush]:
        """One publisher pass for one order: due pushes, sent in order, history advanced on success."""
        order = SquareOrder.from_square(raw, **kw)
        history = self.history.get(order.id, PushHistory())
        pushes = due_pushes(order, history, CONFIG)
        for push in pushes:
            outcome = self.client.push(push.webhook_id, push.timestamp, push.body)
            assert outcome.result is PushResult.DELIVERED, outcome
            history = PushHistory(history.pushed | {push.event_key}, push.timestamp)
        self.history[order.id] = history
        return pushes

    def accepted(self, order_id: str) -> list[str]:
        answer = self.http.get(f"/_sandbox/ucp/orders/{order_id}")
        return answer.json()["webhook_ids"] if answer.status_code == 200 else []

    def raw_post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post(
            f"/ucp/v1/webhooks/partners/{PARTNER}/events/order", content=body, headers=headers
        )


@pytest.fixture
def shop() -> Iterator[Shop]:
    with Sandbox(seed=3).start() as sandbox:
        yield Shop(sandbox)


def test_every_lifecycle_event_is_pushed_verified_and_accepted_once(shop: Shop) -> None:
    shop.sync(square_order())
    shop.sync(split_into_parcels(square_order(), PARCEL_1))
    delivered = copy.deepcopy(PARCEL_1)
    delivered["metadata"] = {"delivered_at": "2026-05-07T15:00:00Z"}
    shop.sync(split_into_parcels(square_order(), delivered, PARCEL_2))
    refund = {
        "id": "r1",
        "status": "COMPLETED",
        "amount_money": money(1620),
        "created_at": "2026-05-12T12:00:00Z",
    }
    final = split_into_parcels(
        square_order(state="CANCELED", closed_at="2026-05-13T00:00:00Z"), delivered, PARCEL_2
    )
    shop.sync(final, refunds=[refund])
    assert shop.sync(final, refunds=[refund]) == []  # idle: nothing more
    assert shop.accepted("ord_1001") == [
        "ord_1001",
        "ord_1001:shipped:p1",
        "ord_1001:shipped:p2",
        "ord_1001:delivered:p1",
        "ord_1001:refund:r1",
        "ord_1001:canceled",
    ]
    latest = json.loads(shop.http.get("/_sandbox/ucp/orders/ord_1001").json()["latest"])
    assert [a["type"] for a in latest["adjustments"]] == ["refund", "cancellation"]
    assert shop.sandbox.stats.snapshot()["mutations"]["ucp.webhooks.order"] == 6


def test_a_retry_with_the_same_id_and_body_is_accepted_once(shop: Shop) -> None:
    (push,) = due_pushes(SquareOrder.from_square(square_order()), PushHistory(), CONFIG)
    assert shop.client.push(push.webhook_id, push.timestamp, push.body).delivered
    assert shop.client.push(push.webhook_id, push.timestamp, push.body).delivered  # signed anew, same bytes
    assert shop.accepted("ord_1001") == ["ord_1001"]
    assert shop.sandbox.stats.snapshot()["requests"]["ucp.webhooks.order.duplicate"] == 1


def test_a_lost_response_is_retried_next_time_and_still_recorded_once(shop: Shop) -> None:
    (push,) = due_pushes(SquareOrder.from_square(square_order()), PushHistory(), CONFIG)
    shop.sandbox.configure_faults(lost_response_rate=1.0)
    single = UcpWebhookClient(
        shop.settings.model_copy(update={"max_attempts": 1}), api_key=API_KEY, private_key=shop.key
    )
    outcome = single.push(push.webhook_id, push.timestamp, push.body)
    assert outcome.result is PushResult.RETRY and outcome.status in (500, 503)
    shop.sandbox.configure_faults(lost_response_rate=0.0)
    assert shop.client.push(push.webhook_id, push.timestamp, push.body).delivered
    assert shop.accepted("ord_1001") == ["ord_1001"]


def test_faults_are_ridden_out_by_the_clients_retries(shop: Shop) -> None:
    shop.sandbox.configure_faults(fault_rate=0.5, seed=11)
    client = UcpWebhookClient(
        shop.settings.model_copy(update={"max_attempts": 10}),
        api_key=API_KEY,
        private_key=shop.key,
        sleep=lambda s: None,
        backoff_base_seconds=0.001,
    )
    raw = split_into_parcels(square_order(), PARCEL_1, PARCEL_2)
    for push in due_pushes(SquareOrder.from_square(raw), PushHistory(), CONFIG):
        assert client.push(push.webhook_id, push.timestamp, push.body).delivered
    assert shop.accepted("ord_1001") == ["ord_1001", "ord_1001:shipped:p1", "ord_1001:shipped:p2"]
    assert shop.sandbox.stats.snapshot()["faults_total"] > 0


def signed(
    shop: Shop,
    body: bytes,
    webhook_id: str = "ord_1001",
    when: str = "2026-05-04T10:00:00Z",
    sign_body: bytes | None = None,
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Webhook-Id": webhook_id,
        "Webhook-Timestamp": when,
        "UCP-Agent": f'profile="{PROFILE}"',
    }
    sig = hs.sign_request(
        method="POST",
        url=shop.settings.webhook_url,
        headers=headers,
        body=sign_body or body,
        private_key=shop.key,
        key_id="shop-1",
        created=datetime.now(UTC),
    )
    return {**headers, **sig.as_dict(), "X-Goog-Api-Key": API_KEY}


def created_body() -> bytes:
    (push,) = due_pushes(SquareOrder.from_square(square_order()), PushHistory(), CONFIG)
    return push.body


def test_a_tampered_body_is_rejected_as_the_spec_says(shop: Shop) -> None:
    body = created_body()
    tampered = body.replace(b'"price":1500', b'"price":1')
    answer = shop.raw_post(tampered, signed(shop, body, sign_body=body))
    assert answer.status_code == 400 and answer.json()["code"] == "digest_mismatch"
    headers = signed(shop, body)
    headers["Content-Digest"] = hs.content_digest(tampered)
    answer = shop.raw_post(tampered, headers)
    assert answer.status_code == 401 and answer.json()["code"] == "signature_invalid"
    stranger = hs.new_private_key()
    headers = signed(shop, body)
    headers.update(
        hs.sign_request(
            method="POST",
            url=shop.settings.webhook_url,
            headers=headers,
            body=body,
            private_key=stranger,
            key_id="other",
            created=datetime.now(UTC),
        ).as_dict()
    )
    answer = shop.raw_post(body, headers)
    assert answer.status_code == 401 and answer.json()["code"] == "key_not_found"
    assert shop.accepted("ord_1001") == []


def test_auth_profile_freshness_idempotency_and_schema_rules(shop: Shop) -> None:
    body = created_body()
    missing = {k: v for k, v in signed(shop, body).items() if k != "X-Goog-Api-Key"}
    assert shop.raw_post(body, missing).status_code == 403
    wrong = {**signed(shop, body), "X-Goog-Api-Key": "AIza" + "w" * 35}
    answer = shop.raw_post(body, wrong)
    assert answer.status_code == 400 and answer.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    untrusted = signed(shop, body)
    untrusted["UCP-Agent"] = 'profile="https://evil.example.com/.well-known/ucp"'
    assert shop.raw_post(body, untrusted).json()["code"] == "profile_unreachable"
    assert shop.raw_post(body, signed(shop, body)).status_code == 200
    # same Webhook-Id, another body
    other = body.replace(b'"chk_1001"', b'"chk_1002"')
    answer = shop.raw_post(other, signed(shop, other))
    assert answer.status_code == 409 and answer.json()["code"] == "webhook_id_conflict"
    # an update older than the last accepted one
    raw = split_into_parcels(square_order(), PARCEL_1)
    (ship,) = due_pushes(SquareOrder.from_square(raw), PushHistory(frozenset({"created"})), CONFIG)
    answer = shop.raw_post(ship.body, signed(shop, ship.body, ship.webhook_id, "2026-05-01T00:00:00Z"))
    assert answer.status_code == 409 and answer.json()["code"] == "stale_update"
    # not a valid order: no checkout_id
    invalid = json.loads(ship.body)
    del invalid["checkout_id"]
    data = json.dumps(invalid).encode()
    answer = shop.raw_post(data, signed(shop, data, ship.webhook_id, "2026-05-06T00:00:00Z"))
    assert answer.status_code == 400 and answer.json()["code"] == "invalid_order"
    # a Webhook-Id that names no event of the body
    answer = shop.raw_post(ship.body, signed(shop, ship.body, "evt_unknown", "2026-05-06T00:00:00Z"))
    assert answer.status_code == 400 and "Webhook-Id" in answer.json()["content"]
    assert shop.accepted("ord_1001") == ["ord_1001"]
