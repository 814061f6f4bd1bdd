"""Customer returns on Google (``orderreturns``), as the ledger keeps them (issue 15 item 3).

The periodic Google read (steps/google_refunds.py) lists the returns created since its cursor and
keeps each order's returns under ``refunds.returns.<order id>`` (the latest copy of each return by
``orderReturnId``; the list's start date is inclusive, so a return seen twice replaces itself).
Before the Square -> Google step decides itemized refunds it refreshes them (``refresh_returns``):
the returns created since the cursor, and each stored return of those orders still open in our
copy read again by id (Google may have refunded or rejected it since: pairing with a stale
``new`` unit could refund a unit Google already refunded). It pairs the store's Square returns
with the customer's (``refunds.returns``: matched, not refunded twice). The periodic read lists
from the oldest return still open in our copy, so the copy follows Google (the report's open
returns are read from it: report_returns.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sync.adapters.google_errors import GoogleApiError
from sync.domain.orders import parse_datetime
from sync.domain.refunds.records import GoogleReturn, RefundDataError, google_return
from sync.logs import get_logger
from sync.service.ports import LedgerPort, Marketplace

log = get_logger(__name__)

RETURNS_CURSOR_KEY = "refunds.google.returns_since"
RETURNS_PREFIX = "refunds.returns."  # + the Google order id: that order's returns


def _returns_key(order_id: str) -> str:
    return f"{RETURNS_PREFIX}{order_id}"


def _earlier(a: str, b: str) -> bool:
    try:
        return parse_datetime(a) < parse_datetime(b)
    except ValueError:
        return False


def _parsed_returns(order_id: str, raw: Any) -> tuple[GoogleReturn, ...]:
    """One order's stored returns, parsed (kept as Google sent them; a garbled one is skipped)."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(google_return(item))
        except RefundDataError as exc:
            log.warning("stored Google return unreadable; skipped", order=order_id, error=str(exc))
    return tuple(out)


def google_returns_of(ledger: LedgerPort, order_id: str) -> tuple[GoogleReturn, ...]:
    return _parsed_returns(order_id, ledger.get_value(_returns_key(order_id)))


def stored_returns(ledger: LedgerPort) -> dict[str, tuple[GoogleReturn, ...]]:
    """Every order's stored returns, by Google order id."""
    return {
        key[len(RETURNS_PREFIX) :]: _parsed_returns(key[len(RETURNS_PREFIX) :], raw)
        for key, raw in ledger.values_with_prefix(RETURNS_PREFIX).items()
    }


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


def oldest_open_return(ledger: LedgerPort) -> str | None:
    """creationDate of the oldest stored return our copy shows open (None: none is)."""
    oldest: tuple[datetime, str] | None = None
    for order_id, returns in stored_returns(ledger).items():
        for ret in returns:
            try:
                when = parse_datetime(ret.created)
            except ValueError:
                log.warning("stored Google return has no readable creationDate; skipped", order=order_id)
                continue
            if any(i.is_open for i in ret.items) and (oldest is None or when < oldest[0]):
                oldest = (when, ret.created)
    return oldest[1] if oldest else None


def pull_new_returns(ledger: LedgerPort, google: Marketplace, *, reread_open: bool = False) -> set[str]:
    """``orderreturns.list`` from the cursor (inclusive): stored; the orders whose returns changed.
    ``reread_open`` (the periodic read): from the oldest return our copy shows open instead, when
    that is earlier, so what became of it (refunded, rejected, canceled in Merchant Center or by
    Google, a shipment on its way) reaches the ledger and the report without a call per return."""
    since = ledger.get_value(RETURNS_CURSOR_KEY)
    start = since
    if reread_open:
        oldest = oldest_open_return(ledger)
        if oldest is not None and (since is None or _earlier(oldest, since)):
            start = oldest
    listed = list(google.iter_order_returns(created_start=start))
    newest = max([since or "", *(str(r.get("creationDate") or "") for r in listed)]) or None
    with ledger.transaction():
        changed = store_google_returns(ledger, listed)
        if newest and newest != since:
            ledger.set_value(RETURNS_CURSOR_KEY, newest)
    return changed


def refresh_returns(ledger: LedgerPort, google: Marketplace, order_ids: Iterable[str]) -> bool:
    """New returns, and the open ones of these orders re-read by id; False when Google could not be
    read (the caller decides nothing that depends on them this cycle)."""
    try:
        pull_new_returns(ledger, google)
        fresh = [
            google.get_order_return(ret.return_id)
            for order_id in sorted(set(order_ids))
            for ret in google_returns_of(ledger, order_id)
            if any(item.is_open for item in ret.items)
        ]
    except GoogleApiError as exc:
        log.warning("could not read Google's customer returns", error=str(exc))
        return False
    store_google_returns(ledger, fresh)
    return True
