"""Customer returns on Google (``orderreturns``), as the ledger keeps them (issue 15 item 3).

The periodic Google read (steps/google_refunds.py) lists the returns created since its cursor and
keeps each order's returns under ``refunds.returns.<order id>`` (the latest copy of each return by
``orderReturnId``; the list's start date is inclusive, so a return seen twice replaces itself).
The Square -> Google step reads them to pair the store's Square returns with the customer's
(``refunds.returns``: matched, not refunded twice); reports read the open ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sync.domain.refunds.records import GoogleReturn, RefundDataError, google_return
from sync.logs import get_logger
from sync.service.ports import LedgerPort

log = get_logger(__name__)

RETURNS_CURSOR_KEY = "refunds.google.returns_since"


def _returns_key(order_id: str) -> str:
    return f"refunds.returns.{order_id}"


def google_returns_of(ledger: LedgerPort, order_id: str) -> tuple[GoogleReturn, ...]:
    raw = ledger.get_value(_returns_key(order_id)) or []
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(google_return(item))
        except RefundDataError as exc:  # kept as Google sent it; one garbled return is skipped
            log.warning("stored Google return unreadable; skipped", order=order_id, error=str(exc))
    return tuple(out)


def store_google_returns(ledger: LedgerPort, returns: Iterable[Mapping[str, Any]]) -> set[str]:
    """Keep these MerchantOrderReturns under their orders; the orders whose returns changed."""
    by_order: dict[str, dict[str, Mapping[str, Any]]] = {}
    for raw in returns:
        try:
            parsed = google_return(raw)
        except RefundDataError as exc:
            log.warning("Google return unreadable; skipped", error=str(exc))
            continue
        by_order.setdefault(parsed.order_id, {})[parsed.return_id] = raw
    changed: set[str] = set()
    for order_id, fresh in by_order.items():
        stored = ledger.get_value(_returns_key(order_id)) or []
        merged = {str(r.get("orderReturnId")): r for r in stored if isinstance(r, Mapping)}
        before = dict(merged)
        merged.update({k: dict(v) for k, v in fresh.items()})
        if merged != before:
            ledger.set_value(_returns_key(order_id), list(merged.values()))
            changed.add(order_id)
    return changed
