"""What a report page says besides the reconciliation: whose account, how the cycle went, where
the rejects are, and how the last runs looked (the trend). Plain records, built by the runner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.domain.reconcile import GOOGLE_STATUSES
from sync.domain.severity import SEVERITIES


@dataclass(frozen=True)
class CycleHealth:
    """The sync cycle this report follows (``ordersync run``), or the last one (``report``)."""

    outcome: str  # ok, failed, error, interrupted, running, ... (the ledger's run outcome)
    exit_code: int | None = None
    failed_operations: int = 0
    new_rejects: int = 0
    last_success: datetime | None = None
    run_number: int | None = None  # the ledger's run id
    reason: str = ""  # why it ended as it did, in a few words ("" when clean)

    @property
    def clean(self) -> bool:
        return self.outcome == "ok" and not self.exit_code


@dataclass(frozen=True)
class TrendPoint:
    """One report's headline figures (kept in the ledger's report_history)."""

    report_id: str
    orders_by_status: dict[str, int] = field(default_factory=dict)
    breaks_by_severity: dict[str, int] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {"orders_by_status": self.orders_by_status, "breaks_by_severity": self.breaks_by_severity}

    @classmethod
    def from_figures(cls, report_id: str, figures: Mapping[str, Any]) -> TrendPoint:
        statuses = {str(k): int(v) for k, v in (figures.get("orders_by_status") or {}).items()}
        severities = {str(k): int(v) for k, v in (figures.get("breaks_by_severity") or {}).items()}
        return cls(report_id, statuses, severities)

    @classmethod
    def from_summary(cls, report_id: str, rows: Iterable[Mapping[str, Any]]) -> TrendPoint:
        """From summary.csv rows (section, key, count)."""
        statuses: dict[str, int] = {}
        severities = dict.fromkeys(SEVERITIES, 0)
        for row in rows:
            if row["section"] == "orders_by_status":
                statuses[str(row["key"])] = statuses.get(str(row["key"]), 0) + int(row["count"])
            elif row["section"] == "breaks_by_severity" and row["key"] in severities:
                severities[str(row["key"])] += int(row["count"])
        ordered = {s: statuses[s] for s in GOOGLE_STATUSES if s in statuses}
        ordered |= {s: n for s, n in statuses.items() if s not in ordered}
        return cls(report_id, ordered, severities)


@dataclass(frozen=True)
class ReportContext:
    """Everything the page shows that is not in the frames. ``merchant_id`` None: a report from
    snapshot files (no account, no cycle)."""

    merchant_id: str | None = None
    sandbox: bool | None = None
    health: CycleHealth | None = None
    rejects_path: Path | None = None  # the rejects file of the cycle, or the rejects folder
    history: tuple[TrendPoint, ...] = ()  # earlier reports, oldest first

