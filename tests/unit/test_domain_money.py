from decimal import Decimal

import pytest

from sync.domain.money import MoneyError, exponent, minor_to_price, price_to_minor, to_major, to_minor


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("USD", 2),
        ("eur", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("BHD", 3),
        ("KWD", 3),
        ("JOD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("XYZ", 2),
    ],
)
def test_exponent(currency, expected):
    assert exponent(currency) == expected


@pytest.mark.parametrize("currency", ["", "US", "USDX", "12$", None])
def test_exponent_rejects_bad_codes(currency):
    with pytest.raises(MoneyError, match="currency"):
        exponent(currency)


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("19.99", "USD", 1999),
        ("19.9", "USD", 1990),
        ("19", "USD", 1900),
        ("19.990", "USD", 1999),  # trailing zeros are exact
        ("-0.05", "USD", -5),
        ("+1.50", "EUR", 150),
        (".5", "USD", 50),
        ("  7.25 ", "USD", 725),
        ("500", "JPY", 500),
        ("500.0", "JPY", 500),
        ("1.234", "KWD", 1234),
        ("0.001", "BHD", 1),
        ("0", "USD", 0),
        (Decimal("12.34"), "USD", 1234),
        (Decimal("1E+2"), "USD", 10000),
        (3, "USD", 300),
        (3, "JPY", 3),
        ("123456789012345678901234567890.12", "USD", 12345678901234567890123456789012),
    ],
)
def test_to_minor(value, currency, minor):
    assert to_minor(value, currency) == minor


@pytest.mark.parametrize(
    ("value", "currency"),
    [("19.999", "USD"), ("500.5", "JPY"), ("1.2345", "KWD"), (Decimal("0.001"), "EUR")],
)
def test_to_minor_refuses_more_precision_than_the_currency(value, currency):
    with pytest.raises(MoneyError, match="more decimals"):
        to_minor(value, currency)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "1,000.00",
        "1_000",
        "1e3",
        "NaN",
        "Infinity",
        "--1",
        "1.2.3",
        Decimal("NaN"),
        1.5,
        True,
        None,
    ],
)
def test_to_minor_refuses_non_numbers(value):
    with pytest.raises(MoneyError):
        to_minor(value, "USD")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1999, "USD", "19.99"),
        (-5, "USD", "-0.05"),
        (0, "USD", "0.00"),
        (-100, "EUR", "-1.00"),
        (500, "JPY", "500"),
        (-500, "JPY", "-500"),
        (1234, "KWD", "1.234"),
        (1, "BHD", "0.001"),
        (7, "CLF", "0.0007"),
    ],
)
def test_to_major(minor, currency, text):
    assert to_major(minor, currency) == text
    assert to_minor(text, currency) == minor  # round trip


def test_to_major_refuses_non_integers():
    with pytest.raises(MoneyError):
        to_major(19.99, "USD")
    with pytest.raises(MoneyError):
        to_major(True, "USD")


def test_price_round_trip():
    assert price_to_minor({"value": "19.99", "currency": "usd"}) == (1999, "USD")
    assert price_to_minor({"value": "-3", "currency": "JPY"}) == (-3, "JPY")
    assert minor_to_price(1999, "usd") == {"value": "19.99", "currency": "USD"}
    assert price_to_minor(minor_to_price(-1234, "KWD")) == (-1234, "KWD")


@pytest.mark.parametrize(
    "price",
    [
        None,
        {},
        {"value": "1.00"},
        {"currency": "USD"},
        {"value": "1.001", "currency": "USD"},
        {"value": "x", "currency": "USD"},
        "1.00 USD",
    ],
)
def test_price_to_minor_rejects(price):
    with pytest.raises(MoneyError):
        price_to_minor(price)


def test_to_minor_rounds_only_when_asked_and_then_half_even():
    from decimal import ROUND_HALF_EVEN

    assert to_minor("0.125", "USD", rounding=ROUND_HALF_EVEN) == 12
    assert to_minor("0.135", "USD", rounding=ROUND_HALF_EVEN) == 14
    assert to_minor("-0.125", "USD", rounding=ROUND_HALF_EVEN) == -12
    assert to_minor(Decimal("2.5"), "JPY", rounding=ROUND_HALF_EVEN) == 2
    assert to_minor("19.99", "USD", rounding=ROUND_HALF_EVEN) == 1999  # exact stays exact
    with pytest.raises(MoneyError, match="more decimals"):
        to_minor("0.125", "USD")


def test_to_minor_lenient_currency_uses_the_default_exponent():
    assert to_minor("1.50", "", lenient=True) == 150
    assert to_minor("1.50", "MIXED", lenient=True) == 150
    assert to_minor("1500", "jpy", lenient=True) == 1500
    with pytest.raises(MoneyError, match="currency"):
        to_minor("1.50", "")


def test_float_amounts_are_a_type_error_too():
    with pytest.raises(TypeError):
        to_minor(19.99, "USD")  # type: ignore[arg-type]
