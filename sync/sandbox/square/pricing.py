"""Square's order price calculation, phase by phase, in integer minor units (pure: no I/O, no clock).

``price_order`` fills in every computed money field of an order in place. It runs Square's
documented phases in order, one function each:

1. ``resolve_adjustments`` — taxes and discounts: uids, catalog lookups, scopes.
2. ``gross_sales`` — per line: catalog or ad-hoc price, modifiers, quantity, what applies to it.
3. ``apply_discounts`` — the four discount phases.
4. ``subtotal_service_charges`` — service charges of the SUBTOTAL_PHASE.
5. ``apply_taxes`` — inclusive, then additive taxes.
6. ``write_totals`` — per-line, per-charge and order totals (TOTAL_PHASE charges last).

Rules implemented (and why):

* **Rounding** (``money.py``): Bankers' rounding, once per adjustment, on exact values.
* **Percentage discounts round the discounted amount, not the discount**: the amount left after
  a percentage discount is rounded half-even and the discount is the difference. For even bases
  this equals rounding the discount; for odd bases it matches what Square returned in a public
  forum report (915 JPY, 10 % order discount -> applied 91, where rounding 91.5 would give 92).
* **Order of adjustments** (Square's "Order Discounts" page): LINE_ITEM percentage discounts,
  then ORDER percentage, then LINE_ITEM fixed amounts, then ORDER fixed amounts; each applies to
  the amount left by the previous one (they compound, as Square's help article on multiple
  discounts says).
* **Within one phase**, discounts apply smallest first (by percentage, or by amount), ties in
  request order. Square documents no rule; its CreateOrder reference response is the evidence:
  the request lists "Labor Day" 5 % before the 0.5 % catalog "Membership" discount, and the
  response applies 0.5 % first (6099 -> 30, then 5 % of 6069 -> 303; request order would give
  305 + 29) and lists the order's ``discounts`` in that order. ``catalog_first`` (catalog
  discounts before ad-hoc ones) explains the example as well; the sandbox setting
  ``same_phase_discount_order`` selects either, or ``request``.
* **The response lists ``discounts`` in the order they were applied** (phase, then the rule
  above), as in that reference response.
* **Order-level adjustments are computed once on the total and apportioned** across the
  non-zero line amounts in proportion to them, by largest remainder. This reproduces Square's own
  reference example exactly (membership 0.5 % -> 30 = 8 + 22, labor day 5 % -> 303 = 79 + 224,
  state tax 9 % -> 510 = 136 + 374, total 6176).
* **Taxes**: each tax is computed once over all the amounts it applies to (discounted line
  amounts and taxable service charges), rounded half-even, then apportioned (Square forum: tax
  of 5 % on a 355.70 subtotal is 17.78, not the sum of per-line roundings). ADDITIVE taxes are
  added on top; INCLUSIVE taxes are carved out of the amount (``amount * r / (100 + R)`` with
  ``R`` the sum of inclusive rates on that item) and do not change totals. An ADDITIVE tax on an
  item that also carries inclusive tax applies to the amount net of the inclusive tax.
* **``pricing_blocklists``** on a line keep the listed taxes and discounts (by ``tax_uid`` /
  ``discount_uid``, or by catalog object id) off that line, ORDER-scoped ones included
  (OrderLineItemPricingBlocklists reference). A blocked adjustment the line also lists in
  ``applied_*`` stays blocked.
* **Catalog objects** (through ``CatalogPricing``): a line's ``catalog_object_id`` names an
  ITEM_VARIATION whose item name, variation name and price it takes; ``base_price_money`` on the
  line overrides the price and is required for a VARIABLE_PRICING variation; catalog modifiers
  and discounts and taxes give their name, price, percentage or amount the same way
  (OrderLineItem, OrderLineItemModifier and OrderLineItemDiscount references).
* **Quantity** may be ``"0"`` ("Line items with a quantity of 0 are automatically removed when
  paying for or otherwise completing the order": the order models do that); such a line is 0.
* **Service charges**: SUBTOTAL_PHASE (default) is applied to the discounted subtotal and may be
  taxable (ORDER-scoped taxes then apply to it, LINE_ITEM taxes only when listed in its
  ``applied_taxes``); TOTAL_PHASE is applied after taxes and cannot be taxable. Apportioned
  phases are not emulated (rejected).
* A LINE_ITEM fixed-amount discount applies once to the line (not per unit) and never takes a
  line below zero; an ORDER fixed-amount discount is capped at the order subtotal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from sync.sandbox.square.money import (
    HUNDRED,
    MoneyError,
    apportion,
    money,
    parse_decimal,
    parse_money,
    proportional,
    round_half_even,
)

NewUid = Callable[[], str]
ORDER_SCOPE = "ORDER"
LINE_SCOPE = "LINE_ITEM"
PERCENTAGE = "FIXED_PERCENTAGE"
AMOUNT = "FIXED_AMOUNT"
# Square's discount sequence: (scope, type) per phase.
DISCOUNT_PHASES = (
    (LINE_SCOPE, PERCENTAGE),
    (ORDER_SCOPE, PERCENTAGE),
    (LINE_SCOPE, AMOUNT),
    (ORDER_SCOPE, AMOUNT),
)


@dataclass(frozen=True)
class CatalogVariation:
    item_name: str
    variation_name: str
    price: int | None  # None: VARIABLE_PRICING, the line must give base_price_money
    version: int | None = None


@dataclass(frozen=True)
class CatalogAdjustment:
    """A catalog DISCOUNT or TAX as an order adjustment sees it."""

    name: str
    # discounts: FIXED_PERCENTAGE, FIXED_AMOUNT, VARIABLE_PERCENTAGE or VARIABLE_AMOUNT;
    # taxes: ADDITIVE or INCLUSIVE
    kind: str
    percentage: str | None = None
    amount: int | None = None
    version: int | None = None


class CatalogPricing(Protocol):
    """What pricing needs from the catalog; each raises MoneyError("NOT_FOUND", …) for an unknown id."""

    def variation(self, object_id: str, field: str) -> CatalogVariation: ...
    def modifier(self, object_id: str, field: str) -> tuple[str, int, int | None]: ...
    def discount(self, object_id: str, field: str) -> CatalogAdjustment: ...
    def tax(self, object_id: str, field: str) -> CatalogAdjustment: ...


@dataclass
class PricedItem:
    """Something adjustments apply to: a line item or a service charge."""

    obj: dict[str, Any]
    amount: int  # current amount (after the discounts applied so far)
    discount_uids: set[str]
    tax_uids: set[str]
    inclusive_tax: int = 0
    applied_discounts: dict[str, int] = field(default_factory=dict)
    applied_taxes: dict[str, int] = field(default_factory=dict)


@dataclass
class Adjustments:
    discounts: list[dict[str, Any]]
    taxes: list[dict[str, Any]]
    discount_by_uid: dict[str, dict[str, Any]]
    tax_by_uid: dict[str, dict[str, Any]]

    def uids(self, kind: str, scope: str) -> set[str]:
        items = self.discounts if kind == "discount" else self.taxes
        return {a["uid"] for a in items if a["scope"] == scope}


def price_order(
    order: dict[str, Any],
    currency: str,
    new_uid: NewUid,
    catalog: CatalogPricing | None = None,
    *,
    discount_order: str = "percentage_ascending",
) -> None:
    """Fill in every computed money field of ``order`` in place (see the module docstring)."""
    lines: list[dict[str, Any]] = order.get("line_items") or []
    charges: list[dict[str, Any]] = order.get("service_charges") or []
    adjustments = resolve_adjustments(order, currency, new_uid, catalog)
    items = gross_sales(lines, adjustments, currency, new_uid, catalog)
    applied_order = apply_discounts(items, adjustments.discounts, discount_order)
    if adjustments.discounts:
        order["discounts"] = applied_order
    charge_items, total_phase = subtotal_service_charges(charges, items, adjustments, currency, new_uid)
    apply_taxes([*items, *charge_items], adjustments)
    write_totals(order, items, charge_items, total_phase, adjustments, currency, new_uid)


# ---- 1. adjustments ---------------------------------------------------------------------------
def resolve_adjustments(
    order: dict[str, Any], currency: str, new_uid: NewUid, catalog: CatalogPricing | None
) -> Adjustments:
    """Square's OrderLineItemDiscount / OrderLineItemTax rules: a uid each (unique), exactly one
    of percentage or amount (taken from the catalog object when ``catalog_object_id`` is given),
    a tax type of ADDITIVE or INCLUSIVE, applied uids that exist, and the scope Square fills in
    when it is missing (LINE_ITEM when some line applies the adjustment, else ORDER)."""
    discounts: list[dict[str, Any]] = order.get("discounts") or []
    taxes: list[dict[str, Any]] = order.get("taxes") or []
    discount_by_uid = {}
    for i, d in enumerate(discounts):
        _unique_uid(d, discount_by_uid, f"order.discounts[{i}]", new_uid)
        _resolve_discount(d, f"order.discounts[{i}]", currency, catalog)
    tax_by_uid = {}
    for i, t in enumerate(taxes):
        _unique_uid(t, tax_by_uid, f"order.taxes[{i}]", new_uid)
        _resolve_tax(t, f"order.taxes[{i}]", catalog)
    referenced_discounts: set[str] = set()
    referenced_taxes: set[str] = set()
    targets = [(f"order.line_items[{i}]", li) for i, li in enumerate(order.get("line_items") or [])]
    targets += [
        (f"order.service_charges[{i}]", sc) for i, sc in enumerate(order.get("service_charges") or [])
    ]
    for path, obj in targets:
        for a in applied(obj, "applied_discounts", "discount_uid"):
            if a["discount_uid"] not in discount_by_uid:
                raise MoneyError(
                    "INVALID_VALUE", f"Unknown discount_uid {a['discount_uid']}.", f"{path}.applied_discounts"
                )
            referenced_discounts.add(a["discount_uid"])
        for a in applied(obj, "applied_taxes", "tax_uid"):
            if a["tax_uid"] not in tax_by_uid:
                raise MoneyError("INVALID_VALUE", f"Unknown tax_uid {a['tax_uid']}.", f"{path}.applied_taxes")
            referenced_taxes.add(a["tax_uid"])
    for d in discounts:
        d["scope"] = _scope(d, referenced_discounts)
    for t in taxes:
        t["scope"] = _scope(t, referenced_taxes)
    return Adjustments(discounts, taxes, discount_by_uid, tax_by_uid)


def _unique_uid(adj: dict[str, Any], seen: dict[str, dict[str, Any]], path: str, new_uid: NewUid) -> None:
    if not adj.get("uid"):
        adj["uid"] = new_uid()
    if adj["uid"] in seen:
        raise MoneyError("INVALID_VALUE", f"Duplicate uid {adj['uid']}.", f"{path}.uid")
    seen[adj["uid"]] = adj


def _resolve_discount(d: dict[str, Any], path: str, currency: str, catalog: CatalogPricing | None) -> None:
    if d.get("catalog_object_id"):
        cat = _catalog(catalog, d["catalog_object_id"], f"{path}.catalog_object_id").discount(
            d["catalog_object_id"], f"{path}.catalog_object_id"
        )
        d.setdefault("name", cat.name)
        if cat.version is not None:
            d["catalog_version"] = cat.version
        if cat.kind == PERCENTAGE and d.get("amount_money") is None:
            d.setdefault("percentage", cat.percentage)
        elif cat.kind == AMOUNT and d.get("percentage") is None:
            d.setdefault("amount_money", money(cat.amount or 0, currency))
    has_pct, has_amt = d.get("percentage") is not None, d.get("amount_money") is not None
    if has_pct == has_amt:
        raise MoneyError("INVALID_VALUE", "A discount needs exactly one of percentage or amount_money.", path)
    d["type"] = PERCENTAGE if has_pct else AMOUNT
    if has_pct:
        if parse_decimal(d["percentage"], f"{path}.percentage") > HUNDRED:
            raise MoneyError(
                "INVALID_VALUE", "A percentage discount cannot exceed 100.", f"{path}.percentage"
            )
    else:
        parse_money(d["amount_money"], f"{path}.amount_money", currency)


def _resolve_tax(t: dict[str, Any], path: str, catalog: CatalogPricing | None) -> None:
    if t.get("catalog_object_id"):
        cat = _catalog(catalog, t["catalog_object_id"], f"{path}.catalog_object_id").tax(
            t["catalog_object_id"], f"{path}.catalog_object_id"
        )
        t.setdefault("name", cat.name)
        t.setdefault("percentage", cat.percentage)
        t.setdefault("type", cat.kind)
        if cat.version is not None:
            t["catalog_version"] = cat.version
    if t.get("percentage") is None:
        raise MoneyError("MISSING_REQUIRED_PARAMETER", "A tax needs a percentage.", f"{path}.percentage")
    parse_decimal(t["percentage"], f"{path}.percentage")
    t["type"] = t.get("type") or "ADDITIVE"
    if t["type"] not in ("ADDITIVE", "INCLUSIVE"):
        raise MoneyError("INVALID_VALUE", f"Unsupported tax type {t['type']}.", f"{path}.type")


def _scope(adj: dict[str, Any], referenced: set[str]) -> str:
    scope = adj.get("scope")
    if scope in (ORDER_SCOPE, LINE_SCOPE):
        return str(scope)
    return LINE_SCOPE if adj.get("uid") in referenced else ORDER_SCOPE


def _catalog(catalog: CatalogPricing | None, object_id: str, field: str) -> CatalogPricing:
    """The catalog to look ``object_id`` up in; without one (pure pricing) every id is unknown."""
    if catalog is None:
        raise MoneyError("NOT_FOUND", f"Catalog object `{object_id}` not found.", field)
    return catalog


def applied(obj: dict[str, Any], key: str, uid_key: str) -> list[dict[str, Any]]:
    return [a for a in (obj.get(key) or []) if isinstance(a, dict) and a.get(uid_key)]


# ---- 2. gross sales ---------------------------------------------------------------------------
def gross_sales(
    lines: list[dict[str, Any]],
    adjustments: Adjustments,
    currency: str,
    new_uid: NewUid,
    catalog: CatalogPricing | None,
) -> list[PricedItem]:
    """Per line (OrderLineItem reference): base price x quantity (``variation_total_price_money``)
    plus modifiers x line quantity (``gross_sales_money``), and the taxes and discounts that apply
    to it: its own ``applied_*`` plus every ORDER-scoped one, minus its ``pricing_blocklists``."""
    order_discounts = adjustments.uids("discount", ORDER_SCOPE)
    order_taxes = adjustments.uids("tax", ORDER_SCOPE)
    items = []
    for i, line in enumerate(lines):
        path = f"order.line_items[{i}]"
        if not line.get("uid"):
            line["uid"] = new_uid()
        qty = parse_decimal(line.get("quantity"), f"{path}.quantity")
        base = _line_base_price(line, path, currency, catalog)
        line["base_price_money"] = money(base, currency)
        line.setdefault("item_type", "ITEM")
        variation_total = round_half_even(base * qty)
        gross = variation_total + _modifiers_total(line, qty, path, currency, new_uid, catalog)
        line["variation_total_price_money"] = money(variation_total, currency)
        line["gross_sales_money"] = money(gross, currency)
        blocked_discounts, blocked_taxes = _blocked(line, adjustments, new_uid)
        discount_uids = {a["discount_uid"] for a in applied(line, "applied_discounts", "discount_uid")}
        tax_uids = {a["tax_uid"] for a in applied(line, "applied_taxes", "tax_uid")}
        items.append(
            PricedItem(
                line,
                gross,
                (discount_uids | order_discounts) - blocked_discounts,
                (tax_uids | order_taxes) - blocked_taxes,
            )
        )
    return items


def _line_base_price(line: dict[str, Any], path: str, currency: str, catalog: CatalogPricing | None) -> int:
    given = line.get("base_price_money")
    if line.get("catalog_object_id"):
        variation = _catalog(catalog, line["catalog_object_id"], f"{path}.catalog_object_id").variation(
            line["catalog_object_id"], f"{path}.catalog_object_id"
        )
        line.setdefault("name", variation.item_name)
        if variation.variation_name:
            line.setdefault("variation_name", variation.variation_name)
        if variation.version is not None:
            line["catalog_version"] = variation.version
        if given is not None:  # "base_price_money will override the CatalogItemVariation's price"
            return parse_money(given, f"{path}.base_price_money", currency)
        if variation.price is None:
            raise MoneyError(
                "MISSING_REQUIRED_PARAMETER",
                "A variable-priced catalog item needs base_price_money.",
                f"{path}.base_price_money",
            )
        return variation.price
    if given is None:
        raise MoneyError(
            "MISSING_REQUIRED_PARAMETER",
            "An ad hoc line item needs base_price_money.",
            f"{path}.base_price_money",
        )
    if not line.get("name"):
        raise MoneyError("MISSING_REQUIRED_PARAMETER", "An ad hoc line item needs a name.", f"{path}.name")
    return parse_money(given, f"{path}.base_price_money", currency)


def _modifiers_total(
    line: dict[str, Any],
    qty: Fraction,
    path: str,
    currency: str,
    new_uid: NewUid,
    catalog: CatalogPricing | None,
) -> int:
    total = 0
    for j, mod in enumerate(line.get("modifiers") or []):
        mpath = f"{path}.modifiers[{j}]"
        mod.setdefault("uid", new_uid())
        given = mod.get("base_price_money")
        if mod.get("catalog_object_id"):
            field = f"{mpath}.catalog_object_id"
            name, price, version = _catalog(catalog, mod["catalog_object_id"], field).modifier(
                mod["catalog_object_id"], field
            )
            mod.setdefault("name", name)
            if version is not None:
                mod["catalog_version"] = version
            base = parse_money(given, f"{mpath}.base_price_money", currency) if given is not None else price
        else:
            base = parse_money(given or {"amount": 0}, f"{mpath}.base_price_money", currency)
        mod["base_price_money"] = money(base, currency)
        mqty = parse_decimal(mod.get("quantity") or "1", f"{mpath}.quantity")
        mtotal = round_half_even(base * mqty * qty)
        mod["total_price_money"] = money(mtotal, currency)
        total += mtotal
    return total


def _blocked(line: dict[str, Any], adjustments: Adjustments, new_uid: NewUid) -> tuple[set[str], set[str]]:
    """Uids of the discounts and taxes the line's ``pricing_blocklists`` keep off it."""
    blocklists = line.get("pricing_blocklists") or {}
    discounts: set[str] = set()
    taxes: set[str] = set()
    for entry in blocklists.get("blocked_discounts") or []:
        entry.setdefault("uid", new_uid())
        discounts |= _matching(entry, "discount_uid", "discount_catalog_object_id", adjustments.discounts)
    for entry in blocklists.get("blocked_taxes") or []:
        entry.setdefault("uid", new_uid())
        taxes |= _matching(entry, "tax_uid", "tax_catalog_object_id", adjustments.taxes)
    return discounts, taxes


