"""UCP pushes as outbox intents, and back. Pure.

A due push is recorded *before* it is sent, with everything a resend needs: the ``Webhook-Id``
(the intent's key), the ``Webhook-Timestamp`` and the exact body bytes (UTF-8 JSON, kept as
text in the intent's JSON payload, with their SHA-256 so a damaged payload is refused rather
than sent). A retry, next cycle or after a ``kill -9``, resends these stored values, never a
rebuilt body. The intents already recorded for an order are its ``PushHistory``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync.domain.intents import Intent, IntentRecord, Target
from sync.domain.ucp.pushes import DuePush, PushHistory

UCP_PUSH = "ucp.push"  # the intent kind: one signed order webhook


class StoredPushError(ValueError):
    """A recorded push whose payload cannot be sent as it was recorded."""


@dataclass(frozen=True)
class StoredPush:
    """A push as the ledger holds it: what every attempt sends."""

    order_id: str
    event_key: str
    kind: str
    webhook_id: str
    timestamp: datetime
    body: bytes = field(repr=False)


def push_intent(push: DuePush) -> Intent:
    text = push.body.decode("utf-8")
    return Intent(
        push.order_id,
        Target.UCP,
        UCP_PUSH,
        push.webhook_id,
        {
            "event_key": push.event_key,
            "kind": str(push.kind),
            "webhook_id": push.webhook_id,
            "timestamp": push.timestamp.astimezone(UTC).isoformat(),
            "body": text,
            "body_sha256": hashlib.sha256(push.body).hexdigest(),
        },
    )


def stored_push(record: IntentRecord) -> StoredPush:
    """The recorded push (StoredPushError when its payload is not what ``push_intent`` wrote)."""
    payload: Mapping[str, Any] = record.payload
    try:
        body = str(payload["body"]).encode("utf-8")
        timestamp = datetime.fromisoformat(str(payload["timestamp"]))
        digest = str(payload["body_sha256"])
        push = StoredPush(
            record.order_id,
            str(payload["event_key"]),
            str(payload["kind"]),
            str(payload["webhook_id"]),
            timestamp,
            body,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise StoredPushError(
            f"UCP push {record.key} of order {record.order_id}: bad payload ({exc})"
        ) from None
    if hashlib.sha256(body).hexdigest() != digest:
        raise StoredPushError(
            f"UCP push {record.key} of order {record.order_id}: body does not match its digest"
        )
    if push.webhook_id != record.key or timestamp.tzinfo is None:
        raise StoredPushError(
            f"UCP push {record.key} of order {record.order_id}: payload does not match its key"
        )
    return push


def push_history(records: Iterable[IntentRecord]) -> PushHistory:
    """What was recorded for one order (sent or not, failed included): its event keys and the
    latest timestamp, so new pushes never go back in time."""
    keys: set[str] = set()
    last: datetime | None = None
    for record in records:
        if record.target != Target.UCP or record.kind != UCP_PUSH:
            continue
        push = stored_push(record)
        keys.add(push.event_key)
        last = push.timestamp if last is None else max(last, push.timestamp)
    return PushHistory(frozenset(keys), last)
