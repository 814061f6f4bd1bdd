"""Square's price maths (sync/sandbox/square/money.py and pricing.py), pure: no server involved."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import pytest

from sync.sandbox.square.money import MoneyError, apportion, proportional, round_half_even
from sync.sandbox.square.pricing import price_order


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def line(name: str, qty: str, price: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "quantity": qty, "base_price_money": usd(price), **extra}


def priced(order: dict[str, Any]) -> dict[str, Any]:
    counter = itertools.count()
    price_order(order, "USD", lambda: f"uid{next(counter)}")
    return order


def amt(obj: dict[str, Any], key: str) -> int:
    return int(obj[key]["amount"])


def test_round_half_even_on_exact_values() -> None:
    assert [round_half_even(Fraction(n, 2)) for n in (1, 3, 5, 7)] == [0, 2, 2, 4]
    assert round_half_even(Fraction(2285, 1000)) == 2  # 2.285 is not a tie for integers
    assert round_half_even(Fraction(-5, 2)) == -2


def test_apportion_always_sums_to_total() -> None:
    assert apportion(510, [Fraction(13608, 100), Fraction(37386, 100)]) == [136, 374]
    assert proportional(303, [1591, 4478]) == [79, 224]
    assert proportional(10, [1, 1, 1]) == [4, 3, 3]  # tie: earliest index gets the spare unit
    assert proportional(7, [0, 0]) == [0, 0]
    for total, weights in ((1, [3, 3, 3]), (99, [1, 2, 3, 4]), (1000, [7, 11, 13])):
        assert sum(proportional(total, weights)) == total


def test_worked_example_from_the_spec() -> None:
    """square-orders.md worked example, by hand:

    Lines: steak 1 x 1599 = 1599; ribeye 2 x 2000 = 4000 (gross 5599).
    1. ORDER 5 % "labor-day-sale", once on 5599: left 5599 * 0.95 = 5319.05 -> 5319, so 280;
       apportioned by 1599:4000 -> exact 79.96 / 200.04 -> 80 / 200.
    2. LINE_ITEM 100 "one-dollar-off" on the ribeye -> 100 (once per line, not per unit).
       Net: steak 1519, ribeye 3700 (discount total 380).
    3. ORDER 9 % additive tax, once on 5219 = 469.71 -> 470; apportioned by exact shares
       136.71 / 333.00 -> 137 / 333.
    Totals: steak 1519 + 137 = 1656, ribeye 3700 + 333 = 4033, order 5689 (tax 470, discount 380).
    """
    order = priced(
        {
            "line_items": [
                line("New York Strip Steak", "1", 1599),
                line("Ribeye", "2", 2000, applied_discounts=[{"discount_uid": "one-dollar-off"}]),
            ],
            "discounts": [
                {"uid": "labor-day-sale", "name": "Labor Day Sale", "percentage": "5", "scope": "ORDER"},
                {"uid": "one-dollar-off", "name": "$1 off", "amount_money": usd(100), "scope": "LINE_ITEM"},
            ],
            "taxes": [
                {
                    "uid": "state-sales-tax",
                    "name": "State",
                    "percentage": "9",
                    "scope": "ORDER",
                    "type": "ADDITIVE",
                }
            ],
        }
    )
    steak, ribeye = order["line_items"]
    assert [
        amt(steak, k) for k in ("gross_sales_money", "total_discount_money", "total_tax_money", "total_money")
    ] == [1599, 80, 137, 1656]
    assert [
        amt(ribeye, k)
        for k in ("gross_sales_money", "total_discount_money", "total_tax_money", "total_money")
    ] == [4000, 300, 333, 4033]
    assert {a["discount_uid"]: amt(a, "applied_money") for a in ribeye["applied_discounts"]} == {
        "labor-day-sale": 200,
        "one-dollar-off": 100,
    }
    assert amt(order, "total_money") == 5689
    assert amt(order, "total_tax_money") == 470
    assert amt(order, "total_discount_money") == 380
    assert [amt(d, "applied_money") for d in order["discounts"]] == [280, 100]
    assert order["net_amounts"]["total_money"]["amount"] == 5689


def test_matches_squares_own_reference_example() -> None:
    """Square's CreateOrder/CloneOrder reference response (catalog line with a modifier)."""
    order = priced(
        {
            "line_items": [
                line("New York Strip Steak", "1", 1599),
                line(
                    "New York Steak",
                    "2",
                    2200,
                    modifiers=[{"name": "Well", "base_price_money": usd(50)}],
                    applied_discounts=[{"discount_uid": "one-dollar-off"}],
                ),
            ],
            "discounts": [
                {"uid": "membership-discount", "name": "Membership", "percentage": "0.5", "scope": "ORDER"},
                {"uid": "labor-day-sale", "name": "Labor Day", "percentage": "5", "scope": "ORDER"},
                {"uid": "one-dollar-off", "name": "$1", "amount_money": usd(100), "scope": "LINE_ITEM"},
            ],
            "taxes": [{"uid": "state-sales-tax", "name": "State", "percentage": "9", "scope": "ORDER"}],
        }
    )
    first, second = order["line_items"]
    assert [a["applied_money"]["amount"] for a in first["applied_discounts"]] == [8, 79]
    assert [a["applied_money"]["amount"] for a in second["applied_discounts"]] == [22, 224, 100]
    assert amt(second, "variation_total_price_money") == 4400
    assert amt(second, "gross_sales_money") == 4500
    assert second["modifiers"][0]["total_price_money"]["amount"] == 100
    assert (amt(first, "total_money"), amt(second, "total_money")) == (1648, 4528)
    assert (amt(order, "total_money"), amt(order, "total_tax_money"), amt(order, "total_discount_money")) == (
        6176,
        510,
        433,
    )