def _matching(
    entry: dict[str, Any], uid_key: str, catalog_key: str, adjustments: list[dict[str, Any]]
) -> set[str]:
    return {
        a["uid"]
        for a in adjustments
        if (entry.get(uid_key) and a["uid"] == entry[uid_key])
        or (entry.get(catalog_key) and a.get("catalog_object_id") == entry[catalog_key])
    }


# ---- 3. discounts -----------------------------------------------------------------------------
def apply_discounts(
    items: list[PricedItem], discounts: list[dict[str, Any]], discount_order: str
) -> list[dict[str, Any]]:
    """Square's four discount phases (module docstring); returns the discounts in the order they
    were applied, which is how the order lists them afterwards."""
    ordered: list[dict[str, Any]] = []
    for scope, kind in DISCOUNT_PHASES:
        phase = [d for d in discounts if d["scope"] == scope and d["type"] == kind]
        for d in sorted(phase, key=lambda d: _same_phase_key(d, discount_order)):
            ordered.append(d)
            if kind == PERCENTAGE:
                _percentage_discount(items, d, scope)
            else:
                _amount_discount(items, d, scope)
    return ordered


def _same_phase_key(d: dict[str, Any], discount_order: str) -> Any:
    if discount_order == "percentage_ascending":
        if d["type"] == PERCENTAGE:
            return parse_decimal(d["percentage"], "percentage")
        return Fraction(d["amount_money"]["amount"])
    if discount_order == "catalog_first":
        return 0 if d.get("catalog_object_id") else 1
    return 0  # request order (sorted() is stable)


