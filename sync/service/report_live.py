"""A live report (``ordersync run`` / ``report``): its inputs read from the ledger, Google and the
OMS, its context (account, cycle health), and the run history the next reports' trend is drawn from.
Imported only when a report is written (it brings pandas)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger
from sync.adapters.ledger.mapping import line_counts_json, shipment_lines_json
from sync.adapters.square_gateway import SquareGateway
from sync.config import Settings, enabled_live_channels
from sync.domain.intents import IntentRecord
from sync.domain.progress import StoredShipment
from sync.domain.reconcile import Freshness
from sync.domain.records import OrderRecord
from sync.progress import Advance, counted
from sync.service.reconciliation import (
    ReportResult,
    feed_rows_from_shipments,
    frames_from_feed,
    frames_from_rejects,
    frames_from_square_orders,
    write_report,
)
from sync.service.report_context import CycleHealth, ReportContext, TrendPoint
from sync.service.report_returns import read_followed_returns
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


def write_live_report(
    settings: Settings,
    ledger: Ledger,
    google: GoogleGateway,
    square: SquareGateway | None,
    *,
    out_dir: str | None = None,
    save_inputs: bool = False,
    include_pii: bool | None = None,
    progress: Advance | None = None,
) -> ReportResult:

    reports = settings.reports
    if include_pii is not None and include_pii != reports.include_pii:
        reports = reports.model_copy(update={"include_pii": include_pii})
    # The merchant's own view: Square when it is the order system, else what ordersync took from
    # the warehouse's feed (the ledger's shipments: archived exports and rejected rows change nothing).
    now = datetime.now(UTC)
    oms = None
    # Google's live channels: their Square orders are looked at during the same walk.
    live = None
    if square is not None and enabled_live_channels(settings):
        # The UCP entity models (ucp-sdk) load only when a live channel is on, as for the cycle.
        from sync.service.report_live_orders import LiveOrders

        live = LiveOrders(settings, ledger, now)
    if square is not None:
        # Every Square order of the location: the merchant's view.
        orders = square.iter_orders_updated_since(None, location_ids=[square.location_id()])
        oms = frames_from_square_orders(live.watch(orders) if live is not None else orders)
    elif settings.shipments.feeds:
        oms = frames_from_feed(feed_rows_from_shipments(shipment_dict(s) for s in ledger.iter_shipments()))
    open_rejects = list(ledger.open_rejects().values())
    refs = {r.order_ref for r in open_rejects if r.order_ref}
    resolve = {ref: ref for ref in ledger.get_orders_light(refs)}
    by_merchant_id = ledger.find_by_merchant_order_ids(refs - set(resolve))
    resolve |= {mid: o.google_order_id for mid, o in by_merchant_id.items()}
    # The last cycle that got through its Google steps: what the ledger knows of Google reaches
    # its start (polls, whole cancellations). ("failed_orders": the name before exit codes.)
    last_cycle = next(
        (r for r in ledger.last_runs(20) if r.outcome in ("ok", "failed", "failed_orders")), None
    )
    freshness = Freshness(
        cycle_started_at=last_cycle.started_at if last_cycle is not None else None,
        recheck_minutes=settings.google.recheck_open_orders_minutes,
    )
    google_orders = google.iter_orders()
    if progress is not None:
        google_orders = counted(google_orders, progress, "reading Google orders")
    result = write_report(
        google_orders,
        (ledger_row_dict(r) for r in ledger.iter_orders()),
        oms,
        failed_operations=[failed_dict(i) for i in ledger.failed_intents()],
        settings=reports,
        now=now,
        out_dir=Path(out_dir or reports.dir),
        save_inputs=save_inputs,
        rejects=frames_from_rejects(open_rejects, resolve),
        freshness=freshness,
        context=live_context(settings, ledger, len(open_rejects)),  # account, cycle health, trend
        # Customer returns are followed by the Square refund steps only: without Square, not known.
        returns=read_followed_returns(ledger) if square is not None else None,
        live=live.finish(ledger, oms) if live is not None else None,
    )
    remember_report(ledger, result.trend)
    return result


def ledger_row_dict(record: OrderRecord) -> dict[str, Any]:
    """An order as the reconciliation reads it (its line counters by the ledger's JSON names)."""
    return {
        "google_order_id": record.google_order_id,
        "merchant_order_id": record.merchant_order_id,
        "square_order_id": record.square_order_id,
        "status": record.status,
        "stage": record.stage,
        "acknowledged": record.acknowledged,
        "placed_at": record.placed_at,
        "currency": record.currency,
        "total_minor": record.total_minor,
        "line_items": line_counts_json(record.line_items),
        "last_synced_at": record.last_synced_at,
        "last_seen_at": record.last_seen_at,
        "square_skip_reason": record.square_skip_reason,
    }


def shipment_dict(shipment: StoredShipment) -> dict[str, Any]:
    """A ledger shipment as the reconciliation reads it."""
    return {
        "google_order_id": shipment.order_id,
        "shipment_id": shipment.shipment_id,
        "state": shipment.state.value,
        "lines": shipment_lines_json(shipment.lines),
        "tracking_id": shipment.tracking_id,
        "shipped_at": shipment.shipped_at,
        "delivered_at": shipment.delivered_at,
    }


def failed_dict(record: IntentRecord) -> dict[str, Any]:
    return {
        "google_order_id": record.order_id,
        "kind": record.kind,
        "operation_id": record.key,
        "reason": record.error_reason,
        "error": record.last_error,
        "updated_at": record.updated_at,
    }
