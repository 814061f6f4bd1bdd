"""Square's order price calculation, in integer minor units (pure: no I/O, no clock).

Rules implemented (and why):

* **Rounding: Bankers' rounding (half to even)** on exact values. Square's "Order Price
  Adjustments" page: "The Orders API performs its adjustment calculations using Bankers'
  Rounding, also known as Rounding Half to Even" (developer.squareup.com/docs/orders-api/
  price-adjustments). Intermediate values are exact ``Fraction``s; rounding happens once per
  adjustment, never digit by digit.
* **Percentage discounts round the discounted amount, not the discount**: the amount left after
  a percentage discount is rounded half-even and the discount is the difference. For even bases
  this equals rounding the discount; for odd bases it matches what Square returned in a public
  forum report (915 JPY, 10 % order discount -> applied 91, where rounding 91.5 would give 92).
* **Order of adjustments** (Square's "Order Discounts" page, as summarised in
  ``square-orders.md``): LINE_ITEM percentage discounts, then ORDER percentage discounts, then
  LINE_ITEM fixed amounts, then ORDER fixed amounts; discounts of one phase apply in list order,
  each to the amount left by the previous one.
* **Order-level adjustments are computed once on the total and apportioned** across the
  non-zero line amounts in proportion to them, by largest remainder. This reproduces Square's own
  CreateOrder/CloneOrder reference example exactly (membership 0.5 % -> 30 = 8 + 22, labor day
  5 % -> 303 = 79 + 224, state tax 9 % -> 510 = 136 + 374, total 6176).
* **Taxes**: each tax is computed once over all the amounts it applies to (discounted line
  amounts and taxable service charges), rounded half-even, then apportioned (Square forum: tax
  of 5 % on a 355.70 subtotal is 17.78, not the sum of per-line roundings). ADDITIVE taxes are
  added on top; INCLUSIVE taxes are carved out of the amount (``amount * r / (100 + R)`` with
  ``R`` the sum of inclusive rates on that item) and do not change totals. An ADDITIVE tax on an
  item that also carries inclusive tax applies to the amount net of the inclusive tax.
* **Service charges**: SUBTOTAL_PHASE (default) is applied to the discounted subtotal and may be
  taxable (ORDER-scoped taxes then apply to it, LINE_ITEM taxes only when listed in its
  ``applied_taxes``); TOTAL_PHASE is applied after taxes and cannot be taxable. Apportioned
  phases are not emulated (rejected).
* A LINE_ITEM fixed-amount discount applies once to the line (not per unit) and never takes a
  line below zero; an ORDER fixed-amount discount is capped at the order subtotal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

HUNDRED = Fraction(100)
_APPLIES_TO_ALL = "ORDER"


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


@dataclass
class _Item:
    """Something adjustments apply to: a line item or a service charge."""

    obj: dict[str, Any]
    amount: int  # current amount (after the discounts applied so far)
    discount_uids: set[str]
    tax_uids: set[str]
    taxable: bool = True
    inclusive_tax: int = 0


def _scope(adj: dict[str, Any], referenced: set[str]) -> str:
    scope = adj.get("scope")
    if scope in ("ORDER", "LINE_ITEM"):
        return scope
    # Square sets the scope when it is missing: LINE_ITEM when some line applies it explicitly.
    return "LINE_ITEM" if adj.get("uid") in referenced else "ORDER"


def _applied(obj: dict[str, Any], key: str, uid_key: str) -> list[dict[str, Any]]:
    return [a for a in (obj.get(key) or []) if isinstance(a, dict) and a.get(uid_key)]


def _set_applied(
    obj: dict[str, Any], key: str, uid_key: str, amounts: dict[str, int], currency: str, new_uid: Any
) -> None:
    """Write applied_money into obj[key] (creating entries for ORDER-scoped adjustments)."""
    existing = {a[uid_key]: a for a in _applied(obj, key, uid_key)}
    out = []
    for uid, amount in amounts.items():
        entry = existing.get(uid) or {"uid": new_uid(), uid_key: uid}
        entry.setdefault("uid", new_uid())
        entry["applied_money"] = money(amount, currency)
        out.append(entry)
    if out:
        obj[key] = out
    else:
        obj.pop(key, None)


def price_order(order: dict[str, Any], currency: str, new_uid: Any, catalog_price: Any = None) -> None:
    """Fill in every computed money field of ``order`` in place.

    ``new_uid()`` makes uids for created applied_* entries; ``catalog_price(line, field)`` returns
    (name, variation_name, base_price) for catalog line items (or raises MoneyError).
    """
    lines: list[dict[str, Any]] = order.get("line_items") or []
    discounts: list[dict[str, Any]] = order.get("discounts") or []
    taxes: list[dict[str, Any]] = order.get("taxes") or []
    charges: list[dict[str, Any]] = order.get("service_charges") or []

    disc_by_uid: dict[str, dict[str, Any]] = {}
    for i, d in enumerate(discounts):
        field = f"order.discounts[{i}]"
        if not d.get("uid"):
            d["uid"] = new_uid()
        if d["uid"] in disc_by_uid:
            raise MoneyError("INVALID_VALUE", f"Duplicate discount uid {d['uid']}.", f"{field}.uid")
        has_pct, has_amt = d.get("percentage") is not None, d.get("amount_money") is not None
        if has_pct == has_amt and not d.get("catalog_object_id"):
            raise MoneyError(
                "INVALID_VALUE", "A discount needs exactly one of percentage or amount_money.", field
            )
        if not has_pct and not has_amt:
            raise MoneyError(
                "NOT_FOUND",
                "Catalog discounts are not emulated; give percentage or amount_money.",
                f"{field}.catalog_object_id",
            )
        d["type"] = "FIXED_PERCENTAGE" if has_pct else "FIXED_AMOUNT"
        if has_pct:
            pct = parse_decimal(d["percentage"], f"{field}.percentage")
            if pct > HUNDRED:
                raise MoneyError(
                    "INVALID_VALUE", "A percentage discount cannot exceed 100.", f"{field}.percentage"
                )
        else:
            parse_money(d["amount_money"], f"{field}.amount_money", currency)
        disc_by_uid[d["uid"]] = d

    tax_by_uid: dict[str, dict[str, Any]] = {}
    for i, t in enumerate(taxes):
        field = f"order.taxes[{i}]"
        if not t.get("uid"):
            t["uid"] = new_uid()
        if t["uid"] in tax_by_uid:
            raise MoneyError("INVALID_VALUE", f"Duplicate tax uid {t['uid']}.", f"{field}.uid")
        if t.get("percentage") is None:
            raise MoneyError("MISSING_REQUIRED_PARAMETER", "A tax needs a percentage.", f"{field}.percentage")
        parse_decimal(t["percentage"], f"{field}.percentage")
        t["type"] = t.get("type") or "ADDITIVE"
        if t["type"] not in ("ADDITIVE", "INCLUSIVE"):
            raise MoneyError("INVALID_VALUE", f"Unsupported tax type {t['type']}.", f"{field}.type")
        tax_by_uid[t["uid"]] = t

    referenced_disc: set[str] = set()
    referenced_tax: set[str] = set()
    for i, obj in enumerate([*lines, *charges]):
        for a in _applied(obj, "applied_discounts", "discount_uid"):
            if a["discount_uid"] not in disc_by_uid:
                raise MoneyError(
                    "INVALID_VALUE",
                    f"Unknown discount_uid {a['discount_uid']}.",
                    f"order.line_items[{i}].applied_discounts",
                )
            referenced_disc.add(a["discount_uid"])
        for a in _applied(obj, "applied_taxes", "tax_uid"):
            if a["tax_uid"] not in tax_by_uid:
                raise MoneyError(
                    "INVALID_VALUE", f"Unknown tax_uid {a['tax_uid']}.", "order.line_items.applied_taxes"
                )
            referenced_tax.add(a["tax_uid"])
    for d in discounts:
        d["scope"] = _scope(d, referenced_disc)
    for t in taxes:
        t["scope"] = _scope(t, referenced_tax)
    order_discounts = {d["uid"] for d in discounts if d["scope"] == _APPLIES_TO_ALL}
    order_taxes = {t["uid"] for t in taxes if t["scope"] == _APPLIES_TO_ALL}

    # 1. Gross sales per line.
    items: list[_Item] = []
    for i, line in enumerate(lines):
        field = f"order.line_items[{i}]"
        if not line.get("uid"):
            line["uid"] = new_uid()
        qty = parse_decimal(line.get("quantity"), f"{field}.quantity", positive=True)
        if line.get("catalog_object_id") and catalog_price is not None:
            name, variation_name, base = catalog_price(line, field)
            line.setdefault("name", name)
            if variation_name:
                line.setdefault("variation_name", variation_name)
            line["base_price_money"] = money(base, currency)
        elif line.get("base_price_money") is None:
            raise MoneyError(
                "MISSING_REQUIRED_PARAMETER",
                "An ad hoc line item needs base_price_money.",
                f"{field}.base_price_money",
            )
        else:
            base = parse_money(line["base_price_money"], f"{field}.base_price_money", currency)
            if not line.get("name"):
                raise MoneyError(
                    "MISSING_REQUIRED_PARAMETER", "An ad hoc line item needs a name.", f"{field}.name"
                )
        line.setdefault("item_type", "ITEM")
        variation_total = round_half_even(base * qty)
        gross = variation_total
        for j, mod in enumerate(line.get("modifiers") or []):
            mfield = f"{field}.modifiers[{j}]"
            mod.setdefault("uid", new_uid())
            mbase = parse_money(
                mod.get("base_price_money") or {"amount": 0}, f"{mfield}.base_price_money", currency
            )
            mqty = parse_decimal(mod.get("quantity") or "1", f"{mfield}.quantity", positive=True)
            mtotal = round_half_even(mbase * mqty * qty)
            mod["total_price_money"] = money(mtotal, currency)
            gross += mtotal
        line["variation_total_price_money"] = money(variation_total, currency)
        line["gross_sales_money"] = money(gross, currency)
        disc = {
            a["discount_uid"] for a in _applied(line, "applied_discounts", "discount_uid")
        } | order_discounts
        tax = {a["tax_uid"] for a in _applied(line, "applied_taxes", "tax_uid")} | order_taxes
        items.append(_Item(line, gross, disc, tax))

    applied_disc: list[dict[str, int]] = [{} for _ in items]

    def add_disc(idx: int, uid: str, amount: int) -> None:
        applied_disc[idx][uid] = applied_disc[idx].get(uid, 0) + amount
        items[idx].amount -= amount

    def pct_of(d: dict[str, Any]) -> Fraction:
        return parse_decimal(d["percentage"], "percentage") / HUNDRED

    # 2. Discounts, in Square's four phases.
    for d in discounts:  # LINE_ITEM percentages
        if d["scope"] == "LINE_ITEM" and d["type"] == "FIXED_PERCENTAGE":
            for idx, it in enumerate(items):
                if d["uid"] in it.discount_uids:
                    add_disc(idx, d["uid"], it.amount - round_half_even(it.amount * (1 - pct_of(d))))
    for d in discounts:  # ORDER percentages: once on the total, then apportioned
        if d["scope"] == "ORDER" and d["type"] == "FIXED_PERCENTAGE":
            base_total = sum(it.amount for it in items)
            total = base_total - round_half_even(base_total * (1 - pct_of(d)))
            for idx, part in enumerate(proportional(total, [it.amount for it in items])):
                add_disc(idx, d["uid"], part)
    for d in discounts:  # LINE_ITEM fixed amounts: once per line, never below zero
        if d["scope"] == "LINE_ITEM" and d["type"] == "FIXED_AMOUNT":
            amount = d["amount_money"]["amount"]
            for idx, it in enumerate(items):
                if d["uid"] in it.discount_uids:
                    add_disc(idx, d["uid"], min(amount, it.amount))
    for d in discounts:  # ORDER fixed amounts: capped at the subtotal, apportioned
        if d["scope"] == "ORDER" and d["type"] == "FIXED_AMOUNT":
            total = min(d["amount_money"]["amount"], sum(it.amount for it in items))
            for idx, part in enumerate(proportional(total, [it.amount for it in items])):
                add_disc(idx, d["uid"], part)

    # 3. Service charges of the subtotal phase.
    subtotal = sum(it.amount for it in items)
    sc_items: list[_Item] = []
    total_phase: list[tuple[int, dict[str, Any]]] = []
    for i, sc in enumerate(charges):
        field = f"order.service_charges[{i}]"
        if not sc.get("uid"):
            sc["uid"] = new_uid()
        phase = sc.get("calculation_phase") or "SUBTOTAL_PHASE"
        sc["calculation_phase"] = phase
        if phase not in ("SUBTOTAL_PHASE", "TOTAL_PHASE"):
            raise MoneyError(
                "INVALID_VALUE",
                f"calculation_phase {phase} is not supported by the sandbox.",
                f"{field}.calculation_phase",
            )
        has_pct, has_amt = sc.get("percentage") is not None, sc.get("amount_money") is not None
        if has_pct == has_amt:
            raise MoneyError(
                "INVALID_VALUE", "A service charge needs exactly one of percentage or amount_money.", field
            )
        if phase == "TOTAL_PHASE" and sc.get("taxable"):
            raise MoneyError(
                "INVALID_VALUE", "Service charges in the TOTAL_PHASE cannot be taxable.", f"{field}.taxable"
            )
        sc["taxable"] = bool(sc.get("taxable"))
        if not sc.get("name"):
            raise MoneyError("MISSING_REQUIRED_PARAMETER", "A service charge needs a name.", f"{field}.name")
        if has_amt:
            amount = parse_money(sc["amount_money"], f"{field}.amount_money", currency)
        else:
            parse_decimal(sc["percentage"], f"{field}.percentage")
            amount = None
        if phase == "TOTAL_PHASE":
            total_phase.append((i, sc))
            continue
        if amount is None:
            amount = round_half_even(subtotal * pct_of(sc))
        tax_uids = {a["tax_uid"] for a in _applied(sc, "applied_taxes", "tax_uid")}
        tax_uids = (tax_uids | order_taxes) if sc["taxable"] else set()
        sc_items.append(_Item(sc, amount, set(), tax_uids))

    # 4. Taxes: inclusive ones first (they define the net base the additive ones apply to).
    taxed = [*items, *sc_items]
    applied_tax: list[dict[str, int]] = [{} for _ in taxed]
    inclusive_rate = [
        sum(
            (
                parse_decimal(tax_by_uid[u]["percentage"], "percentage")
                for u in it.tax_uids
                if tax_by_uid[u]["type"] == "INCLUSIVE"
            ),
            Fraction(0),
        )
        for it in taxed
    ]
    for kind in ("INCLUSIVE", "ADDITIVE"):
        for t in taxes:
            if t["type"] != kind:
                continue
            rate = parse_decimal(t["percentage"], "percentage")
            members = [k for k, it in enumerate(taxed) if t["uid"] in it.tax_uids]
            if kind == "INCLUSIVE":
                shares = [taxed[k].amount * rate / (HUNDRED + inclusive_rate[k]) for k in members]
            else:
                shares = [(taxed[k].amount - taxed[k].inclusive_tax) * rate / HUNDRED for k in members]
            parts = apportion(round_half_even(sum(shares, Fraction(0))), shares)
            for k, part in zip(members, parts, strict=True):
                applied_tax[k][t["uid"]] = part
            if kind == "INCLUSIVE":
                for k, part in zip(members, parts, strict=True):
                    taxed[k].inclusive_tax += part

    def additive(k: int) -> int:
        return sum(a for u, a in applied_tax[k].items() if tax_by_uid[u]["type"] == "ADDITIVE")

    # 5. Per-line and per-charge totals.
    for idx, it in enumerate(items):
        line = it.obj
        _set_applied(line, "applied_discounts", "discount_uid", applied_disc[idx], currency, new_uid)
        _set_applied(line, "applied_taxes", "tax_uid", applied_tax[idx], currency, new_uid)
        line_discount = sum(applied_disc[idx].values())
        line["total_discount_money"] = money(line_discount, currency)
        line["total_tax_money"] = money(sum(applied_tax[idx].values()), currency)
        line["total_service_charge_money"] = money(0, currency)
        line["total_money"] = money(it.amount + additive(idx), currency)
    for off, it in enumerate(sc_items):
        k = len(items) + off
        sc = it.obj
        _set_applied(sc, "applied_taxes", "tax_uid", applied_tax[k], currency, new_uid)
        sc["applied_money"] = money(it.amount, currency)
        sc["total_tax_money"] = money(sum(applied_tax[k].values()), currency)
        sc["total_money"] = money(it.amount + additive(k), currency)
    running = sum(additive(k) + it.amount for k, it in enumerate(taxed))
    for _i, sc in total_phase:
        amount = (
            sc["amount_money"]["amount"] if sc.get("amount_money") else round_half_even(running * pct_of(sc))
        )
        sc.pop("applied_taxes", None)
        sc["applied_money"] = money(amount, currency)
        sc["total_tax_money"] = money(0, currency)
        sc["total_money"] = money(amount, currency)
        running += amount

    # 6. Adjustment totals and order totals.
    for d in discounts:
        d["applied_money"] = money(sum(a.get(d["uid"], 0) for a in applied_disc), currency)
    for t in taxes:
        t["applied_money"] = money(sum(a.get(t["uid"], 0) for a in applied_tax), currency)
    discount_total = sum(sum(a.values()) for a in applied_disc)
    tax_total = sum(sum(a.values()) for a in applied_tax)
    sc_total = sum(sc["applied_money"]["amount"] for sc in charges)
    order_total = sum(line["total_money"]["amount"] for line in lines) + sum(
        sc["total_money"]["amount"] for sc in charges
    )
    order["total_money"] = money(order_total, currency)
    order["total_tax_money"] = money(tax_total, currency)
    order["total_discount_money"] = money(discount_total, currency)
    order["total_tip_money"] = money(0, currency)
    order["total_service_charge_money"] = money(sc_total, currency)
    order["net_amounts"] = {
        "total_money": money(order_total, currency),
        "tax_money": money(tax_total, currency),
        "discount_money": money(discount_total, currency),
        "tip_money": money(0, currency),
        "service_charge_money": money(sc_total, currency),
    }
