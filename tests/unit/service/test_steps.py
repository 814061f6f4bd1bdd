"""Each sync step driven through a whole cycle with fakes of the ports (tests/unit/service/fakes.py)
and a real in-memory SQLite ledger: no server, no subprocess."""

from __future__ import annotations

from sync.domain.intents import IntentState
from sync.domain.progress import ShipmentState, Stage
from sync.domain.records import OrderChanges
from tests.unit.fixtures_google import google_order
from tests.unit.service.conftest import World


def feed_row(order_id: str, line_id: str, quantity: int, *, delivered: bool = False) -> dict[str, str]:
    return {
        "order_id": order_id,
        "line_item_id": line_id,
        "quantity": str(quantity),
        "carrier": "UPS",
        "tracking_id": f"1Z{order_id[-4:]}",
        "shipped_at": "2026-11-21T09:00:00Z",
        "delivered_at": "2026-11-22T09:00:00Z" if delivered else "",
    }


def test_poll_acknowledges_and_assigns_merchant_ids_once(world: World) -> None:
    world.google = type(world.google)([google_order("G-1"), google_order("G-2")])
    first = world.cycle()
    assert (first.orders_seen, first.acknowledged, first.merchant_ids, first.failed_orders) == (
        2,
        2,
        2,
        set(),
    )
    assert [o["acknowledged"] for o in world.google.orders.values()] == [True, True]
    assert world.google.orders["G-1"]["merchantOrderId"]
    records = world.ledger.get_orders(["G-1", "G-2"])
    assert {r.stage for r in records.values()} == {Stage.OPEN}
    assert all(r.acknowledged and r.merchant_order_id for r in records.values())
    again = world.cycle()  # idle: nothing new, nothing sent
    assert (again.orders_seen, again.acknowledged) == (0, 0)
    mutations = [r for r in world.google.requests if r[0]["method"] != "get"]  # gets: the recheck
    assert len(mutations) == 1  # one custombatch for 4 operations, none the second time


def test_feed_ships_and_delivers_in_one_cycle(world: World) -> None:
    world.google = type(world.google)([google_order("G-1")])
    world.cycle()
    world.feed.rows = [feed_row("G-1", "LI-A", 2, delivered=True), feed_row("G-1", "LI-B", 1, delivered=True)]
    result = world.cycle()
    assert (result.shipped, result.delivered, result.rejects) == (1, 1, 0)
    assert world.google.orders["G-1"]["status"] == "delivered"
    (shipment,) = world.ledger.shipments_for(["G-1"])["G-1"]
    assert shipment.state is ShipmentState.DELIVERED and shipment.units == 3
    assert world.ledger.get_orders(["G-1"])["G-1"].stage is Stage.DELIVERED
    assert world.cycle().shipped == 0  # the same export again changes nothing


def test_feed_row_for_an_unknown_order_is_a_new_reject_once(world: World) -> None:
    world.feed.rows = [feed_row("G-404", "LI-A", 1)]
    first = world.cycle()
    assert (first.rejects, first.new_rejects, first.exit_code) == (1, 1, 1)
    assert first.rejects_file is not None
    second = world.cycle()
    assert (second.rejects, second.new_rejects, second.exit_code) == (1, 0, 0)


def test_a_refused_shipment_is_failed_and_never_counts(world: World) -> None:
    world.google = type(world.google)([google_order("G-1")])
    world.cycle()
    world.google.refuse["shipLineItems"] = "invalid"
    world.feed.rows = [feed_row("G-1", "LI-A", 2)]
    result = world.cycle()
    assert result.failed_orders == {"G-1"} and result.shipped == 0
    (shipment,) = world.ledger.shipments_for(["G-1"])["G-1"]
    assert shipment.state is ShipmentState.FAILED
    assert world.ledger.get_orders(["G-1"])["G-1"].stage is Stage.OPEN


