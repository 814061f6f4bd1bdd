"""Delivered parcels of UCP orders, from carrier delivery scans. Pure.

Square has no delivered state, and once every fulfilment of a paid order is COMPLETED Square
completes the order and refuses any further update, so a parcel's delivery cannot be written to
the Square order itself. Google makes the ``delivered`` event mandatory; it comes from delivery
scan files (``[ucp] deliveries``: CSVs in the shipments feed's columns, one row per delivered
parcel: ``order_id`` = the Square order id, ``tracking_id``, ``delivered_at``), matched to the
parcels ordersync already pushed as shipped by tracking number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sync.domain.feed import FeedFile
from sync.domain.intents import IntentRecord
from sync.domain.operations import tracking_key
from sync.domain.ucp.intents import UCP_PUSH, stored_push
from sync.domain.ucp.square_order import SquareOrderError, parse_time

# A delivery scan: (Square order id, tracking key) -> delivered at.
Scans = dict[tuple[str, str], datetime]


def delivery_scans(files: Iterable[FeedFile]) -> Scans:
    """Every row with an order id, a tracking id and a readable ``delivered_at`` (the earliest
    scan of a parcel wins); other rows are not delivery scans and are left alone."""
    scans: Scans = {}
    for feed in files:
        for _line, row in feed.rows:
            order_id = (row.get("order_id") or "").strip()
            tracking = tracking_key(row.get("tracking_id") or "")
            if not order_id or not tracking or not (row.get("delivered_at") or "").strip():
                continue
            try:
                at = parse_time(row["delivered_at"], "delivered_at")
            except SquareOrderError:
                continue
            key = (order_id, tracking)
            scans[key] = min(scans.get(key, at), at)
    return scans


def shipped_parcels(records: Iterable[IntentRecord]) -> dict[str, str]:
    """tracking key -> fulfilment uid of the parcels pushed (recorded) as shipped for one order,
    read from the recorded bodies (the ``shipped`` event's id ends with ``:shipped:<uid>``)."""
    parcels: dict[str, str] = {}
    for record in records:
        if record.kind != UCP_PUSH or not str(record.payload.get("event_key", "")).startswith("shipped:"):
            continue
        push = stored_push(record)
        uid = push.event_key.split(":", 1)[1]
        body = json.loads(push.body)
        for event in (body.get("fulfillment") or {}).get("events") or []:
            if event.get("id") == push.webhook_id and event.get("tracking_number"):
                parcels[tracking_key(str(event["tracking_number"]))] = uid
    return parcels


def due_deliveries(
    order_id: str, scans: Scans, parcels: Mapping[str, str], pushed: Iterable[str]
) -> dict[str, datetime]:
    """fulfilment uid -> delivered at, for the order's scanned parcels not pushed as delivered."""
    done = set(pushed)
    due: dict[str, datetime] = {}
    for (scanned_order, tracking), at in scans.items():
        uid = parcels.get(tracking) if scanned_order == order_id else None
        if uid is not None and f"delivered:{uid}" not in done:
            due[uid] = at.astimezone(UTC)
    return due
