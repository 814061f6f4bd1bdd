"""Order fulfilments and order completion (Square's "Manage Order Fulfillments" rules).

* The API adds one fulfilment per order (SHIPMENT or PICKUP); sellers may split one, and
  ``entries`` + ``line_item_application`` then say which lines belong where. All active
  fulfilments share one type; a type change means canceling the old one and adding a new one.
* States move forward PROPOSED -> RESERVED -> PREPARED -> COMPLETED (or CANCELED / FAILED,
  which are final); a DRAFT order's fulfilment cannot pass PROPOSED. Square stamps a time in the
  type's details object as the state moves.
* An order becomes COMPLETED when it is paid in full and every fulfilment is terminal with at
  least one COMPLETED (on the update or payment that makes that true).
"""

from __future__ import annotations

from typing import Any

from sync.sandbox.square.errors import bad
from sync.sandbox.square.validate import as_dict, as_list, decimal_or_400, new_uid

ORDER_STATES = ("DRAFT", "OPEN", "COMPLETED", "CANCELED")
FULFILLMENT_TYPES_API = ("PICKUP", "SHIPMENT")
FULFILLMENT_STATES = ("PROPOSED", "RESERVED", "PREPARED", "COMPLETED", "CANCELED", "FAILED")
FULFILLMENT_RANK = {"PROPOSED": 0, "RESERVED": 1, "PREPARED": 2, "COMPLETED": 3}
FULFILLMENT_TERMINAL = ("COMPLETED", "CANCELED", "FAILED")
# Which timestamp Square stamps in the type's details object when a fulfilment reaches a state.
FULFILLMENT_STAMPS = {
    "PICKUP": {
        "RESERVED": "accepted_at",
        "PREPARED": "ready_at",
        "COMPLETED": "picked_up_at",
        "CANCELED": "canceled_at",
        "FAILED": "rejected_at",
    },
    "SHIPMENT": {
        "RESERVED": "in_progress_at",
        "PREPARED": "packaged_at",
        "COMPLETED": "shipped_at",
        "CANCELED": "canceled_at",
        "FAILED": "failed_at",
    },
    "DELIVERY": {
        "RESERVED": "in_progress_at",
        "PREPARED": "ready_at",
        "COMPLETED": "completed_at",
        "CANCELED": "canceled_at",
        "FAILED": "rejected_at",
    },
}
DETAILS_KEY = {"PICKUP": "pickup_details", "SHIPMENT": "shipment_details", "DELIVERY": "delivery_details"}


