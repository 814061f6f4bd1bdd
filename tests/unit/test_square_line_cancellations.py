"""Google line cancellations -> the Square order: the pure rules (no server)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from sync.domain.operations import square_line_cancel_key
from sync.domain.square_mapping import (
    CanceledLine,
    canceled_metadata,
    cancellation_note,
    line_cancellation_update,
    listed_canceled_units,
    parse_canceled_metadata,
)
from sync.service.steps.recheck_open_orders import due as _due

from .test_reconcile import base_case, found, iso, run


def square_order(*, paid: bool, fulfilment_type: str = "SHIPMENT") -> dict:
    details = "pickup_details" if fulfilment_type == "PICKUP" else "shipment_details"
    order = {
        "id": "SQ1",
        "version": 4,
        "state": "OPEN",
        "line_items": [
            {"uid": "L1", "quantity": "3", "metadata": {"google_line_item_id": "L1"}},
            {"uid": "L2", "quantity": "2", "metadata": {"google_line_item_id": "L2"}},
        ],
        "fulfillments": [{"uid": "f1", "type": fulfilment_type, "state": "RESERVED", details: {}}],
    }
    if paid:
        order["tenders"] = [{"id": "T1"}]
    return order


LINES = [CanceledLine("L1", "Paper", 3, 1), CanceledLine("L2", "Mug", 2, 2)]


def test_unpaid_order_gets_quantities_reduced_and_fully_canceled_lines_removed() -> None:
    update = line_cancellation_update("G1", square_order(paid=False), LINES)
    assert update is not None
    assert update.order == {
        "version": 4,
        "metadata": {"google_canceled": "L1=1;L2=2"},
        "line_items": [{"uid": "L1", "quantity": "2"}],
    }
    assert update.fields_to_clear == ("line_items[L2]",)


def test_paid_order_keeps_its_lines_and_gets_a_note_for_the_store() -> None:
    update = line_cancellation_update("G1", square_order(paid=True), LINES)
    assert update is not None
    assert "line_items" not in update.order and update.fields_to_clear == ()
    assert update.order["metadata"] == {"google_canceled": "kept|L1=1;L2=2"}
    (fulfilment,) = update.order["fulfillments"]
    assert fulfilment["uid"] == "f1"
    assert fulfilment["shipment_details"]["shipping_note"] == (
        "Google order G1. Canceled on Google, do not send: 1 x Paper; 2 x Mug"
    )


def test_paid_pickup_order_gets_the_pickup_note() -> None:
    update = line_cancellation_update("G1", square_order(paid=True, fulfilment_type="PICKUP"), LINES[:1])
    assert update is not None
    assert update.order["fulfillments"][0]["pickup_details"]["note"].endswith("1 x Paper")


def test_applied_once_then_nothing_to_do() -> None:
    for paid in (False, True):
        order = square_order(paid=paid)
        update = line_cancellation_update("G1", order, LINES)
        assert update is not None
        applied = copy.deepcopy(order)
        applied["metadata"] = update.order["metadata"]
        assert line_cancellation_update("G1", applied, LINES) is None


def test_a_later_cancellation_on_the_same_order_is_applied_again() -> None:
    order = square_order(paid=False)
    order["line_items"][0]["quantity"] = "2"
    order["metadata"] = {"google_canceled": "L1=1"}
    update = line_cancellation_update("G1", order, [CanceledLine("L1", "Paper", 3, 2)])
    assert update is not None
    assert update.order["line_items"] == [{"uid": "L1", "quantity": "1"}]


def test_an_older_cancellation_never_undoes_a_newer_one() -> None:
    newer = square_order(paid=False)
    newer["line_items"][0]["quantity"] = "1"
    newer["metadata"] = {"google_canceled": "L1=2"}
    assert line_cancellation_update("G1", newer, [CanceledLine("L1", "Paper", 3, 1)]) is None
    newer["metadata"] = {}  # even without the record, a quantity is never raised back
    assert line_cancellation_update("G1", newer, [CanceledLine("L1", "Paper", 3, 1)]) is not None
    update = line_cancellation_update("G1", newer, [CanceledLine("L1", "Paper", 3, 1)])
    assert update is not None and "line_items" not in update.order


def test_line_cancel_key_names_the_counts() -> None:
    key = square_line_cancel_key("123", "G1", {"L1": 1, "L2": 0})
    assert key == square_line_cancel_key("123", "G1", {"L2": 0, "L1": 1})
    assert key != square_line_cancel_key("123", "G1", {"L1": 2, "L2": 0})
    assert key.startswith("ordersync:cancel-lines:123:G1:") and len(key) <= 192


def test_nothing_for_closed_orders_whole_cancellations_or_no_cancellation() -> None:
    for state in ("COMPLETED", "CANCELED"):
        closed = square_order(paid=True) | {"state": state}
        assert line_cancellation_update("G1", closed, LINES) is None
    everything = [CanceledLine("L1", "Paper", 3, 3), CanceledLine("L2", "Mug", 2, 2)]
    assert line_cancellation_update("G1", square_order(paid=False), everything) is None
    assert line_cancellation_update("G1", square_order(paid=False), [CanceledLine("L1", "P", 3, 0)]) is None


def test_metadata_round_trip_and_listed_units() -> None:
    text = canceled_metadata(LINES, lines_kept=True)
    order = square_order(paid=True) | {"metadata": {"google_canceled": text}}
    assert parse_canceled_metadata(order) == ({"L1": 1, "L2": 2}, True)
    assert listed_canceled_units(order) == {"L1": 1, "L2": 2}
    reduced = square_order(paid=False) | {"metadata": {"google_canceled": "L1=1"}}
    assert listed_canceled_units(reduced) == {}, "reduced lines no longer list the canceled units"


def test_note_fits_square_limit() -> None:
    many = [CanceledLine(f"L{i}", "A very long product title " * 3, 5, 1) for i in range(40)]
    assert len(cancellation_note("G1", many)) == 500


def test_recheck_interval() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert _due(None, now, 60)
    assert _due("not a time", now, 60)
    assert not _due((now - timedelta(minutes=59)).isoformat(), now, 60)
    assert _due((now - timedelta(minutes=60)).isoformat(), now, 60)
    assert _due(now.isoformat(), now, 0), "0 minutes = every cycle"


def test_reconcile_accepts_reduced_or_kept_square_order_after_a_google_line_cancellation() -> None:
    google, square, ledger = base_case()
    # G1: L1 ordered 2 at 20.00 (tax 1.60); Google canceled one unit and refunded 10.80.
    google[0]["lineItems"][0].update(quantityCanceled=1, quantityPending=1)
    google[0]["netAmount"] = {"value": "22.26", "currency": "USD"}
    ledger[0]["line_items"][0]["quantity_canceled"] = 1
    assert found(run(google, square, ledger)) == set(), "kept as sold: Google's gross total"
    square[0]["line_items"][0]["quantity"] = "1"
    square[0]["total_money"]["amount"] = 2226
    assert found(run(google, square, ledger)) == set(), "reduced: Google's net amount"
    square[0]["total_money"]["amount"] = 2225
    assert found(run(google, square, ledger)) == {("G1", "amount_mismatch")}


def test_reconcile_does_not_count_kept_canceled_units_as_shipped() -> None:
    google, square, ledger = base_case()
    google[0]["status"] = "shipped"
    google[0]["lineItems"][0].update(quantityCanceled=1, quantityShipped=1, quantityPending=0)
    google[0]["lineItems"][1].update(quantityShipped=1, quantityPending=0)
    google[0]["shipments"] = [{"id": "S9", "trackingId": "1ZA", "status": "shipped", "creationDate": iso(1)}]
    for line in ledger[0]["line_items"]:
        line["quantity_shipped"] = line["quantity_ordered"] - line["quantity_canceled"]
    ledger[0]["line_items"][0]["quantity_canceled"] = 1
    ledger[0]["line_items"][0]["quantity_shipped"] = 1
    square[0]["tenders"] = [{"id": "T1"}]
    square[0]["metadata"] = {"google_canceled": "kept|L1=1"}
    completed = {"uid": "f1", "type": "SHIPMENT", "state": "COMPLETED"}
    square[0]["fulfillments"] = [completed | {"shipment_details": {"tracking_number": "1za"}}]
    assert found(run(google, square, ledger)) == set()
    del square[0]["metadata"]
    assert ("G1", "quantity_mismatch") in found(run(google, square, ledger))
