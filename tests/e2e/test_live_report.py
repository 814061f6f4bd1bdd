"""The live reconciliation report: zero breaks after a clean sync, then exactly the break an
out-of-band change causes (a shipment made directly through the API, behind ordersync's back)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sync.sandbox.players import Warehouse

from .conftest import Workspace

pytestmark = pytest.mark.timeout(300)


def _breaks(ws: Workspace) -> list[dict[str, str]]:
    proc = ws.ordersync("report", check=True)
    path = Path(proc.stdout.split("report written to ", 1)[1].split(" (", 1)[0])
    with (ws.root / path / "breaks.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_clean_sync_has_no_breaks_then_an_out_of_band_shipment_is_the_only_one(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(6, "template1")
    warehouse = Warehouse(ws.root / "feeds")
    ws.ordersync("run", "--no-report", check=True)
    for round_no in range(1, 4):
        warehouse.advance([ws.google.get_order(i) for i in ids], f"2026-11-2{round_no}T10:00:00Z")
        ws.ordersync("run", "--no-report", check=True)
    assert {ws.google.get_order(i)["status"] for i in ids} == {"delivered"}
    assert _breaks(ws) == []

    (late,) = ws.create_orders(1, "template2")
    ws.ordersync("run", "--no-report", check=True)  # acknowledged, merchant id set; nothing shipped yet
    order = ws.google.get_order(late)
    line = order["lineItems"][0]
    ws.google.ship_line_items(
        late, "out-of-band-1",
        [{"lineItemId": line["id"], "quantity": 1}],
        [{"shipmentId": "manual-1", "carrier": "ups", "trackingId": "1ZMANUAL"}],
    )
    breaks = {b["category"]: b for b in _breaks(ws)}
    # One change, seen from both other views: our ledger did not ship it, the warehouse feed
    # does not have it. Nothing else in the account is flagged.
    assert {b["google_order_id"] for b in breaks.values()} == {late}
    assert set(breaks) == {"quantity_mismatch", "missing_in_oms"}, breaks
    assert line["id"] in breaks["quantity_mismatch"]["detail"]