def check_fulfillments(old: dict[str, Any] | None, order: dict[str, Any], now: str) -> None:
    """Validate fulfilments against Square's rules and stamp the state timestamps."""
    previous = {f["uid"]: f for f in (old or {}).get("fulfillments") or []}
    fulfillments = order.get("fulfillments") or []
    if old is None and len(fulfillments) > 1:
        raise bad(
            "INVALID_VALUE", "Only one fulfillment can be created through the API.", "order.fulfillments"
        )
    line_qty = {li["uid"]: li.get("quantity") for li in order.get("line_items") or []}
    for i, f in enumerate(fulfillments):
        field = f"order.fulfillments[{i}]"
        f.setdefault("uid", new_uid())
        prev = previous.get(f["uid"])
        ftype = f.get("type")
        if prev is not None and ftype != prev["type"]:
            raise bad(
                "INVALID_VALUE",
                "A fulfillment's type cannot change; cancel it and add a new one.",
                f"{field}.type",
            )
        if prev is None and ftype not in FULFILLMENT_TYPES_API:
            raise bad(
                "INVALID_VALUE",
                f"Fulfillment type must be one of {', '.join(FULFILLMENT_TYPES_API)}.",
                f"{field}.type",
            )
        state = f.setdefault("state", "PROPOSED")
        if state not in FULFILLMENT_STATES:
            raise bad("INVALID_VALUE", f"Invalid fulfillment state {state}.", f"{field}.state")
        details_key = DETAILS_KEY[ftype]
        details = f.get(details_key)
        if not isinstance(details, dict):
            raise bad(
                "MISSING_REQUIRED_PARAMETER",
                f"A {ftype} fulfillment needs {details_key}.",
                f"{field}.{details_key}",
            )
        if ftype == "SHIPMENT" and not isinstance(details.get("recipient"), dict):
            raise bad(
                "MISSING_REQUIRED_PARAMETER",
                "A SHIPMENT fulfillment needs a recipient.",
                f"{field}.shipment_details.recipient",
            )
        if (
            ftype == "PICKUP"
            and details.setdefault("schedule_type", "SCHEDULED") == "SCHEDULED"
            and not details.get("pickup_at")
        ):
            raise bad(
                "MISSING_REQUIRED_PARAMETER",
                "A SCHEDULED pickup needs pickup_at.",
                f"{field}.pickup_details.pickup_at",
            )
        before = prev["state"] if prev else "PROPOSED"
        if state != before:
            if before in FULFILLMENT_TERMINAL:
                raise bad(
                    "INVALID_VALUE",
                    f"Fulfillment state cannot change from {before} to {state}.",
                    f"{field}.state",
                )
            if state in FULFILLMENT_RANK and FULFILLMENT_RANK[state] < FULFILLMENT_RANK[before]:
                raise bad(
                    "INVALID_VALUE",
                    f"Fulfillment state cannot move back from {before} to {state}.",
                    f"{field}.state",
                )
        if order["state"] == "DRAFT" and state != "PROPOSED":
            raise bad(
                "INVALID_VALUE",
                "The fulfillment of a DRAFT order cannot pass PROPOSED.",
                f"{field}.state",
            )
        application = f.setdefault("line_item_application", "ALL")
        if application == "ENTRY_LIST":
            entries = as_list(f.get("entries"), f"{field}.entries")
            if not entries:
                raise bad(
                    "MISSING_REQUIRED_PARAMETER",
                    "ENTRY_LIST fulfillments need entries.",
                    f"{field}.entries",
                )
            for j, entry in enumerate(entries):
                efield = f"{field}.entries[{j}]"
                as_dict(entry, efield)
                entry.setdefault("uid", new_uid())
                if entry.get("line_item_uid") not in line_qty:
                    raise bad("INVALID_VALUE", "Unknown line_item_uid.", f"{efield}.line_item_uid")
                qty = decimal_or_400(entry.get("quantity"), f"{efield}.quantity")
                if qty > decimal_or_400(line_qty[entry["line_item_uid"]], "quantity"):
                    raise bad(
                        "INVALID_VALUE",
                        "Entry quantity exceeds the line item quantity.",
                        f"{efield}.quantity",
                    )
        elif application != "ALL":
            raise bad(
                "INVALID_VALUE",
                "line_item_application must be ALL or ENTRY_LIST.",
                f"{field}.line_item_application",
            )
        if prev is None and application == "ALL":
            # The API adds one fulfilment per order; a type change needs the old one CANCELED first.
            others = [g for g in fulfillments if g is not f and g.get("state") not in ("CANCELED", "FAILED")]
            if others:
                raise bad(
                    "INVALID_VALUE",
                    "An order can only have one active fulfillment created through "
                    "the API; cancel the existing one first.",
                    f"{field}",
                )
        # timestamps
        if order["state"] != "DRAFT":
            details.setdefault("placed_at", now)
        if prev is None or state != prev["state"]:
            stamp = FULFILLMENT_STAMPS[ftype].get(state)
            if stamp:
                details.setdefault(stamp, now)
    active_types = {f["type"] for f in fulfillments if f["state"] not in ("CANCELED", "FAILED")}
    if len(active_types) > 1:
        raise bad(
            "INVALID_VALUE", "All fulfillments of an order must have the same type.", "order.fulfillments"
        )


def maybe_complete(order: dict[str, Any], now: str) -> None:
    # Automatic completion needs fulfilments that were actually completed; a paid order
    # without fulfilments stays OPEN until an UpdateOrder completes it.
    fulfillments = order.get("fulfillments") or []
    if (
        order["state"] == "OPEN"
        and completable(order)
        and any(f["state"] == "COMPLETED" for f in fulfillments)
    ):
        close(order, "COMPLETED", now)


def close(order: dict[str, Any], state: str, now: str) -> None:
    """Move the order to COMPLETED or CANCELED (a completed order loses its 0-quantity lines)."""
    order["state"] = state
    order["closed_at"] = now
    if state == "COMPLETED":
        remove_zero_quantity_lines(order)


def completable(order: dict[str, Any]) -> bool:
    """Paid in full (tenders recorded) and every fulfilment in a terminal state."""
    paid = "tenders" in order and order["net_amount_due_money"]["amount"] <= 0
    return paid and all(f["state"] in FULFILLMENT_TERMINAL for f in order.get("fulfillments") or [])


def remove_zero_quantity_lines(order: dict[str, Any]) -> None:
    """ "Line items with a quantity of 0 are automatically removed when paying for or otherwise
    completing the order" (OrderLineItem.quantity reference). Their totals are 0 already."""
    lines = order.get("line_items")
    if not lines:
        return
    kept = [li for li in lines if decimal_or_400(li.get("quantity"), "quantity", positive=False) != 0]
    if len(kept) != len(lines):
        order["line_items"] = kept
