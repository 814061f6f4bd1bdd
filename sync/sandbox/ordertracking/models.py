"""State and rules of ``accounts.orderTrackingSignals.create`` (Merchant API ordertracking v1).

Validation follows the API reference's field behaviour (``google.shopping.merchant_ordertracking_v1``
OrderTrackingSignal): required ``orderId``, ``orderCreatedTime`` (with a year), ``shippingInfo[]``
(each with ``shipmentId``, a ``shippingStatus`` other than UNSPECIFIED, ``originPostalCode``,
``originRegionCode``, and ``trackingId`` plus ``carrier`` unless all three delivery times are
given) and ``lineItems[]`` (``lineItemId``, ``productId``, ``quantity`` > 0); a mapping entry must
name a shipment and a line of the signal. Errors are 400 INVALID_ARGUMENT naming the field.
A second signal for the same ``orderId`` in an account is 409 ALREADY_EXISTS: the API is
create-only and documents no duplicate behaviour, so this is our reading ([D], see docs).
The response hashes ``orderId``/``shipmentId`` and drops the delivery postal code, as the reference
says Google does; the original is kept for ``/_sandbox/ordertracking/signals``.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

K_SIGNAL = "ordertracking.signal"
STATES = {"SHIPPED": 1, "DELIVERED": 2, 1: 1, 2: 2}
DELIVERY_TIMES = ("earliestDeliveryPromiseTime", "latestDeliveryPromiseTime", "actualDeliveryTime")


class TrackingError(Exception):
    def __init__(self, status: int, rpc_status: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.rpc_status = rpc_status
        self.message = message
        self.field = field


def _invalid(field: str, message: str) -> TrackingError:
    return TrackingError(400, "INVALID_ARGUMENT", f"{field}: {message}", field)


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _datetime(value: Any, field: str) -> None:
    if not isinstance(value, Mapping) or not value.get("year"):
        raise _invalid(field, "a DateTime with at least year, month and day is required")
    for part in ("month", "day"):
        if not value.get(part):
            raise _invalid(field, f"{part} is required")


def _camel(body: Mapping[str, Any], name: str) -> Any:
    """protobuf JSON accepts camelCase and the original snake_case names."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return body.get(name, body.get(snake))


def validate(signal: Mapping[str, Any]) -> None:
    if not _camel(signal, "orderId"):
        raise _invalid("order_tracking_signal.order_id", "required")
    _datetime(_camel(signal, "orderCreatedTime"), "order_tracking_signal.order_created_time")
    shipments = _camel(signal, "shippingInfo") or []
    if not shipments:
        raise _invalid("order_tracking_signal.shipping_info", "at least one shipment is required")
    shipment_ids = set()
    for i, info in enumerate(shipments):
        where = f"order_tracking_signal.shipping_info[{i}]"
        if not _camel(info, "shipmentId"):
            raise _invalid(f"{where}.shipment_id", "required")
        shipment_ids.add(_camel(info, "shipmentId"))
        if STATES.get(_camel(info, "shippingStatus")) is None:
            raise _invalid(f"{where}.shipping_status", "SHIPPED or DELIVERED required")
        for name in ("originPostalCode", "originRegionCode"):
            if not _camel(info, name):
                raise _invalid(f"{where}.{name}", "required")
        all_times = all(_camel(info, t) for t in DELIVERY_TIMES)
        for name in ("trackingId", "carrier"):
            if not all_times and not _camel(info, name):
                raise _invalid(
                    f"{where}.{name}", "required unless all delivery promise and actual times are set"
                )
        for name in ("shippedTime", *DELIVERY_TIMES):
            if _camel(info, name):
                _datetime(_camel(info, name), f"{where}.{name}")
    lines = _camel(signal, "lineItems") or []
    if not lines:
        raise _invalid("order_tracking_signal.line_items", "at least one line item is required")
    line_ids = set()
    for i, line in enumerate(lines):
        where = f"order_tracking_signal.line_items[{i}]"
        for name in ("lineItemId", "productId"):
            if not _camel(line, name):
                raise _invalid(f"{where}.{name}", "required")
        line_ids.add(_camel(line, "lineItemId"))
        if int(_camel(line, "quantity") or 0) <= 0:
            raise _invalid(f"{where}.quantity", "must be greater than 0")
    for i, mapping in enumerate(_camel(signal, "shipmentLineItemMapping") or []):
        where = f"order_tracking_signal.shipment_line_item_mapping[{i}]"
        if _camel(mapping, "shipmentId") not in shipment_ids:
            raise _invalid(f"{where}.shipment_id", "must name a shipment of shipping_info")
        if _camel(mapping, "lineItemId") not in line_ids:
            raise _invalid(f"{where}.line_item_id", "must name a line of line_items")
        if int(_camel(mapping, "quantity") or 0) <= 0:
            raise _invalid(f"{where}.quantity", "must be greater than 0")
    fee = _camel(signal, "customerShippingFee")
    if fee is not None and (not isinstance(fee, Mapping) or not _camel(fee, "currencyCode")):
        raise _invalid(
            "order_tracking_signal.customer_shipping_fee", "amountMicros and currencyCode required"
        )


class OrderTrackingBackend:
    def __init__(self, store: StateStore, stats: Stats) -> None:
        self.store = store
        self.stats = stats
        self._lock = threading.Lock()
        self._signals: dict[str, dict[str, Any]] = dict(store.load(K_SIGNAL))  # f"{account}|{orderId}"
        self._ids = itertools.count(len(self._signals) + 1)

    def reset(self) -> None:
        with self._lock:
            self._signals.clear()
            self._ids = itertools.count(1)

    def create(self, account: str, signal: Mapping[str, Any]) -> dict[str, Any]:
        if not account.isdigit():
            raise TrackingError(
                400, "INVALID_ARGUMENT", f"parent: accounts/{account} is not a valid account name"
            )
        validate(signal)
        order_id = str(_camel(signal, "orderId"))
        key = f"{account}|{order_id}"
        with self._lock:
            if key in self._signals:
                raise TrackingError(
                    409, "ALREADY_EXISTS", f"An order tracking signal for order {order_id} already exists."
                )
            signal_id = str(next(self._ids) + 1_000_000)
            record = {"account": account, "order_tracking_signal_id": signal_id, "signal": dict(signal)}
            self._signals[key] = record
            self.store.put(K_SIGNAL, key, record)
        self.stats.mutation("merchantapi.ordertracking.orderTrackingSignals.create")
        response = {
            k: v for k, v in signal.items() if k not in ("deliveryPostalCode", "delivery_postal_code")
        }
        response["orderTrackingSignalId"] = signal_id
        response["orderId"] = _hashed(order_id)
        response["shippingInfo"] = [
            {**info, "shipmentId": _hashed(str(_camel(info, "shipmentId")))}
            for info in _camel(signal, "shippingInfo")
        ]
        return response

    def signals(self, account: str | None = None, order_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self._signals.values())
        return [
            r
            for r in records
            if (account is None or r["account"] == account)
            and (order_id is None or _camel(r["signal"], "orderId") == order_id)
        ]

    def count(self) -> int:
        with self._lock:
            return len(self._signals)
