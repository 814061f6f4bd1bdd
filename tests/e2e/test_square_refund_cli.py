"""`ordersync testorders square-refund`: the store refunds in Square POS (itemized) or the
Dashboard (custom amount), played against the emulator, as a user runs it."""

from __future__ import annotations

from typing import Any

import pytest
from square import Square

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


def _synced_sale(ws: Workspace) -> tuple[Square, Any]:
    """One Google order synced to a paid Square order (the sale the store refunds)."""
    write_config(ws.config, ws.sandbox.url, square=True)
    (order_id,) = ws.create_orders(1, "template1")
    ws.ordersync("run", "--no-report", check=True)
    square = Square(token="store-staff", base_url=ws.sandbox.url)
    (sale,) = [
        o for o in square.orders.search(location_ids=["L_SANDBOX_MAIN"]).orders if o.reference_id == order_id
    ]
    assert sale.tenders, "paid"
    return square, sale


def test_square_refund_plays_pos_and_dashboard_refunds(workspace: Workspace) -> None:
    ws = workspace
    square, sale = _synced_sale(ws)
    line = sale.line_items[0]

    pos = ws.ordersync(
        "testorders", "square-refund", sale.id, "--line-uid", line.uid, "--quantity", "1", check=True
    )
    refund_id, status, amount, currency, return_order = pos.stdout.split()
    assert status == "COMPLETED" and currency == "USD" and return_order.startswith("return_order=")
    refund = square.refunds.get(refund_id).refund
    ret = square.orders.get(refund.order_id).order
    returned = ret.returns[0].return_line_items[0]
    assert ret.returns[0].source_order_id == sale.id and returned.source_line_item_uid == line.uid
    assert returned.item_type == "ITEM" and returned.quantity == "1"
    unit = line.total_money.amount // int(line.quantity)
    assert abs(refund.amount_money.amount - unit) <= 1 and amount == f"{refund.amount_money.amount / 100:.2f}"

    dash = ws.ordersync("testorders", "square-refund", sale.id, "--amount", "5.00", "--shipping", check=True)
    dash_id, dash_status, dash_amount, *_ = dash.stdout.split()
    dash_refund = square.refunds.get(dash_id).refund
    assert (dash_status, dash_amount, dash_refund.reason) == ("COMPLETED", "5.00", "Shipping")
    line_back = square.orders.get(dash_refund.order_id).order.returns[0].return_line_items[0]
    assert (line_back.item_type, line_back.name) == ("CUSTOM_AMOUNT", "Shipping")
    sale_now = square.orders.get(sale.id).order
    assert {r.id for r in sale_now.refunds} == {refund_id, dash_id}
    assert ws.stats()["mutations"]["square.sandbox.pos_itemized_refund"] == 1


def test_square_refund_errors_and_exit_codes(workspace: Workspace) -> None:
    ws = workspace
    _, sale = _synced_sale(ws)
    line = sale.line_items[0]
    usage = (
        ("--amount", "1.00", "--line-uid", line.uid, "--quantity", "1"),  # both kinds
        ("--line-uid", line.uid),  # no quantity
        ("--shipping", "--line-uid", line.uid, "--quantity", "1"),
        ("--amount", "1.001"),  # more precision than USD has
        (),
    )
    for args in usage:
        proc = ws.ordersync("testorders", "square-refund", sale.id, *args)
        assert proc.returncode == 2, (args, proc.stderr)
    too_many = ws.ordersync(
        "testorders",
        "square-refund",
        sale.id,
        "--line-uid",
        line.uid,
        "--quantity",
        str(int(line.quantity) + 1),
    )
    assert too_many.returncode == 1 and "left to return" in too_many.stderr
    unknown = ws.ordersync("testorders", "square-refund", "NO_SUCH_ORDER", "--amount", "1.00")
    assert unknown.returncode == 1 and "NO_SUCH_ORDER" in unknown.stderr
    ws.env["ORDERSYNC_SQUARE__ENDPOINT"] = ""
    refused = ws.ordersync("testorders", "square-refund", sale.id, "--amount", "1.00")
    assert refused.returncode == 2 and "endpoint" in refused.stderr
