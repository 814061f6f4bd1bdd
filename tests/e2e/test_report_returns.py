"""Open customer returns in the report (issue 15 item 3), as a user meets them: a customer returns
a unit on Google (``ordersync testorders return``), the next ``ordersync run`` lists it as open in
returns.csv and on the page; the store receives it and refunds it itemized in Square POS
(``testorders square-refund --line-uid``), and after the next run the return is gone from the
list, Google refunded the unit once, and Square's EXTERNAL payment shows the store's one refund."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .conftest import Workspace
from .test_refund_sync_cli import _delivered_sale

pytestmark = pytest.mark.timeout(600)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _report(ws: Workspace) -> Path:
    ws.ordersync("run", check=True)
    return (ws.root / "reports" / "latest").resolve()


def test_a_customer_return_is_open_in_the_report_until_the_store_refunds_it_once(
    workspace: Workspace,
) -> None:
    ws = workspace
    square, order_id, sale = _delivered_sale(ws)
    line = sale.line_items[0]
    proc = ws.ordersync(
        "testorders", "return", order_id, "--line-item", line.uid, "--quantity", "1", check=True
    )
    return_id = proc.stdout.strip()

    run = _report(ws)
    (row,) = _read(run / "returns.csv")
    assert (row["google_order_id"], row["return_id"], row["line_item_id"]) == (order_id, return_id, line.uid)
    assert (row["quantity"], row["status"], row["matched"], row["return_state"]) == ("1", "open", "no", "new")
    assert row["reason"] == "changedMind" and row["past_sla"] == "no" and float(row["age_hours"]) < 1
    (order,) = [o for o in _read(run / "orders.csv") if o["google_order_id"] == order_id]
    assert (order["qty_returned"], order["qty_return_open"]) == ("1", "1")
    summary = {r["key"]: r["count"] for r in _read(run / "summary.csv") if r["section"] == "returns"}
    assert summary == {"open": "1", "matched": "0", "past_sla": "0"}
    page = (run / "index.html").read_text(encoding="utf-8")
    assert 'id="returns"' in page and return_id in page and 'href="returns.csv"' in page

    ws.ordersync(
        "testorders", "square-refund", sale.id, "--line-uid", line.uid, "--quantity", "1", check=True
    )
    run = _report(ws)
    assert _read(run / "returns.csv") == []  # accepted on Google: refunded, no longer waiting
    (order,) = [o for o in _read(run / "orders.csv") if o["google_order_id"] == order_id]
    assert (order["qty_returned"], order["qty_return_open"]) == ("1", "0")  # the same unit, not two
    summary = {r["key"]: r["count"] for r in _read(run / "summary.csv") if r["section"] == "returns"}
    assert summary == {"open": "0", "matched": "0", "past_sla": "0"}
    categories = {b["category"] for b in _read(run / "breaks.csv") if b["google_order_id"] == order_id}
    assert not categories & {"refund_mismatch", "return_not_refunded_past_sla", "failed_operation"}

    ws.ordersync("run", "--no-report", check=True)  # and again: nothing more either way
    google_order = ws.google.get_order(order_id)
    assert len(google_order["refunds"]) == 1
    (returned,) = [li for li in google_order["lineItems"] if li["id"] == line.uid]
    assert returned["quantityReturned"] == 1
    assert [i["state"] for i in ws.google.get_order_return(return_id)["returnItems"]] == ["refunded"]
    payment_id = sale.tenders[0].payment_id
    refunds = [r for r in square.refunds.list(source_type="EXTERNAL") if r.payment_id == payment_id]
    assert len(refunds) == 1  # the store's own; Google's refund of it is not recorded a second time
