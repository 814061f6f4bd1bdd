"""Reconciliation job: build the three frames from real sources, run the rules, write a report.

Public API (what the sync service and the CLI call)::

    result = write_report(
        google_orders,            # Iterable[dict] of Google v2 Order JSON, or a GOOGLE frame
        ledger_orders,            # Iterable[dict | OrderRecord] from Ledger.iter_orders(), a LEDGER
                                  # frame, or None
        oms,                      # OMS frame from frames_from_square_orders(...) or
                                  # frames_from_feed(...) (or a loaded snapshot), or None
        settings=settings.reports,  # ReportsSettings: dir, SLA hours, include_pii, excel_bom
        now=datetime.now(UTC),    # timezone-aware; also names the run
        out_dir=Path(settings.reports.dir),
        run_id=None,              # default: now as 20261123T101500Z
        save_inputs=False,        # also write google/ledger/oms.parquet snapshots into the run
        failed_operations=(),     # Iterable[dict] from Ledger.failed_intents()
        rejects=None,             # REJECTS frame from frames_from_rejects(...), or None
        freshness=None,           # rules.Freshness: how far the ledger's view of Google reaches
    )
    result.path, result.orders, result.breaks, result.by_category, result.by_severity, result.critical

    frames_from_google_orders(orders, include_pii=False) -> GOOGLE frame  (streamed in chunks)
    frames_from_ledger(orders, failed=()) -> LEDGER frame
    frames_from_square_orders(orders) -> OMS frame;  frames_from_feed(rows) -> OMS frame
    feed_rows_from_shipments(shipments) -> rows for frames_from_feed (what the ledger took from the feed)
    frames_from_rejects(rejects, resolve) -> REJECTS frame
    save_snapshot(frame, path); load_snapshot(path, kind=None) -> frame   (.csv or .parquet)

The frame schemas are documented in ``sync.domain.reconcile.schema``.

Files written under ``out_dir/<run-id>/``: orders.csv, breaks.csv, summary.csv, index.html (and
the snapshots when asked). The run is assembled in a hidden temporary directory beside it and
renamed into place, so readers never see a half-written report; rerunning a run-id replaces the
old report only once the new one is complete (a failed rerun leaves the old one untouched).

Modules: ``report_frames`` (Google, ledger and rejects frames), ``report_oms`` (Square and the
feed), ``report_snapshots`` (snapshot files), ``report_files`` (the CSV safety rule, CSV writing,
the atomic publish), ``report_html`` (index.html). This module writes a run and re-exports what
callers use.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.service.report_files import MONEY_COLUMNS, neutralise, publish, write_csv
from sync.service.report_frames import (
    CHUNK_ROWS,
    frames_from_google_orders,
    frames_from_ledger,
    frames_from_rejects,
    google_order_amount,
)
from sync.service.report_html import render_html
from sync.service.report_oms import feed_rows_from_shipments, frames_from_feed, frames_from_square_orders
from sync.service.report_snapshots import SnapshotKind, load_snapshot, save_snapshot

__all__ = [
    "CHUNK_ROWS",
    "MONEY_COLUMNS",
    "RUN_ID_RE",
    "WRITE_CHUNK_ORDERS",
    "ReportResult",
    "SnapshotKind",
    "feed_rows_from_shipments",
    "frames_from_feed",
    "frames_from_google_orders",
    "frames_from_ledger",
    "frames_from_rejects",
    "frames_from_square_orders",
    "google_order_amount",
    "load_snapshot",
    "neutralise",
    "render_html",
    "save_snapshot",
    "write_report",
]

WRITE_CHUNK_ORDERS = 100_000
RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


@dataclass
class ReportResult:
    path: Path
    run_id: str
    orders: int
    breaks: int
    by_category: dict[str, int] = field(default_factory=dict)
    by_category_severity: dict[tuple[str, str], int] = field(default_factory=dict)
    by_severity: dict[str, int] = field(default_factory=dict)
    critical: int = 0
    seconds: float = 0.0


def _frame_or_build(source: Any, builder: Any, **kw: Any) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else builder(source, **kw)


def write_report(
    google_orders: Iterable[Mapping[str, Any]] | pd.DataFrame,
    ledger_orders: Iterable[Any] | pd.DataFrame | None,
    oms: pd.DataFrame | None,
    *,
    settings: ReportsSettings,
    now: datetime,
    out_dir: Path,
    run_id: str | None = None,
    save_inputs: bool = False,
    failed_operations: Iterable[Any] = (),
    rejects: pd.DataFrame | None = None,
    freshness: rules.Freshness | None = None,
) -> ReportResult:
    """Reconcile and write ``out_dir/<run-id>/`` atomically; see the module docstring."""
    started = time.perf_counter()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    run_id = run_id or now_ts.strftime("%Y%m%dT%H%M%SZ")
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '.', '_' or '-'")

    google = _frame_or_build(google_orders, frames_from_google_orders, include_pii=settings.include_pii)
    if not settings.include_pii:
        google = google.drop(columns=[c for c in rules.PII_COLUMNS if c in google.columns])
    ledger = None
    if ledger_orders is not None:
        ledger = _frame_or_build(ledger_orders, frames_from_ledger, failed=failed_operations)
    slas = rules.Slas(settings.unacknowledged_sla_hours, settings.ship_sla_hours, settings.delivery_sla_hours)
    rec = rules.reconcile(google, ledger, oms, slas=slas, now=now_ts, rejects=rejects, freshness=freshness)
    summary = rules.summarise(rec)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        bom = settings.excel_bom
        # orders.csv in slices: formatting a million rows of strings at once doubles peak memory.
        slices = (
            rules.orders_table(rec.orders.iloc[i : i + WRITE_CHUNK_ORDERS])
            for i in range(0, max(len(rec.orders), 1), WRITE_CHUNK_ORDERS)
        )
        write_csv(slices, tmp / "orders.csv", bom)
        write_csv(rec.breaks, tmp / "breaks.csv", bom)
        write_csv(summary, tmp / "summary.csv", bom)
        html = render_html(run_id=run_id, now=now_ts, summary=summary, breaks=rec.breaks)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        if save_inputs:
            save_snapshot(google, tmp / "google.parquet")
            if ledger is not None:
                save_snapshot(ledger, tmp / "ledger.parquet")
            if oms is not None:
                save_snapshot(oms, tmp / "oms.parquet")
        # mkdtemp makes 0700; a report is meant to be read by the ops team like any other file.
        os.chmod(tmp, 0o755)  # noqa: S103
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = rec.breaks["category"].value_counts()
    per_severity = rec.breaks.groupby(["category", "severity"], observed=True).size()
    severities = rec.breaks["severity"].value_counts()
    return ReportResult(
        path=final,
        run_id=run_id,
        orders=len(rec.orders),
        breaks=len(rec.breaks),
        by_category={str(k): int(v) for k, v in counts.items() if v},
        by_category_severity={(str(c), str(s)): int(n) for (c, s), n in per_severity.items()},
        by_severity={str(k): int(v) for k, v in severities.items() if v},
        critical=int((rec.breaks["severity"] == "critical").sum()),
        seconds=time.perf_counter() - started,
    )
