"""The Square emulator's backend: one shared state, one model per API (after moto).

``SquareBackend`` wires ``state.py`` (entities, idempotency, clock, lock, persistence) to the
per-API models — ``orders.py`` (with ``order_search.py``, ``fulfillments.py`` and the price maths
in ``pricing.py``), ``payments.py`` (PayOrder included), ``refunds.py`` (with the return orders of
``returns.py``), ``catalog.py`` and ``locations.py``; list paging is in ``listing.py``. HTTP is in
``routes.py``; every rule raises ``errors.SquareError`` in Square's error shape. Behaviours
Square's docs leave open are sandbox settings (``settings.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sync.sandbox.square.catalog import CatalogModel
from sync.sandbox.square.errors import SquareError
from sync.sandbox.square.locations import LocationsModel
from sync.sandbox.square.orders import OrdersModel
from sync.sandbox.square.payments import PaymentsModel
from sync.sandbox.square.refunds import RefundsModel
from sync.sandbox.square.settings import SettingsHolder, SquareSandboxSettings
from sync.sandbox.square.state import SquareState
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

__all__ = ["SquareBackend", "SquareError"]


class SquareBackend:
    def __init__(
        self,
        store: StateStore,
        stats: Stats,
        *,
        clock: Callable[[], datetime] | None = None,
        settings: SquareSandboxSettings | None = None,
    ) -> None:
        self.settings = SettingsHolder(settings)
        self.state = SquareState(store, stats, self.settings, clock)
        self.stats = stats
        self.locations = LocationsModel()
        self.catalog = CatalogModel(self.state)
        self.orders = OrdersModel(self.state, self.catalog)
        self.payments = PaymentsModel(self.state, self.orders)
        self.refunds = RefundsModel(self.state, self.orders, self.payments)

    def reset(self) -> None:
        with self.state.lock:
            self.state.reset()
            self.catalog.reset()

    def order_count(self) -> int:
        with self.state.lock:
            return len(self.state.orders)

    def add_catalog_item(
        self, object_id: str, name: str, price: int, variation_name: str = "Regular"
    ) -> None:
        """Register a catalog item whose one variation is ``object_id`` (for tests and demos)."""
        self.catalog.add_item(object_id, name, price, variation_name)
