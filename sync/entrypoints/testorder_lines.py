"""How a Google order's line items read in the terminal: the ids `cancel --line-item` and `return`
take, with their quantities, and the error that lists them when an id is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

QUANTITIES = ("ordered", "pending", "shipped", "delivered", "canceled", "returned")


@dataclass(frozen=True)
class LineItemView:
    id: str
    offer_id: str
    title: str
    quantities: dict[str, int]  # QUANTITIES -> units

    @classmethod
    def from_google(cls, line: Mapping[str, Any]) -> LineItemView:
        product = line.get("product") or {}
        return cls(
            id=str(line.get("id") or ""),
            offer_id=str(product.get("offerId") or ""),
            title=str(product.get("title") or ""),
            quantities={q: int(line.get(f"quantity{q.capitalize()}") or 0) for q in QUANTITIES},
        )


def line_items(order: Mapping[str, Any]) -> list[LineItemView]:
    return [LineItemView.from_google(li) for li in order.get("lineItems") or [] if isinstance(li, Mapping)]


def unknown_line_item(order: Mapping[str, Any], line_item_id: str) -> str:
    """The message for a --line-item that is not in the order, naming the ones that are."""
    known = ", ".join(f"{li.id} (offer {li.offer_id or '?'})" for li in line_items(order)) or "none"
    return f"order {order.get('id')}: no line item {line_item_id!r}; its line items are: {known}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Plain aligned columns (no box drawing: it is copied into tickets and grepped)."""
    cells = [list(map(str, headers)), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def order_lines(order: Mapping[str, Any]) -> list[str]:
    """`testorders show`: the order's head, its line items with quantities, its shipments."""
    head = [
        f"order {order.get('id')}  status {order.get('status')}  placed {order.get('placedDate', '?')}",
        f"merchantOrderId {order.get('merchantOrderId') or '-'}  acknowledged {order.get('acknowledged')}",
        "line items:",
    ]
    rows = [
        [li.id, li.offer_id, *(li.quantities[q] for q in QUANTITIES), li.title] for li in line_items(order)
    ]
    out = head + ["  " + line for line in table(["id", "offer_id", *QUANTITIES, "title"], rows)]
    shipments = [s for s in order.get("shipments") or [] if isinstance(s, Mapping)]
    if shipments:
        out.append("shipments:")
        ship_rows = [
            [
                s.get("id", ""),
                s.get("status", ""),
                s.get("carrier", ""),
                s.get("trackingId", ""),
                " ".join(f"{x.get('lineItemId')}x{x.get('quantity')}" for x in s.get("lineItems") or []),
            ]
            for s in shipments
        ]
        out += ["  " + line for line in table(["id", "status", "carrier", "tracking_id", "lines"], ship_rows)]
    return out


def order_list_lines(orders: Sequence[Mapping[str, Any]]) -> list[str]:
    """`testorders list`: one row per order with its line item ids."""
    rows = [
        [
            o.get("id", ""),
            o.get("status", ""),
            o.get("placedDate", ""),
            o.get("merchantOrderId") or "-",
            " ".join(li.id for li in line_items(o)),
        ]
        for o in orders
    ]
    return table(["id", "status", "placed", "merchant_order_id", "line_items"], rows)
