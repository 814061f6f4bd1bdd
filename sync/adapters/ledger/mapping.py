"""Records <-> rows: the only place that knows how the domain's records sit in the tables.

Column names keep the ledger's history (``google_order_id``, ``operation_id``); the records speak
the domain's (``order_id``, ``key``). Line counters are stored as JSON
``[{id, offer_id, quantity_ordered, quantity_shipped, ...}]`` and shipment lines as
``[{line_item_id, quantity}]``, as they always were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sync.domain.feed import FeedReject, printable
from sync.domain.intents import Intent, IntentRecord, IntentState, Target
from sync.domain.orders import ShipmentLine
from sync.domain.progress import LineCounts, ShipmentSource, ShipmentState, Stage, StoredShipment
from sync.domain.records import OrderChanges, OrderRecord, OrderSnapshot, RejectRecord, RunRecord

# Stored values -> the domain's enums (a dict lookup: these run once per row read).
_STAGES = {s.value: s for s in Stage}
_SHIPMENT_STATES = {s.value: s for s in ShipmentState}
_SOURCES = {s.value: s for s in ShipmentSource}
_TARGETS = {t.value: t for t in Target}
_INTENT_STATES = {s.value: s for s in IntentState}


# ------------------------------------------------------------------------------------------ orders
def line_counts_json(lines: Iterable[LineCounts]) -> list[dict[str, Any]]:
    return [
        {
            "id": li.line_item_id,
            "offer_id": li.offer_id,
            "quantity_ordered": li.ordered,
            "quantity_shipped": li.shipped,
            "quantity_delivered": li.delivered,
            "quantity_canceled": li.canceled,
            "quantity_returned": li.returned,
            "price_minor": li.price_minor,
            "tax_minor": li.tax_minor,
        }
        for li in lines
    ]


def line_counts(stored: Sequence[Mapping[str, Any]] | None) -> tuple[LineCounts, ...]:
    try:  # as the ledger writes them: every key there
        return tuple(
            LineCounts(
                li["id"],
                li["offer_id"],
                li["quantity_ordered"],
                li["quantity_shipped"],
                li["quantity_delivered"],
                li["quantity_canceled"],
                li["quantity_returned"],
                li["price_minor"],
                li["tax_minor"],
            )
            for li in stored or ()
        )
    except KeyError:  # written by hand or another tool: missing counters are 0
        return _lenient_line_counts(stored)


def _lenient_line_counts(stored: Sequence[Mapping[str, Any]] | None) -> tuple[LineCounts, ...]:
    return tuple(
        LineCounts(
            str(li.get("id") or ""),
            str(li.get("offer_id") or ""),
            int(li.get("quantity_ordered") or 0),
            int(li.get("quantity_shipped") or 0),
            int(li.get("quantity_delivered") or 0),
            int(li.get("quantity_canceled") or 0),
            int(li.get("quantity_returned") or 0),
            int(li.get("price_minor") or 0),
            int(li.get("tax_minor") or 0),
        )
        for li in stored or ()
    )


def order_record(fields: Mapping[str, Any], **override: Any) -> OrderRecord:
    """A stored order from its row's columns (``override``: e.g. order_json=None, light read)."""
    values = {**fields, **override}
    values.pop("account", None)  # the ledger's own scope, not part of the record
    values["line_items"] = line_counts(values["line_items"])
    values["stage"] = _STAGES[values["stage"]]
    return OrderRecord(**values)


_SNAPSHOT_COLUMNS = (
    "merchant_id",
    "status",
    "acknowledged",
    "placed_at",
    "currency",
    "total_minor",
    "order_json",
    "merchant_order_id",
)


def snapshot_row(snapshot: OrderSnapshot, now: datetime) -> dict[str, Any]:
    """The row of an order snapshot: only the fields it carries; ``stage`` and ``first_seen_at``
    are written on insert only (the upsert keeps them)."""
    row: dict[str, Any] = {"google_order_id": snapshot.google_order_id}
    for name in _SNAPSHOT_COLUMNS:
        value = getattr(snapshot, name)
        if value is not None:
            row[name] = value
    if snapshot.line_items is not None:
        row["line_items"] = line_counts_json(snapshot.line_items)
    seen = snapshot.seen_at or now
    row["last_seen_at"] = seen
    row["first_seen_at"] = seen
    row["stage"] = Stage.NEW.value
    return row


