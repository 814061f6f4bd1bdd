"""Google's order snapshots from the ledger, parsed once while they are unchanged.

A cycle reads the same order several times (ack, ship, deliver, stage refresh); parsing its JSON
(``Order.from_google``) each time would dominate a large cycle. The cache is a bounded LRU of the
orders one slice of work touches (batch_size x 2), most recent last.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sync.domain.orders import Order


class SnapshotCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._orders: OrderedDict[str, tuple[Order, str | None]] = OrderedDict()

    def parsed(self, order_json: Mapping[str, Any]) -> Order:
        """``Order.from_google`` of a snapshot dict the ledger just decoded (kept as ``raw``)."""
        order_id = order_json.get("id")
        cached = self._orders.get(order_id) if isinstance(order_id, str) else None
        if cached is not None and cached[0].raw == order_json:
            self._orders.move_to_end(cached[0].id)
            return cached[0]
        order = Order.from_google(order_json, copy_raw=False)
        self.remember(order)
        return order

    def from_text(self, order_id: str, text: str | None) -> Order:
        """The same from the snapshot's stored JSON text (``Ledger.get_orders_light``): decoded
        only when it is not the text this order was last parsed from."""
        cached = self._orders.get(order_id)
        if cached is not None and text is not None and cached[1] == text:
            self._orders.move_to_end(order_id)
            return cached[0]
        order_json = json.loads(text) if text is not None else None
        if cached is not None and cached[0].raw == order_json:
            order = cached[0]
        else:
            order = Order.from_google(order_json, copy_raw=False)  # type: ignore[arg-type]
        self.remember(order, text)
        return order

    def remember(self, order: Order, text: str | None = None) -> None:
        self._orders[order.id] = (order, text)
        self._orders.move_to_end(order.id)
        while len(self._orders) > self.size:
            self._orders.popitem(last=False)
