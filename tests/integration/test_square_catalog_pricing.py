"""Square emulator fidelity through the squareup SDK: the Catalog API and how catalog objects,
discount order and pricing blocklists price an order (issue 14 items 2, 3, 5, 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from square import Square

from sync.sandbox.server import Sandbox

from .square_sdk import LOC, api_error, client, settings, usd

STEAK_CATALOG = [
    {
        "type": "ITEM",
        "id": "#steak",
        "item_data": {
            "name": "New York Steak",
            "variations": [
                {
                    "type": "ITEM_VARIATION",
                    "id": "#steak-regular",
                    "item_variation_data": {"name": "Regular", "price_money": usd(1800), "sku": "NYS-R"},
                },
                {
                    "type": "ITEM_VARIATION",
                    "id": "#steak-larger",
                    "item_variation_data": {"name": "Larger", "price_money": usd(2200), "sku": "NYS-L"},
                },
            ],
            "modifier_list_info": [{"modifier_list_id": "#doneness"}],
        },
    },
    {
        "type": "MODIFIER_LIST",
        "id": "#doneness",
        "modifier_list_data": {
            "name": "Doneness",
            "modifiers": [
                {"type": "MODIFIER", "id": "#well", "modifier_data": {"name": "Well", "price_money": usd(50)}}
            ],
        },
    },
    {
        "type": "DISCOUNT",
        "id": "#membership",
        "discount_data": {
            "name": "Membership Discount",
            "discount_type": "FIXED_PERCENTAGE",
            "percentage": "0.5",
        },
    },
]


def _upsert_steak_catalog(sq: Square) -> dict[str, str]:
    resp = sq.catalog.batch_upsert(idempotency_key="steak-catalog", batches=[{"objects": STEAK_CATALOG}])
    return {m.client_object_id: m.object_id for m in resp.id_mappings}


def documented_request(ids: dict[str, str], *, labor_day_first: bool = True) -> dict[str, Any]:
    """Square's CreateOrderRequest reference example, catalog ids from our catalog."""
    labor_day = {"uid": "labor-day-sale", "name": "Labor Day Sale", "percentage": "5", "scope": "ORDER"}
    membership = {"uid": "membership-discount", "catalog_object_id": ids["#membership"], "scope": "ORDER"}
    one_dollar = {
        "uid": "one-dollar-off",
        "name": "Sale - $1.00 off",
        "amount_money": usd(100),
        "scope": "LINE_ITEM",
    }
    discounts = [labor_day, membership] if labor_day_first else [membership, labor_day]
    return {
        "location_id": LOC,
        "reference_id": "my-order-001",
        "line_items": [
            {"name": "New York Strip Steak", "quantity": "1", "base_price_money": usd(1599)},
            {
                "quantity": "2",
                "catalog_object_id": ids["#steak-larger"],
                "modifiers": [{"catalog_object_id": ids["#well"]}],
                "applied_discounts": [{"discount_uid": "one-dollar-off"}],
            },
        ],
        "taxes": [{"uid": "state-sales-tax", "name": "State Sales Tax", "percentage": "9", "scope": "ORDER"}],
        "discounts": [*discounts, one_dollar],
    }


