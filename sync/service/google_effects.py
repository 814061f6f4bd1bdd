"""What Google's answers mean for the ledger's view of an order: the Google settle handler.

The outbox calls ``GoogleEffects`` with every settled batch of Google intents, in the transaction
that records their results, so an answer and its meaning are stored together:

- acknowledge done -> the order is acknowledged; updateMerchantOrderId done -> our merchant id;
  cancel done -> stage CANCELED;
- shipLineItems done -> the shipment is SHIPPED; refused by Google -> FAILED (it never left, and
  never counts as shipped); updateShipment with a status (a delivery) -> DELIVERED; without
  (a correction) -> the shipment's carrier and tracking id;
- a refund mutation reporting a Square refund (issue 15) -> counted (Google's figures are read
  back by the refund steps);
- then each touched order's stage and confirmed line counters (service/stages.py).
"""

from __future__ import annotations

from typing import Any

from sync.domain.intents import GOOGLE_REFUND_KINDS, IntentRecord
from sync.domain.progress import ShipmentState, Stage
from sync.domain.records import OrderChanges
from sync.service.context import CycleContext
from sync.service.outbox import Settled
from sync.service.stages import refresh_stages


def shipment_id_of(record: IntentRecord) -> str:
    """The shipment a shipLineItems intent creates (ordersync sends one shipmentInfo per parcel)."""
    return str(record.payload["shipLineItems"]["shipmentInfos"][0]["shipmentId"])


class GoogleEffects:
    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    def __call__(self, settled: Settled) -> None:
        ledger = self.ctx.ledger
        refused = [
            (r.order_id, shipment_id_of(r))
            for r, answer in settled.failed
            if r.kind == "shipLineItems" and answer.response is not None  # Google refused this parcel
        ]
        if refused:
            ledger.mark_shipments(refused, state=ShipmentState.FAILED)
        self.ctx.result.refunds_to_google += sum(1 for r, _ in settled.done if r.kind in GOOGLE_REFUND_KINDS)
        if settled.done:
            self._confirmed([record for record, _ in settled.done])

    def _confirmed(self, done: list[IntentRecord]) -> None:
        ctx, result = self.ctx, self.ctx.result
        now = ctx.clock()
        fields: dict[str, dict[str, Any]] = {}
        shipped: list[IntentRecord] = []
        delivered: list[IntentRecord] = []
        retracked: list[IntentRecord] = []
        for record in done:
            changes = fields.setdefault(record.order_id, {})
            if record.kind == "acknowledge":
                changes["acknowledged"] = True
                result.acknowledged += 1
            elif record.kind == "updateMerchantOrderId":
                changes["merchant_order_id"] = str(record.payload["merchantOrderId"])
                result.merchant_ids += 1
            elif record.kind == "cancel":
                changes["stage"] = Stage.CANCELED
                result.canceled += 1
            elif record.kind == "shipLineItems":
                shipped.append(record)
                result.shipped += 1
            elif record.kind == "updateShipment" and record.payload["updateShipment"].get("status"):
                delivered.append(record)  # updateShipment with a status: the delivery
                result.delivered += 1
            elif record.kind == "updateShipment":
                retracked.append(record)
        if shipped:
            ctx.ledger.mark_shipments(
                [(r.order_id, shipment_id_of(r)) for r in shipped], state=ShipmentState.SHIPPED, at=now
            )
        if retracked:  # the parcel's carrier or tracking id was corrected
            ctx.ledger.retrack_shipments(
                (
                    r.order_id,
                    r.payload["updateShipment"]["shipmentId"],
                    r.payload["updateShipment"]["carrier"],
                    r.payload["updateShipment"]["trackingId"],
                )
                for r in retracked
            )
        if delivered:
            ctx.ledger.mark_shipments(
                [(r.order_id, r.payload["updateShipment"]["shipmentId"]) for r in delivered],
                state=ShipmentState.DELIVERED,
                at=now,
            )
        confirmed = {oid: OrderChanges(last_synced_at=now, **changes) for oid, changes in fields.items()}
        moved = {r.order_id for r in (*shipped, *delivered)}
        # The confirmed fields and the stages they lead to: one read, one write.
        refresh_stages(ctx, confirmed, quantities_changed=moved, confirmed=confirmed)
