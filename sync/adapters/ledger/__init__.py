"""The ledger: orders, intended operations, shipments, runs, key/values and the cycle lock.

``Ledger(url)`` opens (creating and migrating with Alembic) the database; ``CycleLock`` keeps sync
cycles from overlapping. See ``repository.py`` for the rules every method keeps.
"""

from .errors import LedgerCorrupt, LedgerError, LedgerLocked, LedgerSchemaError, LockHeld
from .lock import CycleLock
from .models import DEFAULT_STAGE, SHIPMENT_STATES, TERMINAL_STAGES
from .repository import (
    IntentRecord,
    IntentResult,
    Ledger,
    NewIntent,
    OrderRecord,
    RejectRecord,
    ReportHistoryRecord,
    RunRecord,
    ShipmentRecord,
)

__all__ = [
    "DEFAULT_STAGE",
    "SHIPMENT_STATES",
    "TERMINAL_STAGES",
    "CycleLock",
    "IntentRecord",
    "IntentResult",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerLocked",
    "LedgerSchemaError",
    "LockHeld",
    "NewIntent",
    "OrderRecord",
    "RejectRecord",
    "ReportHistoryRecord",
    "RunRecord",
    "ShipmentRecord",
]
