"""Ports: what the service layer needs of the outside world, as ``typing.Protocol``s.

The adapters satisfy them structurally (mypy checks it where bootstrap wires them):
``Marketplace`` by ``GoogleGateway`` (Content API v2), ``OrderSystem`` by ``SquareGateway``,
``ShipmentSource`` by the feed reader, ``LedgerPort`` by ``Ledger``; for Google's live channels
``SquareOrderReads`` by ``SquareGateway``, ``UcpWebhooks`` by ``UcpWebhookClient`` and
``TrackingSignals`` by ``OrderTrackingGateway``. Service tests drive the steps with in-memory
fakes of them.

JSON from the APIs crosses these ports as ``dict[str, Any]``: the domain parses it
(``Order.from_google``, ``sync.domain.square_mapping``) where the service needs it typed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from sync.adapters.order_tracking_outcomes import SignalOutcome
from sync.adapters.ucp_push_outcomes import PushOutcome
from sync.domain.feed import FeedFile, FeedReject
from sync.domain.intents import Intent, IntentRecord, IntentResult
from sync.domain.order_tracking import TrackingSignal
from sync.domain.progress import ShipmentState, StoredShipment
from sync.domain.records import OrderChanges, OrderRecord, OrderSnapshot, RejectRecord
from sync.domain.square_records import CatalogVariationRef, SquarePayment, SquareRefund


class Marketplace(Protocol):
    """The marketplace's order API (Google Content API v2 ``orders``)."""

    base_url: str
    merchant_id: str

    @property
    def calls(self) -> int: ...

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
    ) -> Iterator[list[dict[str, Any]]]: ...

    def custombatch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def get_order_return(self, return_id: str) -> dict[str, Any]: ...
    def iter_order_returns(
        self,
        *,
        created_start: str | datetime | None = None,
        created_end: str | datetime | None = None,
        order_by: str = "RETURN_CREATION_TIME_ASC",
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]: ...


class OrderSystem(Protocol):
    """The merchant's own order system (Square Orders, Payments and Catalog)."""

    base_url: str

    @property
    def calls(self) -> int: ...

    def location_id(self) -> str: ...
    def create_order(self, order: dict[str, Any], idempotency_key: str) -> dict[str, Any]: ...
    def pay_order_with_external_payment(self, order: dict[str, Any], idempotency_key: str) -> Any: ...
    def retrieve_order(self, order_id: str) -> dict[str, Any]: ...
    def update_order(
        self,
        order_id: str,
        order: dict[str, Any],
        *,
        fields_to_clear: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]: ...
    def cancel_order(self, order_id: str, *, max_conflicts: int = 3) -> dict[str, Any]: ...
    def find_variations_by_sku(self, skus: Iterable[str]) -> dict[str, list[CatalogVariationRef]]: ...
    def iter_orders_updated_since(
        self,
        since_rfc3339: str | None,
        *,
        location_ids: list[str] | None = None,
        limit: int = 500,
        states: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]: ...

    # refunds (issue 15)
    def retrieve_orders(self, order_ids: list[str]) -> list[dict[str, Any]]: ...
    def external_payment(self, square_order: dict[str, Any]) -> SquarePayment | None: ...
    def refund_payment(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        reason: str | None = None,
        payment_version_token: str | None = None,
    ) -> SquareRefund: ...
    def get_payment_refund(self, refund_id: str) -> SquareRefund: ...
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
    ) -> Iterator[SquareRefund]: ...


class SquareOrderReads(Protocol):
    """What the live Google channels read of Square (``SquareGateway``): changed orders, and
    each order's refunds and their return orders."""

    base_url: str

    @property
    def calls(self) -> int: ...

    def location_id(self) -> str: ...
    def iter_orders_updated_since(
        self,
        since_rfc3339: str | None,
        *,
        location_ids: list[str] | None = None,
        limit: int = 500,
        states: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]: ...
    def retrieve_orders(self, order_ids: list[str]) -> list[dict[str, Any]]: ...
    def get_payment(self, payment_id: str) -> SquarePayment: ...
    def get_payment_refund(self, refund_id: str) -> SquareRefund: ...


