"""The ``report_history`` table: each report's headline figures, for the report's trend."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, delete, insert, select

from sync.domain.records import ReportHistoryRecord

from .database import LedgerDatabase
from .models import ReportHistory

REPORTS: Table = ReportHistory.__table__  # type: ignore[assignment]
REPORT_HISTORY_KEEP = 100  # rows kept (the trend shows the last few dozen)


class ReportHistoryTable(LedgerDatabase):
    def record_report(
        self, report_id: str, figures: Mapping[str, Any], keep: int = REPORT_HISTORY_KEEP
    ) -> None:
        """Remember a report's headline figures (for the next reports' trend); keeps the account's
        last ``keep``."""
        now = self._clock()
        mine = self._mine(REPORTS)
        row = {"account": self.account, "report_id": report_id, "written_at": now, "figures": dict(figures)}
        with self._write() as conn:
            conn.execute(insert(REPORTS).values(row))
            oldest_kept = conn.execute(
                select(REPORTS.c.id).where(mine).order_by(REPORTS.c.id.desc()).offset(keep - 1).limit(1)
            ).scalar()
            if oldest_kept is not None:
                conn.execute(delete(REPORTS).where(mine, REPORTS.c.id < oldest_kept))

    def report_history(self, n: int = 20) -> list[ReportHistoryRecord]:
        """The ``n`` most recent reports' figures, oldest first."""
        stmt = select(REPORTS).where(self._mine(REPORTS)).order_by(REPORTS.c.id.desc()).limit(n)
        with self._read() as conn:
            found = conn.execute(stmt)
            rows = [ReportHistoryRecord(r.report_id, r.written_at, dict(r.figures or {})) for r in found]
        return rows[::-1]
