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
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync.config import ConfigError, ReportsSettings, Settings
from sync.domain import reconcile as rules
from sync.service import report_partitions
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

WRITE_CHUNK_ORDERS = 100_000
PARTITION_THREADS = max(1, min(2, os.cpu_count() or 1))  # partitions reconciled at once
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


def _run_id(now: datetime, run_id: str | None) -> tuple[pd.Timestamp, str]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    run_id = run_id or now_ts.strftime("%Y%m%dT%H%M%SZ")
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '.', '_' or '-'")
    return now_ts, run_id


def _slices(orders: pd.DataFrame, *, empty: bool = True) -> Iterator[pd.DataFrame]:
    """orders.csv in slices: formatting a million rows of strings at once doubles peak memory.
    ``empty``: an empty frame still gives one (empty) slice, for the header."""
    for i in range(0, max(len(orders), 1 if empty else 0), WRITE_CHUNK_ORDERS):
        yield rules.orders_table(orders.iloc[i : i + WRITE_CHUNK_ORDERS])


@dataclass
class _Totals:
    """What the writer learns while orders.csv is written: the rest of the report."""

    orders: int = 0
    breaks: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None


def _write_run(
    out_dir: Path,
    run_id: str,
    now_ts: pd.Timestamp,
    settings: ReportsSettings,
    orders: Iterable[pd.DataFrame],
    totals: _Totals,
    snapshots: Mapping[str, pd.DataFrame | None] | None = None,
) -> Path:
    """Write ``out_dir/<run-id>/`` atomically: orders.csv from ``orders`` (orders_table slices,
    consumed first), then breaks.csv, summary.csv and index.html from ``totals`` (complete once
    ``orders`` is exhausted), the snapshots when given."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        bom = settings.excel_bom
        write_csv(orders, tmp / "orders.csv", bom)
        assert totals.breaks is not None and totals.summary is not None
        write_csv(totals.breaks, tmp / "breaks.csv", bom)
        write_csv(totals.summary, tmp / "summary.csv", bom)
        html = render_html(run_id=run_id, now=now_ts, summary=totals.summary, breaks=totals.breaks)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        for name, frame in (snapshots or {}).items():
            if frame is not None:
                save_snapshot(frame, tmp / f"{name}.parquet")
        # mkdtemp makes 0700; a report is meant to be read by the ops team like any other file.
        os.chmod(tmp, 0o755)  # noqa: S103
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _result(path: Path, run_id: str, totals: _Totals, started: float) -> ReportResult:
    breaks = totals.breaks
    assert breaks is not None
    counts = breaks["category"].value_counts()
    per_severity = breaks.groupby(["category", "severity"], observed=True).size()
    severities = breaks["severity"].value_counts()
    return ReportResult(
        path=path,
        run_id=run_id,
        orders=totals.orders,
        breaks=len(breaks),
        by_category={str(k): int(v) for k, v in counts.items() if v},
        by_category_severity={(str(c), str(s)): int(n) for (c, s), n in per_severity.items()},
        by_severity={str(k): int(v) for k, v in severities.items() if v},
        critical=int((breaks["severity"] == "critical").sum()),
        seconds=time.perf_counter() - started,
    )


def _slas(settings: ReportsSettings) -> rules.Slas:
    return rules.Slas(settings.unacknowledged_sla_hours, settings.ship_sla_hours, settings.delivery_sla_hours)


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
    now_ts, run_id = _run_id(now, run_id)
    google = _frame_or_build(google_orders, frames_from_google_orders, include_pii=settings.include_pii)
    if not settings.include_pii:
        google = google.drop(columns=[c for c in rules.PII_COLUMNS if c in google.columns])
    ledger = None
    if ledger_orders is not None:
        ledger = _frame_or_build(ledger_orders, frames_from_ledger, failed=failed_operations)
    rec = rules.reconcile(
        google, ledger, oms, slas=_slas(settings), now=now_ts, rejects=rejects, freshness=freshness
    )
    totals = _Totals(orders=len(rec.orders), breaks=rec.breaks, summary=rules.summarise(rec))
    snapshots = {"google": google, "ledger": ledger, "oms": oms, "rejects": rejects} if save_inputs else None
    path = _write_run(out_dir, run_id, now_ts, settings, _slices(rec.orders), totals, snapshots)
    return _result(path, run_id, totals, started)


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
) -> ReportResult:
    """Reconcile exported files (CSV or Parquet) without credentials or a live ledger. Parquet
    snapshots in the usual line layout are reconciled in partitions (``report_partitions``:
    flat memory, the same report); anything else is read whole."""
    started = time.perf_counter()
    now_ts, run_id = _run_id(now, run_id)
    named = {"google": files.google, "ledger": files.ledger, "oms": files.oms, "rejects": files.rejects}
    plan = report_partitions.plan(named, rows_per_partition)
    if plan is None:
        frames = {k: load_snapshot(v, k) if v else None for k, v in named.items()}  # type: ignore[arg-type]
        google = frames["google"]
        assert google is not None
        return write_report(
            google, frames["ledger"], frames["oms"], settings=settings, now=now, out_dir=out_dir,
            run_id=run_id, rejects=frames["rejects"],
        )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    spill_dir = Path(tempfile.mkdtemp(prefix=f".{run_id}.partitions-", dir=out_dir))
    try:
        report_partitions.spill(plan, spill_dir)
        totals = _Totals()

        slas = _slas(settings)

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
                tables=list(_slices(mine, empty=False)),  # formatted here, in the worker thread
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
                yield from _slices(others, empty=written == 0)
            elif written == 0:
                yield rules.orders_table(pd.DataFrame(columns=[*rules.ORDER_COLUMNS, "in_google"]))
            totals.breaks = rules.finish(breaks)
            totals.summary = rules.summary_table(counts, totals.breaks)

        path = _write_run(out_dir, run_id, now_ts, settings, orders(), totals)
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    return _result(path, run_id, totals, started)


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
