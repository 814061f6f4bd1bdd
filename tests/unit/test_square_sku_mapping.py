"""Google offerId -> Square catalog variation by SKU (sync/domain/square_mapping.py), pure."""

from __future__ import annotations

from typing import Any

from sync.domain.square_mapping import (
    AMBIGUOUS_SKU,
    LOOKUP_FAILED,
    NO_VARIATION,
    MappingOptions,
    google_to_square_order,
    offers_to_look_up,
    resolve_offer_variations,
    unmapped_lines,
)
from sync.domain.square_records import CatalogVariationRef


def ref(variation_id: str, sku: str) -> CatalogVariationRef:
    return CatalogVariationRef(variation_id=variation_id, sku=sku, item_id=f"{variation_id}-ITEM", name="v")


def google_order(*offers: str) -> dict[str, Any]:
    return {
        "id": "G-1",
        "merchantId": "123",
        "lineItems": [
            {
                "id": f"L{i}",
                "quantityOrdered": 1,
                "price": {"value": "10.00", "currency": "USD"},
                "product": {"offerId": offer, "title": f"Product {offer}"},
            }
            for i, offer in enumerate(offers)
        ],
    }


def test_offers_to_look_up_skip_the_sku_map_and_repeats() -> None:
    orders = [google_order("A", "B"), google_order("B", "C")]
    assert offers_to_look_up(orders, {"B": "CAT_B"}) == ["A", "C"]
    assert offers_to_look_up(orders, None) == ["A", "B", "C"]


def test_resolution_rules() -> None:
    found = {
        "one": [ref("V1", "ONE")],  # Square matches case-insensitively: one match is the variation
        "two": [ref("V2", "two"), ref("V3", "TWO")],  # several: the exact-case one
        "many": [ref("V4", "MANY"), ref("V5", "Many")],  # several, none exact: not guessed
    }
    resolution = resolve_offer_variations(["one", "two", "many", "none"], found)
    assert resolution.catalog_ids == {"one": "V1", "two": "V2"}
    assert resolution.unmapped == {"many": AMBIGUOUS_SKU, "none": NO_VARIATION}
    failed = resolve_offer_variations(["one"], None)
    assert failed.catalog_ids == {} and failed.unmapped == {"one": LOOKUP_FAILED}


def test_mapped_lines_are_catalog_lines_and_the_rest_are_reported() -> None:
    order = google_order("MAPPED-BY-SKU", "IN-SKU-MAP", "UNKNOWN")
    resolution = resolve_offer_variations(
        ["MAPPED-BY-SKU", "UNKNOWN"], {"MAPPED-BY-SKU": [ref("V9", "MAPPED-BY-SKU")]}
    )
    options = MappingOptions("L1", sku_map={"IN-SKU-MAP": "CAT_FROM_MAP"}, catalog_ids=resolution.catalog_ids)
    body = google_to_square_order(order, options)
    by_sku, by_map, ad_hoc = body["line_items"]
    assert by_sku["catalog_object_id"] == "V9" and "name" not in by_sku
    assert by_map["catalog_object_id"] == "CAT_FROM_MAP"
    assert "catalog_object_id" not in ad_hoc and ad_hoc["name"] == "Product UNKNOWN"
    assert all(li["base_price_money"] == {"amount": 1000, "currency": "USD"} for li in body["line_items"])
    assert [u.as_dict() for u in unmapped_lines(order, options, resolution)] == [
        {"line_item_id": "L2", "offer_id": "UNKNOWN", "reason": NO_VARIATION}
    ]


def test_the_sku_map_wins_over_the_catalog() -> None:
    order = google_order("X")
    options = MappingOptions("L1", sku_map={"X": "FROM_MAP"}, catalog_ids={"X": "FROM_SKU"})
    assert google_to_square_order(order, options)["line_items"][0]["catalog_object_id"] == "FROM_MAP"
