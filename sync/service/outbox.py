"""The intent outbox: the one place that owns the exactly-once protocol (design.md §5).

Every mutation on any channel goes record -> send -> settle:

1. **record**: ``record(intents)`` commits each intent to the ledger under its deterministic key
   (operationId, idempotency key, shipmentId-derived id, Webhook-Id) *before* anything is sent.
   Recording an intent that exists returns the stored record (its payload wins).
2. **send**: ``send(records)`` hands the pending ones to their channel's ``Sender``, phase by
   phase (Google's custombatch entries in one request have no guaranteed order), never one intent
   twice in a cycle.
3. **settle**: each answer is recorded (done / failed, final; retry stays pending, attempts+1) in
   one transaction with what it means for the ledger's view of the order (the target's settle
   handler, e.g. service/google_effects.py), and reported as ``Settled`` data.

What a ``kill -9`` between two of these leaves, and why a rerun is safe:

- before 1 commits: nothing was recorded, nothing sent; the rerun derives the same intents.
- between 1 and 2, or during 2 (the request sent, the answer lost): the intent is pending; the
  next cycle's resend step sends it again with the same key, and the channel answers with what it
  already did (Google ``duplicate``, Square the same order or payment), which counts as done.
- during 3: the transaction is all or nothing, so either the results and their effects are there,
  or neither is and the intents are resent as above.

A Sender raises nothing for a per-intent failure; a whole request that fails becomes RETRY (or
FAILED, when the channel refuses it for good) for each of its intents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sync.domain.intents import Intent, IntentRecord, IntentResult, IntentState, Outcome, SendResult, Target


class Sender(Protocol):
    """Sends intents of one Target (built in bootstrap)."""

    def send(self, intents: Sequence[IntentRecord]) -> Sequence[SendResult]:
        """One result per intent, aligned 1:1 with ``intents``."""
        ...


class OutboxLedger(Protocol):
    """What the outbox needs of the ledger."""

    def add_intents(self, intents: Iterable[Intent]) -> list[IntentRecord]: ...
    def pending_intents(
        self, target: str | None = None, kinds: Collection[str] | None = None, limit: int | None = None
    ) -> list[IntentRecord]: ...
    def record_results(self, results: Iterable[IntentResult]) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...


Answer = tuple[IntentRecord, SendResult]


@dataclass(frozen=True)
class Settled:
    """What one or more sends came to, by outcome (each in the order sent)."""

    done: list[Answer] = field(default_factory=list)
    failed: list[Answer] = field(default_factory=list)
    retried: list[Answer] = field(default_factory=list)

    @classmethod
    def of(cls, records: Sequence[IntentRecord], results: Sequence[SendResult]) -> Settled:
        settled = cls()
        by_outcome = {
            Outcome.DONE: settled.done,
            Outcome.FAILED: settled.failed,
            Outcome.RETRY: settled.retried,
        }
        for record, result in zip(records, results, strict=True):
            by_outcome[result.outcome].append((record, result))
        return settled

    def add(self, other: Settled) -> None:
        self.done.extend(other.done)
        self.failed.extend(other.failed)
        self.retried.extend(other.retried)

    def __iter__(self) -> Iterator[Answer]:
        yield from self.done
        yield from self.failed
        yield from self.retried

    @property
    def failed_orders(self) -> set[str]:
        return {record.order_id for record, _ in self.failed}

    def done_of(self, kind: str) -> list[Answer]:
        return [(record, result) for record, result in self.done if record.kind == kind]


SettleHandler = Callable[[Settled], None]


class Outbox:
    def __init__(
        self,
        ledger: OutboxLedger,
        senders: Mapping[Target, Sender],
        *,
        phases: Mapping[Target, Sequence[frozenset[str]]] | None = None,
        on_settled: Mapping[Target, SettleHandler] | None = None,
        observers: Sequence[SettleHandler] = (),
    ) -> None:
        """``phases``: per target, the kinds sent together, in order (a target without phases
        sends each batch at once; a kind in no phase of its target is never sent).
        ``on_settled``: per target, what the answers mean for the ledger (run in the transaction
        that records them). ``observers``: told of every settled batch of any target after that
        transaction (e.g. the cycle's failed orders)."""
        self._ledger = ledger
        self._senders = dict(senders)
        self._phases = dict(phases or {})
        self._on_settled = dict(on_settled or {})
        self._observers = list(observers)
        self._sent: set[int] = set()  # intent ids sent this cycle

    @property
    def targets(self) -> frozenset[Target]:
        return frozenset(self._senders)

    def record(self, intents: Iterable[Intent]) -> list[IntentRecord]:
        """Commit intents (before any send); the stored record of each, aligned with the input."""
        given = list(intents)
        return self._ledger.add_intents(given) if given else []

    def pending(self, target: Target, kinds: Collection[str] | None = None) -> list[IntentRecord]:
        """Pending intents of a target, in the order they were recorded."""
        return self._ledger.pending_intents(target=target, kinds=kinds)

    def submit(self, intents: Iterable[Intent]) -> Settled:
        """Record, then send."""
        return self.send(self.record(intents))

    def send(self, records: Sequence[IntentRecord]) -> Settled:
        """Send the pending records not sent yet this cycle, per target and phase; every answer is
        settled before the next phase goes."""
        by_target: dict[Target, list[IntentRecord]] = {}
        for record in records:
            if (
                record.state == IntentState.PENDING
                and record.id not in self._sent
                and record.target in self._senders
            ):
                by_target.setdefault(record.target, []).append(record)
        settled = Settled()
        for target, todo in by_target.items():
            phases = self._phases.get(target)
            if phases is None:
                settled.add(self._send_batch(target, todo))
                continue
            for phase in phases:
                batch = [r for r in todo if r.kind in phase]
                if batch:
                    settled.add(self._send_batch(target, batch))
        return settled

    def _send_batch(self, target: Target, batch: list[IntentRecord]) -> Settled:
        self._sent.update(r.id for r in batch)
        results = self._senders[target].send(batch)
        if len(results) != len(batch):
            raise AssertionError(f"{target} sender answered {len(results)} results for {len(batch)} intents")
        settled = Settled.of(batch, results)
        handler = self._on_settled.get(target)
        with self._ledger.transaction():
            self._ledger.record_results(
                IntentResult.of(r.id, res) for r, res in zip(batch, results, strict=True)
            )
            if handler is not None:
                handler(settled)
        for observer in self._observers:
            observer(settled)
        return settled
