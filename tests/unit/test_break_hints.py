"""Every break category's hint is actionable and true (issue 12.6).

Each category in ``rules.CATEGORIES`` is provoked once (a category without a scenario here fails
the walk), and its detail is checked for an instruction and for what it must or must not claim:
a refused operation is not retried, ordersync creates OMS orders itself, a feed tracking id is not
fixed with updateShipment, lag is "pending sync" with the recheck named, a rejected row names its
file, line and the rejects file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from sync.domain import reconcile as rules
from sync.domain.live_breaks import CATEGORIES as LIVE_CATEGORIES
from sync.service.reconciliation import (
    frames_from_feed,
    frames_from_google_orders,
    frames_from_ledger,
    frames_from_rejects,
    frames_from_square_orders,
)

from .test_reconcile import NOW, SLAS, base_case, iso

ACTIONS = (
    "check", "see", "fix", "correct", "cancel", "contact", "ship", "open", "find", "investigate",
    "nothing to do", "confirm", "create", "set", "drop", "record", "export", "mark",
)
Case = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def _feed_oms(google: list[dict[str, Any]]) -> pd.DataFrame:
    """The feed as the OMS: what the ledger took from it (here: every Google shipment)."""
    rows = [
        {
            "order_id": o["id"],
            "line_item_id": li["id"],
            "quantity": str(li["quantityShipped"]),
            "tracking_id": (o.get("shipments") or [{}])[0].get("trackingId", ""),
            "shipped_at": iso(40),
            "delivered_at": iso(30) if li["quantityDelivered"] else "",
            "shipment_id": "S",
        }
        for o in google
        for li in o["lineItems"]
        if li["quantityShipped"]
    ]
    return frames_from_feed(rows)


def _breaks(
    mutate: Callable[[Case], Any], *, feed: bool = False, freshness: rules.Freshness | None = None
) -> pd.DataFrame:
    google, square, ledger = base_case()
    as_fed = copy.deepcopy(google)  # the feed reported the shipments as they were before the change
    extras: list[dict[str, Any]] = []  # failed operations, and rejects ({"reject": {...}})
    mutate((google, square, ledger, extras))
    rejects = [e for e in extras if "reject" in e]
    failed = [e for e in extras if "reject" not in e]
    rec = rules.reconcile(
        frames_from_google_orders(google),
        frames_from_ledger(ledger, failed),
        _feed_oms(as_fed) if feed else frames_from_square_orders(square),
        slas=SLAS,
        now=pd.Timestamp(NOW),
        rejects=frames_from_rejects([r["reject"] for r in rejects]) if rejects else None,
        freshness=freshness,
    )
    return rec.breaks.assign(category=rec.breaks["category"].astype(str))


def _cancel_one_unit(google: list[dict[str, Any]], at: str) -> None:
    line = google[0]["lineItems"][0]
    line.update(quantityCanceled=1, quantityPending=line["quantityPending"] - 1)
    line["cancellations"] = [{"quantity": 1, "creationDate": at, "actor": "customer"}]


def _cancel_order(google: list[dict[str, Any]], at: str) -> None:
    google[0]["status"] = "canceled"
    for li in google[0]["lineItems"]:
        li.update(quantityCanceled=li["quantityOrdered"], quantityPending=0)
        li["cancellations"] = [{"quantity": li["quantityOrdered"], "creationDate": at}]


def _reject(**fields: Any) -> dict[str, Any]:
    base = {
        "order_ref": "SQ1",
        "source": "feeds/shipments-3.csv",
        "line_no": 7,
        "retryable": False,
        "reason": "carrier: unknown carrier 'Carrier Pigeon'",
        "first_seen_at": iso(5),
        "rejects_file": "reports/rejects/rejects-20261123T050000Z-run000042.csv",
    }
    return {"reject": {**base, **fields}}


def _ledger_seen(ledger: list[dict[str, Any]], at: str) -> None:
    for order in ledger:
        order["last_seen_at"] = at


LAG = rules.Freshness(cycle_started_at=pd.Timestamp(NOW) - pd.Timedelta(hours=2), recheck_minutes=60)

@dataclass(frozen=True)
class Scenario:
    provoke: Callable[[Case], Any]
    must: tuple[str, ...]  # what the hint has to say
    must_not: tuple[str, ...] = ()  # what would be untrue here
    feed: bool = False  # the shipments feed as the OMS (else Square)
    freshness: rules.Freshness | None = None


def _unacknowledged(c: Case) -> None:
    c[0][0].update(acknowledged=False, placedDate=iso(30))
    c[1][0].update(created_at=iso(29))


def _late_delivery(c: Case) -> None:
    c[0][2].update(placedDate=iso(300))
    c[0][2]["shipments"][0].update(creationDate=iso(250))


def _refused_parcel(c: Case) -> None:
    refusal = {"google_order_id": "G2", "kind": "shipLineItems", "error": "over-ship", "failed_at": iso(2)}
    c[3].append(refusal)


def _refunded_in_square_only(c: Case) -> None:
    """The store refunded 500 JPY of G2 in Square (a return order pointing at SQ2); Google did not."""
    c[1].append(
        {
            "id": "RET2",
            "state": "COMPLETED",
            "returns": [{"uid": "r1", "source_order_id": "SQ2", "return_line_items": []}],
            "refunds": [
                {"id": "RF1", "status": "APPROVED", "amount_money": {"amount": 500, "currency": "JPY"},
                 "transaction_id": "SQ2", "created_at": iso(3)}
            ],
            "total_money": {"amount": 0, "currency": "JPY"},
        }
    )


def _returned_long_ago(c: Case) -> None:
    line = c[0][1]["lineItems"][0]
    line["quantityReturned"] = 1
    line["returns"] = [{"quantity": 1, "creationDate": iso(400), "actor": "customer"}]


def _canceled_since_look(c: Case) -> None:
    _cancel_one_unit(c[0], iso(1))
    _ledger_seen(c[2], iso(3))


SCENARIOS: dict[str, Scenario] = {
    "missing_in_oms": Scenario(lambda c: c[1].pop(0), ("Do not create it by hand", "failed_operation")),
    "missing_in_google": Scenario(
        lambda c: c[2].append({"google_order_id": "G8", "line_items": []}), ("Merchant Center",)
    ),
    "unacknowledged_past_sla": Scenario(_unacknowledged, ("acknowledge",)),
    "no_merchant_order_id": Scenario(lambda c: c[0][0].pop("merchantOrderId"), ("failed_operation",)),
    "duplicate_merchant_order_id": Scenario(
        lambda c: c[1].append({**copy.deepcopy(c[1][0]), "id": "SQ1b"}), ("cancel the extra",)
    ),
    "merchant_order_id_mismatch": Scenario(
        lambda c: c[2][0].update(merchant_order_id="OS-G1"), ("never overwrites",), ("updateMerchantOrderId",)
    ),
    "quantity_mismatch": Scenario(
        lambda c: c[2][2]["line_items"][0].update(quantity_shipped=2), ("failed operations",), ("rerun",)
    ),
    "amount_mismatch": Scenario(lambda c: c[1][0]["total_money"].update(amount=3305), ("check prices",)),
    "status_mismatch": Scenario(lambda c: c[1][0].update(state="CANCELED"), ("cancel it on Google",)),
    "stuck_past_ship_sla": Scenario(lambda c: c[0][0].update(placedDate=iso(80)), ("ship or cancel",)),
    "shipped_not_delivered_past_sla": Scenario(_late_delivery, ("carrier",)),
    "tracking_mismatch": Scenario(
        lambda c: c[0][2]["shipments"][0].update(trackingId="OTHER"),
        ("new parcel", "Merchant Center"),
        ("updateShipment",),
        feed=True,
    ),
    "failed_operation": Scenario(_refused_parcel, ("not sent again", "new shipment_id"), ("retries them",)),
    "rejected_feed_row": Scenario(
        lambda c: c[3].append(_reject()),
        ("feeds/shipments-3.csv line 7", "Carrier Pigeon", "rejects-20261123T050000Z-run000042.csv", "drop"),
        ('= "ups"',),
    ),
    "refund_mismatch": Scenario(
        _refunded_in_square_only, ("Google refunded 0, the OMS 500 JPY", "record the missing refund")
    ),
    "return_not_refunded_past_sla": Scenario(
        _returned_long_ago, ("1 unit(s) returned on Google", "refund it", "Merchant Center"), ("Square",)
    ),
    "pending_sync": Scenario(
        _canceled_since_look,
        ("pending sync", "every 60 min", "nothing to do unless"),
        ("rerun",),
        freshness=LAG,
    ),
}


# Google's live channels' hints are checked over their records (tests/unit/test_live_breaks.py).
FRAME_CATEGORIES = tuple(c for c in rules.CATEGORIES if c not in LIVE_CATEGORIES)


def test_every_category_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(FRAME_CATEGORIES)


@pytest.mark.parametrize("category", FRAME_CATEGORIES)
def test_each_hint_is_actionable_and_true(category: str) -> None:
    scenario = SCENARIOS[category]
    breaks = _breaks(scenario.provoke, feed=scenario.feed, freshness=scenario.freshness)
    mine = breaks[breaks["category"] == category]
    assert len(mine), f"scenario for {category} produced {list(breaks['category'])}"
    for detail in mine["detail"]:
        low = detail.lower()
        assert any(action in low for action in ACTIONS), f"{category}: no instruction in {detail!r}"
        for text in scenario.must:
            assert text.lower() in low, f"{category}: {text!r} missing from {detail!r}"
        for text in scenario.must_not:
            assert text.lower() not in low, f"{category}: {text!r} is not true here: {detail!r}"


def test_square_tracking_hint_says_what_the_sync_does() -> None:
    breaks = _breaks(lambda c: c[1][2]["fulfillments"][0]["shipment_details"].update(tracking_number="OTHER"))
    [detail] = breaks.loc[breaks["category"] == "tracking_mismatch", "detail"]
    assert "sends Square's tracking to Google" in detail and "updateShipment" not in detail


def test_lag_is_only_pending_when_the_change_is_newer_than_the_ledgers_look() -> None:
    # The ledger read the order after the cancellation and still disagrees: out of step, high.
    breaks = _breaks(lambda c: (_cancel_one_unit(c[0], iso(3)), _ledger_seen(c[2], iso(1))), freshness=LAG)
    assert set(breaks["category"]) == {"quantity_mismatch"} and set(breaks["severity"]) == {"high"}
    # The ledger's look unknown (a snapshot without last_seen_at): no lag assumed either.
    breaks = _breaks(lambda c: _cancel_one_unit(c[0], iso(1)), freshness=LAG)
    assert set(breaks["category"]) == {"quantity_mismatch"}


def test_a_cancellation_after_the_last_cycle_is_pending_not_critical() -> None:
    def canceled_on_google(c: Case) -> None:
        _cancel_order(c[0], iso(1))  # after LAG's cycle start (2 h ago); Square still OPEN
        for li in c[2][0]["line_items"]:
            li["quantity_canceled"] = li["quantity_ordered"]

    breaks = _breaks(canceled_on_google, freshness=LAG)
    row = breaks[breaks["google_order_id"] == "G1"]
    assert list(row["category"]) == ["pending_sync"] and list(row["severity"]) == ["low"]
    assert "the next cycle cancels the OMS order" in row["detail"].iloc[0]
    stale = rules.Freshness(cycle_started_at=pd.Timestamp(NOW), recheck_minutes=60)  # cycle ran after it
    breaks = _breaks(canceled_on_google, freshness=stale)
    assert list(breaks.loc[breaks["google_order_id"] == "G1", "severity"]) == ["critical"]


def test_a_new_order_after_the_last_cycle_is_pending_not_missing_in_oms() -> None:
    def new_order(c: Case) -> None:
        c[0][0]["placedDate"] = iso(1)
        c[1].pop(0)  # not in Square yet
        c[2].pop(0)  # and not in the ledger: placed after the cycle started

    breaks = _breaks(new_order, freshness=LAG)
    assert list(breaks["category"]) == ["pending_sync"]
    assert "creates it in the OMS" in breaks["detail"].iloc[0]


def test_retryable_and_whole_file_rejects_say_what_to_do() -> None:
    def rejects(c: Case) -> None:
        c[3].append(_reject(order_ref="G-NOT-YET", retryable=True, reason="unknown order 'G-NOT-YET'"))
        whole = "whole file not read: missing required column(s): order_id"
        c[3].append(_reject(order_ref="", line_no=1, source="feeds/de.csv", reason=whole))
        c[3].append(_reject())
        c[3].append(_reject(line_no=8))  # a second row of the same order: a break of its own

    breaks = _breaks(rejects)
    mine = breaks[breaks["category"] == "rejected_feed_row"].set_index("detail")
    assert len(mine) == 4  # one per rejected row, never collapsed
    details = list(mine.index)
    assert any("retried every cycle: if the order id is right, nothing to do" in d for d in details)
    whole_file = [d for d in details if d.startswith("feeds/de.csv line 1: whole file not read")]
    assert len(whole_file) == 1 and "fix the file" in whole_file[0]
    assert sum("feeds/shipments-3.csv line" in d and "(+" not in d for d in details) == 3
