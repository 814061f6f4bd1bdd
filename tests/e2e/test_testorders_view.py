"""What sandbox users see of their test orders: `testorders show` / `list`, line-item errors that
name the valid ids, and a --country whose choices and default agree."""

from __future__ import annotations

from tests.e2e.conftest import Workspace


def _row(stdout: str, line_item_id: str) -> list[str]:
    return next(line.split() for line in stdout.splitlines() if line.split()[:1] == [line_item_id])


def test_show_lists_line_items_with_their_quantities(workspace: Workspace) -> None:
    ws = workspace
    (order_id,) = ws.create_orders(1, template="template2")
    order = ws.google.get_order(order_id)
    shown = ws.ordersync("testorders", "show", order_id, check=True).stdout
    assert f"order {order_id}  status pendingShipment" in shown
    header = next(line.split() for line in shown.splitlines() if line.split()[:2] == ["id", "offer_id"])
    assert header[:8] == [
        "id",
        "offer_id",
        "ordered",
        "pending",
        "shipped",
        "delivered",
        "canceled",
        "returned",
    ]
    for line in order["lineItems"]:
        row = _row(shown, line["id"])
        assert row[1] == line["product"]["offerId"]
        assert row[2:8] == [str(line["quantityOrdered"]), str(line["quantityPending"]), "0", "0", "0", "0"]

    # The customer cancels one unit of the first line; show has it without any digging.
    first = order["lineItems"][0]
    ws.ordersync("testorders", "cancel", order_id, "--line-item", first["id"], "--quantity", "1", check=True)
    row = _row(ws.ordersync("testorders", "show", order_id, check=True).stdout, first["id"])
    assert row[6] == "1" and row[3] == str(first["quantityPending"] - 1)

    as_json = ws.ordersync("testorders", "show", order_id, "--json", check=True).stdout
    assert f'"id": "{order_id}"' in as_json


def test_list_shows_orders_with_their_line_item_ids(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    listed = ws.ordersync("testorders", "list", check=True).stdout.splitlines()
    assert listed[0].split() == ["id", "status", "placed", "merchant_order_id", "line_items"]
    for order_id in ids:
        row = next(line.split() for line in listed if line.startswith(order_id))
        line_ids = [li["id"] for li in ws.google.get_order(order_id)["lineItems"]]
        assert row[1] == "pendingShipment" and row[4:] == line_ids
    only = ws.ordersync("testorders", "list", "--status", "delivered", check=True)
    assert only.stdout == "" and "no orders" in only.stderr


def test_unknown_line_item_names_the_valid_ones(workspace: Workspace) -> None:
    ws = workspace
    (order_id,) = ws.create_orders(1, template="template2")
    valid = [li["id"] for li in ws.google.get_order(order_id)["lineItems"]]
    for args in (("cancel", order_id, "--line-item", "NOPE"), ("return", order_id, "--line-item", "NOPE")):
        proc = ws.ordersync("testorders", *args)
        assert proc.returncode == 2, proc.stderr
        assert "no line item 'NOPE'; its line items are:" in proc.stderr
        assert all(line_id in proc.stderr for line_id in valid)


def test_country_choices_and_default_agree(workspace: Workspace) -> None:
    ws = workspace
    help_text = " ".join(ws.ordersync("testorders", "create", "--help", check=True).stdout.split())
    assert "--country [US|FR]" in help_text and "[default: US]" in help_text
    (order_id,) = ws.ordersync("testorders", "create", "--country", "fr", check=True).stdout.split()
    order = ws.google.get_order(order_id)
    assert order["netAmount"]["currency"] == "EUR"
    bad = ws.ordersync("testorders", "create", "--country", "DE")
    assert bad.returncode == 2 and "'DE' is not one of 'US', 'FR'" in bad.stderr
