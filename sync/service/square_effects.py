"""What Square's answers mean for the ledger: the Square settle handler.

A created Square order's id and version are stored on its Google order in the transaction that
records the create intent as done, so no crash can leave one without the other (a replayed
CreateOrder would return the same order anyway: the idempotency key is the intent's).

A RefundPayment recording Google's refunds, done: its Square refund id is remembered as ours (the
Square -> Google step never reports it back) and the Google figures it was planned from as seen;
refused: the figures as seen too, so the order is planned again only when Google's refunds change.
"""

from __future__ import annotations

from sync.domain.intents import SQUARE_CREATE, SQUARE_REFUND
from sync.domain.records import OrderChanges
from sync.service.context import CycleContext
from sync.service.outbox import Settled
from sync.service.refund_state import OWN, RefundMemory


class SquareEffects:
    def __init__(self, ctx: CycleContext) -> None:
        self.ctx = ctx

    def __call__(self, settled: Settled) -> None:
        created = {
            record.order_id: OrderChanges(
                square_order_id=str(answer.response["square_order_id"]),
                square_version=answer.response.get("square_version"),
            )
            for record, answer in settled.done_of(SQUARE_CREATE)
            if answer.response is not None
        }
        if created:
            self.ctx.ledger.update_orders(created)
            self.ctx.result.square_orders += len(created)
        self._refunds(settled)

    def _refunds(self, settled: Settled) -> None:
        memory = RefundMemory(self.ctx.ledger)
        for record, answer in (*settled.done, *settled.failed):
            if record.kind != SQUARE_REFUND:
                continue
            if answer.response is not None and answer.response.get("refund_id"):
                memory.set_verdict(str(answer.response["refund_id"]), record.order_id, OWN)
                self.ctx.result.refunds_to_square += 1
            figures = record.payload["google"]
            state = memory.order(record.order_id)
            memory.save_order(state.with_google(int(figures["refunded_minor"]), figures["net_minor"]))
