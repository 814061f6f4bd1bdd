"""Square emulator fidelity through the squareup SDK: payments, refunds, return orders and the
sandbox's POS/Dashboard refund plays (issue 14 items 1, 7, 8 and the CASH part of 10)."""

from __future__ import annotations

from pathlib import Path

import httpx

from sync.sandbox.server import Sandbox

from .square_sdk import LOC, api_error, client, order_of, pay_external, sandbox_call, settings, shipment, usd


# ---- item 1: an order-linked autocompleted payment pays exactly what is owed ------------------------
def test_autocompleted_order_payment_must_pay_what_is_owed_and_needs_no_pay_order(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "o-1", ("Widget", "2", 1250), fulfillments=[shipment()])
    for amount in (2499, 2501, 1000):
        err = api_error(
            sq.payments.create,
            source_id="EXTERNAL",
            idempotency_key=f"pay-{amount}",
            amount_money=usd(amount),
            order_id=order.id,
            external_details={"type": "OTHER", "source": "Google Shopping"},
        )
        assert (err.status_code, err.errors[0].code) == (400, "PAYMENT_AMOUNT_MISMATCH")
    payment = pay_external(sq, order, "pay-exact")
    assert payment.status == "COMPLETED" and payment.order_id == order.id
    paid = sq.orders.get(order.id).order
    assert [t.payment_id for t in paid.tenders] == [payment.id] and paid.net_amount_due_money.amount == 0
    assert paid.version == 2 and paid.state == "OPEN"
    assert sandbox.stats.requests.get("square.orders.pay", 0) == 0  # one round trip, no PayOrder
    done = sq.orders.update(
        order.id,
        order={
            "location_id": LOC,
            "version": 2,
            "fulfillments": [{"uid": paid.fulfillments[0].uid, "state": "COMPLETED"}],
        },
    ).order
    assert done.state == "COMPLETED"


def test_delayed_payments_may_pay_part_and_pay_order_cancels_the_others(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "o-2", ("Widget", "1", 3000))
    first = pay_external(sq, order, "part-1", 1000, autocomplete=False)
    second = pay_external(sq, order, "part-2", 2000, autocomplete=False)
    assert (first.status, second.status) == ("APPROVED", "APPROVED")
    assert (
        api_error(
            sq.payments.create,
            source_id="EXTERNAL",
            idempotency_key="part-3",
            amount_money=usd(1),
            order_id=order.id,
            autocomplete=False,
            external_details={"type": "OTHER", "source": "x"},
        )
        .errors[0]
        .code
        == "PAYMENT_AMOUNT_MISMATCH"
    )  # nothing left to approve
    stray = order_of(sq, "o-2b", ("Other", "1", 500))
    pay_external(sq, stray, "stray", autocomplete=False)
    paid = sq.orders.pay(order.id, idempotency_key="pay-both", payment_ids=[first.id, second.id]).order
    assert sorted(t.amount_money.amount for t in paid.tenders) == [1000, 2000]
    assert (
        api_error(
            sq.payments.create,
            source_id="EXTERNAL",
            idempotency_key="with-complete",
            amount_money=usd(500),
            order_id=stray.id,
            autocomplete=False,
            delay_action="COMPLETE",
            external_details={"type": "OTHER", "source": "x"},
        )
        .errors[0]
        .field
        == "delay_action"
    )


def test_pay_order_cancels_approved_payments_it_does_not_list(sandbox: Sandbox) -> None:
    """ "Any approved payments that reference the same order_id not specified in the payment_ids
    will be canceled" (PayOrder reference)."""
    sq = client(sandbox)
    order = order_of(sq, "o-3", ("Widget", "5", 200))
    left_out = pay_external(sq, order, "approved-a", 400, autocomplete=False)
    used = pay_external(sq, order, "approved-b", 600, autocomplete=False)
    line = order.line_items[0].uid
    smaller = sq.orders.update(
        order.id, order={"location_id": LOC, "version": 1, "line_items": [{"uid": line, "quantity": "3"}]}
    ).order
    assert smaller.total_money.amount == 600
    paid = sq.orders.pay(order.id, idempotency_key="pay-b", payment_ids=[used.id]).order
    assert [t.payment_id for t in paid.tenders] == [used.id]
    assert sq.payments.get(left_out.id).payment.status == "CANCELED"
    assert sq.payments.get(used.id).payment.status == "COMPLETED"


