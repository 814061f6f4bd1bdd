"""`ordersync status`: the ledger's summary, without creating a ledger that does not exist yet."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sync.config import Settings
from sync.service.bootstrap import open_ledger
from sync.service.run_history import LAST_REPORT_KEY, SUCCESS_OUTCOMES, run_entry

STATUS_RUNS = 5  # runs `ordersync status` lists


def missing_sqlite_ledger(url: str) -> Path | None:
    """The file of a SQLite ledger that does not exist yet (no cycle has run), else None.
    Opening it would create and migrate an empty one, which a read-only question must not do."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # Ledger() reports a bad URL with its own message
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(str(parsed.database))
    return None if path.exists() else path


def ledger_status(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """Ledger summary for `ordersync status`; ``{"ledger_missing": path}`` before the first cycle.

    Adds ``runs`` (design.md §8: account, run_id, started_at, finished_at, outcome, and a reason)
    and ``last_success`` (ISO time of the last run that finished cleanly, or None).
    """
    missing = missing_sqlite_ledger(settings.ledger.url)
    if missing is not None:
        return {"ledger_missing": str(missing)}
    ledger = open_ledger(settings)
    try:
        summary = ledger.status_summary()
        last = ledger.last_run_with_outcome(SUCCESS_OUTCOMES)
        summary["runs"] = [run_entry(r, settings.account) for r in ledger.last_runs(STATUS_RUNS)]
        summary["last_report"] = ledger.get_value(LAST_REPORT_KEY)
    finally:
        ledger.close()
    at = (last.finished_at or last.started_at) if last else None
    summary["last_success"] = at.isoformat() if at else None
    summary["last_success_run_id"] = last.id if last else None
    age = ((now or datetime.now(UTC)) - at).total_seconds() if at else None
    summary["last_success_age_seconds"] = round(age) if age is not None else None
    return summary
