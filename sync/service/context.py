"""What every step of a cycle works with (built by service/bootstrap.py, one per cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sync.config import Settings
from sync.service.ports import (
    LedgerPort,
    Marketplace,
    OrderSystem,
    ShipmentSource,
    SquareOrderReads,
    TrackingSignals,
    UcpWebhooks,
)
from sync.service.results import CycleResult, Progress
from sync.service.snapshots import SnapshotCache


@dataclass(frozen=True)
class LiveChannels:
    """Google's live order channels, both fed from Square orders (issue 16): UCP order webhooks
    (``ucp``, with ``[ucp] enabled``) and order tracking signals (``tracking``)."""

    square: SquareOrderReads
    ucp: UcpWebhooks | None = None
    tracking: TrackingSignals | None = None
    deliveries: ShipmentSource | None = None  # delivery scans of UCP parcels ([ucp] deliveries)

    @property
    def calls(self) -> int:
        """Calls to Google's live channels (Square's are counted with the order system)."""
        return sum(c.calls for c in (self.ucp, self.tracking) if c is not None)


@dataclass
class CycleContext:
    ledger: LedgerPort
    clock: Callable[[], datetime]
    settings: Settings
    result: CycleResult
    snapshots: SnapshotCache
    marketplace: Marketplace
    order_system: OrderSystem | None  # None: no order system of the merchant's ([square] off)
    shipments: ShipmentSource
    progress: Progress
    live: LiveChannels | None = None  # None: neither live Google channel is enabled

    @property
    def slice_size(self) -> int:
        """Orders one slice of feed work handles: two full custombatch batches."""
        return 2 * self.settings.google.batch_size

    @property
    def flush_at(self) -> int:
        """Intents worth one concurrent round of custombatch calls."""
        return self.settings.google.batch_size * self.settings.google.concurrency