# ---- item 2: same-phase discount order -------------------------------------------------------------
def test_documented_create_order_example_prices_as_squares_reference_response(sandbox: Sandbox) -> None:
    """Square's CreateOrder reference: gross 1599 + 2 x (2200 + 50) = 6099; 0.5 % first: 30
    (8 + 22), then 5 % of 6069: 303 (79 + 224), $1 off the steaks; 9 % on 1512 + 4154 = 510
    (136 + 374); lines 1648 and 4528, total 6176, discounts 433."""
    sq = client(sandbox)
    ids = _upsert_steak_catalog(sq)
    for labor_day_first in (True, False):
        order = sq.orders.calculate(order=documented_request(ids, labor_day_first=labor_day_first)).order
        assert (
            order.total_money.amount,
            order.total_discount_money.amount,
            order.total_tax_money.amount,
        ) == (
            6176,
            433,
            510,
        )
        strip, steak = order.line_items
        assert (strip.total_money.amount, steak.total_money.amount) == (1648, 4528)
        assert [(d.uid, d.applied_money.amount) for d in order.discounts] == [
            ("membership-discount", 30),
            ("labor-day-sale", 303),
            ("one-dollar-off", 100),
        ]
        assert [a.applied_money.amount for a in strip.applied_discounts] == [8, 79]
        assert [a.applied_money.amount for a in steak.applied_discounts] == [22, 224, 100]
        assert (steak.name, steak.variation_name, steak.base_price_money.amount) == (
            "New York Steak",
            "Larger",
            2200,
        )
        assert steak.modifiers[0].name == "Well" and steak.modifiers[0].total_price_money.amount == 100
        assert order.discounts[0].name == "Membership Discount" and order.discounts[0].percentage == "0.5"
    # The rule is a sandbox setting; in request order the same request gives 305 + 29.
    settings(sandbox, same_phase_discount_order="request")
    order = sq.orders.calculate(order=documented_request(ids)).order
    assert (order.total_money.amount, order.total_discount_money.amount) == (6175, 434)
    settings(sandbox, same_phase_discount_order="catalog_first")
    assert sq.orders.calculate(order=documented_request(ids)).order.total_money.amount == 6176


# ---- item 3: pricing blocklists ---------------------------------------------------------------------
def test_pricing_blocklists_keep_blocked_taxes_and_discounts_off_a_line(sandbox: Sandbox) -> None:
    """Two 1000 lines, an ORDER 10 % discount and an ORDER 8 % tax; the second line blocks both.
    Line 1: 1000 - 100 = 900, tax 72 -> 972; line 2: 1000, no tax -> 1000."""
    sq = client(sandbox)
    order = sq.orders.create(
        idempotency_key="blocklist-1",
        order={
            "location_id": LOC,
            "line_items": [
                {"name": "taxed", "quantity": "1", "base_price_money": usd(1000)},
                {
                    "name": "exempt",
                    "quantity": "1",
                    "base_price_money": usd(1000),
                    "pricing_blocklists": {
                        "blocked_taxes": [{"tax_uid": "tax"}],
                        "blocked_discounts": [{"discount_uid": "ten-off"}],
                    },
                },
            ],
            "discounts": [{"uid": "ten-off", "name": "10 %", "percentage": "10", "scope": "ORDER"}],
            "taxes": [{"uid": "tax", "name": "Sales tax", "percentage": "8", "scope": "ORDER"}],
        },
    ).order
    taxed, exempt = order.line_items
    assert (taxed.total_discount_money.amount, taxed.total_tax_money.amount, taxed.total_money.amount) == (
        100,
        72,
        972,
    )
    assert (exempt.total_discount_money.amount, exempt.total_tax_money.amount, exempt.total_money.amount) == (
        0,
        0,
        1000,
    )
    assert exempt.applied_taxes is None and exempt.pricing_blocklists.blocked_taxes[0].uid
    assert (order.total_money.amount, order.total_tax_money.amount) == (1972, 72)