def test_square_create_makes_one_paid_order_whose_id_becomes_the_merchant_id(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    assert world.square is not None
    first = world.cycle()
    assert (first.square_orders, first.acknowledged) == (1, 1)
    (square_id,) = world.square.orders
    assert world.square.payments == [square_id]
    record = world.ledger.get_orders(["G-1"])["G-1"]
    assert (record.square_order_id, record.merchant_order_id) == (square_id, square_id)
    assert world.google.orders["G-1"]["merchantOrderId"] == square_id
    world.cycle()
    assert list(world.square.orders) == [square_id]  # never a second Square order


def test_square_down_stops_only_the_square_steps(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    assert world.square is not None
    world.square.down = True
    result = world.cycle()
    assert result.square_unavailable and result.exit_code == 69
    assert result.acknowledged == 1  # the Google steps went on
    world.square.down = False
    assert world.cycle().square_orders == 1  # and Square resumes next cycle


def test_google_cancellation_cancels_the_ledger_order_and_its_square_order(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    assert world.square is not None
    world.cycle()
    (square_id,) = world.square.orders
    world.google.cancel("G-1")
    result = world.cycle()
    assert result.canceled == 1
    assert world.ledger.get_orders(["G-1"])["G-1"].stage is Stage.CANCELED
    assert world.square.canceled == [square_id]
    world.cycle()
    assert world.square.canceled == [square_id]  # once


def test_square_cancellation_cancels_the_google_order(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    assert world.square is not None
    world.cycle()
    (square_order,) = world.square.orders.values()
    square_order.update(state="CANCELED", reference_id="G-1", updated_at="2026-11-21T11:00:00Z")
    result = world.cycle()
    assert result.canceled == 1 and world.google.orders["G-1"]["status"] == "canceled"


def test_intents_left_pending_by_a_crash_are_resent_with_the_same_ids(world: World) -> None:
    world.google = type(world.google)([google_order("G-1")])
    world.google.fail_requests = 1  # the acknowledgement request fails: Google may or may not have it
    first = world.cycle()
    assert first.acknowledged == 0 and first.outages
    pending = world.ledger.pending_intents()
    assert {r.kind for r in pending} == {"acknowledge", "updateMerchantOrderId"}
    assert pending[0].kind == "acknowledge"
    world.google.applied.add(("G-1", pending[0].key))  # it had landed before the answer was lost
    world.google.orders["G-1"]["acknowledged"] = True
    second = world.cycle()
    assert second.resent == 2 and second.failed_orders == set()
    assert world.ledger.pending_intents() == []
    statuses = {r.kind: r.execution_status for r in world.ledger.intents_for_order("G-1")}
    assert statuses[pending[0].kind] == "duplicate"
    sent = [e.get("operationId") for request in world.google.requests for e in request]
    assert sent.count(pending[0].key) == 2  # the same operationId both times
    assert world.ledger.get_orders(["G-1"])["G-1"].acknowledged


def test_a_stop_request_abandons_the_cycle_between_steps(world: World) -> None:
    from sync.service.bootstrap import build_cycle

    world.google = type(world.google)([google_order("G-1")])
    cycle = build_cycle(
        world.settings,
        ledger=world.ledger,
        marketplace=world.google,
        shipments=world.feed,
        should_stop=lambda: True,
    )
    result = cycle.run()
    assert result.abandoned and result.acknowledged == 0
    assert world.ledger.last_runs(1)[0].outcome == "ok"


def test_skipped_orders_with_units_already_shipped_stay_out_of_square(square_world: World) -> None:
    world = square_world
    world.google = type(world.google)([google_order("G-1")])
    assert world.square is not None
    world.square.down = True
    world.cycle()  # acknowledged; Square down
    world.feed.rows = [feed_row("G-1", "LI-A", 1)]
    world.ledger.update_orders({"G-1": OrderChanges(merchant_order_id="OS-G-1")})
    world.cycle()  # shipped through the feed while Square is down
    world.square.down = False
    result = world.cycle()
    assert result.square_skipped == 1 and world.square.orders == {}
    assert world.ledger.get_orders(["G-1"])["G-1"].square_skip_reason
    assert all(
        r.state is not IntentState.PENDING or r.target != "square" for r in world.ledger.pending_intents()
    )
