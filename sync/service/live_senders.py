"""The live Google channels' Senders and settle handler (wired in bootstrap.build_outbox).

``UcpSender`` pushes recorded UCP webhooks: the stored ``Webhook-Id``, ``Webhook-Timestamp`` and
body bytes, signed afresh by the client on every attempt. An order's pushes go in the order they
were recorded, one at a time, and a push that is not delivered (5xx, timeout, lost answer) holds
the order's later ones back until the next cycle: Google refuses an update older than the latest
it holds, so an earlier snapshot must never arrive after a later one. Different orders are pushed
concurrently. A 4xx is final (FAILED, with Google's reason); later pushes of that order still go
(each carries the full order, the refused event included). When several orders in a row get no
delivery, the endpoint is taken to be down and the rest of the batch waits for the next cycle
(an outage must not cost every pending push its full retry schedule).

``TrackingSender`` creates recorded order tracking signals; ``already_exists`` (a 409 after an
earlier attempt landed without its answer) counts as sent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sync.adapters.order_tracking_outcomes import SignalOutcome, SignalResult
from sync.adapters.ucp_push_outcomes import PushOutcome, PushResult
from sync.domain.intents import IntentRecord, Outcome, SendResult
from sync.domain.order_tracking import stored_signal
from sync.domain.ucp.intents import StoredPushError, stored_push
from sync.logs import get_logger
from sync.service.outbox import Settled
from sync.service.ports import TrackingSignals, UcpWebhooks
from sync.service.results import CycleResult

log = get_logger(__name__)

HELD = "held"  # the reason of a push kept back behind an undelivered earlier push of its order


def _failure(outcome: Outcome, status: int | None, reason: str, detail: str) -> SendResult:
    answer = f"HTTP {status}" if status is not None else "no answer"
    error = f"{answer} {reason}: {detail}" if detail else f"{answer} {reason}"
    return SendResult(outcome, error=error, reason=reason or None)


def push_result(outcome: PushOutcome) -> SendResult:
    if outcome.result is PushResult.DELIVERED:
        return SendResult.done("delivered", {"status": outcome.status, "attempts": outcome.attempts})
    kind = Outcome.RETRY if outcome.result is PushResult.RETRY else Outcome.FAILED
    return _failure(kind, outcome.status, outcome.reason, outcome.detail)


class UcpSender:
    """``outage_after``: once that many orders in a row got no delivery (the endpoint is down),
    the batch's remaining pushes wait for the next cycle instead of each spending its retries."""

    def __init__(self, client: UcpWebhooks, *, concurrency: int = 4, outage_after: int = 5) -> None:
        self._client = client
        self._concurrency = max(1, concurrency)
        self._outage_after = max(1, outage_after)

    def send(self, intents: Sequence[IntentRecord]) -> Sequence[SendResult]:
        by_order: dict[str, list[int]] = {}
        for i, record in enumerate(intents):
            by_order.setdefault(record.order_id, []).append(i)
        results: list[SendResult | None] = [None] * len(intents)
        lock = threading.Lock()
        failing = 0  # orders in a row whose push was not delivered

        def push_order(indexes: list[int]) -> None:
            nonlocal failing
            held = False
            for i in indexes:
                with lock:
                    down = failing >= self._outage_after
                if held or down:
                    why = "an earlier push is pending" if held else "Google's endpoint is failing"
                    results[i] = SendResult(Outcome.RETRY, error=f"{why}: sent next cycle", reason=HELD)
                    continue
                result = results[i] = self._push(intents[i])
                held = result.outcome is Outcome.RETRY
                with lock:
                    failing = failing + 1 if held else 0

        groups = list(by_order.values())
        if self._concurrency == 1 or len(groups) == 1:
            for group in groups:
                push_order(group)
        else:
            with ThreadPoolExecutor(min(self._concurrency, len(groups)), thread_name_prefix="ucp") as pool:
                list(pool.map(push_order, groups))
        return [r for r in results if r is not None]

    def _push(self, record: IntentRecord) -> SendResult:
        try:
            push = stored_push(record)
        except StoredPushError as exc:
            return SendResult(Outcome.FAILED, error=str(exc), reason="bad_payload")
        return push_result(self._client.push(push.webhook_id, push.timestamp, push.body))


def signal_result(outcome: SignalOutcome) -> SendResult:
    if outcome.sent:
        return SendResult.done(str(outcome.result), {"signal_id": outcome.signal_id})
    kind = Outcome.RETRY if outcome.result is SignalResult.RETRY else Outcome.FAILED
    return _failure(kind, outcome.status, outcome.reason, outcome.detail)


class TrackingSender:
    def __init__(self, gateway: TrackingSignals) -> None:
        self._gateway = gateway

    def send(self, intents: Sequence[IntentRecord]) -> Sequence[SendResult]:
        results = []
        for record in intents:
            try:
                signal = stored_signal(record)
            except ValueError as exc:
                results.append(SendResult(Outcome.FAILED, error=str(exc), reason="bad_payload"))
                continue
            results.append(signal_result(self._gateway.create_signal(signal)))
        return results


class LiveChannelEffects:
    """A live channel's settle handler: Google keeps no state we mirror (no read-back API), so an
    answer means counters for the run summary and, for a refusal, a log line with Google's reason
    (the intent keeps it too: ``error_reason``, ``last_error``)."""

    def __init__(self, result: CycleResult, channel: str) -> None:
        self._result = result
        self._channel = channel

    def __call__(self, settled: Settled) -> None:
        counts = self._result.live.setdefault(self._channel, {"sent": 0, "retry": 0, "failed": 0})
        counts["sent"] += len(settled.done)
        counts["retry"] += len(settled.retried)
        counts["failed"] += len(settled.failed)
        for record, answer in settled.failed:
            log.error(
                "refused by Google; not retried",
                channel=self._channel,
                order=record.order_id,
                key=record.key,
                reason=answer.reason,
                error=answer.error,
            )
        retried = [r for r, a in settled.retried if a.reason != HELD]
        if retried:
            log.warning(
                "not delivered; resent next cycle with the same id and body",
                channel=self._channel,
                count=len(retried),
                first=retried[0].key,
            )
