"""Google offerIds become Square catalog lines by SKU, end to end through the CLI and both SDKs;
lines no variation matches go ad hoc and are reported (log, cycle summary, ledger intent)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from square import Square

from sync.adapters.ledger import Ledger

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(600)


def _catalog_item(n: int, sku: str) -> dict[str, Any]:
    return {
        "type": "ITEM",
        "id": f"#item-{n}",
        "item_data": {
            "name": f"Store item {n}",
            "variations": [
                {
                    "type": "ITEM_VARIATION",
                    "id": f"#variation-{n}",
                    "item_variation_data": {
                        "name": "Regular",
                        "sku": sku,
                        "price_money": {"amount": 1, "currency": "USD"},  # Google's price overrides it
                    },
                }
            ],
        },
    }


def test_offer_ids_resolve_to_catalog_variations_by_sku(workspace: Workspace) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, square=True)
    (order_id,) = ws.create_orders(1, "template1")
    google_order = ws.google.get_order(order_id)
    lines = google_order["lineItems"]
    assert len(lines) >= 2, "the test needs a template with two lines or more"
    offers = [li["product"]["offerId"] for li in lines]
    square = Square(token="store-staff", base_url=ws.sandbox.url)
    # The store's catalog knows the first offer (its SKU in another case) and nothing else.
    upsert = square.catalog.batch_upsert(
        idempotency_key="store-catalog", batches=[{"objects": [_catalog_item(0, offers[0].lower())]}]
    )
    variation_id = next(m.object_id for m in upsert.id_mappings if m.client_object_id == "#variation-0")

    run = ws.ordersync("run", "--no-report", check=True)
    (square_order,) = [
        o for o in square.orders.search(location_ids=["L_SANDBOX_MAIN"]).orders if o.reference_id == order_id
    ]
    by_uid = {li.uid: li for li in square_order.line_items}
    mapped = by_uid[lines[0]["id"]]
    assert mapped.catalog_object_id == variation_id and mapped.name == "Store item 0"
    assert mapped.base_price_money.amount * int(lines[0]["quantityOrdered"]) == round(
        float(lines[0]["price"]["value"]) * 100
    )
    ad_hoc = [by_uid[li["id"]] for li in lines[1:]]
    assert all(li.catalog_object_id is None for li in ad_hoc)
    assert square_order.tenders, "paid in one CreatePayment"
    assert ws.stats()["requests"].get("square.orders.pay", 0) == 0

    # Reported: the log, the cycle summary, the order's create intent in the ledger.
    assert "not in the Square catalog" in run.stderr + run.stdout
    assert f"square_unmapped_lines={len(lines) - 1}" in run.stderr + run.stdout
    status = json.loads(ws.ordersync("status", "--json", check=True).stdout)
    assert status["last_runs"][0]["summary"]["square_unmapped_lines"] == len(lines) - 1
    ledger = Ledger(f"sqlite:///{ws.root / 'state' / 'ordersync.db'}")
    try:
        (create,) = [i for i in ledger.intents_for_order(order_id) if i.kind == "square.create"]
    finally:
        ledger.close()
    assert create.payload["unmapped_lines"] == [
        {"line_item_id": li["id"], "offer_id": li["product"]["offerId"], "reason": "no_variation"}
        for li in lines[1:]
    ]
    assert ws.stats()["requests"]["square.catalog.search"] == 1  # one batched search for the cycle
    ws.ordersync("run", "--no-report", check=True)
    assert ws.stats()["requests"]["square.catalog.search"] == 1  # nothing to create: no search
