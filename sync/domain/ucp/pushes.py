"""Which UCP webhook pushes are due for an order, with their ids, timestamps and bodies. Pure.

Given a Square order and what was already pushed for it (the event keys, and the last
``Webhook-Timestamp`` sent), the due pushes are the lifecycle events not yet pushed, oldest
first, each carrying the full order as of that event. Deterministic: the same inputs give the same
``Webhook-Id``s, timestamps and body bytes, and an unchanged order gives nothing (an idle cycle
pushes nothing). Timestamps never go backwards: ``max(event time, previous + 1 s)``, because Google
rejects an update older than the latest one it holds and does not say what it does with an equal
one (spec §7).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from sync.domain.ucp.entity import (
    EventKind,
    LifecycleEvent,
    UcpOrderConfig,
    build_entity,
    lifecycle_events,
    serialize,
)
from sync.domain.ucp.square_order import SquareOrder

if TYPE_CHECKING:
    from ucp_sdk.models.schemas.shopping.order import Order

TimestampFormat = Literal["rfc3339", "unix"]
ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class PushHistory:
    """What the ledger knows was pushed for one order (recorded intents count, sent or not)."""

    pushed: frozenset[str] = frozenset()
    last_timestamp: datetime | None = None


@dataclass(frozen=True)
class DuePush:
    order_id: str
    event_key: str
    kind: EventKind
    webhook_id: str
    timestamp: datetime
    body: bytes = field(repr=False)
    entity: Order = field(repr=False, compare=False)


def webhook_timestamp(moment: datetime, fmt: TimestampFormat = "rfc3339") -> str:
    """The ``Webhook-Timestamp`` header value: RFC 3339 (Google's example) or unix seconds (UCP)."""
    moment = moment.astimezone(UTC)
    if fmt == "unix":
        return str(int(moment.timestamp()))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def due_pushes(order: SquareOrder, history: PushHistory, config: UcpOrderConfig) -> list[DuePush]:
    """The pushes still to make for ``order``, in the order they must be sent."""
    events = lifecycle_events(order, config)
    included: set[str] = set(history.pushed)
    last = history.last_timestamp
    due: list[DuePush] = []
    for event in events:
        if event.key in history.pushed:
            continue
        included.add(event.key)
        timestamp = _next_timestamp(event, last)
        entity = build_entity(order, config, frozenset(included))
        due.append(
            DuePush(
                order_id=order.id,
                event_key=event.key,
                kind=event.kind,
                webhook_id=event.event_id,
                timestamp=timestamp,
                body=serialize(entity),
                entity=entity,
            )
        )
        last = timestamp
    return due


def _next_timestamp(event: LifecycleEvent, last: datetime | None) -> datetime:
    moment = event.occurred_at.astimezone(UTC).replace(microsecond=0)
    if last is not None and moment <= last:
        moment = last.astimezone(UTC).replace(microsecond=0) + ONE_SECOND
    return moment


def pushed_keys(pushes: Collection[DuePush]) -> frozenset[str]:
    return frozenset(p.event_key for p in pushes)