@pytest.mark.parametrize(
    ("price", "rate", "tax"),
    [
        (600, "9.75", 58),  # 58.5 -> 58 (Square forum: $6.00 at 9.75 % is $0.58)
        (35570, "5", 1778),  # 1778.5 -> 1778 (Square forum: 355.70 at 5 % is 17.78)
        (1050, "5", 52),  # 52.5 -> 52
        (1150, "5", 58),  # 57.5 -> 58
        (2575, "8.875", 229),  # 228.53 -> 229
    ],
)
def test_tax_uses_bankers_rounding(price: int, rate: str, tax: int) -> None:
    order = priced(
        {
            "line_items": [line("x", "1", price)],
            "taxes": [{"uid": "t", "name": "t", "percentage": rate, "scope": "ORDER"}],
        }
    )
    assert amt(order, "total_tax_money") == tax
    assert amt(order, "total_money") == price + tax


def test_order_tax_is_rounded_once_not_per_line() -> None:
    """Square forum: 1500 + 800 + 695 + 695 at 8.875 % -> 327 (per-line rounding would give 328)."""
    order = priced(
        {
            "line_items": [
                line("a", "1", 1500),
                line("b", "1", 800),
                line("c", "1", 695),
                line("d", "1", 695),
            ],
            "taxes": [{"uid": "t", "name": "t", "percentage": "8.875", "scope": "ORDER"}],
        }
    )
    assert amt(order, "total_tax_money") == 327
    assert sum(amt(li, "total_tax_money") for li in order["line_items"]) == 327


def test_percentage_discount_rounds_the_remaining_amount() -> None:
    """Square forum (JPY 915, 10 % order discount): Square applied 91, the amount left 823.5 -> 824."""
    order = priced(
        {
            "line_items": [line("Fanta", "1", 915)],
            "discounts": [{"uid": "d", "name": "d", "percentage": "10", "scope": "ORDER"}],
        }
    )
    assert amt(order, "total_discount_money") == 91
    assert amt(order, "total_money") == 824


def test_inclusive_tax_is_carved_out_of_the_price() -> None:
    """1000 including 10 % VAT: tax 1000 * 10/110 = 90.909 -> 91, total unchanged at 1000."""
    order = priced(
        {
            "line_items": [line("x", "1", 1000)],
            "taxes": [
                {"uid": "vat", "name": "VAT", "percentage": "10", "type": "INCLUSIVE", "scope": "ORDER"}
            ],
        }
    )
    assert amt(order, "total_tax_money") == 91
    assert amt(order, "total_money") == 1000
    assert amt(order["line_items"][0], "total_money") == 1000


def test_inclusive_and_additive_taxes_together() -> None:
    """2000 with 10 % inclusive (181.82 -> 182) and 5 % additive on the net 1818 (90.9 -> 91)."""
    order = priced(
        {
            "line_items": [line("x", "1", 2000)],
            "taxes": [
                {"uid": "inc", "name": "inc", "percentage": "10", "type": "INCLUSIVE"},
                {"uid": "add", "name": "add", "percentage": "5", "type": "ADDITIVE"},
            ],
        }
    )
    assert [amt(t, "applied_money") for t in order["taxes"]] == [182, 91]
    assert amt(order, "total_money") == 2091


