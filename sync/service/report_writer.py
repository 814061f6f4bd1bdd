"""Writing a report run: ``ReportResult``, run ids, and the one place a run folder is assembled
(orders.csv streamed, then breaks.csv, summary.csv, index.html, the marker; published atomically,
``latest`` updated, old runs pruned). Used by ``reconciliation`` for whole and partitioned reports.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.domain.live_breaks import ChannelCounts
from sync.service.report_context import ReportContext, TrendPoint
from sync.service.report_files import (
    MARKER,
    previous_run,
    prune_runs,
    publish,
    reserve_run_id,
    update_latest,
    write_csv,
)
from sync.service.report_html import frame_records, render_html
from sync.service.report_returns import returns_section
from sync.service.report_snapshots import save_snapshot

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
    trend: TrendPoint | None = None  # this report's headline figures (the ledger keeps them)

    def to_json(self) -> dict[str, Any]:
        """``ordersync report --json`` (and the report part of ``run --json``)."""
        return {
            "report": str(self.path),
            "run_id": self.run_id,
            "orders": self.orders,
            "breaks": self.breaks,
            "critical": self.critical,
            "by_severity": self.by_severity,
            "by_category": self.by_category,
            "seconds": round(self.seconds, 3),
        }


def frame_or_build(source: Any, builder: Any, **kw: Any) -> pd.DataFrame:
    return source if isinstance(source, pd.DataFrame) else builder(source, **kw)


def run_id_for(now: datetime, run_id: str | None) -> tuple[pd.Timestamp, str | None]:
    """(now in UTC, the run id asked for: None = make one from ``now``, unique in its folder)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    if run_id is not None and not RUN_ID_RE.match(run_id):
        raise ValueError(f"run id {run_id!r} must be letters, digits, '.', '_' or '-'")
    return now_ts, run_id


def slices(orders: pd.DataFrame, *, empty: bool = True) -> Iterator[pd.DataFrame]:
    """orders.csv in slices: formatting a million rows of strings at once doubles peak memory.
    ``empty``: an empty frame still gives one (empty) slice, for the header."""
    for i in range(0, max(len(orders), 1 if empty else 0), WRITE_CHUNK_ORDERS):
        yield rules.orders_table(orders.iloc[i : i + WRITE_CHUNK_ORDERS])


@dataclass
class Totals:
    """What the writer learns while orders.csv is written: the rest of the report."""

    orders: int = 0
    breaks: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    trend: TrendPoint | None = None


def write_run(
    out_dir: Path,
    run_id: str | None,
    now_ts: pd.Timestamp,
    settings: ReportsSettings,
    orders: Iterable[pd.DataFrame],
    totals: Totals,
    snapshots: Mapping[str, pd.DataFrame | None] | None = None,
    context: ReportContext | None = None,
    returns: pd.DataFrame | None = None,
    *,
    extra_csvs: Mapping[str, pd.DataFrame] | None = None,
    live: tuple[ChannelCounts, ...] | None = None,
) -> Path:
    """Write ``out_dir/<run-id>/`` atomically: orders.csv from ``orders`` (orders_table slices,
    consumed first), then breaks.csv, summary.csv, returns.csv (``returns``: the open customer
    returns; None: not known, no file) and index.html from ``totals`` (complete once ``orders``
    is exhausted), the snapshots when given; ``extra_csvs``: more CSVs by file name
    (live_orders.csv), ``live``: the page's live-channel figures. Then ``out_dir/latest`` points at it and
    run folders older than ``[reports] keep_days`` are pruned (report_files)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if run_id is None:  # the UTC second, made unique in the folder ("-2", "-3", ...)
        run_id = reserve_run_id(out_dir, now_ts.strftime("%Y%m%dT%H%M%SZ"))
    final = out_dir / run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.tmp-", dir=out_dir))
    try:
        bom = settings.excel_bom if settings.excel_bom is not None else settings.include_pii
        write_csv(orders, tmp / "orders.csv", bom)
        assert totals.breaks is not None and totals.summary is not None
        write_csv(totals.breaks, tmp / "breaks.csv", bom)
        write_csv(totals.summary, tmp / "summary.csv", bom)
        if returns is not None:
            write_csv(returns, tmp / "returns.csv", bom)
        for name, frame in (extra_csvs or {}).items():
            write_csv(frame, tmp / name, bom)
        rejects = context.rejects_path if context is not None else None
        rejects_href = os.path.relpath(rejects, final) if rejects is not None and rejects.exists() else None
        html = render_html(
            run_id=run_id,
            now=now_ts,
            summary=totals.summary,
            breaks=totals.breaks,
            context=context,
            previous=previous_run(out_dir, run_id),
            rejects_href=rejects_href,
            returns_html=returns_section(returns, settings.return_sla_hours),
            live=live,
        )
        (tmp / "index.html").write_text(html, encoding="utf-8")
        for name, snapshot in (snapshots or {}).items():
            if snapshot is not None:
                save_snapshot(snapshot, tmp / f"{name}.parquet")
        (tmp / MARKER).write_text(f"ordersync report {run_id}\n", encoding="utf-8")
        # mkdtemp makes 0700; a report is meant to be read by the ops team like any other file.
        os.chmod(tmp, 0o755)  # noqa: S103
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.is_dir() and not any(final.iterdir()):
            final.rmdir()  # the id we reserved and never filled
        raise
    totals.trend = TrendPoint.from_summary(run_id, frame_records(totals.summary))
    update_latest(out_dir, run_id)
    prune_runs(out_dir, settings.keep_days, now_ts.to_pydatetime(), keep=run_id)
    return final


def result_of(path: Path, run_id: str, totals: Totals, started: float) -> ReportResult:
    breaks = totals.breaks
    assert breaks is not None
    counts = breaks["category"].value_counts()
    # Keyed by the (category, severity) MultiIndex: pairs, which pandas-stubs type as Hashable.
    per_severity = cast(
        "Iterable[tuple[tuple[str, str], int]]",
        breaks.groupby(["category", "severity"], observed=True).size().items(),
    )
    severities = breaks["severity"].value_counts()
    return ReportResult(
        path=path,
        run_id=run_id,
        orders=totals.orders,
        breaks=len(breaks),
        by_category={str(k): int(v) for k, v in counts.items() if v},
        by_category_severity={(str(c), str(s)): int(n) for (c, s), n in per_severity},
        by_severity={str(k): int(v) for k, v in severities.items() if v},
        critical=int((breaks["severity"] == "critical").sum()),
        seconds=time.perf_counter() - started,
        trend=totals.trend,
    )


def slas_of(settings: ReportsSettings) -> rules.Slas:
    return rules.Slas(
        settings.unacknowledged_sla_hours,
        settings.ship_sla_hours,
        settings.delivery_sla_hours,
        settings.return_sla_hours,
    )


