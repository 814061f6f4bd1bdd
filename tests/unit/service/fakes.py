"""In-memory fakes of the service's ports (sync/service/ports.py), for step tests without servers.

``FakeMarketplace`` keeps Google orders as the API's JSON and applies custombatch entries with
the API's rules that the steps rely on: a repeated operationId answers ``duplicate`` and changes
nothing, shipLineItems moves the line counters and the status, updateShipment with a status
delivers, cancel cancels what is pending, the refund methods move ``refunds[]``, ``netAmount`` and
``quantityReturned`` (and refuse more than ``netAmount``, or a line return on an order not fully
shipped); ``fail_requests`` makes whole requests fail, ``refuse`` makes entries of one method fail
for good. ``FakeOrderSystem`` keeps Square orders, EXTERNAL payments and their refunds (each with
its return order, as Square makes them), and plays the store refunding (``store_refund``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sync.adapters.google_errors import GoogleApiError
from sync.adapters.square_errors import SquareApiError
from sync.domain.feed import COLUMNS, FeedFile
from sync.domain.orders import derive_status
from sync.domain.square_records import CatalogVariationRef, SquarePayment, SquareRefund


class Refused(Exception):
    """A custombatch entry Google refuses (400 with this reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def minor(money: dict[str, str] | None) -> int:
    return int(Decimal(str((money or {}).get("value") or "0")) * 100)


def money(amount: int, currency: str = "USD") -> dict[str, str]:
    return {"value": f"{Decimal(amount) / 100:.2f}", "currency": currency}


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
        self.returns: list[dict[str, Any]] = []  # MerchantOrderReturns (orderreturns.list)
        self.returns_calls = 0

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

    def iter_order_returns(
        self,
        *,
        created_start: str | datetime | None = None,
        created_end: str | datetime | None = None,
        order_by: str = "RETURN_CREATION_TIME_ASC",
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        self.returns_calls += 1
        start = str(created_start or "")
        yield from (copy.deepcopy(r) for r in self.returns if r["creationDate"] >= start)

    def get_order_return(self, return_id: str) -> dict[str, Any]:
        self.returns_calls += 1
        return copy.deepcopy(next(r for r in self.returns if r["orderReturnId"] == return_id))

    def customer_return(self, order_id: str, line_id: str, units: int, *, state: str = "new") -> str:
        """The customer returns ``units`` of a line on Google (one return item per unit)."""
        order = self.orders[order_id]
        line = next(li for li in order["lineItems"] if li["id"] == line_id)
        return_id = f"RET-{len(self.returns) + 1}"
        self.returns.append(
            {
                "orderReturnId": return_id,
                "orderId": order_id,
                "creationDate": "2026-11-21T09:00:00Z",
                "returnItems": [
                    {"itemId": f"{return_id}-{n}", "product": line["product"], "state": state}
                    for n in range(units)
                ],
            }
        )
        return return_id

    def refund_customer_return(self, return_id: str, amount: int) -> None:
        """Google (its customer service) refunds a customer return itself."""
        ret = next(r for r in self.returns if r["orderReturnId"] == return_id)
        order = self.orders[ret["orderId"]]
        for item in ret["returnItems"]:
            item["state"] = "refunded"
            line = next(li for li in order["lineItems"] if li["product"]["id"] == item["product"]["id"])
            line["quantityReturned"] += 1
        self.merchant_refund(order["id"], amount, {"reason": "customerDiscretionaryReturn"})

    @property
    def calls_with_returns(self) -> int:
        return self.calls + self.returns_calls

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
        try:
            getattr(self, "_" + method)(order, entry.get(method, entry))
        except Refused as exc:
            return _error(batch_id, 400, exc.reason, exc.message)
        self.applied.add(key)
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

    def _refund(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        self.merchant_refund(order["id"], minor(body["amountPretax"]) + minor(body["amountTax"]), body)

    def _returnRefundLineItem(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        if any(li["quantityPending"] for li in order["lineItems"]):
            raise Refused("invalid", "returnRefundLineItem is only allowed on fully shipped orders.")
        line = next(li for li in order["lineItems"] if li["id"] == body["lineItemId"])
        if line["quantityShipped"] - line["quantityReturned"] < body["quantity"]:
            raise Refused("invalid", "more units than shipped")
        amount = minor(body.get("amountPretax")) + minor(body.get("amountTax"))
        if amount > minor(order["netAmount"]):
            raise Refused("invalid", "refund exceeds the order's netAmount")
        line["quantityReturned"] += body["quantity"]
        self.merchant_refund(order["id"], amount, body)

    def _returnLineItem(self, order: dict[str, Any], body: dict[str, Any]) -> None:
        line = next(li for li in order["lineItems"] if li["id"] == body["lineItemId"])
        line["quantityReturned"] += body["quantity"]

    def merchant_refund(self, order_id: str, amount: int, body: dict[str, Any] | None = None) -> None:
        """Google refunds ``amount`` minor units (a refund mutation, or by hand in Merchant Center)."""
        order = self.orders[order_id]
        if amount > minor(order["netAmount"]):
            raise Refused("invalid", "refund exceeds the order's netAmount")
        if amount:
            order.setdefault("refunds", []).append(
                {
                    "actor": "merchant",
                    "amount": money(amount),
                    "creationDate": "2026-11-21T12:00:00Z",
                    "reason": (body or {}).get("reason", "courtesyAdjustment"),
                    "reasonText": (body or {}).get("reasonText", ""),
                }
            )
        order["netAmount"] = money(minor(order["netAmount"]) - amount)

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

    def __init__(self, amount_of: Callable[[dict[str, Any]], int] = lambda order: 0) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.payments: list[str] = []
        self.canceled: list[str] = []
        self.calls = 0
        self.calls_by_method: dict[str, int] = {}
        self.down = False  # every call fails (503) while set
        self.fail_methods: dict[str, int] = {}  # method -> the next n calls of it fail (503)
        self.amount_of = amount_of  # what the EXTERNAL payment of a new order pays (minor units)
        self.payment_records: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}  # refund id -> refund fields (+ updated_at)
        self.refund_keys: dict[str, str] = {}  # idempotency key -> refund id
        self.refund_errors: list[SquareApiError] = []  # the next RefundPayment calls raise these
        self.lose_refund_answers = 0  # the next n RefundPayment calls refund, then the answer is lost
        self.clock: Callable[[], datetime] = lambda: datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def _call(self, method: str = "") -> None:
        self.calls += 1
        self.calls_by_method[method] = self.calls_by_method.get(method, 0) + 1
        failing = self.fail_methods.get(method, 0)
        if failing:
            self.fail_methods[method] = failing - 1
        if self.down or failing:
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
        self._call("payments.create")
        self.payments.append(order["id"])
        payment_id = f"PAY-{order['id']}"
        self.payment_records[payment_id] = {
            "payment_id": payment_id,
            "order_id": order["id"],
            "amount_minor": self.amount_of(self.orders[order["id"]]),
        }
        self.orders[order["id"]]["tenders"] = [{"type": "OTHER", "payment_id": payment_id}]
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
        self._call("orders.search")
        yield from (copy.deepcopy(o) for o in self.orders.values())

    # ---------------------------------------------------------------- payments and refunds
    def retrieve_orders(self, order_ids: list[str]) -> list[dict[str, Any]]:
        self._call("orders.batch_get")
        return [copy.deepcopy(self.orders[i]) for i in order_ids if i in self.orders]

    def _payment(self, payment_id: str) -> SquarePayment:
        raw = self.payment_records[payment_id]
        refunds = [r for r in self.refunds.values() if r["payment_id"] == payment_id]
        counted = [r for r in refunds if r["status"] in ("PENDING", "COMPLETED")]
        return SquarePayment(
            payment_id=payment_id,
            order_id=raw["order_id"],
            status="COMPLETED",
            source_type="EXTERNAL",
            amount_minor=raw["amount_minor"],
            currency="USD",
            refunded_minor=sum(r["amount_minor"] for r in counted),
            refund_ids=tuple(r["refund_id"] for r in refunds),
        )

    def external_payment(self, square_order: dict[str, Any]) -> SquarePayment | None:
        for tender in square_order.get("tenders") or []:
            self._call("payments.get")
            return self._payment(tender["payment_id"])
        return None

    def refund_payment(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        reason: str | None = None,
        payment_version_token: str | None = None,
    ) -> SquareRefund:
        self._call("refunds.refund_payment")
        if self.refund_errors:
            raise self.refund_errors.pop(0)
        if idempotency_key in self.refund_keys:
            return self._refund_record(self.refund_keys[idempotency_key])
        if amount_minor > self._payment(payment_id).refundable_minor:
            raise SquareApiError(
                status=400,
                code="REFUND_AMOUNT_INVALID",
                category="REFUND_ERROR",
                detail="The requested refund amount exceeds the amount available to refund.",
            )
        sale_id = self.payment_records[payment_id]["order_id"]
        refund_id = self._make_refund(sale_id, amount_minor, reason or "", "COMPLETED", [])
        self.refund_keys[idempotency_key] = refund_id
        if self.lose_refund_answers:
            self.lose_refund_answers -= 1
            raise SquareApiError(
                status=None, code="TRANSPORT_ERROR", category="API_ERROR", detail="no answer", retryable=True
            )
        return self._refund_record(refund_id)

    def store_refund(
        self,
        sale_id: str,
        amount_minor: int,
        *,
        line_uid: str | None = None,
        quantity: int | str = 0,
        tax_minor: int = 0,
        reason: str = "Returned goods",
        status: str = "COMPLETED",
        name: str = "Refund",
    ) -> str:
        """The store refunds in Square: itemized (POS, a return line of ``line_uid``) or a custom
        amount (Dashboard); returns the refund id."""
        line: dict[str, Any] = {
            "uid": f"RL-{len(self.refunds) + 1}",
            "quantity": str(quantity or 1),
            "total_money": {"amount": amount_minor, "currency": "USD"},
            "total_tax_money": {"amount": tax_minor, "currency": "USD"},
        }
        if line_uid is not None:
            line.update(item_type="ITEM", source_line_item_uid=line_uid)
        else:
            line.update(item_type="CUSTOM_AMOUNT", name=name)
        return self._make_refund(sale_id, amount_minor, reason, status, [line])

    def settle_refund(self, refund_id: str, status: str) -> None:
        self.refunds[refund_id].update(status=status, updated_at=self._now())

    def _now(self) -> str:
        return self.clock().isoformat().replace("+00:00", "Z")

    def _make_refund(self, sale_id: str, amount: int, reason: str, status: str, lines: list[Any]) -> str:
        refund_id = f"RF-{len(self.refunds) + 1}"
        return_id = f"RO-{len(self.refunds) + 1}"
        if not lines:
            lines = [
                {
                    "uid": f"RL-{refund_id}",
                    "item_type": "CUSTOM_AMOUNT",
                    "name": "Refund",
                    "quantity": "1",
                    "total_money": {"amount": amount, "currency": "USD"},
                }
            ]
        self.orders[return_id] = {
            "id": return_id,
            "state": "COMPLETED",
            "created_at": self._now(),
            "returns": [{"source_order_id": sale_id, "return_line_items": lines}],
        }
        payment_id = self.orders[sale_id]["tenders"][0]["payment_id"]
        self.refunds[refund_id] = {
            "refund_id": refund_id,
            "payment_id": payment_id,
            "order_id": return_id,
            "status": status,
            "amount_minor": amount,
            "reason": reason,
            "created_at": self._now(),
            "updated_at": self._now(),
        }
        return refund_id

    def _refund_record(self, refund_id: str) -> SquareRefund:
        raw = self.refunds[refund_id]
        return SquareRefund(
            refund_id=refund_id,
            payment_id=raw["payment_id"],
            order_id=raw["order_id"],
            status=raw["status"],
            amount_minor=raw["amount_minor"],
            currency="USD",
            reason=raw["reason"],
            created_at=raw["created_at"],
            updated_at=raw["updated_at"],
            destination_type="EXTERNAL",
        )

    def get_payment_refund(self, refund_id: str) -> SquareRefund:
        self._call("refunds.get")
        return self._refund_record(refund_id)

    def iter_payment_refunds(
        self,
        *,
        begin_time: str | None = None,
        end_time: str | None = None,
        updated_at_begin_time: str | None = None,
        location_id: str | None = None,
        status: str | None = None,
        source_type: str | None = None,
        sort_field: str = "CREATED_AT",
        sort_order: str = "ASC",
        limit: int = 100,
    ) -> Iterator[SquareRefund]:
        self._call("refunds.list")
        found = [r for r in self.refunds.values() if r["updated_at"] >= (updated_at_begin_time or "")]
        for raw in sorted(found, key=lambda r: r["updated_at"]):
            yield self._refund_record(raw["refund_id"])


class FakeShipments:
    """A shipments feed of rows (dicts by feed column), as one file."""

    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def read(self) -> list[FeedFile]:
        if not self.rows:
            return []
        numbered = [(n, {c: row.get(c, "") for c in COLUMNS}) for n, row in enumerate(self.rows, start=2)]
        return [FeedFile("feed.csv", list(COLUMNS), numbered)]