def test_discount_phases_and_line_scoped_tax() -> None:
    """Lines 999 x 3 = 2997 and 1 x 1001.

    Phase 1 line 10 % on line A: 2997 -> 2697.3 -> 2697 left, discount 300.
    Phase 2 order 3 %: base 2697 + 1001 = 3698 -> 3587.06 -> 3587 left, 111 split 2697:1001
            -> exact 80.95 / 30.05 -> 81 / 30.
    Phase 3 line 250 on B: 971 -> 721.
    Phase 4 order 50 fixed: base 2616 + 721 = 3337, split -> 39.20 / 10.80 -> 39 / 11.
    Nets A 2577, B 710; 7.25 % tax on B only: 51.475 -> 51.
    """
    order = priced(
        {
            "line_items": [
                line("A", "3", 999, applied_discounts=[{"discount_uid": "pct-a"}]),
                line(
                    "B",
                    "1",
                    1001,
                    applied_discounts=[{"discount_uid": "amt-b"}],
                    applied_taxes=[{"tax_uid": "tax-b"}],
                ),
            ],
            "discounts": [
                {"uid": "order-amt", "name": "o50", "amount_money": usd(50), "scope": "ORDER"},
                {"uid": "amt-b", "name": "b250", "amount_money": usd(250), "scope": "LINE_ITEM"},
                {"uid": "order-pct", "name": "o3", "percentage": "3", "scope": "ORDER"},
                {"uid": "pct-a", "name": "a10", "percentage": "10", "scope": "LINE_ITEM"},
            ],
            "taxes": [{"uid": "tax-b", "name": "b", "percentage": "7.25", "scope": "LINE_ITEM"}],
        }
    )
    a, b = order["line_items"]
    applied_a = {x["discount_uid"]: amt(x, "applied_money") for x in a["applied_discounts"]}
    applied_b = {x["discount_uid"]: amt(x, "applied_money") for x in b["applied_discounts"]}
    assert applied_a == {"pct-a": 300, "order-pct": 81, "order-amt": 39}
    assert applied_b == {"order-pct": 30, "amt-b": 250, "order-amt": 11}
    assert amt(a, "total_money") == 2577 and amt(a, "total_tax_money") == 0
    assert amt(b, "total_tax_money") == 51 and amt(b, "total_money") == 761
    assert amt(order, "total_money") == 2577 + 761


def test_service_charges_taxable_and_total_phase() -> None:
    """Subtotal 1000 - 10 % = 900; shipping 500 taxable; 8 % tax on 900 + 500 = 112;
    TOTAL_PHASE 3 % of (900 + 500 + 112) = 45.36 -> 45. Total 900 + 72 + 540 + 45 = 1557."""
    order = priced(
        {
            "line_items": [line("x", "1", 1000)],
            "discounts": [{"uid": "d", "name": "d", "percentage": "10"}],
            "taxes": [{"uid": "t", "name": "t", "percentage": "8"}],
            "service_charges": [
                {
                    "uid": "ship",
                    "name": "Shipping",
                    "amount_money": usd(500),
                    "taxable": True,
                    "calculation_phase": "SUBTOTAL_PHASE",
                },
                {"uid": "fee", "name": "Fee", "percentage": "3", "calculation_phase": "TOTAL_PHASE"},
            ],
        }
    )
    ship, fee = order["service_charges"]
    assert (amt(ship, "applied_money"), amt(ship, "total_tax_money"), amt(ship, "total_money")) == (
        500,
        40,
        540,
    )
    assert (amt(fee, "applied_money"), amt(fee, "total_money")) == (45, 45)
    assert amt(order, "total_tax_money") == 112
    assert amt(order, "total_service_charge_money") == 545
    assert amt(order, "total_money") == 1557


def test_fractional_quantity_and_fixed_discount_cap() -> None:
    """1.5 x 333 = 499.5 -> 500 (half-even); a 900 line discount is capped at the line."""
    order = priced(
        {
            "line_items": [line("x", "1.5", 333, applied_discounts=[{"discount_uid": "big"}])],
            "discounts": [{"uid": "big", "name": "big", "amount_money": usd(900), "scope": "LINE_ITEM"}],
        }
    )
    li = order["line_items"][0]
    assert amt(li, "variation_total_price_money") == 500
    assert amt(li, "total_discount_money") == 500
    assert amt(order, "total_money") == 0


@pytest.mark.parametrize(
    ("order", "code"),
    [
        ({"line_items": [line("x", "-1", 100)]}, "INVALID_VALUE"),
        ({"line_items": [line("x", "abc", 100)]}, "INVALID_VALUE"),
        (
            {"line_items": [{"name": "x", "quantity": "1", "base_price_money": {"amount": 1.5}}]},
            "INVALID_VALUE",
        ),
        ({"line_items": [{"name": "x", "quantity": "1"}]}, "MISSING_REQUIRED_PARAMETER"),
        (
            {
                "line_items": [
                    {"name": "x", "quantity": "1", "base_price_money": {"amount": 1, "currency": "EUR"}}
                ]
            },
            "CURRENCY_MISMATCH",
        ),
        ({"line_items": [line("x", "1", 1, applied_discounts=[{"discount_uid": "nope"}])]}, "INVALID_VALUE"),
        (
            {
                "line_items": [line("x", "1", 1)],
                "discounts": [{"name": "d", "percentage": "5", "amount_money": usd(1)}],
            },
            "INVALID_VALUE",
        ),
        (
            {
                "line_items": [line("x", "1", 1)],
                "service_charges": [
                    {"name": "s", "percentage": "1", "taxable": True, "calculation_phase": "TOTAL_PHASE"}
                ],
            },
            "INVALID_VALUE",
        ),
    ],
)
def test_invalid_input_is_rejected(order: dict[str, Any], code: str) -> None:
    with pytest.raises(MoneyError) as info:
        priced(order)
    assert info.value.code == code
