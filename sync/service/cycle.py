"""One sync cycle: poll, acknowledge, assign merchant ids, ship, deliver, follow cancellations.

Every mutation follows the ledger-first rule (design.md §5): the intent — order, kind, a
deterministic operationId and the exact custombatch entry — is committed before it is sent, and
marked done, failed (with Google's reason) or left pending (retryable) after. A rerun, even after
``kill -9``, resends pending intents with the same ids; Google answers ``duplicate`` for the ones
that had landed, and that counts as done.

Mutations go through ``orders.custombatch`` in phases, because entries inside one batch have no
guaranteed order: (1) acknowledge / updateMerchantOrderId / cancel, (2) shipLineItems,
(3) updateShipment. An idle cycle costs one list call (unacknowledged orders), plus one list of
recently canceled orders while any order is still open; every ``recheck_open_orders_minutes`` the
open orders are also read back (one custombatch ``get`` per 1,000) to find line items canceled on
Google's side (service/open_orders.py).
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync.adapters.feed_reader import FeedFile, printable
from sync.adapters.google_gateway import GoogleApiError, GoogleGateway, entry_error
from sync.adapters.ledger.repository import IntentRecord, IntentResult, Ledger, NewIntent
from sync.adapters.rejects_file import write_rejects_file
from sync.adapters.square_gateway import SquareApiError
from sync.config import Settings
from sync.domain import feed as feed_rules
from sync.domain import operations, planning
from sync.domain import rejects as reject_rules
from sync.domain.feed import FeedReject, RejectKind
from sync.domain.orders import Order, OrderDataError, Shipment, ShipmentLine
from sync.exit_codes import ExitCode, Outage, worst
from sync.logs import get_logger
from sync.service.open_orders import recheck_open_orders
from sync.service.outages import SQUARE, google_outage, square_outage
from sync.service.square_bridge import SquareBridge

log = get_logger(__name__)

PHASES: tuple[frozenset[str], ...] = (
    frozenset({"acknowledge", "updateMerchantOrderId", "cancel", "cancelLineItem"}),
    frozenset({"shipLineItems"}),
    frozenset({"updateShipment"}),
)
GOOGLE = "google"


# Allocations between two young-generation collections during a cycle (CPython's default: 700).
CYCLE_GC_THRESHOLD = 100_000


def utcnow() -> datetime:
    return datetime.now(UTC)


_gc_lock = threading.Lock()
_gc_cycles = 0  # cycles running in this process (a queue worker with --concurrency runs several)
_gc_saved: tuple[tuple[int, int, int], bool] | None = None


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector far less often for the duration of a cycle.

    A cycle allocates hundreds of thousands of containers that stay alive (decoded pages, orders,
    ledger records, feed rows) and makes almost no reference cycles, so with the default threshold
    the collector rescans the same live objects thousands of times: about a third of a 10,000-order
    cycle's CPU. Objects alive before the cycle (modules, adapters) are frozen out of those scans.
    Everything is restored afterwards, so a long-running scheduler collects as usual between cycles.
    Concurrent cycles of one process (threads of a queue worker) share one setting: the first to
    start changes it, the last to finish restores it.
    """
    global _gc_cycles, _gc_saved
    with _gc_lock:
        if _gc_cycles == 0:
            thresholds = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0  # a host process that froze objects itself keeps them so
            if freeze:
                gc.freeze()
            gc.set_threshold(max(thresholds[0], CYCLE_GC_THRESHOLD), *thresholds[1:])
            _gc_saved = (thresholds, freeze)
        _gc_cycles += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_cycles -= 1
            if _gc_cycles == 0 and _gc_saved is not None:
                (thresholds, freeze), _gc_saved = _gc_saved, None
                gc.set_threshold(*thresholds)
                if freeze:
                    gc.unfreeze()


