"""Errors raised by the Google gateway and the mapping from googleapiclient/HTTP failures to them.

Kept apart from the gateway so the service layer can import the exception types (and
``entry_error`` for custombatch entries) without pulling in googleapiclient's discovery machinery.
"""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

from googleapiclient.errors import HttpError

# Statuses worth another attempt: throttling and server-side trouble. 4xx validation errors are
# final — resending the same body cannot succeed.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Google signals per-user throttling as 403 with these reasons (googleapiclient retries them too).
RETRYABLE_403_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_BODY_SNIPPET = 200


class GoogleApiError(Exception):
    """A Content API call failed (HTTP error, transport failure, or an unusable response).

    ``status`` is the HTTP status, or 0 when no HTTP response was received (connection errors).
    ``reason`` is Google's machine-readable reason (``errors[0].reason``) or "" when absent.
    ``retry_after`` carries the server's Retry-After (seconds) when it sent one.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        retryable: bool,
        method: str,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, reason, message, retryable, method)
        self.status = status
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.method = method
        self.retry_after = retry_after

    @property
    def throttled(self) -> bool:
        """Google refused the rate (429, or 403 rate-limit reasons): the account should slow down."""
        return self.status == 429 or (self.status == 403 and self.reason in RETRYABLE_403_REASONS)

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no HTTP response"
        reason = f" {self.reason}" if self.reason else ""
        return f"{self.method}: {where}{reason}: {self.message}"


class GoogleCredentialsError(Exception):
    """Google credentials are missing, unusable or rejected; the message says what to set."""


def is_retryable(status: int, reason: str) -> bool:
    return status in RETRYABLE_STATUSES or (status == 403 and reason in RETRYABLE_403_REASONS)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After is either delta-seconds or an HTTP date; None when absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _snippet(content: bytes | str | None) -> str:
    if content is None:
        return ""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    text = " ".join(text.split())
    return text if len(text) <= _BODY_SNIPPET else text[:_BODY_SNIPPET] + "…"


def _reason_from_body(content: bytes | str | None) -> tuple[str, str, bool]:
    """(reason, message, is_google_json) read from a raw error body, tolerating any shape."""
    try:
        data = json.loads(content or b"")
    except (ValueError, TypeError):
        return "", "", False
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return "", "", False
    reason = ""
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = str(errors[0].get("reason") or "")
    message = error.get("message")
    return reason, message if isinstance(message, str) else "", True


def from_http_error(exc: HttpError, method: str) -> GoogleApiError:
    status = int(getattr(exc, "status_code", None) or exc.resp.status)
    reason = ""
    details = getattr(exc, "error_details", None)
    if isinstance(details, list) and details and isinstance(details[0], dict):
        reason = str(details[0].get("reason") or "")
    body_reason, body_message, is_google_json = _reason_from_body(exc.content)
    # When the body has both `details` and `errors`, googleapiclient exposes `details` (no reason
    # there); the legacy `errors[0].reason` is still the useful machine-readable code.
    reason = reason or body_reason
    message = (exc.reason or "").strip() or body_message
    if not is_google_json:
        # A proxy page, a truncated body, plain text: say so instead of just "Bad Gateway".
        snippet = _snippet(exc.content)
        message = f"{message or 'HTTP error'} (unexpected non-Google error body: {snippet!r})"
    retry_after = parse_retry_after(exc.resp.get("retry-after")) if exc.resp is not None else None
    return GoogleApiError(
        status, reason, message, is_retryable(status, reason), method, retry_after=retry_after
    )


def entry_error(
    resp_entry: dict[str, Any], method: str = "content.orders.custombatch"
) -> GoogleApiError | None:
    """Map one custombatch response entry's ``errors`` to a GoogleApiError (None when it succeeded).

    The batch call itself answers 200 even when entries fail; the caller decides what a failed
    entry means (e.g. a 409 ``duplicate`` may be fine, a 400 ``invalid`` is a bug in our payload).
    """
    errors = resp_entry.get("errors") if isinstance(resp_entry, dict) else None
    if not errors:
        return None
    if not isinstance(errors, dict):
        return GoogleApiError(
            0, "", f"unexpected errors value in batch entry: {errors!r:.200}", False, method
        )
    try:
        code = int(errors.get("code") or 0)
    except (TypeError, ValueError):
        code = 0
    inner = errors.get("errors")
    first = inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], dict) else {}
    reason = str(first.get("reason") or "")
    message = str(errors.get("message") or first.get("message") or "entry failed without a message")
    return GoogleApiError(code, reason, message, is_retryable(code, reason), method)