def _add_discount(item: PricedItem, uid: str, amount: int) -> None:
    item.applied_discounts[uid] = item.applied_discounts.get(uid, 0) + amount
    item.amount -= amount


def _percentage_discount(items: list[PricedItem], d: dict[str, Any], scope: str) -> None:
    """LINE_ITEM: on each line's amount left; ORDER: once on the total left, then apportioned."""
    rate = parse_decimal(d["percentage"], "percentage") / HUNDRED
    if scope == LINE_SCOPE:
        for item in items:
            if d["uid"] in item.discount_uids:
                _add_discount(item, d["uid"], item.amount - round_half_even(item.amount * (1 - rate)))
        return
    members = [item for item in items if d["uid"] in item.discount_uids]
    base = sum(item.amount for item in members)
    total = base - round_half_even(base * (1 - rate))
    for item, part in zip(members, proportional(total, [m.amount for m in members]), strict=True):
        _add_discount(item, d["uid"], part)


def _amount_discount(items: list[PricedItem], d: dict[str, Any], scope: str) -> None:
    """LINE_ITEM: once per line, never below zero; ORDER: capped at the subtotal, apportioned."""
    amount = d["amount_money"]["amount"]
    members = [item for item in items if d["uid"] in item.discount_uids]
    if scope == LINE_SCOPE:
        for item in members:
            _add_discount(item, d["uid"], min(amount, item.amount))
        return
    total = min(amount, sum(item.amount for item in members))
    for item, part in zip(members, proportional(total, [m.amount for m in members]), strict=True):
        _add_discount(item, d["uid"], part)


