"""A Google or Square failure that outlasted the retries, as an ``Outage`` (exit 69): the message
names the service, its host:port and URL, the error, and what the operator should check."""

from __future__ import annotations

from sync.adapters.google_errors import GoogleApiError
from sync.adapters.square_errors import SquareApiError
from sync.exit_codes import Outage

GOOGLE = "Google Content API"
SQUARE = "Square"
RESENT = "work already recorded is resent next cycle"


def google_outage(url: str, exc: GoogleApiError, merchant_id: str) -> Outage:
    if exc.status == 0:
        check = (
            "check that this machine reaches it (network, DNS, firewall, proxy) and that [google] "
            f"endpoint is right; {RESENT}"
        )
    elif exc.status in (401, 403) and not exc.retryable:
        check = (
            "Google refused us: check that the service account in GOOGLE_APPLICATION_CREDENTIALS has "
            f"access to Merchant Center account {merchant_id} ([google] merchant_id)"
        )
    elif exc.reason == "invalidResponse":
        check = (
            f"the answer is not the Content API's: check [google] endpoint and any proxy in between; {RESENT}"
        )
    elif exc.retryable:
        check = f"Google kept failing or throttling after every retry; it usually passes; {RESENT}"
    else:
        check = (
            f"Google refused the request: check [google] merchant_id ({merchant_id}) and endpoint; {RESENT}"
        )
    return Outage(GOOGLE, url, str(exc), check)


def square_outage(url: str, exc: SquareApiError) -> Outage:
    if exc.status is None:
        check = "check that this machine reaches it (network, DNS, firewall, proxy) and [square] endpoint"
    elif exc.status in (401, 403):
        check = (
            "Square refused us: check the permissions of the token in SQUARE_ACCESS_TOKEN "
            "(orders and payments) and [square] location_id"
        )
    elif exc.retryable:
        check = "Square kept failing or throttling after every retry; it usually passes"
    else:
        check = "Square refused the request: check [square] endpoint and location_id"
    return Outage(
        SQUARE, url, str(exc), f"{check}; Google work is kept and the Square step resumes next cycle"
    )
