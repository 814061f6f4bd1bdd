"""The Square emulator's state: every entity, the idempotency memory, the clock and the one lock.

All per-API models (orders, payments, refunds, catalog) share one ``SquareState``; a request holds
``state.lock`` while it reads and changes entities, and every changed entity is written through
the ``StateStore`` at once, so ``--state FILE`` survives a restart (kill -9 loses at most the
request in flight).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.sandbox.square.errors import bad
from sync.sandbox.square.settings import SettingsHolder
from sync.sandbox.square.validate import format_ts, parse_ts
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

ORDER_KIND = "square.order"
PAYMENT_KIND = "square.payment"
REFUND_KIND = "square.refund"
IDEMPOTENCY_KIND = "square.idempotency"
CATALOG_OBJECT_KIND = "square.catalog_object"
LEGACY_CATALOG_KIND = "square.catalog"  # [name, variation name, price] rows of older state files


class SquareState:
    def __init__(
        self,
        store: StateStore,
        stats: Stats,
        settings: SettingsHolder,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.stats = stats
        self.settings = settings
        self._clock = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self._last_ts = datetime(1970, 1, 1, tzinfo=UTC)
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.payments_by_order: dict[str, list[str]] = {}
        self.payments_by_key: dict[str, str] = {}  # CreatePayment idempotency key -> payment id
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.catalog: dict[str, dict[str, Any]] = {}
        self.legacy_catalog: list[tuple[str, list[Any]]] = []
        self._load()

    # ---- persistence ---------------------------------------------------------------------------
    def _load(self) -> None:
        self.orders.update(self.store.load(ORDER_KIND))
        for key, value in self.store.load(PAYMENT_KIND):
            self._index_payment(key, value)
        self.refunds.update(self.store.load(REFUND_KIND))
        self.idempotency.update(self.store.load(IDEMPOTENCY_KIND))
        for name, remembered in self.idempotency.items():
            if name.startswith("payments.create|"):
                self.payments_by_key[name.partition("|")[2]] = str(remembered["id"])
        self.catalog.update(self.store.load(CATALOG_OBJECT_KIND))
        self.legacy_catalog = list(self.store.load(LEGACY_CATALOG_KIND))
        stamps = [
            entity["updated_at"]
            for table in (self.orders, self.payments, self.refunds, self.catalog)
            for entity in table.values()
            if entity.get("updated_at")
        ]
        if stamps:
            self._last_ts = parse_ts(max(stamps), "updated_at")

    def _index_payment(self, payment_id: str, payment: dict[str, Any]) -> None:
        self.payments[payment_id] = payment
        if payment.get("order_id"):
            linked = self.payments_by_order.setdefault(payment["order_id"], [])
            if payment_id not in linked:
                linked.append(payment_id)

    def save_order(self, order: dict[str, Any]) -> None:
        self.orders[order["id"]] = order
        self.store.put(ORDER_KIND, order["id"], order)

    def save_payment(self, payment: dict[str, Any]) -> None:
        self._index_payment(payment["id"], payment)
        self.store.put(PAYMENT_KIND, payment["id"], payment)

    def save_refund(self, refund: dict[str, Any]) -> None:
        self.refunds[refund["id"]] = refund
        self.store.put(REFUND_KIND, refund["id"], refund)

    def save_catalog_object(self, obj: dict[str, Any]) -> None:
        self.catalog[obj["id"]] = obj
        self.store.put(CATALOG_OBJECT_KIND, obj["id"], obj)

    def drop_legacy_catalog(self) -> None:
        for key, _ in self.legacy_catalog:
            self.store.delete(LEGACY_CATALOG_KIND, key)
        self.legacy_catalog = []

    # ---- idempotency ---------------------------------------------------------------------------
    def remember(self, scope: str, key: str, fingerprint: str, result_id: str, response: Any = None) -> None:
        """Record what a keyed request produced: the id, and for requests whose answer cannot be
        rebuilt from one entity (catalog upserts) the whole ``response``."""
        name = f"{scope}|{key}"
        self.idempotency[name] = {"fingerprint": fingerprint, "id": result_id}
        if response is not None:
            self.idempotency[name]["response"] = response
        self.store.put(IDEMPOTENCY_KIND, name, self.idempotency[name])
        if scope == "payments.create":
            self.payments_by_key[key] = result_id

    def seen(self, scope: str, key: str | None) -> dict[str, Any] | None:
        """What an earlier request with this key produced ({fingerprint, id}), or None."""
        return None if key is None else self.idempotency.get(f"{scope}|{key}")

    def replay(self, scope: str, key: str | None, fingerprint: str) -> str | None:
        """The id an earlier identical request produced; a different request with the key is an error."""
        seen = self.replayed(scope, key, fingerprint)
        return None if seen is None else str(seen["id"])

    def replayed(self, scope: str, key: str | None, fingerprint: str) -> dict[str, Any] | None:
        """The record of an earlier identical request; a different request with the key is an error."""
        seen = self.seen(scope, key)
        if seen is None:
            return None
        if seen["fingerprint"] != fingerprint:
            raise bad(
                "IDEMPOTENCY_KEY_REUSED",
                "The idempotency key can only be retried with the same request data.",
                "idempotency_key",
            )
        return seen

    # ---- time and housekeeping -------------------------------------------------------------------
    def now(self) -> str:
        """Strictly increasing millisecond timestamps keep sort orders and cursors unambiguous."""
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_ts:
            now = self._last_ts + timedelta(milliseconds=1)
        self._last_ts = now
        return format_ts(now)

    def current_time(self) -> datetime:
        """Now, never earlier than the last stamp handed out (stamps may run a few ms ahead of the
        wall clock under bursts): the default end of a time window."""
        return max(self._clock().astimezone(UTC), self._last_ts)

    def reset(self) -> None:
        with self.lock:
            for kind, table in (
                (ORDER_KIND, self.orders),
                (PAYMENT_KIND, self.payments),
                (REFUND_KIND, self.refunds),
                (IDEMPOTENCY_KIND, self.idempotency),
                (CATALOG_OBJECT_KIND, self.catalog),
            ):
                for key in list(table):
                    self.store.delete(kind, key)
                table.clear()
            self.drop_legacy_catalog()
            self.payments_by_order.clear()
            self.payments_by_key.clear()

    @staticmethod
    def copy(entity: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(entity)
