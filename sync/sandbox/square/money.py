"""Money primitives of the Square emulator, in integer minor units (pure: no I/O, no clock).

* **Rounding: Bankers' rounding (half to even)** on exact values. Square's "Order Price
  Adjustments" page: "The Orders API performs its adjustment calculations using Bankers'
  Rounding, also known as Rounding Half to Even" (developer.squareup.com/docs/orders-api/
  price-adjustments). Intermediate values are exact ``Fraction``s; rounding happens once per
  adjustment, never digit by digit.
* **Apportioning**: an amount computed once (an order-level discount, a tax) is split across the
  items it applies to in proportion to their amounts, by largest remainder, so the parts always
  sum to the whole.

The order price calculation built on these is in ``pricing.py``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

HUNDRED = Fraction(100)


class MoneyError(ValueError):
    """A request value that cannot be priced; ``field`` is the Square-style path."""

    def __init__(self, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field


def round_half_even(value: Fraction) -> int:
    """Nearest integer, ties to even (Python's ``round`` on a Fraction is exact half-even)."""
    return round(value)


def apportion(total: int, shares: list[Fraction]) -> list[int]:
    """Split the integer ``total`` into integers close to the exact ``shares`` (largest remainder).

    ``shares`` sum to about ``total``; floors are taken and the leftover units go to the largest
    fractional parts (ties: larger share, then earlier index) so the parts always sum to ``total``.
    """
    if not shares:
        return []
    floors = [int(s // 1) for s in shares]
    left = total - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), -shares[i], i))
    step = 1 if left >= 0 else -1
    for n in range(abs(left)):
        floors[order[n % len(order)]] += step
    return floors


def proportional(total: int, weights: list[int]) -> list[int]:
    """``total`` spread over ``weights`` in proportion (weights of 0 get 0)."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        return [0] * len(weights)
    return apportion(total, [Fraction(total * w, weight_sum) for w in weights])


def parse_decimal(value: Any, field: str, *, positive: bool = False, max_places: int = 5) -> Fraction:
    if not isinstance(value, str) or not value.strip():
        raise MoneyError("INVALID_VALUE", f"Expected a decimal string for {field}.", field)
    try:
        dec = Decimal(value.strip())
    except InvalidOperation:
        raise MoneyError("INVALID_VALUE", f"Invalid decimal value {value!r}.", field) from None
    if not dec.is_finite() or dec < 0 or (positive and dec == 0):
        raise MoneyError("INVALID_VALUE", f"Value {value!r} is out of range.", field)
    exponent = dec.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > max_places:
        raise MoneyError(
            "INVALID_VALUE", f"Value {value!r} has more than {max_places} decimal places.", field
        )
    return Fraction(dec)


def parse_money(value: Any, field: str, currency: str) -> int:
    if not isinstance(value, dict):
        raise MoneyError("INVALID_VALUE", f"Expected a Money object for {field}.", field)
    amount = value.get("amount")
    # bool is an int subclass; Square's amount is a JSON integer, never a float or string.
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise MoneyError(
            "INVALID_VALUE", f"{field}.amount must be a non-negative integer.", f"{field}.amount"
        )
    cur = value.get("currency") or currency
    if cur != currency:
        raise MoneyError(
            "CURRENCY_MISMATCH",
            f"Currency {cur} does not match the order currency {currency}.",
            f"{field}.currency",
        )
    return amount


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}
