"""Google's live channels in the report (issue 16): UCP order webhooks and order tracking signals,
per Square order, and their breaks. Pure, over typed records (a shop has few such orders next to
its Google orders, so no vectorised frames here).

Google offers no read-back for either channel (ucp-order-lifecycle.md §10): what Google accepted
is what the ledger recorded as accepted (a 2xx, or ALREADY_EXISTS for a signal). The rules:

- ``live_push_refused`` (high): Google refused a push or signal for good (a 4xx); it is never
  resent, so Google's view of the order stays behind until the cause is fixed.
- ``live_push_pending_past_sla`` (high): recorded more than ``[reports] live_push_sla_hours`` ago
  and still not accepted (5xx, timeouts, lost answers, or held behind such a push).
- ``live_event_not_recorded`` (high): Square shows an event (a UCP order created, a parcel shipped
  or delivered, the order canceled; a web-shop order completely shipped) with no intent for it,
  although the google_live step has read that version of the order (``SquareView.decidable``)
  and Square's change is older than the SLA. Refunds/returns are not checked here: telling them
  needs a payment read per order, which the report does not make.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sync.domain.intents import IntentState, Target

CATEGORIES = ("live_push_refused", "live_push_pending_past_sla", "live_event_not_recorded")
SEVERITY = "high"  # Google's view of the order is wrong or behind, and it will not heal by itself
SIGNAL_EVENT = "signal"  # the one order tracking signal of a web-shop order
ERROR_CHARS = 200  # of Google's error text in a row or break (its reason code is kept whole)


class Channel(StrEnum):
    UCP = "ucp"  # a UCP checkout order: lifecycle webhooks
    WEB = "web"  # a web-shop order: one order tracking signal


def channel_of(target: Target) -> Channel:
    return Channel.UCP if target == Target.UCP else Channel.WEB


@dataclass(frozen=True, slots=True)
class LiveIntent:
    """A live-channel intent as the report reads it from the ledger (no payload: the push bodies
    carry the buyer's address, and the event is in the key)."""

    order_id: str  # the Square order id (the UCP order id Google knows)
    target: Target  # UCP or ORDER_TRACKING
    key: str  # Webhook-Id (UCP) or ``ordertracking:<order id>``
    state: IntentState
    attempts: int
    last_error: str | None
    error_reason: str | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None

    @property
    def event(self) -> str:
        """The event key as domain.ucp.entity names it (created, shipped:<uid>, canceled, ...),
        ``signal`` for an order tracking signal. A UCP Webhook-Id is ``<order id>`` for
        "created", else ``<order id>:<event key>``."""
        if self.target != Target.UCP:
            return SIGNAL_EVENT
        if self.key == self.order_id:
            return "created"
        prefix = f"{self.order_id}:"
        return self.key[len(prefix) :] if self.key.startswith(prefix) else self.key

    @property
    def failed_once(self) -> bool:
        """Tried and not accepted (a push merely held behind an undelivered one was not tried)."""
        return self.state != IntentState.DONE and self.attempts > 0 and self.error_reason != "held"


@dataclass(frozen=True, slots=True)
class ExpectedEvent:
    key: str  # as LiveIntent.event
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class SquareView:
    """What Square says of one order of a live channel (no customer data)."""

    order_id: str
    channel: Channel
    state: str  # Square's OPEN / COMPLETED / CANCELED, "" when unreadable
    updated_at: datetime | None
    parcels: int = 0  # SHIPMENT fulfilments not canceled
    parcels_shipped: int = 0
    parcels_delivered: int = 0
    refunded_minor: int | None = None  # completed refunds, as the OMS view counts them
    currency: str = ""
    expected: tuple[ExpectedEvent, ...] = ()  # the events the report can check against intents
    decidable: bool = False  # the google_live step has read this version of the order
    problem: str = ""  # why the order could not be read as the step reads it


@dataclass(frozen=True, slots=True)
class LiveRow:
    """One row of live_orders.csv."""

    square_order_id: str
    channel: Channel
    square_state: str
    parcels: int | None
    parcels_shipped: int | None
    parcels_delivered: int | None
    refunded_minor: int | None
    currency: str
    events_recorded: int
    events_accepted: int
    events_pending: int
    events_refused: int
    last_accepted_event: str
    last_accepted_at: datetime | None
    first_failure_at: datetime | None
    failure_reason: str
    missing_events: str  # Square events with no intent (space separated), decidable ones only
    note: str


@dataclass(frozen=True, slots=True)
class LiveBreak:
    order_id: str
    category: str
    severity: str
    detail: str
    age_hours: float | None


@dataclass(frozen=True, slots=True)
class ChannelCounts:
    """The page's and summary's figures for one channel."""

    channel: Channel
    orders: int = 0
    accepted: int = 0
    pending: int = 0
    refused: int = 0
    breaks: int = 0


@dataclass(frozen=True, slots=True)
class LiveFindings:
    rows: tuple[LiveRow, ...]
    breaks: tuple[LiveBreak, ...]

    def counts(self) -> tuple[ChannelCounts, ...]:
        broken = {(b.order_id, b.category) for b in self.breaks}
        by_order: dict[str, int] = {}
        for order_id, _ in broken:
            by_order[order_id] = by_order.get(order_id, 0) + 1
        out = []
        for channel in Channel:
            rows = [r for r in self.rows if r.channel == channel]
            out.append(
                ChannelCounts(
                    channel,
                    orders=len(rows),
                    accepted=sum(r.events_accepted for r in rows),
                    pending=sum(r.events_pending for r in rows),
                    refused=sum(r.events_refused for r in rows),
                    breaks=sum(by_order.get(r.square_order_id, 0) for r in rows),
                )
            )
        return tuple(out)


def _hours(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max((now - then).total_seconds() / 3600, 0.0)


def _error(intent: LiveIntent) -> str:
    reason = intent.error_reason or "no reason given"
    text = " ".join((intent.last_error or "").split())
    if len(text) > ERROR_CHARS:
        text = text[: ERROR_CHARS - 3] + "..."
    return f"{reason}: {text}" if text else reason


def _what(intent: LiveIntent) -> str:
    if intent.target == Target.UCP:
        return f"UCP push {intent.event} (Webhook-Id {intent.key})"
    return "order tracking signal"


def reconcile_live(
    views: Iterable[SquareView],
    intents: Iterable[LiveIntent],
    *,
    now: datetime,
    sla_hours: float,
) -> LiveFindings:
    """One row per order that has live intents or a SquareView, and the breaks (module docstring).
    Rows: UCP orders first, then web-shop orders, each by order id."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    by_order: dict[str, list[LiveIntent]] = {}
    for intent in intents:
        by_order.setdefault(intent.order_id, []).append(intent)
    seen: Mapping[str, SquareView] = {v.order_id: v for v in views}
    ids = sorted(set(by_order) | set(seen))
    rows: list[LiveRow] = []
    breaks: list[LiveBreak] = []
    for order_id in ids:
        mine = by_order.get(order_id, [])
        view = seen.get(order_id)
        row, found = _order(order_id, view, mine, now=now, sla_hours=sla_hours)
        rows.append(row)
        breaks.extend(found)
    rows.sort(key=lambda r: (list(Channel).index(r.channel), r.square_order_id))
    return LiveFindings(tuple(rows), tuple(breaks))


def _order(
    order_id: str,
    view: SquareView | None,
    intents: list[LiveIntent],
    *,
    now: datetime,
    sla_hours: float,
) -> tuple[LiveRow, list[LiveBreak]]:
    breaks: list[LiveBreak] = []
    accepted = [i for i in intents if i.state == IntentState.DONE]
    pending = [i for i in intents if i.state == IntentState.PENDING]
    refused = [i for i in intents if i.state == IntentState.FAILED]
    for intent in refused:
        breaks.append(
            LiveBreak(
                order_id,
                "live_push_refused",
                SEVERITY,
                f"{_what(intent)} refused by Google ({_error(intent)}) - never resent: fix the cause "
                "(an API key, signing key or profile: [ucp] / [order_tracking] and `ordersync doctor`; "
                "the order's data: in Square); Google's view of this order stays behind until then.",
                _hours(now, intent.updated_at),
            )
        )
    for intent in pending:
        age = _hours(now, intent.created_at)
        if age is None or age <= sla_hours:
            continue
        last = f" (last answer: {_error(intent)})" if intent.attempts else " (not sent yet)"
        breaks.append(
            LiveBreak(
                order_id,
                "live_push_pending_past_sla",
                SEVERITY,
                f"{_what(intent)} recorded {age:.1f} h ago and not accepted by Google after "
                f"{intent.attempts} attempt(s){last} - resent every cycle with the same id and bytes; "
                "if it does not clear, check Google's endpoint and `ordersync doctor`.",
                age,
            )
        )
    recorded = {i.event for i in intents}
    missing: list[ExpectedEvent] = []
    if view is not None and view.decidable:
        missing = [e for e in view.expected if e.key not in recorded]
        changed = _hours(now, view.updated_at)
        if missing and changed is not None and changed > sla_hours:
            channel = "UCP order" if view.channel == Channel.UCP else "web-shop order"
            keys = ", ".join(e.key for e in missing)
            oldest = min(e.occurred_at for e in missing)
            breaks.append(
                LiveBreak(
                    order_id,
                    "live_event_not_recorded",
                    SEVERITY,
                    f"Square shows {keys} for this {channel} but nothing was recorded for Google "
                    f"although the sync read this version of the order {changed:.1f} h ago - the "
                    "sync refused it (its log says why: 'Square order not reported to Google') or "
                    "the channel was off then; fix the order in Square (a change makes the sync "
                    "read it again).",
                    _hours(now, oldest),
                )
            )
    last_ok = max(accepted, key=lambda i: (i.done_at or i.updated_at, i.key), default=None)
    failing = [i for i in intents if i.failed_once]
    newest_failure = max(failing, key=lambda i: (i.updated_at, i.key), default=None)
    row = LiveRow(
        square_order_id=order_id,
        channel=view.channel if view is not None else channel_of(intents[0].target),
        square_state=view.state if view is not None else "",
        parcels=view.parcels if view is not None and view.state else None,
        parcels_shipped=view.parcels_shipped if view is not None and view.state else None,
        parcels_delivered=view.parcels_delivered if view is not None and view.state else None,
        refunded_minor=view.refunded_minor if view is not None else None,
        currency=view.currency if view is not None else "",
        events_recorded=len(intents),
        events_accepted=len(accepted),
        events_pending=len(pending),
        events_refused=len(refused),
        last_accepted_event=last_ok.event if last_ok is not None else "",
        last_accepted_at=(last_ok.done_at or last_ok.updated_at) if last_ok is not None else None,
        # Intents are sent in the cycle that records them, so the first failed try is (to the
        # second) when the oldest failing one was recorded; the ledger keeps no earlier stamp.
        first_failure_at=min((i.created_at for i in failing), default=None),
        failure_reason=_error(newest_failure) if newest_failure is not None else "",
        missing_events=" ".join(e.key for e in missing),
        note=_note(view),
    )
    return row, breaks


def _note(view: SquareView | None) -> str:
    if view is None:
        return "not among Square's orders of the location"
    if view.problem:
        return f"not readable as the sync reads it: {view.problem}"
    if not view.decidable:
        return "not read by the sync in this version yet (or before its first cycle's reach)"
    return ""