# ---- 4. service charges of the subtotal phase --------------------------------------------------
def subtotal_service_charges(
    charges: list[dict[str, Any]],
    items: list[PricedItem],
    adjustments: Adjustments,
    currency: str,
    new_uid: NewUid,
) -> tuple[list[PricedItem], list[dict[str, Any]]]:
    """OrderServiceCharge: exactly one of percentage or amount_money, a name; SUBTOTAL_PHASE ones
    are priced on the discounted subtotal here (taxable ones then carry ORDER-scoped taxes and
    their own applied LINE_ITEM taxes); TOTAL_PHASE ones are returned for after the taxes."""
    subtotal = sum(item.amount for item in items)
    order_taxes = adjustments.uids("tax", ORDER_SCOPE)
    priced: list[PricedItem] = []
    total_phase: list[dict[str, Any]] = []
    for i, sc in enumerate(charges):
        path = f"order.service_charges[{i}]"
        amount = _validate_service_charge(sc, path, currency, new_uid)
        if sc["calculation_phase"] == "TOTAL_PHASE":
            total_phase.append(sc)
            continue
        if amount is None:
            amount = round_half_even(subtotal * parse_decimal(sc["percentage"], "percentage") / HUNDRED)
        tax_uids = {a["tax_uid"] for a in applied(sc, "applied_taxes", "tax_uid")}
        priced.append(PricedItem(sc, amount, set(), (tax_uids | order_taxes) if sc["taxable"] else set()))
    return priced, total_phase