def test_cash_payments_compute_change(sandbox: Sandbox) -> None:
    """ "Take Cash Payments": 100 + 50 tip, the buyer hands over 200 -> 50 change."""
    sq = client(sandbox)
    order = order_of(sq, "o-cash", ("Coffee", "1", 100))
    payment = sq.payments.create(
        source_id="CASH",
        idempotency_key="cash-1",
        amount_money=usd(100),
        tip_money=usd(50),
        order_id=order.id,
        cash_details={"buyer_supplied_money": usd(200)},
    ).payment
    assert payment.source_type == "CASH" and payment.total_money.amount == 150
    assert payment.cash_details.change_back_money.amount == 50
    assert sq.orders.get(order.id).order.tenders[0].type == "CASH"
    short = api_error(
        sq.payments.create,
        source_id="CASH",
        idempotency_key="cash-2",
        amount_money=usd(100),
        cash_details={"buyer_supplied_money": usd(99)},
    )
    assert short.errors[0].field == "cash_details.buyer_supplied_money"


# ---- item 8: the other payments methods, locations, 404 for the rest -----------------------------------
def test_list_update_cancel_complete_payments(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    standalone = [
        sq.payments.create(
            source_id="EXTERNAL",
            idempotency_key=f"standalone-{i}",
            amount_money=usd(100 + i),
            autocomplete=False,
            external_details={"type": "CHECK", "source": "Front desk"},
        ).payment
        for i in range(3)
    ]
    assert all(p.order_id for p in standalone)  # Square makes an order for a payment without one
    listed = list(sq.payments.list(limit=2, sort_order="ASC"))  # the SDK's pager follows the cursor
    assert [p.id for p in listed] == [p.id for p in standalone]
    assert [p.id for p in sq.payments.list(total=101).items] == [standalone[1].id]
    a, b, c = standalone
    updated = sq.payments.update(
        a.id,
        idempotency_key="upd-a",
        payment={"amount_money": usd(150), "tip_money": usd(10), "version_token": a.version_token},
    ).payment
    assert (updated.amount_money.amount, updated.total_money.amount) == (150, 160)
    stale = api_error(
        sq.payments.update,
        a.id,
        idempotency_key="upd-a2",
        payment={"amount_money": usd(1), "version_token": a.version_token},
    )
    assert stale.errors[0].code == "VERSION_MISMATCH"
    assert sq.payments.cancel(b.id).payment.status == "CANCELED"
    assert api_error(sq.payments.complete, b.id).status_code == 400
    completed = sq.payments.complete(c.id).payment
    assert completed.status == "COMPLETED"
    made = sq.orders.get(c.order_id).order  # the order Square made for the payment closes with it
    assert made.tenders[0].payment_id == c.id and made.state == "COMPLETED"
    sq.payments.cancel_by_idempotency_key(idempotency_key="standalone-0")
    assert sq.payments.get(a.id).payment.status == "CANCELED"
    sq.payments.cancel_by_idempotency_key(idempotency_key="never-used")  # a no-op, not an error
    assert sandbox.stats.mutations["square.payments.cancel"] == 1
    assert sandbox.stats.mutations["square.payments.cancel_by_idempotency_key"] == 1
    assert sandbox.stats.requests["square.payments.list"] >= 3


def test_retrieve_location_and_unserved_routes_answer_404(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    assert sq.locations.get(LOC).location.id == LOC
    assert sq.locations.get("main").location.id == LOC
    assert api_error(sq.locations.get, "NOPE").status_code == 404
    headers = {"Authorization": "Bearer t"}
    for method, path in (
        ("DELETE", "/v2/orders/ANY"),  # a served path, an unserved method
        ("PATCH", "/v2/payments/ANY"),
        ("GET", "/v2/customers"),
        ("POST", "/v2/locations"),
    ):
        resp = httpx.request(method, sandbox.url + path, headers=headers)
        assert resp.status_code == 404, (method, path)
        assert resp.json()["errors"][0]["code"] == "NOT_FOUND"
        assert resp.json()["errors"][0]["category"] == "INVALID_REQUEST_ERROR"


# ---- item 7: refunds ---------------------------------------------------------------------------------------
def _paid_order(sandbox: Sandbox, key: str):  # type: ignore[no-untyped-def]
    sq = client(sandbox)
    order = sq.orders.create(
        idempotency_key=key,
        order={
            "location_id": LOC,
            "line_items": [
                {"name": "Mug", "quantity": "3", "base_price_money": usd(1000)},
                {"name": "Tee", "quantity": "1", "base_price_money": usd(2000)},
            ],
            "taxes": [{"uid": "tax", "name": "Tax", "percentage": "10", "scope": "ORDER"}],
            "fulfillments": [shipment()],
        },
    ).order
    payment = pay_external(sq, order, f"{key}-pay")
    return sq, sq.orders.get(order.id).order, payment


def test_refund_payment_on_an_external_payment(sandbox: Sandbox) -> None:
    sq, order, payment = _paid_order(sandbox, "r-1")
    assert order.total_money.amount == 5500
    refund = sq.refunds.refund_payment(
        idempotency_key="refund-1", amount_money=usd(1100), payment_id=payment.id, reason="google:ret-1"
    ).refund
    assert (
        refund.status == "COMPLETED" and refund.payment_id == payment.id and refund.reason == "google:ret-1"
    )
    assert refund.destination_type == "EXTERNAL" and refund.amount_money.amount == 1100
    again = sq.refunds.refund_payment(
        idempotency_key="refund-1", amount_money=usd(1100), payment_id=payment.id, reason="google:ret-1"
    ).refund
    assert again.id == refund.id and sandbox.stats.mutations["square.refunds.refund_payment"] == 1
    reused = api_error(
        sq.refunds.refund_payment, idempotency_key="refund-1", amount_money=usd(1), payment_id=payment.id
    )
    assert reused.errors[0].code == "IDEMPOTENCY_KEY_REUSED"
    too_much = api_error(
        sq.refunds.refund_payment, idempotency_key="refund-2", amount_money=usd(4401), payment_id=payment.id
    )
    assert (too_much.errors[0].code, too_much.errors[0].category) == ("REFUND_AMOUNT_INVALID", "REFUND_ERROR")
    unlinked = api_error(
        sq.refunds.refund_payment, idempotency_key="refund-3", amount_money=usd(1), unlinked=True
    )
    assert unlinked.errors[0].code == "BAD_REQUEST"
    assert (
        api_error(
            sq.refunds.refund_payment, idempotency_key="k" * 46, amount_money=usd(1), payment_id=payment.id
        )
        .errors[0]
        .code
        == "VALUE_TOO_LONG"
    )
    # The payment, the return order and the sale order.
    after = sq.payments.get(payment.id).payment
    assert after.refund_ids == [refund.id] and after.refunded_money.amount == 1100
    ret = sq.orders.get(refund.order_id).order
    assert ret.state == "COMPLETED" and ret.returns[0].source_order_id == order.id
    line = ret.returns[0].return_line_items[0]
    assert (line.item_type, line.total_money.amount, line.source_line_item_uid) == (
        "CUSTOM_AMOUNT",
        1100,
        None,
    )
    assert ret.return_amounts.total_money.amount == 1100 and ret.refunds[0].status == "APPROVED"
    sale = sq.orders.get(order.id).order
    assert [r.id for r in sale.refunds] == [refund.id] and sale.refunds[0].tender_id == payment.id
    assert (sale.return_amounts.total_money.amount, sale.net_amounts.total_money.amount) == (1100, 4400)
    assert sale.version == order.version + 1
    assert sq.refunds.get(refund.id).refund.id == refund.id
    assert api_error(sq.refunds.get, "nope").status_code == 404


def test_card_refunds_pend_block_the_next_and_settle(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    order = order_of(sq, "card-order", ("Lamp", "1", 4000))
    payment = sq.payments.create(
        source_id="cnon:card-nonce-ok", idempotency_key="card-pay", amount_money=usd(4000), order_id=order.id
    ).payment
    assert payment.source_type == "CARD" and payment.card_details.card.last4 == "1111"
    first = sq.refunds.refund_payment(
        idempotency_key="card-r1", amount_money=usd(1000), payment_id=payment.id
    ).refund
    assert first.status == "PENDING"
    assert sq.payments.get(payment.id).payment.refunded_money.amount == 1000  # pending amounts count
    blocked = api_error(
        sq.refunds.refund_payment, idempotency_key="card-r2", amount_money=usd(500), payment_id=payment.id
    )
    assert blocked.errors[0].code == "REFUND_ALREADY_PENDING"
    status, body = sandbox_call(sandbox, f"refunds/{first.id}/settle", {"status": "COMPLETED"})
    assert status == 200 and body["refund"]["status"] == "COMPLETED"
    assert sq.orders.get(first.order_id).order.refunds[0].status == "APPROVED"
    second = sq.refunds.refund_payment(
        idempotency_key="card-r2", amount_money=usd(500), payment_id=payment.id
    ).refund
    sandbox_call(sandbox, f"refunds/{second.id}/settle", {"status": "FAILED"})
    after = sq.payments.get(payment.id).payment
    assert after.refunded_money.amount == 1000 and after.refund_ids == [first.id, second.id]
    failed = api_error(
        sq.refunds.refund_payment, idempotency_key="card-r3", amount_money=usd(1), payment_id=payment.id
    )
    assert failed.errors[0].code == "PAYMENT_NOT_REFUNDABLE"
    # The EXTERNAL default is a sandbox setting.
    settings(sandbox, external_refund_status="PENDING")
    _, _, ext = _paid_order(sandbox, "r-pending")
    pending = sq.refunds.refund_payment(
        idempotency_key="ext-pending", amount_money=usd(1), payment_id=ext.id
    ).refund
    assert pending.status == "PENDING"


def test_list_payment_refunds_pages_and_filters(sandbox: Sandbox) -> None:
    sq, _order, payment = _paid_order(sandbox, "r-list")
    refunds = [
        sq.refunds.refund_payment(
            idempotency_key=f"lr-{i}", amount_money=usd(100), payment_id=payment.id
        ).refund
        for i in range(5)
    ]
    listed = list(sq.refunds.list(limit=2, sort_order="ASC"))
    assert [r.id for r in listed] == [r.id for r in refunds]
    since = list(sq.refunds.list(begin_time=refunds[3].created_at, sort_order="ASC"))
    assert [r.id for r in since] == [r.id for r in refunds[3:]]  # begin_time is inclusive
    assert len(list(sq.refunds.list(status="COMPLETED", source_type="EXTERNAL"))) == 5
    assert not list(sq.refunds.list(status="PENDING"))
    updated = list(sq.refunds.list(updated_at_begin_time=refunds[4].updated_at, sort_field="UPDATED_AT"))
    assert [r.id for r in updated] == [refunds[4].id]
    assert sandbox.stats.requests["square.refunds.list"] >= 6


def test_pos_itemized_refund_makes_a_return_order_pointing_at_the_sale_line(sandbox: Sandbox) -> None:
    """Mug 3 x 1000 with 10 % tax (300, 100 a unit): returning 1 mug refunds 1000 + 100 = 1100."""
    sq, order, payment = _paid_order(sandbox, "pos-1")
    mug = order.line_items[0]
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/pos-refund", {"line_uid": mug.uid, "quantity": 1}
    )
    assert status == 200, body
    refund = sq.refunds.get(body["refund"]["id"]).refund
    assert (
        refund.status == "COMPLETED"
        and refund.amount_money.amount == 1100
        and refund.payment_id == payment.id
    )
    ret = sq.orders.get(refund.order_id).order
    entry = ret.returns[0]
    line = entry.return_line_items[0]
    assert entry.source_order_id == order.id and line.source_line_item_uid == mug.uid
    assert (line.item_type, line.quantity, line.name) == ("ITEM", "1", "Mug")
    assert (line.gross_return_money.amount, line.total_tax_money.amount, line.total_money.amount) == (
        1000,
        100,
        1100,
    )
    assert entry.return_taxes[0].source_tax_uid == "tax" and entry.return_taxes[0].applied_money.amount == 100
    assert ret.source.name == "Square Point of Sale"
    # Two more mugs are all that is left to return; the three returns add up to the line.
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/pos-refund", {"line_uid": mug.uid, "quantity": "3"}
    )
    assert status == 400 and body["errors"][0]["field"] == "quantity"
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/pos-refund", {"line_uid": mug.uid, "quantity": "2"}
    )
    assert status == 200 and body["refund"]["amount_money"]["amount"] == 2200
    sale = sq.orders.get(order.id).order
    assert sale.return_amounts.total_money.amount == 3300 and sale.net_amounts.total_money.amount == 2200
    assert sandbox.stats.mutations["square.sandbox.pos_itemized_refund"] == 2
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/pos-refund", {"line_uid": "nope", "quantity": "1"}
    )
    assert status == 400


