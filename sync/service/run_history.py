"""How past runs read to the people and machines that watch the job: success, reason, age.

A run *succeeded* when the cycle finished with nothing left failing (outcome ``ok``); a cycle
whose orders failed or whose feed rows were rejected finished, but not successfully, which is what
``ordersync_last_success_timestamp_seconds`` and `status`'s "last success" must show.
"""

from __future__ import annotations

from typing import Any

from sync.adapters.ledger import Ledger, RunRecord
from sync.config import DEFAULT_ACCOUNT

SUCCESS_OUTCOMES = ("ok",)
LAST_REPORT_KEY = "reports.last"  # ledger key/value: the last report of a run (status's breaks)


def run_reason(record: RunRecord) -> str:
    """Why a run ended as it did, in a few words from its own summary ("" for a clean run)."""
    summary = record.summary or {}
    reasons = []
    if record.outcome == "running":
        return "still running (or its process died; the next cycle marks it interrupted)"
    if record.outcome == "interrupted":
        return "the process ended before the run finished; its work resumes next cycle"
    if record.outcome == "error":
        reasons.append("the cycle stopped on an error (see that run's log)")
    failed = int(summary.get("failed") or 0)
    if failed:
        reasons.append(f"{failed} order{'s' if failed != 1 else ''} failed")
    rejects = int(summary.get("rejects") or 0)
    if rejects:
        reasons.append(f"{rejects} feed row{'s' if rejects != 1 else ''} rejected")
    if summary.get("square_unavailable"):
        reasons.append("Square unavailable")
    if summary.get("abandoned"):
        reasons.append("stopped between steps")
    return "; ".join(reasons)


def run_entry(record: RunRecord, account: str = DEFAULT_ACCOUNT) -> dict[str, Any]:
    """One element of `status --json`'s ``runs[]`` (design.md §8)."""
    return {
        "account": account,
        "run_id": record.id,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "outcome": record.outcome,
        "reason": run_reason(record),
        "summary": record.summary,
    }


def remember_last_report(ledger: Ledger, report: Any, run_id: int) -> None:
    """Keep the last report's figures in the ledger, for `status` (breaks per account)."""
    ledger.set_value(
        LAST_REPORT_KEY,
        {
            "run_id": run_id,
            "report_id": str(report.run_id),
            "path": str(report.path),
            "breaks": int(report.breaks),
            "by_severity": {str(k): int(v) for k, v in dict(report.by_severity).items()},
        },
    )
