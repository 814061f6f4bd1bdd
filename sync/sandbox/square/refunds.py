"""Refunds API (RefundPayment, GetPaymentRefund, ListPaymentRefunds) and the sandbox-only plays
of the store refunding in Square POS (itemized) or the Dashboard (custom amount).

Rules emulated (Refunds API reference, "Refund Payments", PaymentRefund; returns-refunds.md §2):

* ``idempotency_key`` (at most 45 characters) and ``amount_money`` are required; the same key and
  body return the first refund, another body IDEMPOTENCY_KEY_REUSED.
* Linked refunds only: ``payment_id`` required; ``unlinked: true`` answers "Unlinked refund
  processing is not enabled for this merchant." (what Square says to a seller without that
  approval); ``location_id`` or ``customer_id`` on a linked refund are errors.
* Only COMPLETED payments (REFUND_ERROR_PAYMENT_NEEDS_COMPLETION), not older than a year, at most
  20 refunds a payment, none while one is PENDING (REFUND_ALREADY_PENDING) or after one FAILED
  (PAYMENT_NOT_REFUNDABLE); the amount at most ``total_money`` minus completed refunds
  (REFUND_AMOUNT_INVALID, "The requested refund amount exceeds the amount available to refund.");
  ``payment_version_token`` must match (VERSION_MISMATCH).
* Card refunds start PENDING ("Refunds will be in a state of PENDING until the funds can be
  secured"); a refund of an EXTERNAL or CASH payment is recorded COMPLETED — both are sandbox
  settings (``card_refund_status``, ``external_refund_status``), the second is not documented.
  ``POST /_sandbox/square/refunds/{id}/settle`` moves a PENDING refund on.
* The payment gets ``refund_ids`` and ``refunded_money`` (pending amounts included, as a Square
  staff answer says); a return order is created (``returns.py``) and is the refund's
  ``order_id``; the sale order shows the refund too (setting ``sale_order_shows_refunds``).
* ListPaymentRefunds: ``begin_time``/``end_time`` on ``created_at`` (default the last year),
  ``updated_at_begin_time``/``updated_at_end_time``, ``location_id``, ``status``, ``source_type``,
  ``sort_field`` CREATED_AT|UPDATED_AT, ``sort_order`` (default DESC), at most 100 a page, a cursor.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from sync.sandbox.square.errors import SquareError, bad, not_found
from sync.sandbox.square.listing import list_query
from sync.sandbox.square.money import money
from sync.sandbox.square.orders import OrdersModel
from sync.sandbox.square.payments import PaymentsModel
from sync.sandbox.square.returns import (
    ORDER_REFUND_STATUS,
    add_amounts,
    custom_amount_return,
    itemized_return,
    order_refund,
    return_order,
    returned_units,
    sale_amounts,
)
from sync.sandbox.square.state import SquareState
from sync.sandbox.square.validate import (
    as_dict,
    decimal_or_400,
    fingerprint,
    money_or_400,
    new_id,
    new_uid,
    opt_str,
    parse_ts,
    require_str,
    strip_nulls,
)

REFUND_IDEMPOTENCY_KEY_MAX = 45
REASON_MAX = 192
REFUNDS_PER_PAYMENT_MAX = 20
REFUNDABLE_DAYS = 365
SETTLED_STATUSES = ("COMPLETED", "REJECTED", "FAILED")
POS_SOURCE = "Square Point of Sale"
DASHBOARD_SOURCE = "Square Dashboard"


def _refund_error(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, code, detail, field, category="REFUND_ERROR")


class RefundsModel:
    def __init__(self, state: SquareState, orders: OrdersModel, payments: PaymentsModel) -> None:
        self.state = state
        self.orders = orders
        self.payments = payments

    # ---- RefundPayment -----------------------------------------------------------------------------
    def refund_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", REFUND_IDEMPOTENCY_KEY_MAX)
        reason = opt_str(body, "reason", "reason", REASON_MAX)
        opt_str(body, "team_member_id", "team_member_id", REASON_MAX)
        if body.get("unlinked"):
            raise bad(
                "BAD_REQUEST", "Unlinked refund processing is not enabled for this merchant.", "unlinked"
            )
        for field in ("location_id", "customer_id"):
            if body.get(field) is not None:
                raise bad("INVALID_VALUE", f"{field} is only allowed for unlinked refunds.", field)
        payment_id = require_str(body, "payment_id", "payment_id")
        with self.state.lock:
            existing = self.state.replay("refunds.refund_payment", key, fingerprint(body))
            if existing is not None:
                return {"refund": copy.deepcopy(self.state.refunds[existing])}
            payment = self.payments.payment(payment_id)
            currency = payment["total_money"]["currency"]
            amount = money_or_400(body.get("amount_money"), "amount_money", currency)
            if body.get("payment_version_token") not in (None, payment.get("version_token")):
                raise bad(
                    "VERSION_MISMATCH",
                    "payment_version_token does not match the payment.",
                    "payment_version_token",
                )
            self._check_refundable(payment, amount)
            sale = self.orders.order(payment["order_id"])
            entry = custom_amount_return(sale, amount, new_uid)
            refund = self._record(payment, sale, entry, amount, reason, None, body)
            self.state.remember("refunds.refund_payment", key, fingerprint(body), refund["id"])
            self.state.stats.mutation("square.refunds.refund_payment")
            return {"refund": copy.deepcopy(refund)}

    def _refunds_of(self, payment: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.state.refunds[r] for r in payment.get("refund_ids") or [] if r in self.state.refunds]

    def _check_refundable(self, payment: dict[str, Any], amount: int) -> None:
        if amount <= 0:
            raise bad("INVALID_VALUE", "amount_money.amount must be greater than 0.", "amount_money.amount")
        if payment["status"] != "COMPLETED":
            raise _refund_error(
                "REFUND_ERROR_PAYMENT_NEEDS_COMPLETION",
                f"The payment is {payment['status']}; only COMPLETED payments can be refunded.",
                "payment_id",
            )
        created = parse_ts(payment["created_at"], "created_at")
        if datetime.now(UTC) - created > timedelta(days=REFUNDABLE_DAYS):
            raise _refund_error("PAYMENT_NOT_REFUNDABLE", "Payments older than a year cannot be refunded.")
        refunds = self._refunds_of(payment)
        if any(r["status"] == "FAILED" for r in refunds):
            raise _refund_error(
                "PAYMENT_NOT_REFUNDABLE", "A refund of this payment failed; refund the buyer another way."
            )
        if any(r["status"] == "PENDING" for r in refunds):
            raise _refund_error("REFUND_ALREADY_PENDING", "The payment already has a pending refund.")
        if len(refunds) >= REFUNDS_PER_PAYMENT_MAX:
            raise _refund_error(
                "PAYMENT_NOT_REFUNDABLE", f"A payment can have at most {REFUNDS_PER_PAYMENT_MAX} refunds."
            )
        if amount > self.refundable(payment):
            raise _refund_error(
                "REFUND_AMOUNT_INVALID",
                "The requested refund amount exceeds the amount available to refund.",
                "amount_money.amount",
            )

    def refundable(self, payment: dict[str, Any]) -> int:
        completed = sum(
            r["amount_money"]["amount"] for r in self._refunds_of(payment) if r["status"] == "COMPLETED"
        )
        return int(payment["total_money"]["amount"]) - completed

    def _record(
        self,
        payment: dict[str, Any],
        sale: dict[str, Any],
        entry: dict[str, Any],
        amount: int,
        reason: str | None,
        source: str | None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create the PaymentRefund, its return order, and their marks on the payment and sale."""
        now = self.state.now()
        currency = payment["total_money"]["currency"]
        settings = self.state.settings.current
        external = payment["source_type"] in ("EXTERNAL", "CASH")
        refund: dict[str, Any] = {
            "id": f"{payment['id']}_{new_id(40)}",
            "status": settings.external_refund_status if external else settings.card_refund_status,
            "location_id": payment["location_id"],
            "unlinked": False,
            "destination_type": payment["source_type"],
            "amount_money": money(amount, currency),
            "payment_id": payment["id"],
            "order_id": new_id(),
            "created_at": now,
            "updated_at": now,
        }
        if reason:
            refund["reason"] = reason
        if body and body.get("team_member_id") is not None:
            refund["team_member_id"] = body["team_member_id"]
        if body and body.get("destination_id"):  # "populated only if destination_id is defined"
            details = {k: body[k] for k in ("cash_details", "external_details") if body.get(k) is not None}
            refund["destination_details"] = details
        self.state.save_order(
            return_order(refund["order_id"], payment["location_id"], entry, refund, now, source)
        )
        self.state.save_refund(refund)
        updated = copy.deepcopy(payment)
        updated["refund_ids"] = [*(payment.get("refund_ids") or []), refund["id"]]
        self._refresh_refunded(updated, now)
        if settings.sale_order_shows_refunds:
            self._show_on_sale(sale, entry["return_amounts"], order_refund(refund, sale["id"]), now)
        return refund

    def _refresh_refunded(self, payment: dict[str, Any], now: str) -> None:
        live = [r for r in self._refunds_of(payment) if r["status"] in ("PENDING", "COMPLETED")]
        currency = payment["total_money"]["currency"]
        payment["refunded_money"] = money(sum(r["amount_money"]["amount"] for r in live), currency)
        payment.update(updated_at=now, version_token=new_id(12))
        self.state.save_payment(payment)

    def _show_on_sale(
        self, sale: dict[str, Any], returned: dict[str, Any], refund: dict[str, Any], now: str
    ) -> None:
        order = copy.deepcopy(sale)
        order["refunds"] = [*(order.get("refunds") or []), refund]
        order["return_amounts"] = add_amounts(order.get("return_amounts"), returned)
        order["net_amounts"] = add_amounts(sale_amounts(order), order["return_amounts"], sign=-1)
        order["version"] += 1
        order["updated_at"] = now
        self.state.save_order(order)

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, refund_id: str) -> dict[str, Any]:
        with self.state.lock:
            refund = self.state.refunds.get(refund_id)
            if refund is None:
                raise not_found(f"Refund `{refund_id}` not found.", "refund_id")
            return {"refund": copy.deepcopy(refund)}

    def list(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            now = self.state.current_time()
        spec = list_query(query, ("CREATED_AT", "UPDATED_AT"), now)

        def wanted(r: dict[str, Any]) -> bool:
            return (
                spec.in_windows(r)
                and (not query.get("location_id") or r["location_id"] == query["location_id"])
                and (not query.get("status") or r["status"] == query["status"])
                and (not query.get("source_type") or r["destination_type"] == query["source_type"])
            )

        with self.state.lock:
            return spec.page((r for r in self.state.refunds.values() if wanted(r)), "refunds")

    # ---- sandbox plays (not part of Square's API) ---------------------------------------------------
    def _payment_for(self, sale: dict[str, Any], amount: int) -> dict[str, Any]:
        """The sale's tender payment a refund of ``amount`` goes on (the first that can take it)."""
        payments = [
            self.state.payments[t["payment_id"]]
            for t in sale.get("tenders") or []
            if t.get("payment_id") in self.state.payments
        ]
        if not payments:
            raise bad("BAD_REQUEST", f"Order `{sale['id']}` has no payment to refund.", "order_id")
        for payment in payments:
            if self.refundable(payment) >= amount:
                return payment
        return payments[0]  # _check_refundable says why it cannot

    def pos_itemized_refund(
        self, order_id: str, line_uid: str, quantity: str, reason: str | None = None
    ) -> dict[str, Any]:
        """The store refunds ``quantity`` units of a line in Square POS: an ITEM return order and
        a refund of that line's share of the money. Returns {"refund", "return_order"}."""
        with self.state.lock:
            sale = self.orders.order(order_id)
            line = next((li for li in sale.get("line_items") or [] if li.get("uid") == line_uid), None)
            if line is None:
                raise bad("INVALID_VALUE", f"Order `{order_id}` has no line item `{line_uid}`.", "line_uid")
            units = decimal_or_400(quantity, "quantity")
            before = returned_units(list(self.state.orders.values()), order_id, line_uid)
            if before + units > decimal_or_400(line.get("quantity"), "quantity", positive=False):
                left = decimal_or_400(line.get("quantity"), "quantity", positive=False) - before
                raise bad(
                    "INVALID_VALUE", f"Only {_units(left)} units of the line are left to return.", "quantity"
                )
            entry = itemized_return(sale, line, units, before, new_uid)
            amount = entry["return_amounts"]["total_money"]["amount"]
            return self._play(
                sale, entry, amount, reason or "Returned goods", POS_SOURCE, "pos_itemized_refund"
            )

    def dashboard_refund(
        self, order_id: str, amount: int, *, shipping: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        """The store refunds an amount in the Dashboard (``shipping``: marked as shipping, the return
        line named "Shipping" and the reason "Shipping"). Returns {"refund", "return_order"}."""
        with self.state.lock:
            sale = self.orders.order(order_id)
            name = "Shipping" if shipping else "Custom Amount"
            entry = custom_amount_return(sale, amount, new_uid, name=name)
            default_reason = "Shipping" if shipping else "Other"
            return self._play(
                sale, entry, amount, reason or default_reason, DASHBOARD_SOURCE, "dashboard_refund"
            )

    def _play(
        self, sale: dict[str, Any], entry: dict[str, Any], amount: int, reason: str, source: str, name: str
    ) -> dict[str, Any]:
        payment = self._payment_for(sale, amount)
        self._check_refundable(payment, amount)
        refund = self._record(payment, sale, entry, amount, reason, source)
        self.state.stats.mutation(f"square.sandbox.{name}")
        return {
            "refund": copy.deepcopy(refund),
            "return_order": copy.deepcopy(self.state.orders[refund["order_id"]]),
        }

    def settle(self, refund_id: str, status: str) -> dict[str, Any]:
        """Move a PENDING refund to COMPLETED, REJECTED or FAILED (what Square does in time)."""
        if status not in SETTLED_STATUSES:
            raise bad("INVALID_VALUE", f"status must be one of {', '.join(SETTLED_STATUSES)}.", "status")
        with self.state.lock:
            current = self.state.refunds.get(refund_id)
            if current is None:
                raise not_found(f"Refund `{refund_id}` not found.", "refund_id")
            if current["status"] == status:
                return {"refund": copy.deepcopy(current)}
            if current["status"] != "PENDING":
                raise bad("BAD_REQUEST", f"The refund is {current['status']} already.", "refund_id")
            now = self.state.now()
            refund = {**copy.deepcopy(current), "status": status, "updated_at": now}
            self.state.save_refund(refund)
            self._refresh_refunded(copy.deepcopy(self.state.payments[refund["payment_id"]]), now)
            for order_id in (refund["order_id"], self.state.payments[refund["payment_id"]].get("order_id")):
                self._restatus(order_id, refund_id, ORDER_REFUND_STATUS[status], now)
            self.state.stats.mutation("square.sandbox.settle_refund")
            return {"refund": copy.deepcopy(refund)}

    def _restatus(self, order_id: Any, refund_id: str, status: str, now: str) -> None:
        order = self.state.orders.get(order_id) if isinstance(order_id, str) else None
        if order is None or not any(r.get("id") == refund_id for r in order.get("refunds") or []):
            return
        order = copy.deepcopy(order)
        for r in order["refunds"]:
            if r.get("id") == refund_id:
                r["status"] = status
        order["version"] += 1
        order["updated_at"] = now
        self.state.save_order(order)


def _units(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def amount_minor(value: Any, field: str, currency: str) -> int:
    """A sandbox request's amount in minor units (``{"amount": N}`` or a bare integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"amount": value, "currency": currency}
    return money_or_400(as_dict(value, field), field, currency)
