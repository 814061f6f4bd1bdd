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
        save_inputs=False,        # also write google/ledger/oms/rejects.parquet snapshots into the run
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
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync.config import ConfigError, ReportsSettings, Settings
from sync.domain import reconcile as rules
from sync.domain.reconcile.returns import returns_frame, returns_summary
from sync.domain.refunds.returns import FollowedReturn
from sync.service import report_partitions
from sync.service.report_context import ReportContext
from sync.service.report_files import MONEY_COLUMNS, neutralise
from sync.service.report_frames import (
    CHUNK_ROWS,
    frames_from_google_orders,
    frames_from_ledger,
    frames_from_rejects,
    google_order_amount,
)
from sync.service.report_html import render_html
from sync.service.report_live_output import LIVE_ORDERS_CSV, LiveOutput
from sync.service.report_oms import feed_rows_from_shipments, frames_from_feed, frames_from_square_orders
from sync.service.report_snapshots import SnapshotKind, load_snapshot, save_snapshot
from sync.service.report_writer import (
    RUN_ID_RE,
    WRITE_CHUNK_ORDERS,
    ReportResult,
    Totals,
    frame_or_build,
    result_of,
    run_id_for,
    slas_of,
    slices,
    write_run,
)

__all__ = [
    "CHUNK_ROWS",
    "MONEY_COLUMNS",
    "RUN_ID_RE",
    "WRITE_CHUNK_ORDERS",
    "ReportContext",
    "ReportResult",
    "SnapshotFiles",
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
    "report_from_snapshots",
    "save_snapshot",
    "write_report",
    "write_snapshot_report",
]

PARTITION_THREADS = max(1, min(2, os.cpu_count() or 1))  # partitions reconciled at once


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
    context: ReportContext | None = None,
    returns: Sequence[FollowedReturn] | None = None,
    live: LiveOutput | None = None,
) -> ReportResult:
    """Reconcile and write ``out_dir/<run-id>/`` atomically; see the module docstring. ``context``:
    what the page says besides the reconciliation (account, cycle health, rejects, history);
    ``returns``: the customer returns still waiting for money (returns.csv, orders.csv
    qty_return_open, a summary section; None: not known, e.g. snapshots); ``live``: Google's live
    channels (live_orders.csv, their breaks and summary rows)."""
    started = time.perf_counter()
    now_ts, run_id = run_id_for(now, run_id)
    google = frame_or_build(
        google_orders, frames_from_google_orders, include_pii=settings.include_pii, returns=returns
    )
    if not settings.include_pii:
        google = google.drop(columns=[c for c in rules.PII_COLUMNS if c in google.columns])
    ledger = None
    if ledger_orders is not None:
        ledger = frame_or_build(ledger_orders, frames_from_ledger, failed=failed_operations)
    rec = rules.reconcile(
        google, ledger, oms, slas=slas_of(settings), now=now_ts, rejects=rejects, freshness=freshness
    )
    extra: dict[str, pd.DataFrame] = {}
    if live is not None:  # breaks counted and judged (--fail-on-breaks) like the others
        rec = rules.Reconciliation(rec.orders, rules.merge_finished(rec.breaks, live.breaks))
        extra[LIVE_ORDERS_CSV] = live.rows
    summary = rules.summarise(rec)
    table = None
    if returns is not None:
        table = returns_frame(returns, now=now_ts, return_hours=settings.return_sla_hours, breaks=rec.breaks)
        summary = pd.concat([summary, returns_summary(table)], ignore_index=True)
    if live is not None:
        summary = pd.concat([summary, live.summary], ignore_index=True)
    totals = Totals(orders=len(rec.orders), breaks=rec.breaks, summary=summary)
    snapshots = {"google": google, "ledger": ledger, "oms": oms, "rejects": rejects} if save_inputs else None
    path = write_run(
        out_dir, run_id, now_ts, settings, slices(rec.orders), totals, snapshots, context,
        returns=table, extra_csvs=extra, live=live.counts if live is not None else None,
    )
    return result_of(path, path.name, totals, started)


@dataclass
class _PartitionResult:
    orders: int
    tables: list[pd.DataFrame]  # orders.csv slices of the partition's Google orders
    elsewhere: pd.DataFrame | None  # its orders Google does not list (written after all others)
    breaks: pd.DataFrame
    counts: pd.DataFrame


