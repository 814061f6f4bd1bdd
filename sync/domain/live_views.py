"""What Square says of the orders of Google's live channels, as the report checks them against
the ledger's intents (``domain.live_breaks``). Pure.

Whether a missing intent is a break depends on whether the google_live step has had its look at
the order: it walks Square by ``updated_at`` from a cursor (service/live_orders.py), its first
walk reaching back ``lookback_days``. ``StepWindow`` says which order versions that walk has
read: ``updated_at`` before the cursor (or at it, with the version it remembers there), and not
before the first walk's reach. The reach is taken as *now* minus the lookback: the first walk
began at or before that, so this never calls an order read that was not (it may leave out some
old ones it did read). With no cursor yet, nothing is decidable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.domain.live_breaks import SIGNAL_EVENT, Channel, ExpectedEvent, SquareView
from sync.domain.order_tracking import completely_shipped
from sync.domain.ucp.entity import EventKind, UcpMappingError, UcpOrderConfig, is_ucp_order, lifecycle_events
from sync.domain.ucp.square_order import SquareOrder, SquareOrderError, parse_time

# The UCP events a Square order alone shows (refunds need its payments: not read by the report).
CHECKED_KINDS = frozenset({EventKind.CREATED, EventKind.SHIPPED, EventKind.DELIVERED, EventKind.CANCELLATION})


@dataclass(frozen=True)
class StepWindow:
    """Which Square order versions the google_live step has read (module docstring)."""

    cursor_at: datetime | None = None
    seen: frozenset[tuple[str, int]] = frozenset()
    reach_start: datetime | None = None  # None: the whole history

    @classmethod
    def from_cursor(cls, cursor: Any, *, now: datetime, lookback_days: int | None) -> StepWindow:
        """``cursor``: the step's saved cursor (``{"at": ..., "seen": [[id, version], ...]}``) or
        None; ``lookback_days``: the larger of the enabled channels' (0: the whole history)."""
        reach = None if not lookback_days else now - timedelta(days=lookback_days)
        if not isinstance(cursor, Mapping) or not cursor.get("at"):
            return cls(reach_start=reach)
        try:
            at = parse_time(cursor["at"], "live cursor")
            seen = frozenset((str(i), int(v)) for i, v in cursor.get("seen") or [])
        except (SquareOrderError, TypeError, ValueError):
            # An unreadable cursor decides nothing; the step reports its own trouble with it.
            return cls(reach_start=reach)
        return cls(at, seen, reach)

    def in_reach(self, updated_at: datetime | None) -> bool:
        """Changed since the first walk's reach (so the step looks at it, now or next cycle)."""
        return self.reach_start is None or (updated_at is not None and updated_at >= self.reach_start)

    def has_read(self, order_id: str, version: int, updated_at: datetime) -> bool:
        if self.cursor_at is None:
            return False
        if self.reach_start is not None and updated_at < self.reach_start:
            return False
        return updated_at < self.cursor_at or (
            updated_at == self.cursor_at and (order_id, version) in self.seen
        )


@dataclass(frozen=True)
class Channels:
    """Which live channels are on ([ucp], [order_tracking], both only with [square])."""

    ucp: bool
    web: bool
    ucp_config: UcpOrderConfig


def square_view(raw: Mapping[str, Any], channels: Channels, window: StepWindow) -> SquareView | None:
    """The order as a live channel's SquareView, or None when it belongs to neither: a return
    order, a UCP order with [ucp] off, a non-SHIPMENT order, or (left to the caller, which knows
    the ledger) a Square order made for a Google Content API order."""
    if raw.get("returns"):
        return None  # a return order: its refund belongs to the sale order
    order_id = str(raw.get("id") or "")
    key = channels.ucp_config.checkout_id_metadata_key
    ucp = bool(str((raw.get("metadata") or {}).get(key) or "").strip())
    if not order_id or (ucp and not channels.ucp) or (not ucp and not channels.web):
        return None
    channel = Channel.UCP if ucp else Channel.WEB
    if channel == Channel.WEB and not any(
        str(f.get("type") or "SHIPMENT") == "SHIPMENT" for f in raw.get("fulfillments") or []
    ):
        return None  # a counter sale or pickup: not a web-shop order (and not parsed at all)
    try:
        order = SquareOrder.from_square(raw)
    except SquareOrderError as exc:
        return SquareView(order_id, channel, "", None, problem=str(exc))
    shipments = [f for f in order.fulfilments if f.type == "SHIPMENT"]
    if channel == Channel.WEB and not shipments:
        return None
    decidable = window.has_read(order.id, int(raw.get("version") or 0), order.updated_at)
    expected: tuple[ExpectedEvent, ...] = ()
    problem = ""
    if channel == Channel.UCP and is_ucp_order(order, channels.ucp_config):
        try:
            events = lifecycle_events(order, channels.ucp_config)
        except UcpMappingError as exc:
            problem = str(exc)
        else:
            expected = tuple(ExpectedEvent(e.key, e.occurred_at) for e in events if e.kind in CHECKED_KINDS)
    elif channel == Channel.WEB and completely_shipped(order):
        shipped = [f.shipped_at for f in shipments if f.shipped and f.shipped_at is not None]
        expected = (ExpectedEvent(SIGNAL_EVENT, max(shipped, default=order.updated_at)),)
    live = [f for f in shipments if f.state not in ("CANCELED", "FAILED")]
    return SquareView(
        order_id=order.id,
        channel=channel,
        state=order.state,
        updated_at=order.updated_at,
        parcels=len(live),
        parcels_shipped=sum(1 for f in live if f.shipped),
        parcels_delivered=sum(1 for f in live if f.delivered_at is not None),
        currency=order.currency,
        expected=expected,
        decidable=decidable,
        problem=problem,
    )


def relevant(view: SquareView, window: StepWindow, *, has_intents: bool) -> bool:
    """Whether the order gets a row: it has intents, or it is in the step's reach and should
    have some (a UCP order: always, from "created" on; a web-shop order: once completely shipped;
    an unreadable UCP order: to say so)."""
    if has_intents:
        return True
    if view.problem:
        return view.channel == Channel.UCP
    if not window.in_reach(view.updated_at):
        return False
    return view.channel == Channel.UCP or bool(view.expected)


def reference_of(raw: Mapping[str, Any]) -> str:
    """Square's ``reference_id``: a Google Content API order's id when ordersync made the order."""
    return str(raw.get("reference_id") or "")
