"""Refund ids, parsed API records, per-order totals and the configurable rules (sync.domain.refunds)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.domain import operations
from sync.domain.refunds.records import (
    RefundDataError,
    google_line_id,
    google_refund_entries,
    google_refunded_minor,
    google_return,
    google_returned_units,
    square_refunded_minor,
    square_return,
    tender_payment_ids,
)
from sync.domain.refunds.rules import (
    SQUARE_REASON_MAX,
    RefundRules,
    RefundRulesError,
    google_reason_text,
    own_refund_key,
    own_refund_reason,
)
from tests.unit.fixtures_google import price
from tests.unit.refund_fixtures import (
    custom_line,
    delivered_order,
    google_return_raw,
    item_line,
    payment,
    refund,
    return_order,
    sale_order,
)


# ------------------------------------------------------------------------------------------ ids
def test_square_refund_operation_ids_are_per_refund_and_part() -> None:
    first = operations.square_refund_operation_id("PAY-1_R1", "line:LI-A")
    assert first == operations.square_refund_operation_id("PAY-1_R1", "line:LI-A")
    assert first.startswith("os:sq-refund:") and len(first) == len("os:sq-refund:") + 24
    others = {
        operations.square_refund_operation_id("PAY-1_R1", "line:LI-B"),
        operations.square_refund_operation_id("PAY-1_R1", "amount"),
        operations.square_refund_operation_id("PAY-1_R1", "shipping"),
        operations.square_refund_operation_id("PAY-1_R2", "line:LI-A"),
    }
    assert first not in others and len(others) == 4
    with pytest.raises(ValueError, match="part"):
        operations.square_refund_operation_id("PAY-1_R1", "tax")
    with pytest.raises(ValueError, match="own id function"):
        operations.operation_id("TEST-1", "sq-refund")  # cannot collide with the generic ids


def test_square_refund_keys_fit_refund_payment_and_name_the_resulting_state() -> None:
    key = operations.square_refund_key("1234567", "TEST-1", "PAY-1", 1500, 500)
    assert key == operations.square_refund_key("1234567", "TEST-1", "PAY-1", 1500, 500)
    assert len(key) <= operations.SQUARE_REFUND_KEY_MAX and key.startswith("osr:")
    assert len({
        key,
        operations.square_refund_key("1234567", "TEST-1", "PAY-1", 2000, 500),
        operations.square_refund_key("1234567", "TEST-1", "PAY-1", 1500, 600),
        operations.square_refund_key("1234567", "TEST-2", "PAY-1", 1500, 500),
        operations.square_refund_key("1234567", "TEST-1", "PAY-2", 1500, 500),
        operations.square_refund_key("7654321", "TEST-1", "PAY-1", 1500, 500),
    }) == 6  # fmt: skip
    with pytest.raises(ValueError):
        operations.square_refund_key("1234567", "TEST-1", "PAY-1", 100, 500)
    with pytest.raises(ValueError):
        operations.square_refund_key("1234567", "TEST-1", "PAY-1", 500, 0)


# -------------------------------------------------------------------------------------- records
def test_google_refund_entries_and_totals() -> None:
    raw = delivered_order(
        refunds=[
            {"actor": "merchant", "amount": price("10.00"), "creationDate": "2026-11-25T10:00:00Z",
             "reason": "courtesyAdjustment", "reasonText": "Square refund R1"},
            {"actor": "googleCustomerService", "amount": price("2.50"), "reason": "other"},
        ]
    )  # fmt: skip
    entries = google_refund_entries(raw)
    assert [(e.index, e.actor, e.amount_minor, e.reason) for e in entries] == [
        (0, "merchant", 1000, "courtesyAdjustment"),
        (1, "googleCustomerService", 250, "other"),
    ]
    assert google_refunded_minor(raw) == 1250
    raw["lineItems"][0]["quantityReturned"] = 2
    raw["lineItems"][1]["quantityReturned"] = 1
    assert google_returned_units(raw) == 3
    with pytest.raises(RefundDataError, match=r"refunds\[0\]\.amount"):
        google_refund_entries(delivered_order(refunds=[{"amount": {"value": "1.005", "currency": "USD"}}]))
    with pytest.raises(RefundDataError, match="expected a list"):
        google_refund_entries(delivered_order(refunds={"amount": 1}))


def test_google_return_parses_items() -> None:
    ret = google_return(google_return_raw("R-1", [("sku-a", "new"), ("sku-a", "refunded")]))
    assert (ret.return_id, ret.order_id, ret.created) == ("R-1", "TEST-1000-20-3000", "2026-11-24T09:00:00Z")
    assert [(i.offer_id, i.product_id, i.state, i.is_open) for i in ret.items] == [
        ("sku-a", "online:en:US:sku-a", "new", True),
        ("sku-a", "online:en:US:sku-a", "refunded", False),
    ]
    assert ret.items[0].customer_reason == "changedMind"
    with pytest.raises(RefundDataError, match="orderReturnId"):
        google_return({"orderId": "X"})


def test_square_return_reads_the_entry_of_the_sale_order() -> None:
    raw = return_order([item_line("r1", "1", 2159, 160), custom_line(300, "Shipping")])
    raw["returns"].append({"uid": "other", "source_order_id": "SQ-OTHER", "return_line_items": []})
    ret = square_return(raw, "SQ-SALE-1")
    assert (ret.return_order_id, ret.sale_order_id, ret.currency, ret.total_minor) == (
        "SQ-RET-1", "SQ-SALE-1", "USD", 2459,
    )  # fmt: skip
    assert ret.itemized
    first, second = ret.lines
    assert (first.item_type, first.source_line_item_uid, first.quantity) == ("ITEM", "LI-A", Decimal(1))
    assert (first.total_minor, first.tax_minor) == (2159, 160)
    assert (second.item_type, second.source_line_item_uid, second.name) == ("CUSTOM_AMOUNT", None, "Shipping")
    with pytest.raises(RefundDataError, match="2 entries refer to a sale order"):
        square_return(raw)
    with pytest.raises(RefundDataError, match="0 entries"):
        square_return(raw, "SQ-NONE")
    mixed = return_order([item_line("r1", "1", 2159, 160)])
    mixed["returns"][0]["return_line_items"][0]["total_money"]["currency"] = "EUR"
    with pytest.raises(RefundDataError, match="several currencies"):
        square_return(mixed)
    garbled = return_order([item_line("r1", "x", 2159, 160)])
    with pytest.raises(RefundDataError, match="quantity"):
        square_return(garbled)


def test_sale_lines_map_back_to_google_lines_and_tenders_to_payments() -> None:
    order = sale_order()
    order["line_items"][1]["metadata"] = {"google_line_item_id": "LI-B-REAL"}
    order["line_items"].append({"uid": "LI-C"})
    assert google_line_id(order, "LI-A") == "LI-A"
    assert google_line_id(order, "LI-B") == "LI-B-REAL"  # the metadata wins over the uid
    assert google_line_id(order, "LI-C") == "LI-C"
    assert google_line_id(order, "nope") is None
    assert tender_payment_ids(order) == ("PAY-1",)
    assert tender_payment_ids({"tenders": [{"type": "CASH"}]}) == ()


def test_square_totals_count_completed_refunds_of_the_payments() -> None:
    refunds = [
        refund(500),
        refund(200, refund_id="R2", status="PENDING"),
        refund(100, refund_id="R3", status="FAILED"),
    ]
    assert square_refunded_minor(refunds, ["PAY-1"]) == 500
    assert square_refunded_minor(refunds, ["PAY-2"]) == 0
    assert payment(amount=5397, refunded=700).refundable_minor == 4697
    assert payment(amount=500, refunded=700).refundable_minor == 0


# ---------------------------------------------------------------------------------------- rules
def test_reasons_map_by_keyword_at_a_word_start() -> None:
    rules = RefundRules()
    assert rules.return_reason("Returned goods") == "customerDiscretionaryReturn"
    assert rules.return_reason("Item arrived DAMAGED") == "productArrivedDamaged"
    assert rules.return_reason("Canceled order") == "customerInitiatedMerchantCancel"
    assert rules.return_reason("Hot chocolate spilled") == "other"  # "late" is not a word start here
    assert rules.return_reason(None) == "other"
    assert rules.refund_reason("Accidental charge", shipping=False) == "courtesyAdjustment"
    assert rules.refund_reason("Price match", shipping=False) == "priceError"
    assert rules.refund_reason("Price match", shipping=True) == "shippingCostAdjustment"
    assert rules.is_shipping("Shipping") and rules.is_shipping(None, "refund of SHIPPING fee")
    assert not rules.is_shipping("Custom Amount", "Other")


def test_rules_from_settings_maps_and_their_validation() -> None:
    rules = RefundRules.from_maps(
        return_reasons={"kaputt": "productArrivedDamaged"},
        refund_reasons={},
        shipping_words=["versand"],
        default_refund_reason="adjustment",
    )
    assert rules.return_reason("Ware kaputt") == "productArrivedDamaged"
    assert rules.return_reason("Returned goods") == "other"  # the defaults were replaced
    assert rules.refund_reason("Price", shipping=False) == "adjustment"
    assert rules.is_shipping("Versandkosten")
    with pytest.raises(RefundRulesError, match="'damaged'"):
        RefundRules.from_maps(return_reasons={"x": "damaged"})
    with pytest.raises(RefundRulesError, match="default_refund_reason"):
        RefundRules(default_refund_reason="productNotAsDescribed ")
    with pytest.raises(RefundRulesError, match="empty"):
        RefundRules(shipping_words=(" ",))


def test_own_refund_marks_survive_a_long_summary() -> None:
    key = operations.square_refund_key("1234567", "TEST-1", "PAY-1", 1500, 500)
    reason = own_refund_reason("Google refunded " + "x" * 300, key)
    assert len(reason) == SQUARE_REASON_MAX and own_refund_key(reason) == key
    assert own_refund_key("Returned goods") is None and own_refund_key(None) is None
    assert own_refund_key("[ordersync osr:tooshort]") is None
    with pytest.raises(ValueError):
        own_refund_reason("x", "not-a-key")
    assert google_reason_text("R1", "Returned goods") == "Square refund R1: Returned goods"
    assert len(google_reason_text("R1", "y" * 400)) == 255
