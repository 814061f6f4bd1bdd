"""A refund the store made in Square -> the Google mutations that report it (issue 15 item 1).

For a Google order Square holds an EXTERNAL payment: a Square refund moved no money, Google must
make the real refund. One Square refund becomes, atomically (all or none):

* per Google line of an itemized (POS) return: ``returnRefundLineItem`` for the line and units,
  ``amountPretax`` = the return line's total minus its tax, ``amountTax`` = its tax, the reason
  mapped from Square's (``returnLineItem`` when the return refunds nothing);
* a custom amount (Dashboard, RefundPayment, a POS custom refund): ``orders.refund`` with
  ``courtesyAdjustment`` (or a mapped reason), ``shippingCostAdjustment`` when marked as shipping;
  a returned shipping service charge is shipping too. Square's amounts include tax: it is split
  into pre-tax and tax in the order's (shipping's) own ratio, so Google refunds exactly that much.

Not sent: a refund ordersync recorded itself (``rules.own_refund_key`` on its reason, or its id
known to the ledger), one not COMPLETED (PENDING waits; REJECTED/FAILED moved nothing), units
Google already refunded through a customer return (``returns``: matched). Refused (reported as
failed_operation, never sent): anything Google could not take as it is — fractional units, a line
Google does not have, more units than are returnable, more money than the line, the shipping or
what remains of ``netAmount`` (minus refunds sent but not yet in that snapshot), a return order
whose amounts do not add up to the refund.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

from sync.domain import operations
from sync.domain.money import minor_to_price
from sync.domain.orders import LineItemLookupError, Order
from sync.domain.refunds.records import (
    GoogleReturn,
    SquareItemType,
    SquareReturn,
    Verdict,
    google_line_id,
    google_refunded_minor,
)
from sync.domain.refunds.returns import SquareReturnedUnits, pairing_of, return_units
from sync.domain.refunds.rules import RefundRules, google_reason_text, own_refund_key
from sync.domain.square_mapping import allocate
from sync.domain.square_records import SquareRefund

SHIPPING_CHARGE_UIDS = ("shipping",)  # square_mapping's service charge uids "shipping", "shipping-tax"


class GoogleRefundMethod(StrEnum):
    """custombatch method names (the single calls are orders.<lowercase>)."""

    RETURN_REFUND_LINE_ITEM = "returnRefundLineItem"
    RETURN_LINE_ITEM = "returnLineItem"
    REFUND = "refund"


@dataclass(frozen=True, slots=True)
class GoogleRefundMutation:
    """One Google call reporting (part of) a Square refund."""

    order_id: str
    operation_id: str
    method: GoogleRefundMethod
    currency: str
    reason: str
    reason_text: str
    square_refund_id: str
    amount_pretax_minor: int = 0
    amount_tax_minor: int = 0
    line_item_id: str | None = None
    quantity: int = 0

    @property
    def amount_minor(self) -> int:
        return self.amount_pretax_minor + self.amount_tax_minor

    def body(self) -> dict[str, Any]:
        """The custombatch sub-object (the single-call request minus ``operationId``)."""
        body: dict[str, Any] = {"reason": self.reason, "reasonText": self.reason_text}
        if self.line_item_id is not None:
            body["lineItemId"] = self.line_item_id
            body["quantity"] = self.quantity
        if self.method is not GoogleRefundMethod.RETURN_LINE_ITEM:
            # amountTax is always explicit: absent, Google would compute one on top of the pre-tax.
            body["amountPretax"] = minor_to_price(self.amount_pretax_minor, self.currency)
            body["amountTax"] = minor_to_price(self.amount_tax_minor, self.currency)
        return body

    def request(self) -> dict[str, Any]:
        return {**self.body(), "operationId": self.operation_id}

    def entry(self) -> dict[str, Any]:
        """The custombatch entry (without batchId/merchantId: the gateway adds them)."""
        return {
            "method": str(self.method),
            "orderId": self.order_id,
            "operationId": self.operation_id,
            str(self.method): self.body(),
        }


@dataclass(frozen=True, slots=True)
class GoogleRefundDecision:
    verdict: Verdict
    reason: str
    square_refund_id: str
    order_id: str
    mutations: tuple[GoogleRefundMutation, ...] = ()
    returned: tuple[SquareReturnedUnits, ...] = ()  # the refund's itemized units, per Google line
    matched_return_ids: tuple[str, ...] = ()  # Google customer returns these units settle

    @property
    def amount_minor(self) -> int:
        return sum(m.amount_minor for m in self.mutations)


@dataclass(frozen=True, slots=True)
class GoogleRefundContext:
    """Google's view of the order as the rule needs it.

    ``order`` is a snapshot; ``history`` the Square itemized returns of this order reported before
    (sent, pending or matched), ``in_flight_minor`` / ``in_flight_units`` what mutations recorded
    after that snapshot will still take off it (money; units per line).
    """

    order: Order
    returns: tuple[GoogleReturn, ...] = ()
    history: tuple[SquareReturnedUnits, ...] = ()
    in_flight_minor: int = 0
    in_flight_units: Mapping[str, int] = field(default_factory=dict)

    @property
    def net_minor(self) -> int:
        """What Google can still refund on the order: ``netAmount`` minus refunds in flight."""
        order = self.order
        net = order.net_amount_minor
        if net is None:
            net = order.total_minor - google_refunded_minor(order.raw)
        return net - self.in_flight_minor

    def after(self, decision: GoogleRefundDecision) -> GoogleRefundContext:
        """The context for the next refund of the same order in the same cycle."""
        if decision.verdict not in (Verdict.SEND, Verdict.MATCHED):
            return self
        units = dict(self.in_flight_units)
        for m in decision.mutations:
            if m.line_item_id is not None:
                units[m.line_item_id] = units.get(m.line_item_id, 0) + m.quantity
        return replace(
            self,
            history=(*self.history, *decision.returned),
            in_flight_minor=self.in_flight_minor + decision.amount_minor,
            in_flight_units=units,
        )


@dataclass(frozen=True, slots=True)
class _Parts:
    lines: dict[str, tuple[Decimal, int, int]]  # Google line -> (units, total, tax)
    custom_minor: int
    shipping_minor: int


def decide_google_refund(
    refund: SquareRefund,
    ret: SquareReturn | None,
    sale_order: Mapping[str, Any],
    context: GoogleRefundContext,
    *,
    own_refund_ids: Collection[str] = frozenset(),
    rules: RefundRules = RefundRules(),
) -> GoogleRefundDecision:
    """What Google must be told about ``refund`` (a refund of the sale order of a Google order)."""
    order = context.order

    def verdict(kind: Verdict, why: str, **kw: Any) -> GoogleRefundDecision:
        return GoogleRefundDecision(kind, why, refund.refund_id, order.id, **kw)

    if refund.refund_id in own_refund_ids or own_refund_key(refund.reason):
        return verdict(Verdict.IGNORE, "ordersync recorded this refund from a Google refund")
    if refund.status in ("REJECTED", "FAILED"):
        return verdict(Verdict.IGNORE, f"the refund is {refund.status}: no money moved")
    if refund.status != "COMPLETED":
        return verdict(Verdict.WAIT, f"the refund is {refund.status or 'without a status'}, not COMPLETED")
    if refund.amount_minor <= 0:
        return verdict(Verdict.IGNORE, "the refund is of 0")
    if refund.currency != order.currency:
        return verdict(
            Verdict.REFUSE, f"refund in {refund.currency}, the Google order is in {order.currency}"
        )
    if ret is None:
        return verdict(Verdict.WAIT, f"its return order {refund.order_id or '?'} is not read yet")
    if ret.sale_order_id != sale_order.get("id"):
        return verdict(
            Verdict.REFUSE, f"its return order refers to {ret.sale_order_id}, not {sale_order.get('id')}"
        )
    parts = _parts(refund, ret, sale_order, order, rules)
    if isinstance(parts, str):
        return verdict(Verdict.REFUSE, parts)
    returned = tuple(
        SquareReturnedUnits(refund.refund_id, line_id, int(units), refund.created_at or ret.created_at)
        for line_id, (units, _, _) in parts.lines.items()
    )
    mutations: list[GoogleRefundMutation] = []
    matched: list[str] = []
    text = google_reason_text(refund.refund_id, refund.reason)
    if parts.lines:
        pending = sum(li.quantity_pending for li in order.line_items)
        if pending:
            return verdict(
                Verdict.WAIT,
                f"returnRefundLineItem needs a fully shipped order; {pending} units still pending",
            )
        units_on_google = return_units(order, context.returns)
        for current in returned:
            line_id = current.line_item_id
            _units, total, tax = parts.lines[line_id]
            line = order.line_item_by_id(line_id)  # checked in _parts
            pairing = pairing_of(units_on_google, context.history, current)
            matched += pairing.return_ids
            send = pairing.to_send
            if send == 0:
                continue
            open_units = sum(1 for u in units_on_google if u.line_item_id == line_id and u.is_open)
            capacity = (
                line.quantity_shipped - line.quantity_returned + open_units
                - context.in_flight_units.get(line_id, 0)
            )  # fmt: skip
            if send > capacity:
                return verdict(
                    Verdict.REFUSE,
                    f"{send} units of line {line_id} to return, Google can take {max(0, capacity)}",
                )
            send_total, send_tax = _share(total, tax, send, current.units)
            if send_total > line.price_minor + line.tax_minor:
                return verdict(
                    Verdict.REFUSE,
                    f"{send_total} to refund on line {line_id}, more than the line's "
                    f"{line.price_minor + line.tax_minor}",
                )
            method = (
                GoogleRefundMethod.RETURN_REFUND_LINE_ITEM
                if send_total
                else GoogleRefundMethod.RETURN_LINE_ITEM
            )
            mutations.append(
                GoogleRefundMutation(
                    order_id=order.id,
                    operation_id=operations.square_refund_operation_id(refund.refund_id, f"line:{line_id}"),
                    method=method,
                    currency=order.currency,
                    reason=rules.return_reason(refund.reason),
                    reason_text=text,
                    square_refund_id=refund.refund_id,
                    amount_pretax_minor=send_total - send_tax,
                    amount_tax_minor=send_tax,
                    line_item_id=line_id,
                    quantity=send,
                )
            )
    if parts.shipping_minor:
        shipping_total = order.shipping_cost_minor + order.shipping_tax_minor
        if parts.shipping_minor > shipping_total:
            return verdict(
                Verdict.REFUSE,
                f"{parts.shipping_minor} of shipping to refund, the order's is {shipping_total}",
            )
        tax = _tax_part(parts.shipping_minor, order.shipping_cost_minor, order.shipping_tax_minor)
        mutations.append(_refund(refund, order, "shipping", parts.shipping_minor, tax, True, text, rules))
    if parts.custom_minor:
        tax_base = sum(li.tax_minor for li in order.line_items) + order.shipping_tax_minor
        tax = (
            _tax_part(parts.custom_minor, order.total_minor - tax_base, tax_base)
            if rules.split_custom_amount_tax
            else 0
        )
        mutations.append(_refund(refund, order, "amount", parts.custom_minor, tax, False, text, rules))
    matched_ids = tuple(dict.fromkeys(matched))
    if not mutations:
        return verdict(
            Verdict.MATCHED,
            "Google refunded these returned units already",
            returned=returned,
            matched_return_ids=matched_ids,
        )
    amount = sum(m.amount_minor for m in mutations)
    if amount > context.net_minor:
        return verdict(
            Verdict.REFUSE, f"{amount} to refund, Google has {max(0, context.net_minor)} left on the order"
        )
    return verdict(
        Verdict.SEND,
        f"report Square refund of {refund.amount_minor} to Google",
        mutations=tuple(mutations),
        returned=returned,
        matched_return_ids=matched_ids,
    )


def _parts(
    refund: SquareRefund, ret: SquareReturn, sale_order: Mapping[str, Any], order: Order, rules: RefundRules
) -> _Parts | str:
    """The refund split into Google lines, custom amount and shipping; a string says why it can't."""
    lines: dict[str, tuple[Decimal, int, int]] = {}
    custom = shipping = 0
    for line in ret.lines:
        if line.item_type == SquareItemType.ITEM:
            line_id = google_line_id(sale_order, line.source_line_item_uid or "")
            if line_id is None:
                return f"return line {line.uid} refers to sale line {line.source_line_item_uid!r}, not found"
            if not _line_known(order, line_id):
                return f"return line {line.uid} is for line {line_id}, which the Google order does not have"
            units, total, tax = lines.get(line_id, (Decimal(0), 0, 0))
            lines[line_id] = (units + line.quantity, total + line.total_minor, tax + line.tax_minor)
        elif rules.is_shipping(line.name, refund.reason):
            shipping += line.total_minor
        else:
            custom += line.total_minor
    for charge in ret.charges:
        uid = charge.source_service_charge_uid or ""
        if uid.startswith(SHIPPING_CHARGE_UIDS) or rules.is_shipping(charge.name):
            shipping += charge.total_minor
        else:
            custom += charge.total_minor
    added = sum(total for _u, total, _t in lines.values()) + custom + shipping
    if added != refund.amount_minor:
        if lines:
            return f"its return order adds up to {added}, the refund is {refund.amount_minor}"
        # An amount-only refund: the money moved is what counts, the return line only says what for.
        shipping, custom = (refund.amount_minor, 0) if shipping else (0, refund.amount_minor)
    for line_id, (units, _total, _tax) in lines.items():
        if units != units.to_integral_value() or units <= 0:
            return f"{units} units of line {line_id}: Google returns whole units only"
    return _Parts(lines, custom, shipping)