def changes_row(changes: OrderChanges) -> dict[str, Any]:
    row = changes.set_fields()
    if "stage" in row:
        row["stage"] = row["stage"].value
    if "line_items" in row:
        row["line_items"] = line_counts_json(row["line_items"])
    return row


# --------------------------------------------------------------------------------------- shipments
def shipment_lines_json(lines: Iterable[ShipmentLine]) -> list[dict[str, Any]]:
    return [{"line_item_id": line.line_item_id, "quantity": line.quantity} for line in lines]


def shipment_record(fields: Mapping[str, Any]) -> StoredShipment:
    return StoredShipment(
        order_id=fields["google_order_id"],
        shipment_id=fields["shipment_id"],
        source=_SOURCES[fields["source"]],
        carrier=fields["carrier"],
        tracking_id=fields["tracking_id"],
        lines=tuple(ShipmentLine(li["line_item_id"], li["quantity"]) for li in fields["lines"] or ()),
        shipped_at=fields["shipped_at"],
        delivered_at=fields["delivered_at"],
        state=_SHIPMENT_STATES[fields["state"]],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
    )


def shipment_row(shipment: StoredShipment) -> dict[str, Any]:
    row: dict[str, Any] = {
        "google_order_id": shipment.order_id,
        "shipment_id": shipment.shipment_id,
        "source": shipment.source.value,
        "carrier": shipment.carrier,
        "tracking_id": shipment.tracking_id,
        "lines": shipment_lines_json(shipment.lines),
        "shipped_at": shipment.shipped_at,
        "delivered_at": shipment.delivered_at,
        "state": shipment.state.value,
    }
    if shipment.updated_at is not None:
        row["updated_at"] = shipment.updated_at
    return row


# ----------------------------------------------------------------------------------------- intents
def intent_record(fields: Mapping[str, Any]) -> IntentRecord:
    return IntentRecord(
        id=fields["id"],
        order_id=fields["google_order_id"],
        target=_TARGETS[fields["target"]],
        kind=fields["kind"],
        key=fields["operation_id"],
        payload=fields["payload"],
        state=_INTENT_STATES[fields["state"]],
        execution_status=fields["execution_status"],
        attempts=fields["attempts"],
        last_error=fields["last_error"],
        error_reason=fields["error_reason"],
        created_at=fields["created_at"],
        updated_at=fields["updated_at"],
        done_at=fields["done_at"],
        run_id=fields["run_id"],
    )


def intent_row(intent: Intent, now: datetime, payload: Any, run_id: int | None = None) -> dict[str, Any]:
    return {
        "google_order_id": intent.order_id,
        "target": intent.target.value,
        "kind": intent.kind,
        "operation_id": intent.key,
        "payload": payload,
        "state": IntentState.PENDING.value,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
        "run_id": run_id,
    }


# ------------------------------------------------------------------------------------ rejects, runs
def reject_row(reject: FeedReject) -> dict[str, Any]:
    """A feed reject as ``feed_rejects`` stores it (the state columns are the repository's)."""
    return {
        "reject_key": reject.key,
        "content_key": reject.content,
        "kind": reject.kind.value,
        "source": reject.source,
        "line_no": reject.line_no,
        "reason": reject.reason,
        "order_ref": reject.order_ref[:128] or None,
        # As written; undecodable bytes (surrogate escapes) become U+FFFD so any database takes it.
        "row": [[k, printable(v)] for k, v in reject.raw.items()],
        "retryable": reject.retryable,
    }


def reject_record(fields: Mapping[str, Any]) -> RejectRecord:
    return RejectRecord(**{k: v for k, v in fields.items() if k != "account"})


def run_record(fields: Mapping[str, Any]) -> RunRecord:
    return RunRecord(**{k: v for k, v in fields.items() if k != "account"})
