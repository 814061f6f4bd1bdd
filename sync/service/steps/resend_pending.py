"""Step 1: Google intents left pending by earlier cycles (a crash, an outage) are sent again with
the same operationIds; Google answers ``duplicate`` for any that had landed."""

from __future__ import annotations

from sync.domain.intents import Target
from sync.logs import get_logger
from sync.service.context import CycleContext
from sync.service.outbox import Outbox
from sync.service.results import StepResult

log = get_logger(__name__)


def run(ctx: CycleContext, outbox: Outbox) -> StepResult:
    pending = outbox.pending(Target.GOOGLE)
    if not pending:
        return StepResult()
    log.info("resending intents left pending by earlier cycles", count=len(pending))
    ctx.result.resent += len(pending)
    return StepResult(outbox.send(pending))