def _line_known(order: Order, line_id: str) -> bool:
    try:
        order.line_item_by_id(line_id)
    except LineItemLookupError:
        return False
    return True


def _share(total: int, tax: int, part: int, whole: int) -> tuple[int, int]:
    """The money of ``part`` of ``whole`` units (exact: the shares of all parts add up)."""
    if part == whole:
        return total, tax
    share_total = allocate(total, [part, whole - part])[0]  # largest remainder: exact
    return share_total, allocate(tax, [part, whole - part])[0]


def _tax_part(amount: int, pretax_base: int, tax_base: int) -> int:
    """The tax inside a tax-inclusive ``amount``, in the ratio tax_base : pretax_base."""
    if tax_base <= 0 or pretax_base + tax_base <= 0:
        return 0
    exact = Decimal(amount) * tax_base / (pretax_base + tax_base)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _refund(
    refund: SquareRefund,
    order: Order,
    part: str,
    amount: int,
    tax: int,
    shipping: bool,
    text: str,
    rules: RefundRules,
) -> GoogleRefundMutation:
    return GoogleRefundMutation(
        order_id=order.id,
        operation_id=operations.square_refund_operation_id(refund.refund_id, part),
        method=GoogleRefundMethod.REFUND,
        currency=order.currency,
        reason=rules.refund_reason(refund.reason, shipping=shipping),
        reason_text=text,
        square_refund_id=refund.refund_id,
        amount_pretax_minor=amount - tax,
        amount_tax_minor=tax,
    )