def _validate_service_charge(sc: dict[str, Any], path: str, currency: str, new_uid: NewUid) -> int | None:
    """The charge's fixed amount, or None for a percentage; fills uid, phase and taxable."""
    if not sc.get("uid"):
        sc["uid"] = new_uid()
    phase = sc.get("calculation_phase") or "SUBTOTAL_PHASE"
    sc["calculation_phase"] = phase
    if phase not in ("SUBTOTAL_PHASE", "TOTAL_PHASE"):
        raise MoneyError(
            "INVALID_VALUE",
            f"calculation_phase {phase} is not supported by the sandbox.",
            f"{path}.calculation_phase",
        )
    has_pct, has_amt = sc.get("percentage") is not None, sc.get("amount_money") is not None
    if has_pct == has_amt:
        raise MoneyError(
            "INVALID_VALUE", "A service charge needs exactly one of percentage or amount_money.", path
        )
    if phase == "TOTAL_PHASE" and sc.get("taxable"):
        raise MoneyError(
            "INVALID_VALUE", "Service charges in the TOTAL_PHASE cannot be taxable.", f"{path}.taxable"
        )
    sc["taxable"] = bool(sc.get("taxable"))
    if not sc.get("name"):
        raise MoneyError("MISSING_REQUIRED_PARAMETER", "A service charge needs a name.", f"{path}.name")
    if has_amt:
        return parse_money(sc["amount_money"], f"{path}.amount_money", currency)
    parse_decimal(sc["percentage"], f"{path}.percentage")
    return None


