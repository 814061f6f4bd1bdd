"""The UCP webhook client against a scripted transport: headers, outcomes, retries, no key leaks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from sync.adapters.ucp_push_outcomes import PushResult, UcpConfigError
from sync.adapters.ucp_webhook_client import UcpWebhookClient
from sync.config import UcpSettings
from sync.domain.ucp import http_signatures as hs
from sync.logs import redact_text

URL = "https://shoppingdataintegration.googleapis.com/v1/webhooks/partners/1234567/events/order"
API_KEY = "AIza" + "x" * 35
BODY = b'{"id":"ord_1"}'
WHEN = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def client(answers: list, **settings) -> tuple[UcpWebhookClient, list[httpx.Request], object]:
    seen: list[httpx.Request] = []
    key = hs.new_private_key()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.Client(transport=httpx.MockTransport(handler))
    ucp = UcpSettings(webhook_url=URL, key_id="k1", **settings)
    return (
        UcpWebhookClient(ucp, api_key=API_KEY, private_key=key, http_client=http, sleep=lambda s: None),
        seen,
        key,
    )


def test_a_push_is_signed_and_carries_the_webhook_headers() -> None:
    ucp, seen, key = client([httpx.Response(200, json={"ucp": {"version": "2026-04-08"}})])
    outcome = ucp.push("ord_1", WHEN, BODY)
    assert outcome.result is PushResult.DELIVERED and outcome.attempts == 1
    (request,) = seen
    assert request.content == BODY and str(request.url) == URL  # no ?key= in the URL
    headers = dict(request.headers)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "ord_1" and headers["webhook-timestamp"] == "2026-05-04T10:00:00Z"
    assert headers["x-goog-api-key"] == API_KEY
    assert headers["ucp-agent"] == 'profile="https://shop.example.com/.well-known/ucp"'
    assert (
        hs.verify_request(
            method="POST", url=URL, headers=headers, body=BODY, keys={"k1": hs.public_jwk(key, "k1")}
        )
        == "k1"
    )


def test_unix_timestamps_when_configured() -> None:
    ucp, seen, _ = client([httpx.Response(204)], timestamp_format="unix")
    assert ucp.push("ord_1", WHEN, BODY).delivered
    assert seen[0].headers["webhook-timestamp"] == "1777888800"


def test_5xx_and_timeouts_are_retried_with_the_same_id_and_bytes() -> None:
    ucp, seen, _ = client(
        [httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200)], max_attempts=3
    )
    outcome = ucp.push("ord_1:shipped:p1", WHEN, BODY)
    assert outcome.result is PushResult.DELIVERED and outcome.attempts == 3
    assert {r.headers["webhook-id"] for r in seen} == {"ord_1:shipped:p1"} and {r.content for r in seen} == {
        BODY
    }


def test_out_of_attempts_is_a_retry_for_the_next_cycle() -> None:
    ucp, _seen, _ = client([httpx.Response(500), httpx.Response(502)], max_attempts=2)
    outcome = ucp.push("ord_1", WHEN, BODY)
    assert (outcome.result, outcome.status, outcome.attempts) == (PushResult.RETRY, 502, 2)


def test_4xx_is_rejected_with_googles_reason_and_not_retried() -> None:
    ucp_error = httpx.Response(401, json={"code": "signature_invalid", "content": "verification failed"})
    ucp, seen, _ = client([ucp_error], max_attempts=3)
    outcome = ucp.push("ord_1", WHEN, BODY)
    assert (outcome.result, outcome.status, outcome.reason) == (PushResult.REJECTED, 401, "signature_invalid")
    assert len(seen) == 1
    google_error = httpx.Response(
        400,
        json={
            "error": {
                "code": 400,
                "message": "API key not valid.",
                "status": "INVALID_ARGUMENT",
                "details": [{"reason": "API_KEY_INVALID"}],
            }
        },
    )
    ucp, _, _ = client([google_error])
    assert ucp.push("ord_1", WHEN, BODY).reason == "API_KEY_INVALID"


def test_the_api_key_is_required_and_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UcpConfigError, match="UCP_API_KEY"):
        UcpWebhookClient(UcpSettings(webhook_url=URL), api_key="", private_key=hs.new_private_key())
    ucp, _, _ = client([httpx.Response(503), httpx.Response(200)])
    with caplog.at_level(logging.DEBUG):
        ucp.push("ord_1", WHEN, BODY)
    assert API_KEY not in repr(ucp) and API_KEY not in caplog.text
    assert API_KEY not in redact_text(f"X-Goog-Api-Key: {API_KEY} url={URL}?key={API_KEY}")


def test_a_missing_signing_key_file_says_how_to_make_one(tmp_path) -> None:
    with pytest.raises(UcpConfigError, match="ordersync ucp keys"):
        UcpWebhookClient(
            UcpSettings(webhook_url=URL, signing_key_file=str(tmp_path / "none.pem")), api_key="k"
        )