@dataclass
class CycleResult:
    run_id: int = 0
    orders_seen: int = 0
    acknowledged: int = 0
    merchant_ids: int = 0
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    lines_canceled: int = 0  # orders found with line items canceled on Google's side
    resent: int = 0
    square_orders: int = 0
    square_unmapped_lines: int = 0  # lines sent to Square as ad-hoc lines (no catalog variation)
    square_skipped: int = 0  # orders kept out of Square: already shipped when they would be created
    failed_orders: set[str] = field(default_factory=set)
    rejects: int = 0  # feed rows (or whole files) rejected this cycle
    new_rejects: int = 0  # of which not already rejected (same content) by an earlier cycle
    rejects_file: str | None = None
    api_calls: int = 0
    seconds: float = 0.0
    abandoned: bool = False
    outages: list[Outage] = field(default_factory=list)  # services unusable after retries

    @property
    def square_unavailable(self) -> bool:
        return any(o.service == SQUARE for o in self.outages)

    @property
    def exit_code(self) -> ExitCode:
        codes = [ExitCode.OK]
        if self.outages:
            codes.append(ExitCode.UNAVAILABLE)
        if self.failed_orders or self.new_rejects:
            codes.append(ExitCode.FAILED)
        return worst(codes)

    def outage(self, outage: Outage) -> None:
        """Note a service that failed after its retries (the first failure per service is kept)."""
        if all(o.service != outage.service for o in self.outages):
            self.outages.append(outage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "orders_seen": self.orders_seen,
            "acknowledged": self.acknowledged,
            "merchant_ids": self.merchant_ids,
            "square_orders": self.square_orders,
            "square_unmapped_lines": self.square_unmapped_lines,
            "square_skipped": self.square_skipped,
            "shipped": self.shipped,
            "delivered": self.delivered,
            "canceled": self.canceled,
            "lines_canceled": self.lines_canceled,
            "resent": self.resent,
            "failed": len(self.failed_orders),
            "rejects": self.rejects,
            "new_rejects": self.new_rejects,
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
            "abandoned": self.abandoned,
            "square_unavailable": self.square_unavailable,
            "unavailable": [o.message() for o in self.outages],
            "exit_code": int(self.exit_code),
        }

    def line(self) -> str:
        square = f" square={self.square_orders}" if self.square_orders else ""
        if self.square_skipped:
            square += f" square_skipped={self.square_skipped}"
        if self.square_unmapped_lines:
            square += f" square_unmapped_lines={self.square_unmapped_lines}"
        canceled = f" canceled={self.canceled}"
        if self.lines_canceled:
            canceled += f" lines_canceled={self.lines_canceled}"
        rejects = f" rejected_rows={self.rejects}" if self.rejects else ""
        if self.rejects:
            rejects += f" new_rejects={self.new_rejects}"
        for outage in self.outages:
            rejects += f" {'square' if outage.service == SQUARE else 'google'}=unavailable"
        return (
            f"run {self.run_id}: seen={self.orders_seen} acknowledged={self.acknowledged}{square} "
            f"shipped={self.shipped} delivered={self.delivered}{canceled} "
            f"failed={len(self.failed_orders)}{rejects} api_calls={self.api_calls} seconds={self.seconds:.2f}"
        )


Progress = Callable[[str, int], None]


def _no_progress(_step: str, _advance: int) -> None:
    pass


# A retryable reject re-read from the ledger once its export is gone names its file like this.
NO_LONGER_IN_FEEDS = " [no longer in the feeds]"


@dataclass
class _FeedState:
    events: list[feed_rules.ShipmentEvent]
    rejects: list[FeedReject]
    rows_at: dict[tuple[str, int], feed_rules.FeedRow] = field(default_factory=dict)
    # (order ref, tracking key) of every parcel applied, planned or already settled this cycle.
    accepted: set[tuple[str, str]] = field(default_factory=set)

    def accept(self, event: feed_rules.ShipmentEvent) -> None:
        self.accepted.add((event.order_ref, operations.tracking_key(event.tracking_id)))

    def reject(self, event: feed_rules.ShipmentEvent, reason: str, kind: RejectKind, retryable: bool) -> None:
        """Every row of the event, each with its original content."""
        for source, line_no in event.rows:
            row = self.rows_at.get((source, line_no))
            raw = dict(row.raw) if row is not None else {}
            self.rejects.append(FeedReject(source, line_no, reason, raw, kind, retryable))