class UcpWebhooks(Protocol):
    """UCP order webhooks to Google (``UcpWebhookClient``): one signed push of stored bytes."""

    @property
    def calls(self) -> int: ...

    def push(self, webhook_id: str, timestamp: datetime, body: bytes) -> PushOutcome: ...


class TrackingSignals(Protocol):
    """Merchant API order tracking signals (``OrderTrackingGateway``)."""

    @property
    def calls(self) -> int: ...

    def create_signal(self, signal: TrackingSignal) -> SignalOutcome: ...


class ShipmentSource(Protocol):
    """The warehouse's shipments feed: the files as read (rows, or a reject per unreadable file)."""

    def read(self) -> Sequence[FeedFile]: ...


class LedgerPort(Protocol):
    """What the sync steps use of the ledger (``sync.adapters.ledger.Ledger``)."""

    def transaction(self) -> AbstractContextManager[None]: ...

    # runs, key/values
    def start_run(self, *, close_unfinished: bool = True) -> int: ...
    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None: ...
    def get_value(self, key: str, default: Any = None) -> Any: ...
    def set_value(self, key: str, value: Any) -> None: ...
    def values_with_prefix(self, prefix: str) -> dict[str, Any]: ...

    # orders
    def upsert_orders(self, snapshots: Iterable[OrderSnapshot]) -> None: ...
    def update_orders(self, changes: Mapping[str, OrderChanges]) -> None: ...
    def get_orders(self, ids: Iterable[str]) -> dict[str, OrderRecord]: ...
    def get_orders_light(self, ids: Iterable[str]) -> dict[str, tuple[OrderRecord, str | None]]: ...
    def iter_orders(self, batch: int = 1000, *, open_only: bool = False) -> Iterator[OrderRecord]: ...
    def find_by_merchant_order_ids(self, merchant_order_ids: Iterable[str]) -> dict[str, OrderRecord]: ...
    def orders_missing_square(self) -> list[OrderRecord]: ...
    def orders_awaiting_merchant_order_id(self) -> list[tuple[str, str]]: ...
    def oldest_open_placed_at(self) -> datetime | None: ...
    def orders_in_square_since(
        self, placed_since: datetime, *, after: str | None, limit: int
    ) -> list[str]: ...
    def record_order_error(self, google_order_id: str, error: str, at: datetime | None = None) -> bool: ...

    # intents
    def add_intents(self, intents: Iterable[Intent]) -> list[IntentRecord]: ...
    def pending_intents(
        self, target: str | None = None, kinds: Collection[str] | None = None, limit: int | None = None
    ) -> list[IntentRecord]: ...
    def record_results(self, results: Iterable[IntentResult]) -> None: ...
    def intents_for_order(self, order_id: str) -> list[IntentRecord]: ...

    # shipments
    def upsert_shipments(self, shipments: Iterable[StoredShipment]) -> None: ...
    def retrack_shipments(self, changes: Iterable[tuple[str, str, str, str]]) -> None: ...
    def mark_shipments(
        self, keys: Iterable[tuple[str, str]], state: ShipmentState | str, *, at: datetime | None = None
    ) -> None: ...
    def shipments_for(self, order_ids: Iterable[str]) -> dict[str, list[StoredShipment]]: ...
    def known_shipment_ids(self, order_ids: Iterable[str]) -> dict[str, set[str]]: ...
    def shipment_states_by_ref(self, refs: Iterable[str]) -> dict[str, dict[str, ShipmentState]]: ...

    # feed rejects
    def open_rejects(self, *, retryable_only: bool = False) -> dict[str, RejectRecord]: ...
    def record_rejects(
        self,
        rejects: Sequence[FeedReject],
        *,
        run_id: int | None,
        cleared: Mapping[str, str] | None = None,
        rejects_file: str | None = None,
        at: datetime | None = None,
    ) -> None: ...
