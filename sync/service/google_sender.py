"""Google's Sender: intents as custombatch entries, in phases, one request per batch.

Entries inside one custombatch request have no guaranteed order, so the outbox sends Google's
intents in phases (``GOOGLE_PHASES``): acknowledge / updateMerchantOrderId / cancel first, then
shipLineItems, then updateShipment (which needs the shipment to exist), then the refunds that
report Square refunds (returnRefundLineItem needs the order fully shipped, maybe by this cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sync.adapters.google_errors import GoogleApiError, entry_error
from sync.domain.intents import GOOGLE_REFUND_KINDS, IntentRecord, Outcome, SendResult
from sync.exit_codes import Outage
from sync.logs import get_logger
from sync.service.outages import google_outage
from sync.service.ports import Marketplace

log = get_logger(__name__)

GOOGLE_PHASES: tuple[frozenset[str], ...] = (
    frozenset({"acknowledge", "updateMerchantOrderId", "cancel", "cancelLineItem"}),
    frozenset({"shipLineItems"}),
    frozenset({"updateShipment"}),
    GOOGLE_REFUND_KINDS,
)


class GoogleSender:
    def __init__(self, marketplace: Marketplace, report_outage: Callable[[Outage], None]) -> None:
        self.marketplace = marketplace
        self.report_outage = report_outage

    def send(self, intents: Sequence[IntentRecord]) -> list[SendResult]:
        try:
            responses = self.marketplace.custombatch([dict(r.payload) for r in intents])
        except GoogleApiError as exc:
            # The whole request failed after retries: nothing is known, so everything stays
            # pending and is resent next cycle with the same operationIds.
            log.warning("custombatch failed; intents stay pending", error=str(exc), entries=len(intents))
            if exc.retryable:
                self.report_outage(
                    google_outage(self.marketplace.base_url, exc, self.marketplace.merchant_id)
                )
            outcome = Outcome.RETRY if exc.retryable else Outcome.FAILED
            return [SendResult(outcome, error=str(exc), reason=exc.reason) for _ in intents]
        results = []
        for record, response in zip(intents, responses, strict=True):
            error = entry_error(response)
            if error is None:
                results.append(
                    SendResult(Outcome.DONE, execution_status=response.get("executionStatus", "executed"))
                )
            elif error.retryable:
                results.append(SendResult(Outcome.RETRY, error=error.message, reason=error.reason))
            else:
                # Google answered this entry with a refusal (the response is kept: e.g. a refused
                # shipLineItems means that parcel never left).
                results.append(
                    SendResult(Outcome.FAILED, error=error.message, reason=error.reason, response=response)
                )
                log.warning(
                    "operation rejected by Google",
                    order=record.order_id,
                    kind=record.kind,
                    reason=error.reason,
                    message=error.message,
                )
        return results
