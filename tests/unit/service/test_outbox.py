"""The outbox's protocol (sync/service/outbox.py): recorded before sent, never twice in a cycle,
retry stays pending, failed is final, answers settled with their effects in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from sync.adapters.ledger import Ledger, OrderSnapshot
from sync.domain.intents import Intent, IntentRecord, IntentState, Outcome, SendResult, Target
from sync.service.outbox import Outbox, Settled


class ScriptedSender:
    """Answers each send from a script of outcomes, and notes what the ledger held at that moment."""

    def __init__(self, ledger: Ledger, outcomes: Sequence[Outcome] = ()) -> None:
        self.ledger = ledger
        self.outcomes = list(outcomes)
        self.batches: list[list[str]] = []
        self.pending_when_sent: list[set[str]] = []

    def send(self, intents: Sequence[IntentRecord]) -> list[SendResult]:
        self.batches.append([r.key for r in intents])
        self.pending_when_sent.append({r.key for r in self.ledger.pending_intents()})
        return [SendResult(self.outcomes.pop(0) if self.outcomes else Outcome.DONE) for _ in intents]


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    led = Ledger("sqlite://")
    led.upsert_orders([OrderSnapshot("G1"), OrderSnapshot("G2")])
    yield led
    led.close()


def intent(key: str, kind: str = "acknowledge", order: str = "G1") -> Intent:
    return Intent(order, Target.GOOGLE, kind, key, {"method": kind, "operationId": key})


def test_intents_are_committed_before_they_are_sent_and_sent_once_per_cycle(ledger: Ledger) -> None:
    sender = ScriptedSender(ledger)
    outbox = Outbox(ledger, {Target.GOOGLE: sender})
    settled = outbox.submit([intent("a"), intent("b", order="G2")])
    assert sender.pending_when_sent == [{"a", "b"}]  # both in the ledger, pending, when sent
    assert [r.key for r, _ in settled.done] == ["a", "b"]
    again = outbox.send(ledger.intents_for_order("G1") + outbox.record([intent("a")]))
    assert again.done == [] and sender.batches == [["a", "b"]]  # done, and sent this cycle already


def test_retry_stays_pending_for_the_next_cycle_and_failed_is_final(ledger: Ledger) -> None:
    sender = ScriptedSender(ledger, [Outcome.RETRY, Outcome.FAILED])
    outbox = Outbox(ledger, {Target.GOOGLE: sender})
    settled = outbox.submit([intent("a"), intent("b")])
    assert (len(settled.retried), settled.failed_orders) == (1, {"G1"})
    assert outbox.send(outbox.pending(Target.GOOGLE)).done == []  # not twice in one cycle
    states = {r.key: (r.state, r.attempts) for r in ledger.intents_for_order("G1")}
    assert states == {"a": (IntentState.PENDING, 1), "b": (IntentState.FAILED, 1)}
    next_cycle = Outbox(ledger, {Target.GOOGLE: ScriptedSender(ledger)})
    assert [r.key for r, _ in next_cycle.send(next_cycle.pending(Target.GOOGLE)).done] == ["a"]
    assert next_cycle.record([intent("b")])[0].state is IntentState.FAILED  # recording it again: still failed


def test_phases_go_in_order_and_unknown_kinds_are_never_sent(ledger: Ledger) -> None:
    sender = ScriptedSender(ledger)
    phases = {Target.GOOGLE: (frozenset({"acknowledge"}), frozenset({"shipLineItems"}))}
    outbox = Outbox(ledger, {Target.GOOGLE: sender}, phases=phases)
    outbox.submit([intent("s", "shipLineItems"), intent("x", "mystery"), intent("a")])
    assert sender.batches == [["a"], ["s"]]


def test_answers_and_their_effects_are_one_transaction(ledger: Ledger) -> None:
    def broken_handler(settled: Settled) -> None:
        raise RuntimeError("crash while settling")

    outbox = Outbox(
        ledger, {Target.GOOGLE: ScriptedSender(ledger)}, on_settled={Target.GOOGLE: broken_handler}
    )
    with pytest.raises(RuntimeError):
        outbox.submit([intent("a")])
    assert [r.state for r in ledger.pending_intents()] == [IntentState.PENDING]  # the result rolled back


def test_handlers_and_observers_hear_of_every_settled_batch(ledger: Ledger) -> None:
    heard: list[tuple[str, int]] = []
    outbox = Outbox(
        ledger,
        {Target.GOOGLE: ScriptedSender(ledger, [Outcome.DONE, Outcome.FAILED])},
        on_settled={Target.GOOGLE: lambda s: heard.append(("google", len(s.done)))},
        observers=[lambda s: heard.append(("any", len(s.failed)))],
    )
    outbox.submit([intent("a"), intent("b")])
    assert heard == [("google", 1), ("any", 1)]


def test_a_target_without_a_sender_keeps_its_intents_pending(ledger: Ledger) -> None:
    outbox = Outbox(ledger, {Target.GOOGLE: ScriptedSender(ledger)})
    square = Intent("G1", Target.SQUARE, "square.create", "k", {})
    assert list(outbox.submit([square])) == []
    assert [r.target for r in ledger.pending_intents()] == [Target.SQUARE]


def test_a_sender_must_answer_every_intent(ledger: Ledger) -> None:
    class Short:
        def send(self, intents: Sequence[IntentRecord]) -> list[SendResult]:
            return []

    with pytest.raises(AssertionError, match="0 results for 1"):
        Outbox(ledger, {Target.GOOGLE: Short()}).submit([intent("a")])