def test_pricing_blocklists_block_catalog_taxes_by_catalog_id(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    tax = sq.catalog.object.upsert(
        idempotency_key="tax-1",
        object={"type": "TAX", "id": "#vat", "tax_data": {"name": "VAT", "percentage": "20"}},
    ).catalog_object
    order = sq.orders.calculate(
        order={
            "location_id": LOC,
            "line_items": [
                {"name": "a", "quantity": "1", "base_price_money": usd(500)},
                {
                    "name": "b",
                    "quantity": "1",
                    "base_price_money": usd(500),
                    "pricing_blocklists": {"blocked_taxes": [{"tax_catalog_object_id": tax.id}]},
                },
            ],
            "taxes": [{"uid": "vat", "catalog_object_id": tax.id, "scope": "ORDER"}],
        }
    ).order
    assert [li.total_tax_money.amount for li in order.line_items] == [100, 0]
    assert order.taxes[0].name == "VAT" and order.taxes[0].catalog_version == tax.version


# ---- item 5: unknown catalog ids -----------------------------------------------------------------------
def test_unknown_catalog_ids_are_not_found_everywhere(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    line = {"name": "x", "quantity": "1", "base_price_money": usd(100)}
    cases = {
        "order.line_items[0].catalog_object_id": {
            "line_items": [{**line, "catalog_object_id": "NOPE"}],
        },
        "order.line_items[0].modifiers[0].catalog_object_id": {
            "line_items": [
                {**line, "modifiers": [{"catalog_object_id": "NOPE", "base_price_money": usd(5)}]}
            ],
        },
        "order.discounts[0].catalog_object_id": {
            "line_items": [line],
            "discounts": [{"catalog_object_id": "NOPE", "percentage": "5", "scope": "ORDER"}],
        },
        "order.taxes[0].catalog_object_id": {
            "line_items": [line],
            "taxes": [{"catalog_object_id": "NOPE", "percentage": "5", "scope": "ORDER"}],
        },
    }
    for field, order in cases.items():
        err = api_error(sq.orders.create, order={"location_id": LOC, **order})
        assert (err.status_code, err.errors[0].code, err.errors[0].field) == (404, "NOT_FOUND", field)
    assert sandbox.stats.mutations.get("square.orders.create", 0) == 0


# ---- item 6: the Catalog API ----------------------------------------------------------------------------
def test_batch_upsert_assigns_ids_and_versions_and_nests_children(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    resp = sq.catalog.batch_upsert(idempotency_key="steak-catalog", batches=[{"objects": STEAK_CATALOG}])
    ids = {m.client_object_id: m.object_id for m in resp.id_mappings}
    assert set(ids) == {"#steak", "#steak-regular", "#steak-larger", "#doneness", "#well", "#membership"}
    assert all(not i.startswith("#") for i in ids.values())
    item = resp.objects[0]
    assert item.type == "ITEM" and item.id == ids["#steak"] and item.version
    assert [v.id for v in item.item_data.variations] == [ids["#steak-regular"], ids["#steak-larger"]]
    assert item.item_data.variations[1].item_variation_data.item_id == ids["#steak"]  # "#steak" resolved
    assert item.item_data.modifier_list_info[0].modifier_list_id == ids["#doneness"]
    # Idempotent: the same key and body answer the same objects; no second write.
    again = sq.catalog.batch_upsert(idempotency_key="steak-catalog", batches=[{"objects": STEAK_CATALOG}])
    assert [o.id for o in again.objects] == [o.id for o in resp.objects]
    assert sandbox.stats.mutations["square.catalog.batch_upsert"] == 1
    reused = api_error(
        sq.catalog.batch_upsert, idempotency_key="steak-catalog", batches=[{"objects": STEAK_CATALOG[:1]}]
    )
    assert reused.errors[0].code == "IDEMPOTENCY_KEY_REUSED"
    # Retrieve: the variation with its item as a related object.
    got = sq.catalog.object.get(ids["#steak-larger"], include_related_objects=True)
    assert got.object.item_variation_data.name == "Larger" and got.related_objects[0].id == ids["#steak"]
    batch = sq.catalog.batch_get(object_ids=[ids["#steak"], "MISSING", ids["#membership"]])
    assert [o.id for o in batch.objects] == [ids["#steak"], ids["#membership"]]
    assert api_error(sq.catalog.object.get, "MISSING").status_code == 404


def test_upsert_needs_the_current_version_and_replaces_children(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    ids = _upsert_steak_catalog(sq)
    item = sq.catalog.object.get(ids["#steak"]).object.model_dump(mode="json", exclude_none=True)
    stale = {**item, "version": item["version"] - 1}
    err = api_error(sq.catalog.object.upsert, idempotency_key="stale", object=stale)
    assert (err.status_code, err.errors[0].code) == (400, "VERSION_MISMATCH")
    missing = {k: v for k, v in item.items() if k != "version"}
    assert api_error(sq.catalog.object.upsert, idempotency_key="nover", object=missing).errors[0].code == (
        "VERSION_MISMATCH"
    )
    # Full replacement: the item sent back with only its "Larger" variation loses "Regular".
    item["item_data"]["name"] = "NY Steak"
    item["item_data"]["variations"] = item["item_data"]["variations"][1:]
    updated = sq.catalog.object.upsert(idempotency_key="rename", object=item).catalog_object
    assert updated.version > item["version"] and updated.item_data.name == "NY Steak"
    assert [v.id for v in updated.item_data.variations] == [ids["#steak-larger"]]
    assert api_error(sq.catalog.object.get, ids["#steak-regular"]).status_code == 404
    unknown = api_error(
        sq.catalog.object.upsert,
        idempotency_key="unknown-id",
        object={"type": "CATEGORY", "id": "NOT_A_TEMP_ID", "category_data": {"name": "x"}},
    )
    assert unknown.status_code == 404


def test_search_catalog_objects_by_sku(sandbox: Sandbox) -> None:
    sq = client(sandbox)
    ids = _upsert_steak_catalog(sq)
    exact = sq.catalog.search(
        object_types=["ITEM_VARIATION"],
        query={"exact_query": {"attribute_name": "sku", "attribute_value": "nys-l"}},  # case insensitive
        include_related_objects=True,
    )
    assert [o.id for o in exact.objects] == [ids["#steak-larger"]]
    assert [o.id for o in exact.related_objects] == [ids["#steak"]]
    several = sq.catalog.search(
        object_types=["ITEM_VARIATION"],
        query={"set_query": {"attribute_name": "sku", "attribute_values": ["NYS-R", "NYS-L", "NONE"]}},
    )
    assert {o.id for o in several.objects} == {ids["#steak-regular"], ids["#steak-larger"]}
    # Without object_types only top-level types are searched (variations must be asked for).
    default = sq.catalog.search(query={"exact_query": {"attribute_name": "sku", "attribute_value": "NYS-L"}})
    assert not default.objects
    named = sq.catalog.search(query={"prefix_query": {"attribute_name": "name", "attribute_prefix": "new y"}})
    assert [o.id for o in named.objects] == [ids["#steak"]]
    # Pages.
    first = sq.catalog.search(object_types=["ITEM_VARIATION"], limit=2)
    assert len(first.objects) == 2 and first.cursor
    rest = sq.catalog.search(object_types=["ITEM_VARIATION"], limit=2, cursor=first.cursor)
    seen = {o.id for o in first.objects} | {o.id for o in rest.objects or []}
    while rest.cursor:
        rest = sq.catalog.search(object_types=["ITEM_VARIATION"], limit=2, cursor=rest.cursor)
        seen |= {o.id for o in rest.objects or []}
    assert {ids["#steak-regular"], ids["#steak-larger"], "SANDBOX_VAR_MUG"} <= seen
    assert sandbox.stats.requests["square.catalog.search"] >= 5


def test_catalog_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox.db"
    with Sandbox(state=state).start() as sb:
        ids = _upsert_steak_catalog(client(sb))
    with Sandbox(state=state).start() as sb:
        sq = client(sb)
        assert sq.catalog.object.get(ids["#steak-larger"]).object.item_variation_data.sku == "NYS-L"
        order = sq.orders.calculate(
            order={
                "location_id": LOC,
                "line_items": [{"catalog_object_id": ids["#steak-larger"], "quantity": "1"}],
            }
        ).order
        assert order.total_money.amount == 2200
        again = sq.catalog.batch_upsert(idempotency_key="steak-catalog", batches=[{"objects": STEAK_CATALOG}])
        assert {m.object_id for m in again.id_mappings} == set(ids.values())  # the key survived too