def test_dashboard_custom_amount_refund_and_shipping(sandbox: Sandbox) -> None:
    sq, order, _payment = _paid_order(sandbox, "dash-1")
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/dashboard-refund", {"amount": 499, "shipping": True}
    )
    assert status == 200, body
    ret = sq.orders.get(body["refund"]["order_id"]).order
    line = ret.returns[0].return_line_items[0]
    assert (line.item_type, line.name, line.total_money.amount) == ("CUSTOM_AMOUNT", "Shipping", 499)
    assert body["refund"]["reason"] == "Shipping"
    status, body = sandbox_call(
        sandbox, f"orders/{order.id}/dashboard-refund", {"amount_money": usd(10_000), "reason": "Goodwill"}
    )
    assert status == 400 and body["errors"][0]["code"] == "REFUND_AMOUNT_INVALID"


def test_refunds_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with Sandbox(state=state).start() as sb:
        sq, _order, payment = _paid_order(sb, "persist")
        refund = sq.refunds.refund_payment(
            idempotency_key="persist-r", amount_money=usd(5), payment_id=payment.id
        ).refund
    with Sandbox(state=state).start() as sb:
        sq = client(sb)
        assert sq.refunds.get(refund.id).refund.amount_money.amount == 5
        assert sq.payments.get(payment.id).payment.refund_ids == [refund.id]
        again = sq.refunds.refund_payment(
            idempotency_key="persist-r", amount_money=usd(5), payment_id=payment.id
        )
        assert again.refund.id == refund.id


def test_faults_and_lost_responses_apply_to_the_new_routes(sandbox: Sandbox) -> None:
    sq, _order, payment = _paid_order(sandbox, "faults")
    sandbox.configure_faults(fault_rate=1.0)
    err = api_error(sq.refunds.list)
    assert err.status_code in (429, 500, 503) and err.errors[0].category in ("RATE_LIMIT_ERROR", "API_ERROR")
    sandbox.configure_faults(fault_rate=0.0, lost_response_rate=1.0)
    lost = api_error(
        sq.refunds.refund_payment, idempotency_key="lost-1", amount_money=usd(10), payment_id=payment.id
    )
    assert lost.status_code in (500, 503)
    sandbox.configure_faults(lost_response_rate=0.0)
    refund = sq.refunds.refund_payment(
        idempotency_key="lost-1", amount_money=usd(10), payment_id=payment.id
    ).refund
    assert sq.payments.get(payment.id).payment.refund_ids == [refund.id]  # applied once, replayed
    assert sandbox.stats.mutations["square.refunds.refund_payment"] == 1
    assert (
        sandbox.stats.faults.get("square.lost.500", 0) + sandbox.stats.faults.get("square.lost.503", 0) == 1
    )
