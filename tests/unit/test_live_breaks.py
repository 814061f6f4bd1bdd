"""Google's live channels in the report (issue 16.4): the rules of ``domain.live_breaks`` over
records, and which Square orders ``domain.live_views`` counts as read by the google_live step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sync.domain.intents import IntentState, Target
from sync.domain.live_breaks import (
    CATEGORIES,
    Channel,
    ExpectedEvent,
    LiveIntent,
    SquareView,
    reconcile_live,
)
from sync.domain.live_views import Channels, StepWindow, relevant, square_view
from sync.domain.reconcile import CATEGORIES as REPORT_CATEGORIES
from sync.domain.ucp.entity import UcpOrderConfig

from .test_break_hints import ACTIONS as HINT_ACTIONS

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SLA = 2.0


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def intent(
    key: str = "SQ1",
    state: IntentState = IntentState.DONE,
    *,
    order: str = "SQ1",
    target: Target = Target.UCP,
    recorded: float = 5,
    attempts: int = 1,
    reason: str | None = None,
    error: str | None = None,
) -> LiveIntent:
    done = ago(recorded) if state == IntentState.DONE else None
    return LiveIntent(
        order, target, key, state, attempts, error, reason, ago(recorded), ago(recorded - 0.01), done
    )


def view(
    order: str = "SQ1",
    *expected: tuple[str, float],
    channel: Channel = Channel.UCP,
    changed: float = 5,
    decidable: bool = True,
) -> SquareView:
    return SquareView(
        order,
        channel,
        "OPEN",
        ago(changed),
        parcels=1,
        expected=tuple(ExpectedEvent(k, ago(h)) for k, h in expected),
        decidable=decidable,
    )


def run(views: list[SquareView], intents: list[LiveIntent]) -> Any:
    return reconcile_live(views, intents, now=NOW, sla_hours=SLA)


def test_the_live_categories_are_report_categories() -> None:
    assert set(CATEGORIES) <= set(REPORT_CATEGORIES)


def test_accepted_pushes_give_the_row_and_no_break() -> None:
    found = run(
        [view("SQ1", ("created", 5), ("shipped:p1", 3))],
        [intent("SQ1", recorded=5), intent("SQ1:shipped:p1", recorded=3)],
    )
    (row,) = found.rows
    assert found.breaks == ()
    assert (row.events_recorded, row.events_accepted, row.events_pending, row.events_refused) == (2, 2, 0, 0)
    assert row.last_accepted_event == "shipped:p1" and row.last_accepted_at == ago(3)
    assert row.first_failure_at is None and row.failure_reason == "" and row.missing_events == ""


def test_a_refused_push_is_high_with_googles_reason_and_its_time() -> None:
    refused = intent(
        "SQ1:shipped:p1", IntentState.FAILED, recorded=1, reason="INVALID_ARGUMENT", error="400 tracking_url"
    )
    found = run([view("SQ1", ("created", 5), ("shipped:p1", 1))], [intent(recorded=5), refused])
    (brk,) = found.breaks
    assert (brk.category, brk.severity) == ("live_push_refused", "high")
    assert "INVALID_ARGUMENT: 400 tracking_url" in brk.detail and "never resent" in brk.detail
    assert any(a in brk.detail.lower() for a in HINT_ACTIONS)
    assert brk.age_hours == pytest.approx(0.99, abs=0.01)  # since Google refused it
    (row,) = found.rows
    assert row.events_refused == 1 and row.first_failure_at == ago(1)
    assert row.failure_reason == "INVALID_ARGUMENT: 400 tracking_url"


def test_a_refused_push_is_a_break_at_once_not_after_the_sla() -> None:
    refused = intent("SQ1", IntentState.FAILED, recorded=0.1, reason="API_KEY_INVALID")
    assert [b.category for b in run([], [refused]).breaks] == ["live_push_refused"]


def test_a_pending_push_is_a_break_only_past_the_sla() -> None:
    young = intent("SQ1", IntentState.PENDING, recorded=1.5, reason="UNAVAILABLE", error="503")
    assert run([], [young]).breaks == ()
    old = intent("SQ1", IntentState.PENDING, recorded=3, attempts=4, reason="UNAVAILABLE", error="503")
    (brk,) = run([], [old]).breaks
    assert (brk.category, brk.severity) == ("live_push_pending_past_sla", "high")
    assert "after 4 attempt(s)" in brk.detail and "UNAVAILABLE: 503" in brk.detail
    assert brk.age_hours == pytest.approx(3)


def test_a_held_push_counts_pending_but_is_no_failure_of_its_own() -> None:
    first = intent("SQ1", IntentState.PENDING, recorded=3, reason="UNAVAILABLE", error="503")
    held = intent("SQ1:shipped:p1", IntentState.PENDING, recorded=2.5, reason="held", error="waits")
    found = run([], [first, held])
    (row,) = found.rows
    assert row.events_pending == 2 and row.first_failure_at == ago(3)
    assert row.failure_reason == "UNAVAILABLE: 503"
    assert {b.category for b in found.breaks} == {"live_push_pending_past_sla"}  # one break per order


def test_a_square_event_with_no_intent_is_a_break_once_the_step_read_it_past_the_sla() -> None:
    shipped = view("SQ1", ("created", 30), ("shipped:p1", 26), changed=25)
    (brk,) = run([shipped], [intent(recorded=29)]).breaks
    assert brk.category == "live_event_not_recorded" and "shipped:p1" in brk.detail
    assert brk.age_hours == pytest.approx(26)
    (row,) = run([shipped], [intent(recorded=29)]).rows
    assert row.missing_events == "shipped:p1"
    # Not past the SLA since Square's change, or not read by the step yet: undecided, no break.
    assert (
        run([view("SQ1", ("created", 30), ("shipped:p1", 26), changed=1)], [intent(recorded=29)]).breaks == ()
    )
    unread = view("SQ1", ("created", 30), ("shipped:p1", 26), changed=25, decidable=False)
    assert run([unread], [intent(recorded=29)]).breaks == ()


def test_a_web_order_shipped_with_no_signal_is_a_break_and_with_one_is_not() -> None:
    web = view("W1", ("signal", 10), channel=Channel.WEB, changed=10)
    (brk,) = run([web], []).breaks
    assert brk.category == "live_event_not_recorded" and "web-shop order" in brk.detail
    sent = intent("ordertracking:W1", order="W1", target=Target.ORDER_TRACKING, recorded=9)
    found = run([web], [sent])
    assert found.breaks == ()
    assert found.rows[0].channel == Channel.WEB and found.rows[0].last_accepted_event == "signal"


def test_rows_ucp_first_then_web_and_intents_without_a_square_order_are_kept() -> None:
    gone = intent("ordertracking:W0", order="W0", target=Target.ORDER_TRACKING)
    found = run([view("W9", channel=Channel.WEB), view("SQ2")], [gone, intent(order="SQ1")])
    assert [(r.square_order_id, r.channel) for r in found.rows] == [
        ("SQ1", Channel.UCP),
        ("SQ2", Channel.UCP),
        ("W0", Channel.WEB),
        ("W9", Channel.WEB),
    ]
    assert "not among Square's orders" in found.rows[0].note and found.rows[0].parcels is None
    counts = {c.channel: c for c in found.counts()}
    assert counts[Channel.UCP].orders == 2 and counts[Channel.WEB].accepted == 1


def test_googles_error_text_is_cut_short() -> None:
    refused = intent("SQ1", IntentState.FAILED, reason="BAD", error="x" * 5000)
    (row,) = run([], [refused]).rows
    assert len(row.failure_reason) < 220 and row.failure_reason.endswith("...")


# ------------------------------------------------------------------ live_views: the step's window
CONFIG = UcpOrderConfig("https://shop.example.com/orders/{order_id}")
BOTH = Channels(ucp=True, web=True, ucp_config=CONFIG)


def square(
    order_id: str = "SQ1",
    *,
    ucp: bool = True,
    shipped: bool = False,
    updated: str = "2026-12-01T10:00:00Z",
    version: int = 3,
) -> dict[str, Any]:
    fulfilment: dict[str, Any] = {
        "uid": "p1",
        "type": "SHIPMENT",
        "state": "COMPLETED" if shipped else "PROPOSED",
        "shipment_details": {
            "carrier": "UPS",
            "tracking_number": "1Z1",
            "shipped_at": "2026-12-01T09:00:00Z",
            "recipient": {"display_name": "Alex Buyer", "address": {"address_line_1": "123 Main St"}},
        },
    }
    return {
        "id": order_id,
        "version": version,
        "state": "COMPLETED" if shipped else "OPEN",
        "created_at": "2026-12-01T08:00:00Z",
        "updated_at": updated,
        "metadata": {"ucp_checkout_id": "chk_1"} if ucp else {},
        "line_items": [
            {
                "uid": "li_1",
                "name": "Socks",
                "quantity": "1",
                "base_price_money": {"amount": 500, "currency": "USD"},
            }
        ],
        "fulfillments": [fulfilment],
        "total_money": {"amount": 500, "currency": "USD"},
    }


def test_the_step_has_read_versions_before_its_cursor_or_remembered_at_it() -> None:
    cursor = {"at": "2026-12-01T12:00:00.000Z", "seen": [["SQ1", 3]]}
    window = StepWindow.from_cursor(cursor, now=NOW, lookback_days=30)
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert window.has_read("SQ9", 1, at - timedelta(seconds=1))
    assert window.has_read("SQ1", 3, at) and not window.has_read("SQ1", 4, at)
    assert not window.has_read("SQ1", 5, at + timedelta(seconds=1))
    assert not window.has_read("SQ1", 1, NOW - timedelta(days=31))  # before the first walk's reach
    assert not StepWindow.from_cursor(None, now=NOW, lookback_days=30).has_read("SQ1", 1, at)
    assert not StepWindow.from_cursor({"at": "garbage"}, now=NOW, lookback_days=30).has_read("SQ1", 1, at)
    assert StepWindow.from_cursor(cursor, now=NOW, lookback_days=0).has_read(
        "SQ1", 1, at - timedelta(days=900)
    )


def test_square_view_of_a_shipped_ucp_order_expects_created_and_shipped() -> None:
    window = StepWindow.from_cursor({"at": "2026-12-02T00:00:00Z", "seen": []}, now=NOW, lookback_days=30)
    v = square_view(square(shipped=True), BOTH, window)
    assert v is not None and v.channel == Channel.UCP and v.decidable
    assert [e.key for e in v.expected] == ["created", "shipped:p1"]
    assert (v.parcels, v.parcels_shipped, v.parcels_delivered) == (1, 1, 0)
    assert "Buyer" not in repr(v) and "Main" not in repr(v)  # no customer data kept


def test_square_view_of_web_orders_and_what_is_left_out() -> None:
    window = StepWindow.from_cursor({"at": "2026-12-02T00:00:00Z", "seen": []}, now=NOW, lookback_days=30)
    shipped = square_view(square("W1", ucp=False, shipped=True), BOTH, window)
    assert shipped is not None and [e.key for e in shipped.expected] == ["signal"]
    open_web = square_view(square("W2", ucp=False), BOTH, window)
    assert open_web is not None and open_web.expected == ()
    assert not relevant(open_web, window, has_intents=False) and relevant(open_web, window, has_intents=True)
    assert square_view(square(ucp=True), Channels(ucp=False, web=True, ucp_config=CONFIG), window) is None
    assert square_view({**square(), "returns": [{"source_order_id": "SQ0"}]}, BOTH, window) is None


def test_an_unreadable_ucp_order_gets_a_row_saying_why() -> None:
    window = StepWindow()
    raw = square()
    raw["line_items"][0]["quantity"] = "1.5"
    v = square_view(raw, BOTH, window)
    assert v is not None and v.problem and relevant(v, window, has_intents=False)
    (row,) = run([v], []).rows
    assert "not readable" in row.note and run([v], []).breaks == ()


def test_every_live_category_is_provoked_and_its_hint_says_what_to_do() -> None:
    found = run(
        [view("SQ2", ("created", 30), changed=25)],
        [
            intent("SQ1", IntentState.FAILED, reason="API_KEY_INVALID"),
            intent("SQ3", IntentState.PENDING, order="SQ3", recorded=5, reason="UNAVAILABLE"),
        ],
    )
    assert sorted(b.category for b in found.breaks) == sorted(CATEGORIES)
    for brk in found.breaks:
        assert any(a in brk.detail.lower() for a in HINT_ACTIONS), brk
