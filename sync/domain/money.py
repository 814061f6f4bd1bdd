"""Exact money in integer minor units (cents, yen, fils).

Amounts travel as decimal strings on both APIs (Google ``Price.value``, reports) and as integers in
minor units everywhere else (Square ``amount``, the ledger, sums). Converting is exact: a value that
does not fit the currency's minor unit is an error, never rounded, because a rounded amount would
show up later as a reconciliation break nobody can explain. The one exception is explicit: the
reconciliation reads what others wrote (snapshots, an emulator) and asks ``to_minor`` to round
extra digits half-even, by name (``rounding=ROUND_HALF_EVEN``), still in exact integer arithmetic.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

__all__ = [
    "DEFAULT_EXPONENT",
    "ROUND_HALF_EVEN",
    "MoneyError",
    "MoneyTypeError",
    "exponent",
    "exponent_or_default",
    "minor_to_price",
    "price_to_minor",
    "to_major",
    "to_minor",
]


class MoneyError(ValueError):
    """A value that is not an exact amount in its currency (or not a number at all)."""


class MoneyTypeError(MoneyError, TypeError):
    """An amount of a type money never travels as (a float, a bool, None)."""


# ISO 4217 minor-unit exponents that differ from the default of 2.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
         "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
DEFAULT_EXPONENT = 2

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Plain decimal notation only: no exponents, thousands separators or underscores (Decimal accepts
# "1_000" and "1e3", which a CSV or an API should never send us as an amount).
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def _currency(currency: str) -> str:
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not _CURRENCY.match(code):
        raise MoneyError(f"invalid currency code {currency!r}: expected 3 letters (ISO 4217), e.g. 'USD'")
    return code


def exponent(currency: str) -> int:
    """Digits after the decimal point in ``currency`` (ISO 4217): JPY 0, USD 2, KWD 3."""
    return _EXPONENTS.get(_currency(currency), DEFAULT_EXPONENT)


def exponent_or_default(currency: str) -> int:
    """``exponent``, or DEFAULT_EXPONENT for anything that is not a currency code ("", "MIXED"):
    for reports, which format whatever they are given rather than fail on one odd order."""
    try:
        return exponent(currency or "")
    except MoneyError:
        return DEFAULT_EXPONENT


def _pow10(exponent: int) -> int:
    return int(10**exponent)  # int ** int is typed Any (a negative exponent gives a float)


def to_minor(
    value: str | Decimal | int, currency: str, *, rounding: str | None = None, lenient: bool = False
) -> int:
    """``"19.99", "USD"`` -> 1999, in integer arithmetic (never through a float).

    ``rounding``: None (the default) raises MoneyError for more decimals than the currency has; a
    ``decimal`` rounding mode (``ROUND_HALF_EVEN``) rounds them instead, for callers that read data
    others wrote and say so. ``lenient``: a ``currency`` that is no ISO code ("", "MIXED") uses
    DEFAULT_EXPONENT instead of raising (reports of odd orders). Floats, bools and None raise
    MoneyTypeError (a MoneyError and a TypeError).
    """
    if lenient:
        code = currency.strip().upper() if isinstance(currency, str) else ""
        exp = exponent_or_default(code)
        return _to_minor(value, code or "?", rounding, exp)
    return _to_minor(value, _currency(currency), rounding)


def _to_minor(
    value: str | Decimal | int, code: str, rounding: str | None = None, exp: int | None = None
) -> int:
    """``to_minor`` for a currency code already validated by ``_currency`` (or an ``exp`` given)."""
    if exp is None:
        exp = _EXPONENTS.get(code, DEFAULT_EXPONENT)
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        # floats are refused: 0.1 + 0.2 is not 0.3, and the caller should not have a float amount.
        kind = type(value).__name__
        raise MoneyTypeError(f"amount {value!r} must be a decimal string, Decimal or int, not {kind}")
    if isinstance(value, int):
        return value * _pow10(exp)
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.match(text):
            raise MoneyError(f"amount {value!r} is not a decimal number")
        # Plain digits (checked above): integer arithmetic straight from the text, no Decimal.
        # Every Google Price goes through here, so this is on the hot path of a sync cycle.
        whole, _, frac = text.lstrip("+-").partition(".")
        frac = frac.rstrip("0")
        if len(frac) > exp:
            if rounding is None:
                raise MoneyError(f"amount {value!r} has more decimals than {code} allows ({exp})")
            number = Decimal(text)  # the rare rounded case: exact digits through Decimal below
        else:
            minor = int(whole or "0") * _pow10(exp) + (int(frac.ljust(exp, "0")) if frac else 0)
            return -minor if text.startswith("-") else minor
    else:
        if not value.is_finite():
            raise MoneyError(f"amount {value!r} is not a finite number")
        number = value
    # Integer arithmetic on the digits: exact for any size, independent of the Decimal context.
    sign, digits, dexp = number.as_tuple()
    assert isinstance(dexp, int)  # finite, checked above
    coefficient = int("".join(map(str, digits)) or "0")
    shift = dexp + exp
    if shift >= 0:
        minor = coefficient * _pow10(shift)
    else:
        minor, rest = divmod(coefficient, _pow10(-shift))
        if rest:
            if rounding is None:
                raise MoneyError(f"amount {value!r} has more decimals than {code} allows ({exp})")
            # quantize the exact scaled value (no context precision involved: to_integral_value)
            scaled = Decimal((0, tuple(int(d) for d in str(coefficient)), dexp + exp))
            minor = int(scaled.to_integral_value(rounding=rounding))
    return -minor if sign else minor


def to_major(minor: int, currency: str) -> str:
    """1999 USD -> "19.99"; -5 USD -> "-0.05"; 500 JPY -> "500"."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor amount {minor!r} must be an int")
    exp = exponent(currency)
    if exp == 0:
        return str(minor)
    whole, frac = divmod(abs(minor), _pow10(exp))
    return f"{'-' if minor < 0 else ''}{whole}.{frac:0{exp}d}"


def price_to_minor(price: dict[str, Any] | None) -> tuple[int, str]:
    """A Google ``Price`` ``{"value": "19.99", "currency": "USD"}`` -> ``(1999, "USD")``.

    ``None`` (an absent optional Price) is refused: the caller decides what absence means.
    """
    if not isinstance(price, dict):
        raise MoneyError(f"price {price!r} is not a Price object with value and currency")
    if "value" not in price or "currency" not in price:
        raise MoneyError(f"price {price!r} needs both 'value' and 'currency'")
    currency = _currency(price["currency"])
    value = price["value"]
    if isinstance(value, float):
        # A JSON number instead of Google's string: accept only when its repr is exact-looking.
        value = repr(value)
    return _to_minor(value, currency), currency  # currency validated above: checked once per price


def minor_to_price(minor: int, currency: str) -> dict[str, str]:
    """1999, "USD" -> ``{"value": "19.99", "currency": "USD"}`` (Google's Price shape)."""
    code = _currency(currency)
    return {"value": to_major(minor, code), "currency": code}
