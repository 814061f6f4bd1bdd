"""The ledger: orders, intended operations, shipments, rejects, runs, key/values and the cycle lock.

``Ledger(url)`` opens (creating and migrating with Alembic) the database; ``CycleLock`` keeps sync
cycles from overlapping. See ``repository.py`` for how it is composed, and each table's module
for the rules its methods keep. Records in and out are the domain's (sync/domain/records.py,
progress.py, intents.py).
"""

from sync.domain.intents import Intent, IntentRecord, IntentResult
from sync.domain.progress import TERMINAL_STAGES, StoredShipment
from sync.domain.records import (
    OrderChanges,
    OrderRecord,
    OrderSnapshot,
    RejectRecord,
    ReportHistoryRecord,
    RunRecord,
)

from .errors import LedgerCorrupt, LedgerError, LedgerLocked, LedgerSchemaError, LockHeld
from .lock import CycleLock
from .models import DEFAULT_STAGE, SHIPMENT_STATES
from .repository import Ledger

__all__ = [
    "DEFAULT_STAGE",
    "SHIPMENT_STATES",
    "TERMINAL_STAGES",
    "CycleLock",
    "Intent",
    "IntentRecord",
    "IntentResult",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerLocked",
    "LedgerSchemaError",
    "LockHeld",
    "OrderChanges",
    "OrderRecord",
    "OrderSnapshot",
    "RejectRecord",
    "ReportHistoryRecord",
    "RunRecord",
    "StoredShipment",
]