# ---- 5. taxes ---------------------------------------------------------------------------------
def apply_taxes(taxed: list[PricedItem], adjustments: Adjustments) -> None:
    """Each tax once over every item it applies to, rounded, then apportioned; INCLUSIVE taxes
    first, since they set the net amount the ADDITIVE ones apply to."""
    inclusive_rate = [
        sum(
            (
                parse_decimal(adjustments.tax_by_uid[u]["percentage"], "percentage")
                for u in item.tax_uids
                if adjustments.tax_by_uid[u]["type"] == "INCLUSIVE"
            ),
            Fraction(0),
        )
        for item in taxed
    ]
    for kind in ("INCLUSIVE", "ADDITIVE"):
        for t in adjustments.taxes:
            if t["type"] != kind:
                continue
            rate = parse_decimal(t["percentage"], "percentage")
            members = [k for k, item in enumerate(taxed) if t["uid"] in item.tax_uids]
            if kind == "INCLUSIVE":
                shares = [taxed[k].amount * rate / (HUNDRED + inclusive_rate[k]) for k in members]
            else:
                shares = [(taxed[k].amount - taxed[k].inclusive_tax) * rate / HUNDRED for k in members]
            parts = apportion(round_half_even(sum(shares, Fraction(0))), shares)
            for k, part in zip(members, parts, strict=True):
                taxed[k].applied_taxes[t["uid"]] = part
                if kind == "INCLUSIVE":
                    taxed[k].inclusive_tax += part


