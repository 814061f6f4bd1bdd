"""Square emulator fidelity through the squareup SDK: SearchOrders ranges, version bumps behind
the client's back, and UpdateOrder details (issue 14 items 4, 9, 10)."""

from __future__ import annotations

from typing import Any

import httpx

from sync.adapters.square_errors import SquareApiError
from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.sandbox.server import Sandbox

from .square_sdk import LOC, api_error, client, order_of, pay_external, sandbox_call, settings, shipment, usd

UPDATED_ASC = {"sort_field": "UPDATED_AT", "sort_order": "ASC"}


# ---- item 4: SearchOrders ranges ------------------------------------------------------------------------
def test_search_ranges_include_both_ends(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    a, b, c = (order_of(sq, f"range-{i}", ("x", "1", 100)) for i in range(3))

    def updated_between(start: str, end: str) -> list[str]:
        query = {
            "filter": {"date_time_filter": {"updated_at": {"start_at": start, "end_at": end}}},
            "sort": UPDATED_ASC,
        }
        return [o.id for o in sq.orders.search(location_ids=[LOC], query=query).orders or []]

    assert updated_between(a.updated_at, c.updated_at) == [a.id, b.id, c.id]
    assert updated_between(b.updated_at, b.updated_at) == [b.id]


def test_a_cursors_range_end_defaults_to_the_time_of_the_first_request(sandbox: Sandbox) -> None:
    """ "If the end time is absent, it defaults to the time of the first request for the cursor":
    an order changed during the walk is not picked up by it, but by the next walk."""
    sq = client(sandbox)
    orders = [order_of(sq, f"walk-{i}", ("x", "1", 100)) for i in range(4)]
    query = {
        "filter": {"date_time_filter": {"updated_at": {"start_at": orders[0].updated_at}}},
        "sort": UPDATED_ASC,
    }
    page = sq.orders.search(location_ids=[LOC], query=query, limit=2)
    seen = [o.id for o in page.orders]
    moved = sq.orders.update(
        orders[3].id, order={"location_id": LOC, "version": 1, "reference_id": "changed"}
    ).order
    page = sq.orders.search(location_ids=[LOC], query=query, limit=2, cursor=page.cursor)
    seen += [o.id for o in page.orders or []]
    assert page.cursor is None
    assert seen == [o.id for o in orders[:3]]  # the changed order left the walk's range
    fresh = sq.orders.search(location_ids=[LOC], query=query).orders
    assert fresh[-1].id == moved.id and fresh[-1].version == 2


# ---- item 9: Square bumps versions behind the client's back ----------------------------------------------
def test_version_bump_fault_makes_clients_handle_version_mismatch(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "bump-1", ("x", "1", 100), fulfillments=[shipment()])
    sandbox.configure_faults(version_bump_rate=1.0)
    stale = api_error(
        sq.orders.update, order.id, order={"location_id": LOC, "version": 1, "reference_id": "r"}
    )
    assert (stale.status_code, stale.errors[0].code) == (400, "VERSION_MISMATCH")
    assert sandbox.stats.faults["square.version_bump"] == 1
    assert sq.orders.get(order.id).order.version == 2  # bumped, nothing else changed
    sandbox.configure_faults(version_bump_rate=0.0)
    # The deterministic form: one bump now, then the gateway's re-read-and-retry succeeds.
    status, body = sandbox_call(sandbox, f"orders/{order.id}/bump-version")
    assert status == 200 and body["order"]["version"] == 3
    gateway = SquareGateway(SquareSettings(endpoint=sandbox.url, max_attempts=1), token="t")
    sandbox.configure_faults(version_bump_rate=0.5, seed=7)
    canceled = gateway.cancel_order(order.id, max_conflicts=10)
    assert canceled["state"] == "CANCELED"
    assert sandbox.stats.mutations["square.orders.update"] == 1


def test_version_bumps_exhaust_a_bounded_retry(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "bump-2", ("x", "1", 100))
    sandbox.configure_faults(version_bump_rate=1.0)
    gateway = SquareGateway(SquareSettings(endpoint=sandbox.url, max_attempts=1), token="t")
    try:
        gateway.cancel_order(order.id, max_conflicts=2)
    except SquareApiError as exc:
        assert exc.code == "VERSION_MISMATCH" and not exc.retryable
    else:
        raise AssertionError("cancel_order should give up after its conflicts")
    assert sandbox.stats.faults["square.version_bump"] == 3


# ---- item 10: UpdateOrder details, quantity 0 ------------------------------------------------------
def test_update_without_version_and_its_configurable_code(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "nover", ("x", "1", 100))
    err = api_error(sq.orders.update, order.id, order={"location_id": LOC, "reference_id": "r"})
    assert (err.errors[0].code, err.errors[0].field) == ("MISSING_REQUIRED_PARAMETER", "order.version")
    settings(sandbox, missing_version_code="VERSION_MISMATCH")
    assert (
        api_error(sq.orders.update, order.id, order={"location_id": LOC}).errors[0].code == "VERSION_MISMATCH"
    )


def test_update_replayed_with_a_used_key_answers_the_order_unchanged(sandbox: Sandbox) -> None:
    """ "If you don't provide a new idempotency_key with each update request, you get a 200 response
    but the returned order doesn't reflect any of your updates" (Square's "Update Orders")."""
    sq = client(sandbox)
    order = order_of(sq, "replay", ("x", "1", 100))
    first = sq.orders.update(
        order.id, idempotency_key="u-key", order={"location_id": LOC, "version": 1, "reference_id": "one"}
    ).order
    other = sq.orders.update(
        order.id, idempotency_key="u-key", order={"location_id": LOC, "version": 2, "state": "CANCELED"}
    ).order
    assert (
        (other.version, other.state, other.reference_id)
        == (2, "OPEN", "one")
        == (first.version, "OPEN", "one")
    )
    assert sandbox.stats.mutations["square.orders.update"] == 1


def test_zero_quantity_lines_are_priced_zero_and_removed_on_payment(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = sq.orders.create(
        idempotency_key="zero",
        order={
            "location_id": LOC,
            "line_items": [
                {"name": "kept", "quantity": "2", "base_price_money": usd(300)},
                {"name": "dropped", "quantity": "0", "base_price_money": usd(999)},
            ],
            "discounts": [{"uid": "d", "name": "d", "amount_money": usd(60), "scope": "ORDER"}],
        },
    ).order
    assert [li.total_money.amount for li in order.line_items] == [540, 0]
    pay_external(sq, order, "zero-pay")
    paid = sq.orders.get(order.id).order
    assert [li.name for li in paid.line_items] == ["kept"] and paid.total_money.amount == 540


def test_new_methods_are_counted_in_stats(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "stats", ("x", "1", 100))
    payment = pay_external(sq, order, "stats-pay")
    sq.refunds.refund_payment(idempotency_key="stats-r", amount_money=usd(1), payment_id=payment.id)
    sq.refunds.refund_payment(idempotency_key="stats-r", amount_money=usd(1), payment_id=payment.id)
    list(sq.refunds.list())
    sq.locations.get(LOC)
    sq.catalog.search(object_types=["ITEM_VARIATION"])
    snap = httpx_stats(sandbox)
    for name in (
        "square.refunds.refund_payment",
        "square.refunds.list",
        "square.locations.get",
        "square.catalog.search",
    ):
        assert snap["requests"][name] >= 1, name
    assert snap["requests"]["square.refunds.refund_payment"] == 2
    assert snap["mutations"]["square.refunds.refund_payment"] == 1  # the replay changed nothing
    assert "square.refunds.list" not in snap["mutations"]


def httpx_stats(sandbox: Sandbox) -> dict[str, Any]:
    return httpx.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()  # type: ignore[no-any-return]
