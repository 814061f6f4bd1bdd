"""What Square's answers mean for the ledger: the Square settle handler.

A created Square order's id and version are stored on its Google order in the transaction that
records the create intent as done, so no crash can leave one without the other (a replayed
CreateOrder would return the same order anyway: the idempotency key is the intent's).
"""

from __future__ import annotations

from sync.domain.intents import SQUARE_CREATE
from sync.domain.records import OrderChanges
from sync.service.context import CycleContext
from sync.service.outbox import Settled


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
