"""The two-way bridge between Google orders and the merchant's Square account (Orders Push).

Google -> Square: every acknowledged Google order becomes exactly one Square order. The intent is
recorded in the ledger first with a deterministic idempotency key (design.md §5), so a retry, a
rerun or a ``kill -9`` mid-call can only ever replay the same CreateOrder, which Square answers
with the order it already made. When ``mark_paid``, an EXTERNAL payment (money taken by Google)
pays it so it shows in the Dashboard and POS: one CreatePayment linked to the order and
autocompleted for exactly what it owes. Its id becomes the Google ``merchantOrderId``. A Google
offerId ``[square] sku_map`` leaves out maps to the catalog variation with that SKU; lines that
map to none go as ad-hoc lines and are reported (log, cycle summary, the create intent).

Square -> Google: SearchOrders on ``updated_at`` since a cursor kept in the ledger finds what the
store did; a COMPLETED fulfilment ships its lines on Google (one shipment per fulfilment, the
shipmentId derived from the fulfilment uid), a PICKUP completion also delivers, a tracking change
updates the shipment, and a Square cancellation cancels the Google order. Customer cancellations
on Google cancel the Square order (never a second order); line items canceled on Google reduce
the Square order's quantities, or, once it is paid (Square then refuses line changes), tell the
store in the fulfilment note which units not to send (see square_mapping.line_cancellation_update).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync.adapters.square_gateway import SquareApiError, SquareGateway
from sync.config import Settings
from sync.domain import operations, planning
from sync.domain.carriers import UnknownCarrierError, normalize_carrier
from sync.domain.feed import ShipmentEvent
from sync.domain.orders import Order
from sync.domain.square_mapping import (
    LOOKUP_OFF,
    CanceledLine,
    MappingError,
    MappingOptions,
    SkuResolution,
    completed_fulfilments,
    google_to_square_order,
    line_cancellation_update,
    offers_to_look_up,
    resolve_offer_variations,
    unmapped_lines,
)
from sync.domain.square_records import CatalogVariationRef
from sync.logs import get_logger

if TYPE_CHECKING:
    from sync.service.cycle import SyncCycle

log = get_logger(__name__)

SQUARE = "square"
CURSOR_KEY = "square.updated_since"
CREATE = "square.create"
CANCEL = "square.cancel"
CANCEL_LINES = "square.cancel_lines"


class SquareBridge:
    def __init__(self, gateway: SquareGateway, settings: Settings) -> None:
        self.gateway = gateway
        self.settings = settings
        self._location: str | None = None
        self._sku_cache: dict[str, list[CatalogVariationRef]] = {}  # offerId -> variations, one cycle

    @property
    def calls(self) -> int:
        return self.gateway.calls

    @property
    def base_url(self) -> str:
        return self.gateway.base_url

    @property
    def location_id(self) -> str:
        if self._location is None:
            self._location = self.gateway.location_id()
        return self._location

    # ------------------------------------------------------------------ Google -> Square
    def run(self, cycle: SyncCycle) -> None:
        self._sku_cache = {}
        self._create_missing(cycle)
        self._resend_cancellations(cycle)
        self._send_line_cancellations(cycle)
        self._follow_square(cycle)

    def _create_missing(self, cycle: SyncCycle) -> None:
        from sync.service.cycle import intent

        records = self._keep_shipped_out(cycle, cycle.ledger.orders_missing_square())
        new_intents = []
        if records:  # the location lookup costs a call: only when there is something to create
            resolution = self._resolve_skus([r.order_json or {} for r in records])
            options = MappingOptions(
                self.location_id,
                self.settings.square.fulfillment_type,
                self.settings.square.sku_map,
                resolution.catalog_ids,
            )
        for record in records:
            try:
                body = google_to_square_order(record.order_json, options)
            except MappingError as exc:
                cycle.result.failed_orders.add(record.google_order_id)
                cycle.ledger.record_order_error(record.google_order_id, str(exc), cycle.clock())
                log.error("order cannot be mapped to Square", order=record.google_order_id, error=str(exc))
                continue
            key = operations.square_idempotency_key(self.settings.google.merchant_id, record.google_order_id)
            payload: dict[str, Any] = {"method": CREATE, "operationId": key, "order": body}
            ad_hoc = unmapped_lines(record.order_json, options, resolution)
            if ad_hoc:
                # Reported three ways: this log line, the cycle summary, and the order's create
                # intent in the ledger (payload "unmapped_lines").
                payload["unmapped_lines"] = [line.as_dict() for line in ad_hoc]
                cycle.result.square_unmapped_lines += len(ad_hoc)
                log.warning(
                    "Google lines not in the Square catalog go as ad-hoc lines (Square keeps no inventory "
                    "for them); map them in [square] sku_map or give the variations these SKUs",
                    order=record.google_order_id,
                    lines=payload["unmapped_lines"],
                )
            new_intents.append(intent(record.google_order_id, payload, target=SQUARE))
        pending = [r for r in cycle.ledger.add_intents(new_intents) if r.state == "pending"]
        with ThreadPoolExecutor(max_workers=self.settings.square.concurrency) as pool:
            outcomes = list(pool.map(self._create_and_pay, pending))
        from sync.adapters.ledger.repository import IntentResult

        results = []
        created: dict[str, dict[str, Any]] = {}
        for record, (square_order, error) in zip(pending, outcomes, strict=True):
            if square_order is None:
                assert error is not None
                results.append(_failure(cycle, record, error))
                continue
            results.append(IntentResult(record.id, "done", execution_status="executed"))
            created[record.google_order_id] = {
                "square_order_id": square_order["id"],
                "square_version": square_order.get("version"),
            }
        # The Square id first (a crash after it re-derives the merchant-id step below), then the
        # intent's outcome (a crash before it replays CreateOrder, which returns the same order).
        if created:
            cycle.ledger.update_orders(created)
            cycle.result.square_orders += len(created)
        cycle.ledger.record_results(results)
        self._carry_earlier_line_cancellations(cycle, records, created)
        # Every open order whose Square id Google does not carry yet, whatever cycle created it.
        merchant_intents = [
            intent(google_order_id, planning.merchant_order_id_entry(google_order_id, square_order_id))
            for google_order_id, square_order_id in cycle.ledger.orders_awaiting_merchant_order_id()
        ]
        cycle.dispatch(cycle.ledger.add_intents(merchant_intents))

    def _resolve_skus(self, orders: list[dict[str, Any]]) -> SkuResolution:
        """offerIds ``sku_map`` leaves out -> catalog variations by SKU: one batched search per
        cycle for the offers not looked up yet. A search Square may answer later (outage, rate
        limit) or a refused token stops the Square step like any Square call (the orders are
        created next cycle, mapped); a search Square refuses outright maps nothing."""
        offers = offers_to_look_up(orders, self.settings.square.sku_map)
        if not self.settings.square.sku_lookup:
            return SkuResolution({}, dict.fromkeys(offers, LOOKUP_OFF))
        todo = [o for o in offers if o not in self._sku_cache]
        if todo:
            try:
                found = self.gateway.find_variations_by_sku(todo)
            except SquareApiError as exc:
                if exc.is_auth:
                    log.error(
                        "Square refused the catalog search: grant the token ITEMS_READ, or set "
                        "[square] sku_lookup = false to send unmapped offers as ad-hoc lines",
                        code=exc.code,
                    )
                if exc.retryable or exc.is_auth:
                    raise
                log.warning(
                    "Square catalog search refused; lines go as ad-hoc lines",
                    code=exc.code,
                    detail=exc.detail,
                )
                return resolve_offer_variations(offers, None)
            for offer in todo:
                self._sku_cache[offer] = found.get(offer, [])
        return resolve_offer_variations(offers, self._sku_cache)
    @staticmethod
    def _keep_shipped_out(cycle: SyncCycle, records: list[Any]) -> list[Any]:
        """Orders that already have units shipped (through the feed, before Square was enabled or
        while it was down) are not created in Square: its order would carry an open fulfilment
        for goods already sent, and the store could ship them twice. The reason is recorded on
        the order (reported: orders.csv oms_status not_in_square) and the feed finishes it."""
        if not records:
            return records
        shipments = cycle.ledger.shipments_for([r.google_order_id for r in records])
        keep, skipped = [], {}
        for record in records:
            units = sum(
                line["quantity"]
                for s in shipments.get(record.google_order_id, [])
                if s.state != "failed"
                for line in s.lines
            )
            units = max(units, sum(int(li.get("quantity_shipped") or 0) for li in record.line_items or ()))
            if units <= 0:
                keep.append(record)
                continue
            skipped[record.google_order_id] = {
                "square_skip_reason": (
                    f"{units} unit(s) shipped before the order could be created in Square: kept out of "
                    "Square so the store cannot ship them again; the shipments feed finishes it"
                )
            }
        if skipped:
            cycle.ledger.update_orders(skipped)
            cycle.result.square_skipped += len(skipped)
            log.warning(
                "orders already shipped are kept out of Square (no open fulfilment for goods already sent)",
                orders=sorted(skipped)[:20],
                count=len(skipped),
            )
        return keep

    def _carry_earlier_line_cancellations(
        self, cycle: SyncCycle, records: list[Any], created: dict[str, dict[str, Any]]
    ) -> None:
        """A Square order is created as Google sold it; units Google canceled before that (while
        Square was down, say) then follow the same path as a later cancellation."""
        earlier = [
            (replace(r, square_order_id=created[r.google_order_id]["square_order_id"]), r.order_json)
            for r in records
            if r.google_order_id in created
            and r.order_json is not None
            and any(int(li.get("quantity_canceled") or 0) > 0 for li in r.line_items or ())
        ]
        if earlier:
            self.google_line_cancellations(cycle, [(r, Order.from_google(raw)) for r, raw in earlier])

    def _create_and_pay(self, record: Any) -> tuple[dict[str, Any] | None, SquareApiError | None]:
        try:
            square_order = self.gateway.create_order(record.payload["order"], record.operation_id)
            if (
                self.settings.square.mark_paid
                and square_order.get("state") == "OPEN"
                and not square_order.get("tenders")
            ):
                # One round trip: an order-linked, autocompleted EXTERNAL payment pays the order
                # ("Pay for Orders"), no PayOrder needed.
                self.gateway.pay_order_with_external_payment(square_order, record.operation_id)
            return square_order, None
        except SquareApiError as exc:
            log.warning("Square call failed", order=record.google_order_id, code=exc.code, detail=exc.detail)
            return None, exc

    # ------------------------------------------------------------------ Google cancellations -> Square
    def google_cancellations(self, cycle: SyncCycle, orders: list[Order]) -> None:
        from sync.service.cycle import intent

        records = cycle.ledger.get_orders(o.id for o in orders)
        new_intents = [
            intent(
                r.google_order_id,
                {
                    "method": CANCEL,
                    "operationId": f"cancel:{r.square_order_id}",
                    "square_order_id": r.square_order_id,
                },
                target=SQUARE,
            )
            for r in records.values()
            if r.square_order_id
        ]
        if new_intents:
            self._send_cancellations(cycle, cycle.ledger.add_intents(new_intents))

    def _resend_cancellations(self, cycle: SyncCycle) -> None:
        pending = cycle.ledger.pending_intents(target=SQUARE, kinds=[CANCEL])
        if pending:
            self._send_cancellations(cycle, pending)

    def _send_cancellations(self, cycle: SyncCycle, records: list[Any]) -> None:
        from sync.adapters.ledger.repository import IntentResult

        results = []
        for record in records:
            if record.state != "pending":
                continue
            try:
                self.gateway.cancel_order(record.payload["square_order_id"])
                results.append(IntentResult(record.id, "done", execution_status="executed"))
            except SquareApiError as exc:
                results.append(_failure(cycle, record, exc))
        cycle.ledger.record_results(results)

    # ------------------------------------------------------------------ Google line cancellations -> Square
    def google_line_cancellations(self, cycle: SyncCycle, changed: list[tuple[Any, Order]]) -> None:
        """Record one intent per order whose lines Google canceled units of since we last looked.

        The intent carries absolute counts (ordered, canceled per line), so applying it twice
        changes nothing; its id names those counts, so a later cancellation on the same order is a
        new intent, which supersedes an older one still pending. Sent by the Square step.
        """
        from sync.service.cycle import intent

        new_intents = []
        for record, order in changed:
            if not record.square_order_id:
                continue  # not in Square yet: CreateOrder will read the order as it is now
            lines = [
                {
                    "line_item_id": li.id,
                    "title": li.title or li.offer_id or li.id,
                    "ordered": li.quantity_ordered,
                    "canceled": li.quantity_canceled,
                }
                for li in order.line_items
            ]
            key = operations.square_line_cancel_key(
                self.settings.google.merchant_id,
                record.google_order_id,
                {li["line_item_id"]: li["canceled"] for li in lines},
            )
            new_intents.append(
                intent(
                    record.google_order_id,
                    {
                        "method": CANCEL_LINES,
                        "operationId": key,
                        "square_order_id": record.square_order_id,
                        "lines": lines,
                    },
                    target=SQUARE,
                )
            )
        if new_intents:
            cycle.ledger.add_intents(new_intents)

    def _send_line_cancellations(self, cycle: SyncCycle) -> None:
        from sync.adapters.ledger.repository import IntentResult

        pending = cycle.ledger.pending_intents(target=SQUARE, kinds=[CANCEL_LINES])
        if not pending:
            return
        # Counts only grow, so the newest intent of an order carries every older one.
        newest = {r.google_order_id: r for r in sorted(pending, key=lambda r: r.id)}
        results = [
            IntentResult(r.id, "done", execution_status="superseded")
            for r in pending
            if newest[r.google_order_id] is not r
        ]
        todo = list(newest.values())
        with ThreadPoolExecutor(max_workers=self.settings.square.concurrency) as pool:
            errors = list(pool.map(self._apply_line_cancellation, todo))
        for record, error in zip(todo, errors, strict=True):
            if error is None:
                results.append(IntentResult(record.id, "done", execution_status="executed"))
                continue
            results.append(_failure(cycle, record, error))
        cycle.ledger.record_results(results)

    def _apply_line_cancellation(self, record: Any, max_conflicts: int = 3) -> SquareApiError | None:
        """Read the Square order, work out what it still needs, send that; None when done. A store
        edit in between (VERSION_MISMATCH) means read again."""
        square_order_id = record.payload["square_order_id"]
        lines = [CanceledLine(**line) for line in record.payload["lines"]]
        for attempt in range(max_conflicts + 1):
            try:
                square_order = self.gateway.retrieve_order(square_order_id)
                update = line_cancellation_update(record.google_order_id, square_order, lines)
                if update is None:
                    return None
                self.gateway.update_order(
                    square_order_id,
                    update.order,
                    fields_to_clear=list(update.fields_to_clear),
                    # One key per (intent, version read): a lost response replays, a newer
                    # version is a new request.
                    idempotency_key=f"{record.operation_id}:v{square_order.get('version')}"[-192:],
                )
                log.info(
                    "Google line cancellation applied to the Square order",
                    order=record.google_order_id,
                    square_order=square_order_id,
                    paid=bool(square_order.get("tenders")),
                )
                return None
            except SquareApiError as exc:
                if exc.code == "VERSION_MISMATCH" and attempt < max_conflicts:
                    continue
                log.warning(
                    "Square line cancellation failed",
                    order=record.google_order_id,
                    code=exc.code,
                    detail=exc.detail,
                )
                return exc
        raise AssertionError("unreachable")  # the loop either returns or raises

    # ------------------------------------------------------------------ Square -> Google
    def _follow_square(self, cycle: SyncCycle) -> None:
        from sync.service.cycle import intent, order_from_record

        since = cycle.ledger.get_value(CURSOR_KEY)
        newest = since
        held_at: str | None = None
        changed: list[dict[str, Any]] = []
        for square_order in self.gateway.iter_orders_updated_since(since, location_ids=[self.location_id]):
            newest = max(newest or "", square_order.get("updated_at") or "")
            if square_order.get("reference_id"):
                changed.append(square_order)
        if not changed:
            return
        records = cycle.refresh_unreleased(cycle.ledger.get_orders(o["reference_id"] for o in changed))
        known = cycle.ledger.known_shipment_ids(set(records))
        records = self._reread_before_shipping(cycle, changed, records, known)
        shipments = cycle.ledger.shipments_for(list(records))
        intents = []
        shipment_rows = []
        now = cycle.clock()
        for square_order in changed:
            record = records.get(square_order["reference_id"])
            if record is None or record.square_order_id != square_order.get("id"):
                continue  # not one of ours (an order the store made by hand with a reference id)
            order = order_from_record(record, shipments.get(record.google_order_id, []))
            if square_order.get("state") == "CANCELED" and record.stage != "canceled":
                intents.append(
                    intent(
                        record.google_order_id,
                        planning.cancel_entry(
                            record.google_order_id, "other", "Canceled in the merchant's Square order system"
                        ),
                    )
                )
                continue
            for fulfilment in completed_fulfilments(square_order):
                shipment_id = operations.square_shipment_id(square_order["id"], fulfilment.fulfillment_uid)
                seen = known.setdefault(record.google_order_id, set())
                try:
                    carrier = (
                        normalize_carrier(fulfilment.carrier, self.settings.shipments.carrier_aliases)
                        if fulfilment.carrier
                        else ""
                    )
                except UnknownCarrierError as exc:
                    cycle.result.failed_orders.add(record.google_order_id)
                    cycle.ledger.record_order_error(record.google_order_id, str(exc), now)
                    continue
                if shipment_id in seen:
                    retrack = _tracking_change(
                        record.google_order_id,
                        shipments.get(record.google_order_id, []),
                        shipment_id,
                        carrier,
                        fulfilment.tracking_id,
                    )
                    if retrack is not None:
                        intents.append(intent(record.google_order_id, retrack))
                    continue
                lines = fulfilment.lines or tuple(
                    (li.id, li.quantity_pending) for li in order.line_items if li.quantity_pending > 0
                )
                event = ShipmentEvent(
                    order_ref=record.google_order_id,
                    shipment_id=shipment_id,
                    carrier=carrier,
                    tracking_id=fulfilment.tracking_id,
                    shipped_at=_parse_time(fulfilment.shipped_at) or now,
                    delivered_at=(_parse_time(fulfilment.shipped_at) or now)
                    if fulfilment.kind == "PICKUP"
                    else None,
                    lines=tuple((line_id, None, qty) for line_id, qty in lines),
                    rows=(),
                )
                plan = planning.plan_shipment(order, event, seen)
                if plan is None:
                    continue
                if isinstance(plan, planning.PlanProblem):
                    cycle.result.failed_orders.add(record.google_order_id)
                    cycle.ledger.record_order_error(record.google_order_id, plan.reason, now)
                    if plan.retryable:
                        # e.g. Google has not released the order yet: read it again next cycle.
                        held_at = min(held_at or "\uffff", square_order.get("updated_at") or "")
                    continue
                seen.add(shipment_id)
                order = order.with_shipped(plan.lines)
                intents.append(intent(record.google_order_id, plan.to_batch_entry()))
                shipment_rows.append(
                    {
                        "google_order_id": record.google_order_id,
                        "shipment_id": shipment_id,
                        "source": "square",
                        "carrier": carrier,
                        "tracking_id": fulfilment.tracking_id,
                        "lines": [{"line_item_id": li, "quantity": q} for li, q in plan.lines],
                        "shipped_at": event.shipped_at,
                        "delivered_at": event.delivered_at,
                        "state": "planned",
                        "updated_at": now,
                    }
                )
        if shipment_rows:
            cycle.ledger.upsert_shipments(shipment_rows)
        cycle.dispatch(cycle.ledger.add_intents(intents))
        self._deliver_pickups(cycle, shipment_rows)
        # The cursor never passes an order whose fulfilment could not be applied yet.
        cursor = min(newest, held_at) if newest and held_at else newest
        if cursor:
            cycle.ledger.set_value(CURSOR_KEY, cursor)

    @staticmethod
    def _reread_before_shipping(
        cycle: SyncCycle, changed: list[dict[str, Any]], records: dict[str, Any], known: dict[str, set[str]]
    ) -> dict[str, Any]:
        """Orders with a fulfilment the store just completed are read from Google first: if units
        were canceled there since the last recheck, the shipment must leave them out (Google
        refuses to ship canceled units, and a refused parcel is never sent again)."""
        from sync.service.open_orders import reread_orders

        fresh_ids = {
            square_order["reference_id"]
            for square_order in changed
            for fulfilment in completed_fulfilments(square_order)
            if operations.square_shipment_id(square_order["id"], fulfilment.fulfillment_uid)
            not in known.get(square_order["reference_id"], set())
        }
        to_read = {oid: r for oid, r in records.items() if oid in fresh_ids and r.status != "inProgress"}
        if not to_read:
            return records
        reread = reread_orders(cycle, to_read)
        return records if reread is None else {**records, **reread}

    def _deliver_pickups(self, cycle: SyncCycle, shipment_rows: list[dict[str, Any]]) -> None:
        """A completed pickup is shipped and delivered at once: deliver what just shipped."""
        from sync.service.cycle import intent

        pickups = [row for row in shipment_rows if row["delivered_at"] is not None]
        if not pickups:
            return
        shipped = cycle.ledger.shipments_for([row["google_order_id"] for row in pickups])
        intents = []
        for row in pickups:
            current = next(
                (s for s in shipped.get(row["google_order_id"], []) if s.shipment_id == row["shipment_id"]),
                None,
            )
            if current is not None and current.state == "shipped":
                plan = planning.DeliverPlan(
                    row["google_order_id"],
                    row["shipment_id"],
                    operations.deliver_operation_id(row["shipment_id"]),
                    row["delivered_at"],
                )
                intents.append(intent(row["google_order_id"], plan.to_batch_entry()))
        cycle.dispatch(cycle.ledger.add_intents(intents))

    # ------------------------------------------------------------------ report input
    def oms_orders(self) -> Iterator[dict[str, Any]]:
        """Every Square order of the location (the OMS view for reconciliation)."""
        return self.gateway.iter_orders_updated_since(None, location_ids=[self.location_id])


def _failure(cycle: SyncCycle, record: Any, error: SquareApiError) -> Any:
    """A Square call's error as the intent's result: retried next cycle when Square says it may
    pass, else failed (and the order reported)."""
    from sync.adapters.ledger.repository import IntentResult

    if not error.retryable:
        cycle.result.failed_orders.add(record.google_order_id)
    return IntentResult(
        record.id, "retry" if error.retryable else "failed", error=error.detail, reason=error.code
    )


def _tracking_change(
    order_id: str, shipments: list[Any], shipment_id: str, carrier: str, tracking_id: str
) -> dict[str, Any] | None:
    """updateShipment when the store corrected a shipped parcel's carrier or tracking id in Square."""
    current = next((s for s in shipments if s.shipment_id == shipment_id), None)
    if current is None or current.state not in ("shipped", "delivered") or not tracking_id:
        return None  # not confirmed on Google yet: the ship step sends the values it has
    if (current.carrier or "") == carrier and operations.tracking_key(current.tracking_id or "") == (
        operations.tracking_key(tracking_id)
    ):
        return None
    return {
        "method": "updateShipment",
        "orderId": order_id,
        "operationId": operations.tracking_operation_id(shipment_id, carrier, tracking_id),
        "updateShipment": {"shipmentId": shipment_id, "carrier": carrier, "trackingId": tracking_id},
    }


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