class SyncCycle:
    def __init__(
        self,
        *,
        google: GoogleGateway,
        ledger: Ledger,
        settings: Settings,
        feed_source: Callable[[], Sequence[FeedFile]] = list,
        square: SquareBridge | None = None,
        clock: Callable[[], datetime] = utcnow,
        progress: Progress = _no_progress,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.google = google
        self.ledger = ledger
        self.settings = settings
        self.feed_source = feed_source
        self.square = square
        self.clock = clock
        self.progress = progress
        self.should_stop = should_stop
        self.result = CycleResult()
        self._sent_this_cycle: set[int] = set()
        self._flush_at = settings.google.batch_size * settings.google.concurrency
        # Feed events handled per slice (whole orders): two full batches, so a slice's orders,
        # and the parsed-snapshot LRU below, stay small in memory.
        self._slice = 2 * settings.google.batch_size
        # Orders parsed from the ledger's snapshots, most recent last (see _snapshot).
        self._snapshots: OrderedDict[str, tuple[Order, str | None]] = OrderedDict()

    # ------------------------------------------------------------------ the cycle
    def run(self) -> CycleResult:
        with fewer_gc_passes():
            return self._run()

    def _run(self) -> CycleResult:
        started = time.monotonic()
        calls_before = self._api_calls()
        self.result.run_id = self.ledger.start_run()
        outcome = "error"
        try:
            steps: list[Callable[[], None]] = [
                self._resend_pending,
                self._recheck_open_orders,
                self._poll_new_orders,
            ]
            if self.square is not None:
                steps.append(self._square_step)
            steps += [self._follow_cancellations, self._apply_feed]
            for step in steps:
                if self.should_stop():
                    self.result.abandoned = True
                    log.warning(
                        "stop requested: cycle abandoned between steps; pending work resumes next cycle"
                    )
                    break
                step()
            outcome = self.result.exit_code.name.lower()
        except (GoogleApiError, SquareApiError):
            outcome = ExitCode.UNAVAILABLE.name.lower()  # the runner reports it (exit 69)
            raise
        finally:
            self.result.api_calls = self._api_calls() - calls_before
            self.result.seconds = time.monotonic() - started
            self.ledger.finish_run(self.result.run_id, outcome, self.result.as_dict())
        return self.result

    def _api_calls(self) -> int:
        return self.google.calls + (self.square.calls if self.square is not None else 0)

    # ------------------------------------------------------------------ sending intents
    def _record(self, intents: Iterable[NewIntent]) -> list[IntentRecord]:
        return self.ledger.add_intents(list(intents))

    def dispatch(self, records: Sequence[IntentRecord]) -> None:
        """Send pending Google intents phase by phase and record every outcome."""
        todo = [
            r
            for r in records
            if r.state == "pending" and r.target == GOOGLE and r.id not in self._sent_this_cycle
        ]
        for phase in PHASES:
            batch = [r for r in todo if r.kind in phase]
            if batch:
                self._send(batch)

    def _send(self, records: list[IntentRecord]) -> None:
        self._sent_this_cycle.update(r.id for r in records)
        try:
            responses = self.google.custombatch([dict(r.payload) for r in records])
        except GoogleApiError as exc:
            # The whole request failed after retries: nothing is known, so everything stays
            # pending and is resent next cycle with the same operationIds.
            log.warning("custombatch failed; intents stay pending", error=str(exc), entries=len(records))
            if exc.retryable:
                self.result.outage(google_outage(self.google.base_url, exc, self.google.merchant_id))
            self.ledger.record_results(
                [
                    IntentResult(
                        r.id, "retry" if exc.retryable else "failed", error=str(exc), reason=exc.reason
                    )
                    for r in records
                ]
            )
            if not exc.retryable:
                self.result.failed_orders.update(r.google_order_id for r in records)
            return
        results: list[IntentResult] = []
        done: list[tuple[IntentRecord, str]] = []
        refused: list[IntentRecord] = []  # shipLineItems Google rejected: those parcels never left
        for record, response in zip(records, responses, strict=True):
            error = entry_error(response)
            if error is None:
                status = response.get("executionStatus", "executed")
                results.append(IntentResult(record.id, "done", execution_status=status))
                done.append((record, status))
            elif error.retryable:
                results.append(IntentResult(record.id, "retry", error=error.message, reason=error.reason))
            else:
                results.append(IntentResult(record.id, "failed", error=error.message, reason=error.reason))
                self.result.failed_orders.add(record.google_order_id)
                if record.kind == "shipLineItems":
                    refused.append(record)
                log.warning(
                    "operation rejected by Google",
                    order=record.google_order_id,
                    kind=record.kind,
                    reason=error.reason,
                    message=error.message,
                )
        self.ledger.record_results(results)
        if refused:
            refused_keys = [(r.google_order_id, shipment_id_of(r)) for r in refused]
            self.ledger.mark_shipments(refused_keys, state="failed")
        self._apply_confirmed(done)

    def _apply_confirmed(self, done: list[tuple[IntentRecord, str]]) -> None:
        """Reflect confirmed operations in the ledger's view of each order."""
        now = self.clock()
        order_updates: dict[str, dict[str, Any]] = defaultdict(dict)
        shipped: list[IntentRecord] = []
        delivered: list[IntentRecord] = []
        retracked: list[IntentRecord] = []
        for record, _status in done:
            updates = order_updates[record.google_order_id]
            if record.kind == "acknowledge":
                updates["acknowledged"] = True
                self.result.acknowledged += 1
            elif record.kind == "updateMerchantOrderId":
                updates["merchant_order_id"] = record.payload["merchantOrderId"]
                self.result.merchant_ids += 1
            elif record.kind == "cancel":
                updates["stage"] = "canceled"
                self.result.canceled += 1
            elif record.kind == "shipLineItems":
                shipped.append(record)
                self.result.shipped += 1
            elif record.kind == "updateShipment" and record.payload["updateShipment"].get("status"):
                delivered.append(record)  # updateShipment with a status: the delivery
                self.result.delivered += 1
            elif record.kind == "updateShipment":
                retracked.append(record)
        if shipped:
            self.ledger.mark_shipments(
                [(r.google_order_id, shipment_id_of(r)) for r in shipped],
                state="shipped",
                at=now,
            )
        if retracked:  # the parcel's carrier or tracking id was corrected
            self.ledger.upsert_shipments([
                {
                    "google_order_id": r.google_order_id,
                    "shipment_id": r.payload["updateShipment"]["shipmentId"],
                    "carrier": r.payload["updateShipment"]["carrier"],
                    "tracking_id": r.payload["updateShipment"]["trackingId"],
                    "updated_at": now,
                }
                for r in retracked
            ])
        if delivered:
            self.ledger.mark_shipments(
                [(r.google_order_id, r.payload["updateShipment"]["shipmentId"]) for r in delivered],
                state="delivered",
                at=now,
            )
        for updates in order_updates.values():
            updates["last_synced_at"] = now
        if order_updates:
            moved = {r.google_order_id for r in (*shipped, *delivered)}
            # The confirmed fields and the stages they lead to: one read, one write transaction.
            self.refresh_stages(order_updates, quantities_changed=moved, confirmed=order_updates)

    def refresh_stages(
        self,
        order_ids: Iterable[str],
        *,
        quantities_changed: set[str],
        confirmed: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Recompute each order's stage, and its line quantities where a shipment or delivery was
        confirmed (an acknowledgement or a merchant id leaves the quantities as they were).

        ``confirmed``: fields to set on these orders ({google_order_id: {field: value}}), written in
        the same ``update_orders`` call and counted in the stage as if already stored.
        """
        confirmed = confirmed or {}
        loaded = self.ledger.get_orders_light(order_ids)
        shipments = self.ledger.shipments_for(list(loaded))
        updates: dict[str, dict[str, Any]] = {order_id: dict(f) for order_id, f in confirmed.items()}
        for order_id, (stored, text) in loaded.items():
            if order_id in quantities_changed:
                snapshot = self._snapshot_text(order_id, text)
                lines = confirmed_line_items(
                    stored, shipments.get(order_id, []), parse=lambda _j, o=snapshot: o
                )
            else:
                lines = stored.line_items
            # The order as it will be stored: one copy, with the confirmed fields and the lines.
            record = replace(stored, **confirmed.get(order_id, {}), line_items=lines)
            stage = stage_of(record, shipments.get(order_id, []))
            if stage != record.stage or lines != stored.line_items:
                updates.setdefault(order_id, {}).update(stage=stage, line_items=lines)
        if updates:
            self.ledger.update_orders(updates)  # one transaction, not one per order

    def _snapshot(self, order_json: Any) -> Order:
        """``Order.from_google`` of a ledger snapshot, parsed once while it is unchanged: a cycle
        reads the same order several times (ack, ship, deliver, stage refresh). Bounded LRU of
        batch_size x concurrency orders, the most one dispatch touches."""
        order_id = order_json.get("id") if isinstance(order_json, dict) else None
        cached = self._snapshots.get(order_id) if isinstance(order_id, str) else None
        if cached is not None and cached[0].raw == order_json:
            self._snapshots.move_to_end(order_id)  # type: ignore[arg-type]
            return cached[0]
        order = Order.from_google(order_json, copy_raw=False)  # a dict the ledger just decoded for us
        self._remember(order)
        return order

    def _snapshot_text(self, order_id: str, text: str | None) -> Order:
        """The same from the snapshot's stored JSON text (``Ledger.get_orders_light``): decoded
        only when it is not the text this order was last parsed from."""
        cached = self._snapshots.get(order_id)
        if cached is not None and text is not None and cached[1] == text:
            self._snapshots.move_to_end(order_id)
            return cached[0]
        order_json = json.loads(text) if text is not None else None
        if cached is not None and cached[0].raw == order_json:
            order = cached[0]
        else:
            order = Order.from_google(order_json, copy_raw=False)  # type: ignore[arg-type]
        self._remember(order, text)
        return order

    def _remember(self, order: Order, text: str | None = None) -> None:
        self._snapshots[order.id] = (order, text)
        self._snapshots.move_to_end(order.id)
        while len(self._snapshots) > self._slice:
            self._snapshots.popitem(last=False)

    # ------------------------------------------------------------------ step 1: leftovers
    def _resend_pending(self) -> None:
        pending = self.ledger.pending_intents(target=GOOGLE)
        if pending:
            log.info("resending intents left pending by earlier cycles", count=len(pending))
            self.result.resent += len(pending)
            self.dispatch(pending)

    def _recheck_open_orders(self) -> None:
        recheck_open_orders(self)

    # ------------------------------------------------------------------ step 2: new orders
    def _poll_new_orders(self) -> None:
        buffer: list[IntentRecord] = []
        now = self.clock()
        # Prefetch: the next page's round trip overlaps this page's parsing, ledger writes and sends.
        for page in self.google.iter_order_pages(
            acknowledged=False, page_size=self.settings.google.page_size, prefetch=True
        ):
            orders: list[Order] = []
            for raw in page:
                try:
                    orders.append(Order.from_google(raw, copy_raw=False))  # the page is ours alone
                except OrderDataError as exc:
                    self.order_data_failure(raw, exc, now)
                else:
                    self._remember(orders[-1])
            self.result.orders_seen += len(page)
            self.progress("poll", len(page))
            if not orders:
                continue
            known = self.ledger.get_orders_light(o.id for o in orders)  # only whether we have it
            self.ledger.upsert_orders([order_row(o, now, known.get(o.id)) for o in orders])
            intents: list[NewIntent] = []
            for order in orders:
                intents.append(intent(order.id, planning.acknowledge_entry(order.id)))
                if self.square is None and not order.merchant_order_id:
                    merchant_order_id = operations.merchant_order_id(
                        self.settings.google.merchant_order_id_template, order.id
                    )
                    intents.append(
                        intent(order.id, planning.merchant_order_id_entry(order.id, merchant_order_id))
                    )
            buffer += self._record(intents)
            if len(buffer) >= self._flush_at:
                self.dispatch(buffer)
                buffer = []
        self.dispatch(buffer)

    def order_data_failure(self, raw: dict[str, Any], exc: OrderDataError, now: datetime) -> None:
        order_id = str(raw.get("id") or "<no id>")
        self.result.failed_orders.add(order_id)
        log.error("order from Google is malformed; skipped this cycle", order=order_id, error=str(exc))
        if raw.get("id"):
            self.ledger.record_order_error(order_id, str(exc), now)

    # ------------------------------------------------------------------ step 3: Square
    def _square_step(self) -> None:
        """Square down must not hold up Google: cancellations and the feed still run this cycle."""
        assert self.square is not None
        try:
            self.square.run(self)
        except SquareApiError as exc:
            if exc.is_auth:
                raise  # a wrong token is the operator's to fix (exit 2), not a passing fault
            self.result.outage(square_outage(self.square.base_url, exc))
            log.error("Square step stopped; Google steps go on, Square resumes next cycle", error=str(exc))

    # ------------------------------------------------------------------ step 4: cancellations
    def _follow_cancellations(self) -> None:
        oldest = self.ledger.oldest_open_placed_at()
        if oldest is None:
            return
        now = self.clock()
        canceled: list[Order] = []
        for page in self.google.iter_order_pages(
            statuses=["CANCELED"],
            placed_date_start=oldest.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            page_size=self.settings.google.page_size,
        ):
            ids = [o["id"] for o in page if "id" in o]
            known = self.ledger.get_orders(ids)
            for raw in page:
                record = known.get(raw.get("id", ""))
                if record is None or record.stage == "canceled":
                    continue
                try:
                    canceled.append(Order.from_google(raw))
                except OrderDataError as exc:
                    self.order_data_failure(raw, exc, now)
        if not canceled:
            return
        known = self.ledger.get_orders(o.id for o in canceled)
        self.ledger.upsert_orders([order_row(o, now, known.get(o.id)) for o in canceled])
        for order in canceled:
            self.ledger.set_order_fields(order.id, stage="canceled", last_synced_at=now)
        self.result.canceled += len(canceled)
        log.info("orders canceled on Google's side", count=len(canceled))
        if self.square is not None:
            self.square.google_cancellations(self, canceled)

    # ------------------------------------------------------------------ step 5: shipments feed
    def _apply_feed(self) -> None:
        state = self._read_feed()
        if state.events:
            kept = self._unsettled(state.events)
            if len(kept) < len(state.events):
                remaining = {id(e) for e in kept}
                for event in state.events:
                    if id(event) not in remaining:
                        state.accept(event)  # settled by an earlier cycle
            state.events = kept
        # In slices of whole orders, batch_size x concurrency events each: full batches, and only
        # one slice of orders in memory at a time.
        for events in order_slices(state.events, self._slice):
            part = _FeedState(events, state.rejects, state.rows_at, state.accepted)
            orders = self._ship(part)
            self._deliver(part, orders)
        self._settle_rejects(state)

    def _unsettled(self, events: list[feed_rules.ShipmentEvent]) -> list[feed_rules.ShipmentEvent]:
        """Drop events the ledger has already settled (the same rows come in every export): a
        delivered shipment, or a known one the row does not report delivered. _ship and _deliver
        would skip them anyway; dropping them first spares loading and parsing their orders, which
        keeps a cycle over a long feed cheap."""
        states = self.ledger.shipment_states_by_ref({e.order_ref for e in events})
        keep = []
        for event in events:
            known = states.get(event.order_ref, {}).get(event.shipment_id)
            if known == "delivered" or (known is not None and event.delivered_at is None):
                continue
            keep.append(event)
        return keep

    def _read_feed(self) -> _FeedState:
        rows: list[feed_rules.FeedRow] = []
        rejects: list[FeedReject] = []
        aliases = self.settings.shipments.carrier_aliases
        for feed_file in self.feed_source():
            rejects += feed_file.problems
            if not feed_file.fieldnames and feed_file.problems:
                continue  # the whole file is one reject already
            header_problems = feed_rules.validate_header(feed_file.fieldnames)
            if header_problems:
                rejected = feed_rules.file_reject(feed_file.source, header_problems, feed_file.fieldnames)
                rejects.append(rejected)
                continue
            good, bad = feed_rules.parse_rows(feed_file.rows, feed_file.source, aliases)
            rows += good
            rejects += bad
        rows += self._retained_rows(rows)
        events, conflicts = feed_rules.group_shipments(rows)
        rejects += conflicts
        return _FeedState(events, rejects, {(r.source, r.line_no): r for r in rows})

    def _retained_rows(self, rows: Sequence[feed_rules.FeedRow]) -> list[feed_rules.FeedRow]:
        """Rows only the ledger still has: open retryable rejects (an order not polled or released
        yet) whose export is gone, and rows already kept that way. They are retried like any row
        until used or superseded by a corrected row, so they are never silently lost."""
        retained = [
            r
            for r in self.ledger.open_rejects().values()
            if r.row and (r.retryable or r.source.endswith(NO_LONGER_IN_FEEDS))
        ]
        if not retained:
            return []
        refs = {r.order_ref for r in retained}
        present = {feed_rules.content_key(r.raw) for r in rows if r.order_ref in refs}
        kept: list[feed_rules.FeedRow] = []
        aliases = self.settings.shipments.carrier_aliases
        for record in retained:
            if record.content_key in present:
                continue  # still in an export: read from there
            source = record.source.removesuffix(NO_LONGER_IN_FEEDS) + NO_LONGER_IN_FEEDS
            good, _ = feed_rules.parse_rows([(record.line_no, dict(record.row))], source, aliases)
            kept += good
        return kept

    def read_orders(self, order_ids: Sequence[str], *, why: str) -> list[Order] | None:
        """The orders as Google has them now, by custombatch ``get`` (one call per 1,000). Orders
        Google does not return are left out (their own steps report them), malformed ones are
        recorded as failed; None when the read itself failed (retried next cycle)."""
        try:
            responses = self.google.custombatch([{"method": "get", "orderId": oid} for oid in order_ids])
        except GoogleApiError as exc:
            log.warning("could not read orders from Google", which=why, error=str(exc), orders=len(order_ids))
            self.result.outage(google_outage(self.google.base_url, exc, self.google.merchant_id))
            return None
        fresh: list[Order] = []
        for response in responses:
            raw = response.get("order")
            if entry_error(response) is not None or not raw:
                continue
            try:
                fresh.append(Order.from_google(raw))
            except OrderDataError as exc:
                self.order_data_failure(raw, exc, self.clock())
        return fresh

    def refresh_unreleased(self, records: dict[str, Any]) -> dict[str, Any]:
        """Orders we last saw inProgress may have been released since: read them again, in batches.

        Only they can be stale in a way that blocks shipping; the refresh costs one custombatch
        call per 1,000 such orders, and none when there are none.
        """
        stale = sorted({r.google_order_id for r in records.values() if r.status == "inProgress"})
        if not stale:
            return records
        fresh = self.read_orders(stale, why="orders last seen inProgress")
        if not fresh:
            return records
        now = self.clock()
        known = self.ledger.get_orders(o.id for o in fresh)
        self.ledger.upsert_orders([order_row(o, now, known.get(o.id)) for o in fresh])
        updated = self.ledger.get_orders(o.id for o in fresh)
        return {key: updated.get(r.google_order_id, r) for key, r in records.items()}

    def _resolve_orders(self, refs: set[str]) -> dict[str, Order]:
        """Feed order refs (Google order id or our merchantOrderId) -> the order as we know it."""
        # Light read: the snapshot's JSON text is decoded only when the parse cache lacks it.
        light = self.ledger.get_orders_light(refs)
        texts = {order_id: text for order_id, (_record, text) in light.items()}
        records = self.refresh_unreleased({order_id: record for order_id, (record, _t) in light.items()})
        missing = refs - set(records)
        by_merchant_id = (
            self.refresh_unreleased(self.ledger.find_by_merchant_order_ids(missing)) if missing else {}
        )
        resolved: dict[str, Order] = {}
        shipments = self.ledger.shipments_for(
            [r.google_order_id for r in (*records.values(), *by_merchant_id.values())]
        )
        for ref, record in (*records.items(), *by_merchant_id.items()):
            if record.order_json is not None:  # a full record (re-read or found by merchant id)
                snapshot = self._snapshot(record.order_json)
            else:
                snapshot = self._snapshot_text(record.google_order_id, texts.get(record.google_order_id))
            resolved[ref] = order_from_record(
                record, shipments.get(record.google_order_id, []), parse=lambda _json, o=snapshot: o
            )
        return resolved

    def _ship(self, state: _FeedState) -> dict[str, Order]:
        """Plan and send the slice's new parcels; returns its orders as resolved (for _deliver)."""
        refs = {e.order_ref for e in state.events}
        orders = self._resolve_orders(refs)
        known = self.ledger.known_shipment_ids({o.id for o in orders.values()})
        intents: list[NewIntent] = []
        shipment_rows: list[dict[str, Any]] = []
        now = self.clock()
        for event in state.events:
            order = orders.get(event.order_ref)
            if order is None:
                reason = (
                    f"unknown order {event.order_ref!r}: not in the ledger (not polled yet, or a wrong "
                    "id); retried every cycle"
                )
                state.reject(event, reason, RejectKind.UNKNOWN_ORDER, retryable=True)
                continue
            seen = known.setdefault(order.id, set())
            outcome = planning.plan_shipment(order, event, seen)
            if outcome is None:
                state.accept(event)  # already applied or planned
                continue
            if isinstance(outcome, planning.PlanProblem):
                state.reject(event, outcome.reason, RejectKind.PLAN, retryable=outcome.retryable)
                continue
            state.accept(event)
            seen.add(outcome.shipment_id)
            orders[event.order_ref] = order.with_shipped(outcome.lines)
            intents.append(intent(order.id, outcome.to_batch_entry()))
            shipment_rows.append(
                {
                    "google_order_id": order.id,
                    "shipment_id": outcome.shipment_id,
                    "source": "feed",
                    "carrier": outcome.carrier,
                    "tracking_id": outcome.tracking_id,
                    "lines": [{"line_item_id": li, "quantity": q} for li, q in outcome.lines],
                    "shipped_at": event.shipped_at,
                    "delivered_at": None,
                    "state": "planned",
                    "updated_at": now,
                }
            )
        if shipment_rows:
            self.ledger.upsert_shipments(shipment_rows)
        self.dispatch(self._record(intents))
        # Anything planned earlier whose ship intent is still pending was resent in step 1.
        return orders

    def _deliver(self, state: _FeedState, orders: dict[str, Order]) -> None:
        """Deliveries of the slice. ``orders`` are those _ship resolved: their Google snapshot is all
        delivery planning needs, and the shipments' states are read fresh from the ledger."""
        delivered_events = [e for e in state.events if e.delivered_at is not None]
        if not delivered_events:
            return
        shipments = self.ledger.shipments_for([o.id for o in orders.values()])
        intents: list[NewIntent] = []
        for event in delivered_events:
            order = orders.get(event.order_ref)
            if order is None:
                continue
            record = matching_shipment(shipments.get(order.id, []), event)
            if record is None or record.state != "shipped":
                continue  # not shipped yet (or already delivered): a later cycle picks it up
            plan = planning.plan_delivery(order, record.shipment_id, event.delivered_at)
            if plan is not None:
                intents.append(intent(order.id, plan.to_batch_entry()))
        self.dispatch(self._record(intents))

    def _settle_rejects(self, state: _FeedState) -> None:
        """Remember this cycle's rejects in the ledger (domain.rejects): only rows not rejected
        before count as new (exit 1) and write a rejects file, which lists every open one."""
        open_before = {key: r.retryable for key, r in self.ledger.open_rejects().items()}
        settled = reject_rules.settle(open_before, state.rejects, state.accepted)
        self.result.rejects = len(settled.open)
        self.result.new_rejects = len(settled.new)
        rejects_file = None
        if settled.new:
            stamp = self.clock().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            name = f"rejects-{stamp}-run{self.result.run_id:06d}.csv"
            path = write_rejects_file(Path(self.settings.shipments.rejects_dir) / name, settled.open)
            rejects_file = self.result.rejects_file = str(path)
            log.warning(
                "feed rows rejected; correct them in the rejects file and drop it into the feed folder",
                new=len(settled.new),
                open=len(settled.open),
                file=rejects_file,
            )
        for reject in settled.superseded:
            log.info("rejected row superseded by a corrected one", source=reject.source, line=reject.line_no)
        if settled.cleared:
            log.info("feed rejects cleared", count=len(settled.cleared))
        if settled.open or settled.cleared:
            self.ledger.record_rejects(
                [reject_row(r) for r in settled.open],
                run_id=self.result.run_id,
                cleared=settled.cleared,
                rejects_file=rejects_file,
                at=self.clock(),
            )


# ---------------------------------------------------------------------- helpers
def shipment_id_of(record: IntentRecord) -> str:
    """The shipment a shipLineItems intent creates (ordersync sends one shipmentInfo per parcel)."""
    return str(record.payload["shipLineItems"]["shipmentInfos"][0]["shipmentId"])


def intent(order_id: str, entry: dict[str, Any], target: str = GOOGLE) -> NewIntent:
    return NewIntent(
        google_order_id=order_id,
        target=target,
        kind=entry["method"],
        operation_id=entry["operationId"],
        payload=entry,
    )


def order_slices(
    events: Sequence[feed_rules.ShipmentEvent], size: int
) -> Iterator[list[feed_rules.ShipmentEvent]]:
    """Events in slices of about ``size``, never splitting one order's events (in feed order)."""
    by_order: dict[str, list[feed_rules.ShipmentEvent]] = {}
    for event in events:
        by_order.setdefault(event.order_ref, []).append(event)
    chunk: list[feed_rules.ShipmentEvent] = []
    for group in by_order.values():
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk += group
    if chunk:
        yield chunk


def reject_row(reject: FeedReject) -> dict[str, Any]:
    """A reject as the ledger stores it (Ledger.record_rejects)."""
    return {
        "reject_key": reject.key,
        "content_key": reject.content,
        "kind": reject.kind.value,
        "source": reject.source,
        "line_no": reject.line_no,
        "reason": reject.reason,
        "order_ref": reject.order_ref[:128] or None,
        # As written; undecodable bytes (surrogate escapes) become U+FFFD so any database takes it.
        "row": [[k, printable(v)] for k, v in reject.raw.items()],
        "retryable": reject.retryable,
    }


def order_row(order: Order, now: datetime, existing: Any | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "google_order_id": order.id,
        "merchant_id": order.merchant_id,
        "status": order.status,
        "acknowledged": order.acknowledged,
        "placed_at": order.placed_date,
        "currency": order.currency,
        "total_minor": order.total_minor,
        "line_items": [line_item_row(li) for li in order.line_items],
        "order_json": order.raw,
        "last_seen_at": now,
    }
    if order.merchant_order_id:
        row["merchant_order_id"] = order.merchant_order_id
    if existing is None:
        row["stage"] = "new"
        row["first_seen_at"] = now
    return row


def line_item_row(li: Any) -> dict[str, Any]:
    return {
        "id": li.id,
        "offer_id": li.offer_id,
        "quantity_ordered": li.quantity_ordered,
        "quantity_shipped": li.quantity_shipped,
        "quantity_delivered": li.quantity_delivered,
        "quantity_canceled": li.quantity_canceled,
        "quantity_returned": li.quantity_returned,
        "price_minor": li.price_minor,
        "tax_minor": li.tax_minor,
    }


def order_from_record(
    record: Any, shipments: Sequence[Any], *, parse: Callable[[Any], Order] = Order.from_google
) -> Order:
    """The order as we know it now: Google's last snapshot, our merchant id, our shipments since."""
    order = parse(record.order_json)
    if record.merchant_order_id and order.merchant_order_id != record.merchant_order_id:
        order = replace(order, merchant_order_id=record.merchant_order_id)
    return with_ledger_shipments(order, shipments)


def with_ledger_shipments(order: Order, shipments: Sequence[Any]) -> Order:
    """Google's last snapshot plus the shipments we planned or made since it was taken.

    They join ``order.shipments`` too, so a parcel shipped from one source (a Square fulfilment)
    is recognised by carrier and tracking id when another source (the feed) reports it.
    """
    in_snapshot = {s.id for s in order.shipments}
    added: list[Shipment] = []
    for shipment in shipments:
        if shipment.shipment_id in in_snapshot or shipment.state == "failed":
            continue
        lines = [(line["line_item_id"], line["quantity"]) for line in shipment.lines]
        order = order.with_shipped(lines)
        added.append(
            Shipment(
                id=shipment.shipment_id,
                carrier=shipment.carrier or "",
                tracking_id=shipment.tracking_id or "",
                status="delivered" if shipment.state == "delivered" else "shipped",
                creation_date=shipment.shipped_at,
                delivery_date=shipment.delivered_at,
                lines=tuple(ShipmentLine(li, q) for li, q in lines),
            )
        )
    return replace(order, shipments=order.shipments + tuple(added)) if added else order


def matching_shipment(shipments: Sequence[Any], event: feed_rules.ShipmentEvent) -> Any | None:
    """The ledger shipment an event speaks of: by id, else by carrier and tracking id."""
    by_id = next((s for s in shipments if s.shipment_id == event.shipment_id), None)
    if by_id is not None or event.shipment_id_explicit or not event.tracking_id:
        return by_id
    key = operations.tracking_key(event.tracking_id)
    return next(
        (
            s
            for s in shipments
            if s.tracking_id
            and operations.tracking_key(s.tracking_id) == key
            and (s.carrier or "").casefold() == event.carrier.casefold()
        ),
        None,
    )


def confirmed_line_items(
    record: Any, shipments: Sequence[Any], *, parse: Callable[[Any], Order] = Order.from_google
) -> list[dict[str, Any]]:
    """Google's last counters plus the shipments and deliveries Google confirmed to us since."""
    order = parse(record.order_json)
    snapshot = {s.id: s.status for s in order.shipments}
    shipped: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    for shipment in shipments:
        if shipment.state not in ("shipped", "delivered"):
            continue
        for line in shipment.lines:
            if shipment.shipment_id not in snapshot:
                shipped[line["line_item_id"]] += line["quantity"]
            if shipment.state == "delivered" and snapshot.get(shipment.shipment_id) != "delivered":
                delivered[line["line_item_id"]] += line["quantity"]
    rows = []
    for li in order.line_items:
        row = line_item_row(li)
        row["quantity_shipped"] += shipped.get(li.id, 0)
        row["quantity_delivered"] += delivered.get(li.id, 0)
        rows.append(row)
    return rows


def stage_of(record: Any, shipments: Sequence[Any]) -> str:
    """Where an order stands in our pipeline, from the ledger's facts."""
    if record.stage in ("canceled", "returned"):
        return record.stage
    if not record.acknowledged:
        return "new"
    if not record.merchant_order_id:
        return "acknowledged"
    to_ship = sum(li["quantity_ordered"] - li["quantity_canceled"] for li in record.line_items)
    if to_ship <= 0:
        return "canceled"
    live = [s for s in shipments if s.state in ("shipped", "delivered")]
    shipped = sum(line["quantity"] for s in live for line in s.lines)
    delivered = sum(line["quantity"] for s in live if s.state == "delivered" for line in s.lines)
    # Shipments made before we saw the order are in Google's counters, not in our table.
    shipped = max(shipped, sum(li["quantity_shipped"] for li in record.line_items))
    delivered = max(delivered, sum(li["quantity_delivered"] for li in record.line_items))
    if delivered >= to_ship:
        return "delivered"
    if shipped >= to_ship:
        return "shipped"
    if shipped > 0:
        return "partially_shipped"
    return "open"
