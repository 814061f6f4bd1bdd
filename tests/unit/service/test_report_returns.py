"""The report's open customer returns read from the ledger after whole cycles over the fakes
(sync.service.report_returns): open until the store's Square return pairs with them, matched while
Google's refund is not through, gone once it is (or once Google refunded them itself)."""

from __future__ import annotations

from typing import Any

from sync.domain.refunds.returns import FollowStatus
from sync.service.report_returns import read_followed_returns
from tests.unit.service.conftest import World
from tests.unit.service.test_refund_steps import delivered_order, google_refund_requests


def test_an_open_customer_return_is_listed_until_the_store_refunds_it_once(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    assert read_followed_returns(world.ledger) == ()
    return_id = world.google.customer_return("G-1", "LI-A", 2)
    world.cycle()
    (row,) = read_followed_returns(world.ledger)
    assert (row.order_id, row.return_id, row.line_item_id, row.units) == ("G-1", return_id, "LI-A", 2)
    assert (row.status, row.state, row.created) == (FollowStatus.OPEN, "new", "2026-11-21T09:00:00Z")
    # The store receives one unit and refunds it in POS: that unit is accepted on Google, once.
    square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160, reason="Returned goods")
    world.cycle()
    (row,) = read_followed_returns(world.ledger)
    assert (row.units, row.status) == (1, FollowStatus.OPEN)  # the other unit is still on its way
    world.cycle()
    assert len(google_refund_requests(world)) == 1


def test_a_pairing_whose_google_refund_is_not_through_is_matched(square_world: World) -> None:
    world = square_world
    square, sale = delivered_order(world)
    world.google.customer_return("G-1", "LI-A", 1)
    world.cycle()
    refund_id = square.store_refund(sale, 2159, line_uid="LI-A", quantity=1, tax_minor=160)
    google = world.google
    answer = google.custombatch

    def mutations_fail(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(e["method"] == "returnRefundLineItem" for e in entries):
            google.fail_requests = 1  # Google down when the refund goes: it stays pending
        return answer(entries)

    google.custombatch = mutations_fail  # type: ignore[method-assign]
    world.cycle()
    google.custombatch = answer  # type: ignore[method-assign]
    (row,) = read_followed_returns(world.ledger)
    assert (row.status, row.square_refund_id, row.units) == (FollowStatus.MATCHED, refund_id, 1)
    world.cycle()  # sent now: refunded, so no longer waiting (whatever the stored return still says)
    assert read_followed_returns(world.ledger) == ()
    assert len([r for r in google_refund_requests(world) if r["method"] == "returnRefundLineItem"]) >= 1
    assert len(world.google.orders["G-1"]["refunds"]) == 1


def test_a_return_google_refunded_itself_leaves_the_list(square_world: World) -> None:
    world = square_world
    delivered_order(world)
    return_id = world.google.customer_return("G-1", "LI-B", 1)
    world.cycle()
    assert [r.return_id for r in read_followed_returns(world.ledger)] == [return_id]
    world.google.refund_customer_return(return_id, 540)  # Merchant Center / Google's service
    world.cycle()
    assert read_followed_returns(world.ledger) == ()


def test_the_periodic_read_follows_an_open_return_older_than_the_cursor(square_world: World) -> None:
    world = square_world
    delivered_order(world)
    older = world.google.customer_return("G-1", "LI-A", 1)
    world.google.returns[0]["creationDate"] = "2026-11-20T09:00:00Z"
    world.google.customer_return("G-1", "LI-B", 1)  # newer: the cursor stops at it
    world.cycle()
    assert {r.return_id for r in read_followed_returns(world.ledger)} == {older, "RET-2"}
    world.google.returns[0]["returnItems"][0]["state"] = "rejected"  # the merchant refused it
    world.cycle()
    assert [r.return_id for r in read_followed_returns(world.ledger)] == ["RET-2"]
    # Nothing open any more: the listing starts at the cursor again.
    world.google.returns[1]["returnItems"][0]["state"] = "canceled"
    world.cycle()
    assert read_followed_returns(world.ledger) == ()
    starts: list[object] = []
    listing = world.google.iter_order_returns

    def spy(**kwargs: Any) -> Any:
        starts.append(kwargs.get("created_start"))
        return listing(**kwargs)

    world.google.iter_order_returns = spy  # type: ignore[method-assign]
    world.cycle()
    assert starts == ["2026-11-21T09:00:00Z"]