# ---- 6. totals --------------------------------------------------------------------------------
def write_totals(
    order: dict[str, Any],
    items: list[PricedItem],
    charge_items: list[PricedItem],
    total_phase: list[dict[str, Any]],
    adjustments: Adjustments,
    currency: str,
    new_uid: NewUid,
) -> None:
    """Per-line and per-charge totals (amount left + ADDITIVE tax), TOTAL_PHASE charges on the
    running total, the adjustments' ``applied_money`` and the order totals and ``net_amounts``."""

    def additive(item: PricedItem) -> int:
        return sum(
            a for u, a in item.applied_taxes.items() if adjustments.tax_by_uid[u]["type"] == "ADDITIVE"
        )

    for item in items:
        line = item.obj
        _set_applied(line, "applied_discounts", "discount_uid", item.applied_discounts, currency, new_uid)
        _set_applied(line, "applied_taxes", "tax_uid", item.applied_taxes, currency, new_uid)
        line["total_discount_money"] = money(sum(item.applied_discounts.values()), currency)
        line["total_tax_money"] = money(sum(item.applied_taxes.values()), currency)
        line["total_service_charge_money"] = money(0, currency)
        line["total_money"] = money(item.amount + additive(item), currency)
    for item in charge_items:
        sc = item.obj
        _set_applied(sc, "applied_taxes", "tax_uid", item.applied_taxes, currency, new_uid)
        sc["applied_money"] = money(item.amount, currency)
        sc["total_tax_money"] = money(sum(item.applied_taxes.values()), currency)
        sc["total_money"] = money(item.amount + additive(item), currency)
    running = sum(item.amount + additive(item) for item in [*items, *charge_items])
    for sc in total_phase:
        amount = (
            sc["amount_money"]["amount"]
            if sc.get("amount_money")
            else round_half_even(running * parse_decimal(sc["percentage"], "percentage") / HUNDRED)
        )
        sc.pop("applied_taxes", None)
        sc["applied_money"] = money(amount, currency)
        sc["total_tax_money"] = money(0, currency)
        sc["total_money"] = money(amount, currency)
        running += amount
    everything = [*items, *charge_items]
    for d in adjustments.discounts:
        d["applied_money"] = money(sum(item.applied_discounts.get(d["uid"], 0) for item in items), currency)
    for t in adjustments.taxes:
        t["applied_money"] = money(sum(item.applied_taxes.get(t["uid"], 0) for item in everything), currency)
    discount_total = sum(sum(item.applied_discounts.values()) for item in items)
    tax_total = sum(sum(item.applied_taxes.values()) for item in everything)
    charges = order.get("service_charges") or []
    charge_total = sum(sc["applied_money"]["amount"] for sc in charges)
    order_total = sum(item.obj["total_money"]["amount"] for item in items) + sum(
        sc["total_money"]["amount"] for sc in charges
    )
    order["total_money"] = money(order_total, currency)
    order["total_tax_money"] = money(tax_total, currency)
    order["total_discount_money"] = money(discount_total, currency)
    order["total_tip_money"] = money(0, currency)
    order["total_service_charge_money"] = money(charge_total, currency)
    order["net_amounts"] = {
        "total_money": money(order_total, currency),
        "tax_money": money(tax_total, currency),
        "discount_money": money(discount_total, currency),
        "tip_money": money(0, currency),
        "service_charge_money": money(charge_total, currency),
    }


def _set_applied(
    obj: dict[str, Any], key: str, uid_key: str, amounts: dict[str, int], currency: str, new_uid: NewUid
) -> None:
    """Write applied_money into obj[key] (creating entries for ORDER-scoped adjustments)."""
    existing = {a[uid_key]: a for a in applied(obj, key, uid_key)}
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
