"""UCP order webhooks to Google: one signed POST per push, with a plain outcome for the outbox.

``push(webhook_id, timestamp, body)`` sends the stored body bytes unchanged (the caller produced
them once and keeps them, so every retry is byte-identical), signs each attempt afresh (RFC 9421,
ES256: ``Content-Digest``, ``Signature-Input``, ``Signature``), and answers:

* ``delivered`` — any 2xx;
* ``retry`` — 5xx, 429, a timeout or a lost response after ``max_attempts`` tries: resend later
  with the same ``Webhook-Id`` and body (Google de-duplicates on the id);
* ``rejected`` — any other 4xx, with Google's reason; never retried blindly.

Retrying inside a call is safe for exactly that reason (same id, same bytes). The API key comes
from env ``UCP_API_KEY`` and travels only in ``X-Goog-Api-Key``: never in the URL, a log line, an
exception or the outcome.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from sync.adapters.ucp_push_outcomes import PushOutcome, PushResult, UcpConfigError
from sync.config import UcpSettings
from sync.domain.ucp import http_signatures
from sync.domain.ucp.pushes import webhook_timestamp

API_KEY_ENV = "UCP_API_KEY"
CONTENT_TYPE = "application/json"  # signed exactly: no "; charset=" may be appended
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_DETAIL_MAX = 300

log = logging.getLogger(__name__)


def load_signing_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise UcpConfigError(
            f"[ucp] signing_key_file {str(p)!r} not found; create one with `ordersync ucp keys --out {p}`"
        ) from None
    except OSError as exc:
        raise UcpConfigError(f"[ucp] signing_key_file {str(p)!r}: cannot read it ({exc.strerror})") from None
    try:
        return http_signatures.private_key_from_pem(data)
    except (ValueError, TypeError):
        raise UcpConfigError(f"[ucp] signing_key_file {str(p)!r} is not a P-256 private key (PEM)") from None


def _reason(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from a UCP error ``{"code","content"}`` or a Google error body."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"http_{response.status_code}", response.text[:_DETAIL_MAX]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        errors = error.get("errors") or [{}]
        details = [d for d in error.get("details") or [] if isinstance(d, dict) and d.get("reason")]
        code = (details[0]["reason"] if details else None) or errors[0].get("reason") or error.get("status")
        return str(code or f"http_{response.status_code}"), str(error.get("message") or "")[:_DETAIL_MAX]
    if isinstance(body, dict) and body.get("code"):
        return str(body["code"]), str(body.get("content") or body.get("message") or "")[:_DETAIL_MAX]
    if isinstance(body, dict) and isinstance(body.get("messages"), list) and body["messages"]:
        first = body["messages"][0] if isinstance(body["messages"][0], dict) else {}
        return str(first.get("code") or f"http_{response.status_code}"), str(first.get("content") or "")
    return f"http_{response.status_code}", json.dumps(body)[:_DETAIL_MAX]


class UcpWebhookClient:
    def __init__(
        self,
        settings: UcpSettings,
        *,
        api_key: str | None = None,
        private_key: ec.EllipticCurvePrivateKey | None = None,
        http_client: httpx.Client | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_seconds: float = 1.0,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not key.strip():
            raise UcpConfigError(
                f"{API_KEY_ENV} is not set: export the API key Google issued for UCP webhooks"
            )
        self.settings = settings
        self._api_key = key.strip()
        self._private_key = private_key or load_signing_key(settings.signing_key_file)
        self._http = http_client or httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False)
        self._owns_http = http_client is None
        self._clock = clock
        self._sleep = sleep
        self._backoff_base = backoff_base_seconds
        self.calls = 0

    def __repr__(self) -> str:  # never the API key
        return f"UcpWebhookClient(webhook_url={self.settings.webhook_url!r}, key_id={self.settings.key_id!r})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> UcpWebhookClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def headers(self, webhook_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
        """Every header of one attempt, signed now."""
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Webhook-Id": webhook_id,
            "Webhook-Timestamp": webhook_timestamp(timestamp, self.settings.timestamp_format),
            "UCP-Agent": f'profile="{self.settings.profile_url}"',
        }
        signed = http_signatures.sign_request(
            method="POST",
            url=self.settings.webhook_url,
            headers=headers,
            body=body,
            private_key=self._private_key,
            key_id=self.settings.key_id,
            created=self._clock(),
        )
        return {**headers, **signed.as_dict(), "X-Goog-Api-Key": self._api_key}

    def _attempt(self, webhook_id: str, timestamp: datetime, body: bytes) -> PushOutcome:
        self.calls += 1
        try:
            response = self._http.post(
                self.settings.webhook_url,
                content=body,
                headers=self.headers(webhook_id, timestamp, body),
                timeout=self.settings.timeout_seconds,
            )
        except httpx.TimeoutException:
            return PushOutcome(PushResult.RETRY, None, "timeout", "no answer within the timeout")
        except httpx.TransportError as exc:
            # Sent or not, a resend is harmless: same Webhook-Id, same bytes.
            return PushOutcome(PushResult.RETRY, None, "transport_error", type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return PushOutcome(PushResult.DELIVERED, status)
        code, message = _reason(response)
        result = PushResult.RETRY if status in RETRYABLE_STATUSES or status >= 500 else PushResult.REJECTED
        return PushOutcome(result, status, code, message.replace(self._api_key, "[redacted]"))

    def _wait(self, state: RetryCallState) -> float:
        return float(
            wait_random_exponential(multiplier=self._backoff_base, max=self.settings.max_backoff_seconds)(
                state
            )
        )

    def push(self, webhook_id: str, timestamp: datetime, body: bytes) -> PushOutcome:
        """Send one push (``body`` exactly as stored); retries 5xx/429/timeouts up to max_attempts."""
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_result(lambda outcome: outcome.result is PushResult.RETRY),
            sleep=self._sleep,
            # Out of attempts: hand back the last outcome (a "retry" for the next cycle).
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            before_sleep=lambda s: log.warning(
                "ucp push %s attempt %d: %s %s, retrying",
                webhook_id,
                s.attempt_number,
                s.outcome.result().status if s.outcome else "?",
                s.outcome.result().reason if s.outcome else "",
            ),
        )
        attempts = 0

        def attempt() -> PushOutcome:
            nonlocal attempts
            attempts += 1
            return self._attempt(webhook_id, timestamp, body)

        outcome: PushOutcome = retrying(attempt)
        return PushOutcome(outcome.result, outcome.status, outcome.reason, outcome.detail, attempts)
