"""The context of a live report (``ordersync run`` / ``report``), read from the ledger, and the
run history the next reports' trend is drawn from."""

from __future__ import annotations

from pathlib import Path

from sync.adapters.ledger import Ledger
from sync.config import Settings
from sync.service.report_context import CycleHealth, ReportContext, TrendPoint
from sync.service.run_history import SUCCESS_OUTCOMES, run_reason

HISTORY_RUNS = 19  # earlier reports on the trend (with this one: 20)


def live_context(settings: Settings, ledger: Ledger, open_rejects: int) -> ReportContext:
    """The page's context for a live report: the account, the last cycle's health (the one just
    finished, for ``ordersync run``) as the ledger recorded it, the newest rejects file while rows
    are open, and the earlier reports' figures."""
    runs = ledger.last_runs(1)
    success = ledger.last_run_with_outcome(SUCCESS_OUTCOMES)
    health = None
    if runs:
        last, summary = runs[0], runs[0].summary or {}
        health = CycleHealth(
            outcome=last.outcome,
            exit_code=summary.get("exit_code"),
            failed_operations=int(summary.get("failed") or 0),
            new_rejects=int(summary.get("new_rejects") or 0),
            last_success=(success.finished_at or success.started_at) if success else None,
            run_number=last.id,
            reason=run_reason(last),
        )
    rejects_path = None
    folder = Path(settings.shipments.rejects_dir)
    if open_rejects and folder.is_dir():
        files = sorted(folder.glob("rejects-*.csv"), key=lambda p: p.stat().st_mtime)
        rejects_path = files[-1] if files else folder
    history = tuple(
        TrendPoint.from_figures(r.report_id, r.figures) for r in ledger.report_history(HISTORY_RUNS)
    )
    return ReportContext(
        merchant_id=settings.google.merchant_id,
        sandbox=settings.google.sandbox,
        health=health,
        rejects_path=rejects_path,
        history=history,
    )


def remember_report(ledger: Ledger, trend: TrendPoint | None) -> None:
    """Keep this report's figures for the next reports' trend."""
    if trend is not None:
        ledger.record_report(trend.report_id, trend.figures())
