"""The ledger: the crash-safe record that makes every mutation exactly-once.

Usage by the sync cycle (design.md §5; the outbox, service/outbox.py, owns the protocol)::

    ledger = Ledger(settings.ledger.url, account=settings.account)  # creates / migrates (Alembic)
    with CycleLock(ledger, settings.ledger.lock_ttl_seconds):
        run_id = ledger.start_run()
        ledger.upsert_orders(snapshots)             # OrderSnapshot records
        records = ledger.add_intents(intents)       # committed BEFORE anything is sent
        ...send the pending ones...
        with ledger.transaction():                  # one unit of work
            ledger.record_results(results)          # done / failed / retry (attempts+1)
            ledger.update_orders(changes)           # what the confirmed operations mean
        ledger.finish_run(run_id, "ok", summary)

``Ledger`` is composed of one repository per table (orders.py, intents.py, shipments.py,
rejects.py, runs.py, report_history.py; accounts.py across them) over one database (database.py:
engine, errors, migrations, transactions); mapping.py turns the domain's records into rows and
back. Each module states the rules it keeps.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from sync.domain.intents import IntentState

from .accounts import AccountTable
from .database import MIGRATIONS_DIR
from .intents import OPERATIONS, IntentTable
from .orders import OrderTable
from .rejects import RejectTable
from .report_history import ReportHistoryTable
from .runs import RunTable
from .shipments import ShipmentTable


class Ledger(OrderTable, IntentTable, ShipmentTable, RejectTable, RunTable, ReportHistoryTable, AccountTable):
    """Repository over the ledger database. Thread-safe (connections come from the engine's pool)."""

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Ledger:
        """From a ``LedgerSettings`` (or anything with ``url``); ``account=`` in kwargs scopes it."""
        return cls(settings.url, **kwargs)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ status
    def status_summary(self, runs: int = 5) -> dict[str, Any]:
        """What ``ordersync status`` prints; JSON-serialisable.

        {"ledger", "account", "schema", "orders_total", "orders_by_stage": {stage: n},
         "operations": {"pending google.acknowledge": n, "failed square.create": n, ...},  # display
         "pending_operations" / "failed_operations": {target: {kind: n}}, "pending_total",
         "failed_total", "oldest_pending_at", "last_runs": [RunRecord.to_json(), ...]}
        """
        open_or_failed = OPERATIONS.c.state.in_([IntentState.PENDING.value, IntentState.FAILED.value])
        counts = select(OPERATIONS.c.state, OPERATIONS.c.target, OPERATIONS.c.kind, func.count()).where(
            self._mine(OPERATIONS), open_or_failed
        )
        counts = counts.group_by(OPERATIONS.c.state, OPERATIONS.c.target, OPERATIONS.c.kind)
        pending = OPERATIONS.c.state == IntentState.PENDING.value
        oldest = select(func.min(OPERATIONS.c.created_at)).where(self._mine(OPERATIONS), pending)
        ops: dict[str, dict[str, dict[str, int]]] = {"pending": {}, "failed": {}}
        flat: dict[str, int] = {}
        with self._read() as conn:
            for state, target, kind, n in conn.execute(counts):
                ops[state].setdefault(target, {})[kind] = n
                flat[f"{state} {target}.{kind}"] = n
            oldest_pending = conn.execute(oldest).scalar()
        by_stage = self.count_by_stage()
        return {
            "ledger": self.where,
            "account": self.account,
            "schema": self.schema_revision,
            "orders_total": sum(by_stage.values()),
            "orders_by_stage": by_stage,
            "operations": dict(sorted(flat.items())),
            "pending_operations": ops["pending"],
            "failed_operations": ops["failed"],
            "pending_total": sum(n for kinds in ops["pending"].values() for n in kinds.values()),
            "failed_total": sum(n for kinds in ops["failed"].values() for n in kinds.values()),
            "oldest_pending_at": oldest_pending.isoformat() if oldest_pending else None,
            "last_runs": [r.to_json() for r in self.last_runs(runs)],
        }


__all__ = ["MIGRATIONS_DIR", "Ledger"]
