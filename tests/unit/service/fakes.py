"""In-memory fakes of the service's ports (sync/service/ports.py), for step tests without servers.

``FakeMarketplace`` keeps Google orders as the API's JSON and applies custombatch entries with
the API's rules that the steps rely on: a repeated operationId answers ``duplicate`` and changes
nothing, shipLineItems moves the line counters and the status, updateShipment with a status
delivers, cancel cancels what is pending; ``fail_requests`` makes whole requests fail, ``refuse``
makes entries of one method fail for good.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sync.adapters.google_errors import GoogleApiError
from sync.adapters.square_gateway import SquareApiError
from sync.domain.feed import COLUMNS, FeedFile
from sync.domain.orders import derive_status
from sync.domain.square_records import CatalogVariationRef


class FakeMarketplace:
    base_url = "http://127.0.0.1:1/content/v2.1"
    merchant_id = "1234567"

    def __init__(self, orders: Sequence[dict[str, Any]] = ()) -> None:
        self.orders: dict[str, dict[str, Any]] = {o["id"]: copy.deepcopy(o) for o in orders}
        self.applied: set[tuple[str, str]] = set()  # (orderId, operationId) taken
        self.requests: list[list[dict[str, Any]]] = []
        self.list_calls = 0
        self.fail_requests = 0  # the next n custombatch requests fail as a whole (503)
        self.refuse: dict[str, str] = {}  # method -> reason: such entries are refused for good

    @property
    def calls(self) -> int:
        return self.list_calls + len(self.requests)

    # ---------------------------------------------------------------- listing
    def iter_order_pages(
        self,
        *,
        acknowledged: bool | None = None,
        statuses: Sequence[str] | None = None,
        placed_date_start: str | datetime | None = None,
        placed_date_end: str | datetime | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        prefetch: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        self.list_calls += 1
        wanted = {s.lower() for s in statuses or ()}
        found = [
            copy.deepcopy(o)
            for o in self.orders.values()
            if (acknowledged is None or o["acknowledged"] == acknowledged)
            and (not wanted or o["status"].lower() in wanted)
        ]
        size = page_size or 250
        for start in range(0, len(found), size):
            yield found[start : start + size]

    # ---------------------------------------------------------------- custombatch
    def custombatch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.requests.append(copy.deepcopy(entries))
        if self.fail_requests:
            self.fail_requests -= 1
            raise GoogleApiError(503, "backendError", "Backend Error", True, "content.orders.custombatch")
        return [self._entry(batch_id, entry) for batch_id, entry in enumerate(entries)]

    def _entry(self, batch_id: int, entry: dict[str, Any]) -> dict[str, Any]:
        method, order = entry["method"], self.orders.get(entry["orderId"])
        if order is None:
            return _error(batch_id, 404, "notFound", "order not found")
        if method == "get":
            return {"batchId": batch_id, "order": copy.deepcopy(order)}
        if method in self.refuse:
            return _error(batch_id, 400, self.refuse[method], f"{method} refused")
        key = (entry["orderId"], entry["operationId"])
        if key in self.applied:
            return {"batchId": batch_id, "executionStatus": "duplicate"}
        self.applied.add(key)
        getattr(self, "_" + method)(order, entry.get(method, entry))
        return {"batchId": batch_id, "executionStatus": "executed"}

    def _acknowledge(self, order: dict[str, Any], _body: dict[str, Any]) -> None:
        order["acknowledged"] = True

    def _updateMerchantOrderId(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        order["merchantOrderId"] = body["merchantOrderId"]

    def _shipLineItems(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        lines = {li["id"]: li for li in order["lineItems"]}
        for item in body["lineItems"]:
            line = lines[item["lineItemId"]]
            line["quantityShipped"] += item["quantity"]
            line["quantityPending"] -= item["quantity"]
        info = body["shipmentInfos"][0]
        order.setdefault("shipments", []).append(
            {
                "id": info["shipmentId"],
                "carrier": info["carrier"],
                "trackingId": info["trackingId"],
                "status": "shipped",
                "lineItems": [
                    {"lineItemId": i["lineItemId"], "quantity": i["quantity"]} for i in body["lineItems"]
                ],
            }
        )
        order["status"] = _status(order)

    def _updateShipment(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        shipment = next(s for s in order["shipments"] if s["id"] == body["shipmentId"])
        if body.get("status") == "delivered":
            shipment["status"] = "delivered"
            lines = {li["id"]: li for li in order["lineItems"]}
            for item in shipment["lineItems"]:
                lines[item["lineItemId"]]["quantityDelivered"] += item["quantity"]
            order["status"] = _status(order)
        for field in ("carrier", "trackingId"):
            if body.get(field):
                shipment[field] = body[field]

    def _cancel(self, order: dict[str, Any], _body: dict[str, Any]) -> None:
        self.cancel(order["id"])

    def cancel(self, order_id: str) -> None:
        """The customer (or Google) cancels the whole order."""
        order = self.orders[order_id]
        for line in order["lineItems"]:
            line["quantityCanceled"] += line["quantityPending"]
            line["quantityPending"] = 0
        order["status"] = "canceled"


def _status(order: dict[str, Any]) -> str:
    return derive_status(order["lineItems"])


def _error(batch_id: int, code: int, reason: str, message: str) -> dict[str, Any]:
    return {"batchId": batch_id, "errors": {"code": code, "message": message, "errors": [{"reason": reason}]}}


class FakeOrderSystem:
    """A Square location: orders made once per idempotency key, EXTERNAL payments, cancellations."""

    base_url = "http://127.0.0.1:2"

    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.payments: list[str] = []
        self.canceled: list[str] = []
        self.calls = 0
        self.down = False  # every call fails (503) while set

    def _call(self) -> None:
        self.calls += 1
        if self.down:
            raise SquareApiError(
                status=503, code="SERVICE_UNAVAILABLE", category="API_ERROR", detail="down", retryable=True
            )

    def location_id(self) -> str:
        return "LOC"

    def create_order(self, order: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        self._call()
        if idempotency_key in self.by_key:
            return copy.deepcopy(self.orders[self.by_key[idempotency_key]])
        order_id = f"SQ{len(self.orders) + 1:04d}"
        self.by_key[idempotency_key] = order_id
        self.orders[order_id] = {**copy.deepcopy(order), "id": order_id, "version": 1, "state": "OPEN"}
        return copy.deepcopy(self.orders[order_id])

    def pay_order_with_external_payment(self, order: dict[str, Any], idempotency_key: str) -> Any:
        self._call()
        self.payments.append(order["id"])
        self.orders[order["id"]]["tenders"] = [{"type": "EXTERNAL"}]
        return None

    def retrieve_order(self, order_id: str) -> dict[str, Any]:
        self._call()
        return copy.deepcopy(self.orders[order_id])

    def update_order(
        self,
        order_id: str,
        order: dict[str, Any],
        *,
        fields_to_clear: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        self._call()
        stored = self.orders[order_id]
        stored.update({k: v for k, v in order.items() if k != "version"})
        stored["version"] += 1
        return copy.deepcopy(stored)

    def cancel_order(self, order_id: str, *, max_conflicts: int = 3) -> dict[str, Any]:
        self._call()
        self.canceled.append(order_id)
        self.orders[order_id]["state"] = "CANCELED"
        return copy.deepcopy(self.orders[order_id])

    def find_variations_by_sku(self, skus: Any) -> dict[str, list[CatalogVariationRef]]:
        self._call()
        return {}

    def iter_orders_updated_since(
        self,
        since_rfc3339: str | None,
        *,
        location_ids: list[str] | None = None,
        limit: int = 500,
        states: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        self._call()
        yield from (copy.deepcopy(o) for o in self.orders.values())


class FakeShipments:
    """A shipments feed of rows (dicts by feed column), as one file."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def read(self) -> list[FeedFile]:
        if not self.rows:
            return []
        numbered = [(n, {c: row.get(c, "") for c in COLUMNS}) for n, row in enumerate(self.rows, start=2)]
        return [FeedFile("feed.csv", list(COLUMNS), numbered)]
