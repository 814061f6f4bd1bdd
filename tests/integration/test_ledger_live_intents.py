"""The ledger keeps the live Google channels' intents: keyed by a Square order id that has no
``orders`` row (migration 0005), while Google and Square intents still need their order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.adapters.ledger import Ledger, LedgerError
from sync.domain.intents import Intent, IntentResult, IntentState, Outcome, Target
from tests.integration.test_ledger import POSTGRES_URL, _empty_postgres


@pytest.fixture(params=["native", "portable", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
        led = Ledger(_empty_postgres(POSTGRES_URL))
    else:
        led = Ledger(tmp_path / "ledger.db")
        led._native_upsert = request.param == "native"
    yield led
    led.close()


def test_live_channel_intents_need_no_google_order(ledger: Ledger) -> None:
    body = '{"id":"sq_1","note":"Grüße"}'
    push = Intent("sq_1", Target.UCP, "ucp.push", "sq_1", {"body": body})
    signal = Intent("sq_2", Target.ORDER_TRACKING, "ordertracking.signal", "ordertracking:sq_2", {"x": 1})
    first = ledger.add_intents([push, signal])
    again = ledger.add_intents([Intent("sq_1", Target.UCP, "ucp.push", "sq_1", {"body": "other"})])
    assert again[0].id == first[0].id and again[0].payload == {"body": body}  # the recorded bytes win
    ledger.record_results([IntentResult(first[0].id, Outcome.RETRY, error="HTTP 503", reason="UNAVAILABLE")])
    (pending,) = ledger.pending_intents(target=Target.UCP)
    assert pending.attempts == 1 and pending.state is IntentState.PENDING
    assert [r.key for r in ledger.intents_for_order("sq_2")] == ["ordertracking:sq_2"]
    with pytest.raises(LedgerError, match="orders already in the ledger"):
        ledger.add_intents([Intent("sq_1", Target.GOOGLE, "acknowledge", "op-1")])


def test_live_intents_are_the_accounts_ucp_and_tracking_intents_without_payloads(ledger: Ledger) -> None:
    push = Intent("sq_1", Target.UCP, "ucp.push", "sq_1", {"body": '{"first_name":"Alex"}'})
    signal = Intent("sq_2", Target.ORDER_TRACKING, "ordertracking.signal", "ordertracking:sq_2", {"x": 1})
    done, refused = ledger.add_intents([push, signal])
    ledger.record_results(
        [
            IntentResult(done.id, Outcome.DONE, execution_status="executed"),
            IntentResult(refused.id, Outcome.FAILED, error="HTTP 400", reason="INVALID_ARGUMENT"),
        ]
    )
    found = {i.key: i for i in ledger.live_intents()}
    assert set(found) == {"sq_1", "ordertracking:sq_2"}
    assert found["sq_1"].state is IntentState.DONE and found["sq_1"].done_at is not None
    assert found["sq_1"].event == "created" and found["ordertracking:sq_2"].event == "signal"
    assert found["ordertracking:sq_2"].error_reason == "INVALID_ARGUMENT"
    assert all(i.created_at.tzinfo is not None for i in found.values())  # UTC-aware, as the rules need
