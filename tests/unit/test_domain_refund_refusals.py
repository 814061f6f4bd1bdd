"""What a turned-down refund means (sync.domain.refunds.refusals)."""

from __future__ import annotations

from sync.domain.refunds.refusals import (
    Disposition,
    google_refusal,
    square_refund_outcome,
    square_refusal,
)
from tests.unit.refund_fixtures import refund


def test_square_refusals_retry_only_what_says_nothing_about_the_request() -> None:
    assert square_refusal(400, "REFUND_ALREADY_PENDING", "pending").disposition is Disposition.RETRY
    assert square_refusal(503, "SERVICE_UNAVAILABLE", "down").disposition is Disposition.RETRY
    assert square_refusal(None, "TRANSPORT_ERROR", "reset").disposition is Disposition.RETRY
    assert square_refusal(429, "RATE_LIMITED", "slow").disposition is Disposition.RETRY
    assert square_refusal(401, "UNAUTHORIZED", "token").disposition is Disposition.OUTAGE
    assert square_refusal(403, "INSUFFICIENT_SCOPES", "scope").disposition is Disposition.OUTAGE
    too_much = square_refusal(400, "REFUND_AMOUNT_INVALID", "The requested refund amount exceeds ...")
    assert too_much.disposition is Disposition.FAILED and too_much.code == "REFUND_AMOUNT_INVALID"
    assert "exceeds" in too_much.reason and "compare both sides" in too_much.reason
    assert square_refusal(400, "VERSION_MISMATCH", "stale").disposition is Disposition.FAILED
    assert square_refusal(400, "SOMETHING_NEW", "odd").reason == "Square SOMETHING_NEW: odd"


def test_a_refund_square_answered_with_stands_unless_rejected_or_failed() -> None:
    assert square_refund_outcome(refund(500)) is None
    assert square_refund_outcome(refund(500, status="PENDING")) is None
    failed = square_refund_outcome(refund(500, status="FAILED"))
    assert failed is not None and failed.disposition is Disposition.FAILED and "no further" in failed.reason
    rejected = square_refund_outcome(refund(500, status="REJECTED"))
    assert rejected is not None and rejected.code == "REJECTED"


def test_google_refusals() -> None:
    assert google_refusal(503, "backendError", "down", retryable=True).disposition is Disposition.RETRY
    assert google_refusal(0, "", "no answer").disposition is Disposition.RETRY
    assert google_refusal(401, "authError", "token").disposition is Disposition.OUTAGE
    failed = google_refusal(400, "invalid", "Refund of 60.00 exceeds the remaining order amount 48.57.")
    assert failed.disposition is Disposition.FAILED and failed.code == "invalid"
    assert failed.reason == "Google 400 invalid: Refund of 60.00 exceeds the remaining order amount 48.57."