def _in_order(
    work: Callable[[report_partitions.Partition], _PartitionResult],
    parts: Iterator[report_partitions.Partition],
) -> Iterator[_PartitionResult]:
    """``work`` on each partition, PARTITION_THREADS at a time (Arrow and numpy release the GIL
    in most of it), results in partition order; at most that many partitions in memory."""
    with ThreadPoolExecutor(max_workers=PARTITION_THREADS, thread_name_prefix="report") as pool:
        pending: deque[Future[_PartitionResult]] = deque()
        for part in parts:
            pending.append(pool.submit(work, part))
            del part
            if len(pending) >= PARTITION_THREADS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class SnapshotFiles:
    """The snapshot files of ``ordersync report --google F [--ledger F] [--oms F] [--rejects F]``."""

    google: Path
    ledger: Path | None = None
    oms: Path | None = None
    rejects: Path | None = None


def write_snapshot_report(
    files: SnapshotFiles,
    *,
    settings: ReportsSettings,
    now: datetime,
    out_dir: Path,
    run_id: str | None = None,
    rows_per_partition: int = report_partitions.ROWS_PER_PARTITION,
    context: ReportContext | None = None,
) -> ReportResult:
    """Reconcile exported files (CSV or Parquet) without credentials or a live ledger. Parquet
    snapshots in the usual line layout are reconciled in partitions (``report_partitions``:
    flat memory, the same report); anything else is read whole."""
    started = time.perf_counter()
    now_ts, run_id = run_id_for(now, run_id)
    named = {"google": files.google, "ledger": files.ledger, "oms": files.oms, "rejects": files.rejects}
    plan = report_partitions.plan(named, rows_per_partition)
    if plan is None:
        frames = {k: load_snapshot(v, k) if v else None for k, v in named.items()}  # type: ignore[arg-type]
        google = frames["google"]
        assert google is not None
        return write_report(
            google, frames["ledger"], frames["oms"], settings=settings, now=now, out_dir=out_dir,
            run_id=run_id, rejects=frames["rejects"], context=context,
        )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    spill_dir = Path(tempfile.mkdtemp(prefix=".partitions-", dir=out_dir))
    try:
        report_partitions.spill(plan, spill_dir)
        totals = Totals()

        slas = slas_of(settings)

        def work(part: report_partitions.Partition) -> _PartitionResult:
            google = part.google
            if not settings.include_pii:
                google = google.drop(columns=[c for c in rules.PII_COLUMNS if c in google.columns])
            rec = rules.reconcile_part(
                google, part.ledger, part.oms, rejects=part.rejects, slas=slas, now=now_ts, shared=plan.shared
            )
            in_google = rec.orders["in_google"].to_numpy(dtype=bool)
            mine = rec.orders if in_google.all() else rec.orders[in_google]
            return _PartitionResult(
                orders=len(rec.orders),
                tables=list(slices(mine, empty=False)),  # formatted here, in the worker thread
                elsewhere=None if in_google.all() else rec.orders[~in_google],
                breaks=rec.breaks,
                counts=rules.summary_counts(rec),
            )

        def orders() -> Iterator[pd.DataFrame]:
            breaks, counts, elsewhere = [], [], []
            written = 0
            for result in _in_order(work, report_partitions.partitions(plan, spill_dir)):
                breaks.append(result.breaks)
                counts.append(result.counts)
                totals.orders += result.orders
                if result.elsewhere is not None:  # Google's orders first, the others after them all
                    elsewhere.append(result.elsewhere)
                written += sum(len(t) for t in result.tables)
                yield from result.tables
            if elsewhere:
                others = pd.concat(elsewhere, ignore_index=True)
                others = others.sort_values("google_order_id", kind="stable", ignore_index=True)
                yield from slices(others, empty=written == 0)
            elif written == 0:
                yield rules.orders_table(pd.DataFrame(columns=[*rules.ORDER_COLUMNS, "in_google"]))
            totals.breaks = rules.finish(breaks)
            totals.summary = rules.summary_table(counts, totals.breaks)

        path = write_run(out_dir, run_id, now_ts, settings, orders(), totals, context=context)
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    return result_of(path, path.name, totals, started)


def report_from_snapshots(
    settings: Settings,
    google_file: str,
    oms_file: str | None,
    *,
    out_dir: str | None,
    include_pii: bool,
    ledger_file: str | None = None,
    rejects_file: str | None = None,
) -> ReportResult:
    """`ordersync report --google F …`: exported files (CSV or Parquet), no credentials, no API,
    no live ledger; read errors are configuration errors (exit 2)."""
    reports = settings.reports.model_copy(update={"include_pii": include_pii or settings.reports.include_pii})
    files = SnapshotFiles(
        google=Path(google_file),
        ledger=Path(ledger_file) if ledger_file else None,
        oms=Path(oms_file) if oms_file else None,
        rejects=Path(rejects_file) if rejects_file else None,
    )
    try:
        return write_snapshot_report(
            files, settings=reports, now=datetime.now(UTC), out_dir=Path(out_dir or reports.dir)
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read snapshot: {exc}") from exc
