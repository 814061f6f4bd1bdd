"""Step 5 (with an order system): Google's cancellations reach Square: cancellations of whole
orders left pending by an earlier cycle are sent again, and the line cancellations recorded so
far (this cycle's recheck, earlier cycles) are applied to the Square orders: reduced quantities,
or, once an order is paid (Square then refuses line changes), a fulfilment note telling the store
which units not to send (see square_mapping.line_cancellation_update)."""

from __future__ import annotations

from sync.domain.intents import SQUARE_CANCEL, SQUARE_CANCEL_LINES, Target
from sync.service.context import CycleContext
from sync.service.outbox import Outbox
from sync.service.results import StepResult


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    settled = outbox.send(outbox.pending(Target.SQUARE, kinds=[SQUARE_CANCEL]))
    settled.add(outbox.send(outbox.pending(Target.SQUARE, kinds=[SQUARE_CANCEL_LINES])))
    return StepResult(settled)
