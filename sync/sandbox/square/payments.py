"""Payments API (CreatePayment, GetPayment, ListPayments, UpdatePayment, CancelPayment,
CompletePayment, CancelPaymentByIdempotencyKey) and the Orders API's PayOrder, which captures
payments into an order.

Rules emulated (Payments API reference, "Pay for Orders", "Take Cash Payments", sandbox test
values):

* Sources: ``EXTERNAL`` (``external_details`` with a documented ``type`` and a ``source``),
  ``CASH`` (``cash_details.buyer_supplied_money`` at least the total; ``change_back_money`` is
  computed) and Square's sandbox card nonce ``cnon:card-nonce-ok`` (a VISA ending 1111). Other
  sources are refused.
* ``autocomplete`` (default true) completes the payment at once; false leaves it APPROVED until
  CompletePayment, PayOrder or CancelPayment.
* With ``order_id``: "When applications want to pay for an order using a single payment, they can
  use the Payments API ... The payment amount must match the order total" ("Pay for Orders"). So an
  autocompleted payment must pay exactly what the order still owes (PAYMENT_AMOUNT_MISMATCH
  otherwise) and it pays the order — it becomes a tender, no PayOrder is needed. A delayed payment
  (``autocomplete: false``) may pay part, up to what is still owed, for a later PayOrder of several
  payments; ``delay_action: COMPLETE`` is refused with an order ("provided value: COMPLETE is
  invalid if an order_id is provided", as Square answered on its forum).
* Without ``order_id`` Square creates an order for the payment ("stand alone payment created with
  the Payments API will generate an order", a Square staff answer): one CUSTOM_AMOUNT line; it is
  COMPLETED with the payment (its amount follows an UpdatePayment before that).
* PayOrder: the payments must be APPROVED (or already this order's tenders) and sum to the order
  total; "any approved payments that reference the same order_id not specified in the
  payment_ids will be canceled". Paying removes the order's 0-quantity lines.
* CompletePayment of an order's payment completes it only when it pays what the order still owes
  (the rule above; Square's behaviour for a partial one is not documented).
* ListPayments: ``begin_time`` (inclusive, default one year ago) / ``end_time`` on ``created_at``,
  ``updated_at_*``, ``location_id`` (default the main location), ``total``, ``last_4``,
  ``card_brand``, ``sort_order``/``sort_field``, at most 100 a page, a cursor.
"""

from __future__ import annotations

import copy
from typing import Any

from sync.sandbox.square.errors import bad, not_found
from sync.sandbox.square.fulfillments import close, remove_zero_quantity_lines
from sync.sandbox.square.listing import list_query
from sync.sandbox.square.locations import MAIN_LOCATION_ID, location
from sync.sandbox.square.money import money
from sync.sandbox.square.orders import IDEMPOTENCY_KEY_MAX, OrdersModel, paid_amount
from sync.sandbox.square.state import SquareState
from sync.sandbox.square.validate import (
    as_dict,
    as_list,
    fingerprint,
    money_or_400,
    new_id,
    new_uid,
    require_str,
    strip_nulls,
)

PAYMENT_IDEMPOTENCY_KEY_MAX = 45
SANDBOX_CARD_NONCE = "cnon:card-nonce-ok"
EXTERNAL_TYPES = (
    "CHECK",
    "BANK_TRANSFER",
    "OTHER_GIFT_CARD",
    "CRYPTO",
    "SQUARE_CASH",
    "SOCIAL",
    "EXTERNAL",
    "EMONEY",
    "CARD",
    "STORED_BALANCE",
    "FOOD_VOUCHER",
    "OTHER",
)
TENDER_TYPES = {"EXTERNAL": "OTHER", "CASH": "CASH", "CARD": "CARD"}
_SANDBOX_CARD = {
    "card_brand": "VISA",
    "last_4": "1111",
    "exp_month": 11,
    "exp_year": 2030,
    "card_type": "CREDIT",
}


class PaymentsModel:
    def __init__(self, state: SquareState, orders: OrdersModel) -> None:
        self.state = state
        self.orders = orders

    # ---- helpers -----------------------------------------------------------------------------------
    def payment(self, payment_id: Any, field: str = "payment_id") -> dict[str, Any]:
        found = self.state.payments.get(payment_id) if isinstance(payment_id, str) else None
        if found is None:
            raise not_found(f"Payment `{payment_id}` not found.", field)
        return found

    def due(self, order: dict[str, Any], exclude: frozenset[str] = frozenset()) -> int:
        """What is still to be paid: total minus payments already linked (approved or completed)."""
        taken = sum(
            self.state.payments[p]["amount_money"]["amount"]
            for p in self.state.payments_by_order.get(order["id"], [])
            if p not in exclude and self.state.payments[p]["status"] in ("APPROVED", "COMPLETED")
        )
        return int(order["total_money"]["amount"]) - taken

    @staticmethod
    def _tender(payment: dict[str, Any], order: dict[str, Any], now: str) -> dict[str, Any]:
        tender: dict[str, Any] = {
            "id": payment["id"],
            "location_id": payment["location_id"],
            "transaction_id": order["id"],
            "created_at": now,
            "amount_money": payment["amount_money"],
            "type": TENDER_TYPES[payment["source_type"]],
            "payment_id": payment["id"],
        }
        if payment.get("tip_money"):
            tender["tip_money"] = payment["tip_money"]
        return tender

    def _pay_into(
        self,
        order: dict[str, Any],
        payments: list[dict[str, Any]],
        now: str,
        *,
        made_for_payment: bool = False,
    ) -> dict[str, Any]:
        """The order with these (now COMPLETED) payments as tenders, saved as a new version; an
        order Square made for the payment closes with it."""
        order = copy.deepcopy(order)
        tenders = order.setdefault("tenders", [])
        for payment in payments:
            tenders.append(self._tender(payment, order, now))
        remove_zero_quantity_lines(order)
        if made_for_payment:
            close(order, "COMPLETED", now)
        self.orders.save_new_version(order, now)
        return order

    def _auto_order(self, payment: dict[str, Any], now: str) -> dict[str, Any]:
        """The order Square makes for a payment taken without one."""
        currency = payment["amount_money"]["currency"]
        order: dict[str, Any] = {
            "location_id": payment["location_id"],
            "state": "OPEN",
            "line_items": [
                {
                    "uid": new_uid(),
                    "name": "Custom Amount",
                    "quantity": "1",
                    "item_type": "CUSTOM_AMOUNT",
                    "base_price_money": money(payment["amount_money"]["amount"], currency),
                }
            ],
        }
        self.orders.price(order)
        order.update(id=new_id(), version=1, created_at=now, updated_at=now)
        self.state.save_order(order)
        return order

    # ---- CreatePayment -----------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", PAYMENT_IDEMPOTENCY_KEY_MAX)
        source_id = require_str(body, "source_id", "source_id")
        with self.state.lock:
            existing = self.state.replay("payments.create", key, fingerprint(body))
            if existing is not None:
                return {"payment": copy.deepcopy(self.state.payments[existing])}
            order_id = body.get("order_id")
            order = self.orders.order(order_id, "order_id") if order_id else None
            location_id = body.get("location_id") or (order["location_id"] if order else MAIN_LOCATION_ID)
            currency = location(location_id, "location_id")["currency"]
            amount = money_or_400(body.get("amount_money"), "amount_money", currency)
            if amount <= 0:
                raise bad(
                    "INVALID_VALUE", "amount_money.amount must be greater than 0.", "amount_money.amount"
                )
            tip = money_or_400(body["tip_money"], "tip_money", currency) if body.get("tip_money") else 0
            autocomplete = body.get("autocomplete", True)
            if not isinstance(autocomplete, bool):
                raise bad("EXPECTED_BOOLEAN", "Expected autocomplete to be a boolean.", "autocomplete")
            now = self.state.now()
            payment = {
                "id": new_id(),
                "created_at": now,
                "updated_at": now,
                "amount_money": money(amount, currency),
                "total_money": money(amount + tip, currency),
                "approved_money": money(amount + tip, currency),
                "status": "COMPLETED" if autocomplete else "APPROVED",
                "location_id": location_id,
                "delay_action": body.get("delay_action") or "CANCEL",
                "version_token": new_id(12),
            }
            if tip:
                payment["tip_money"] = money(tip, currency)
            payment.update(self._source(source_id, body, amount + tip, currency))
            for k in ("reference_id", "note", "customer_id", "team_member_id", "delay_duration"):
                if body.get(k) is not None:
                    payment[k] = body[k]
            made_for_payment = order is None
            if order is not None:
                self._check_order_payment(order, location_id, amount, autocomplete, payment["delay_action"])
            else:
                order = self._auto_order(payment, now)
            payment["order_id"] = order["id"]
            payment["receipt_number"] = payment["id"][:4]
            self.state.save_payment(payment)
            if autocomplete:
                self._pay_into(order, [payment], now, made_for_payment=made_for_payment)
            self.state.remember("payments.create", key, fingerprint(body), payment["id"])
            self.state.stats.mutation("square.payments.create")
            return {"payment": copy.deepcopy(payment)}

    @staticmethod
    def _source(source_id: str, body: dict[str, Any], total: int, currency: str) -> dict[str, Any]:
        if source_id == "EXTERNAL":
            ext = as_dict(body.get("external_details"), "external_details")
            if ext.get("type") not in EXTERNAL_TYPES:
                raise bad("INVALID_VALUE", "external_details.type is invalid.", "external_details.type")
            require_str(ext, "source", "external_details.source", 255)
            return {"source_type": "EXTERNAL", "external_details": copy.deepcopy(ext)}
        if source_id == "CASH":
            cash = as_dict(body.get("cash_details"), "cash_details")
            supplied = money_or_400(
                cash.get("buyer_supplied_money"), "cash_details.buyer_supplied_money", currency
            )
            if supplied < total:
                raise bad(
                    "INVALID_VALUE",
                    "cash_details.buyer_supplied_money must be at least the payment total.",
                    "cash_details.buyer_supplied_money",
                )
            return {
                "source_type": "CASH",
                "cash_details": {
                    "buyer_supplied_money": money(supplied, currency),
                    "change_back_money": money(supplied - total, currency),
                },
            }
        if source_id == SANDBOX_CARD_NONCE:
            return {
                "source_type": "CARD",
                "card_details": {
                    "status": "CAPTURED" if body.get("autocomplete", True) else "AUTHORIZED",
                    "card": dict(_SANDBOX_CARD, fingerprint="sq-1-sandbox-card"),
                    "entry_method": "KEYED",
                    "cvv_status": "CVV_ACCEPTED",
                    "avs_status": "AVS_ACCEPTED",
                },
            }
        raise bad(
            "INVALID_VALUE",
            f"The sandbox accepts source_id EXTERNAL, CASH or {SANDBOX_CARD_NONCE}.",
            "source_id",
        )

    def _check_order_payment(
        self, order: dict[str, Any], location_id: str, amount: int, autocomplete: bool, delay_action: str
    ) -> None:
        if order["location_id"] != location_id:
            raise bad("INVALID_VALUE", "The payment location must be the order's location.", "location_id")
        if order["state"] != "OPEN":
            raise bad(
                "BAD_REQUEST", f"Cannot take a payment for an order in state {order['state']}.", "order_id"
            )
        if delay_action == "COMPLETE":
            raise bad(
                "BAD_REQUEST",
                "provided value: COMPLETE is invalid if an order_id is provided",
                "delay_action",
            )
        due = self.due(order)
        if autocomplete and amount != due:
            raise bad(
                "PAYMENT_AMOUNT_MISMATCH",
                f"The payment total does not match the order total: the order still owes {due}, "
                f"the payment is {amount}.",
                "amount_money.amount",
            )
        if amount > due:
            raise bad(
                "PAYMENT_AMOUNT_MISMATCH",
                f"The payment amount {amount} exceeds the amount due {due} on the order.",
                "amount_money.amount",
            )

    # ---- reads -------------------------------------------------------------------------------------
    def get(self, payment_id: str) -> dict[str, Any]:
        with self.state.lock:
            return {"payment": copy.deepcopy(self.payment(payment_id))}

    def list(self, query: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            now = self.state.current_time()
        spec = list_query(query, ("CREATED_AT", "OFFLINE_CREATED_AT", "UPDATED_AT"), now)
        location_id = query.get("location_id") or MAIN_LOCATION_ID
        total = query.get("total")

        def wanted(p: dict[str, Any]) -> bool:
            card = (p.get("card_details") or {}).get("card") or {}
            return (
                p["location_id"] == location_id
                and spec.in_windows(p)
                and (total is None or str(p["total_money"]["amount"]) == str(total))
                and (not query.get("last_4") or card.get("last_4") == query["last_4"])
                and (not query.get("card_brand") or card.get("card_brand") == query["card_brand"])
            )

        with self.state.lock:
            return spec.page((p for p in self.state.payments.values() if wanted(p)), "payments")

    # ---- changes to APPROVED payments ----------------------------------------------------------------
    def update(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", PAYMENT_IDEMPOTENCY_KEY_MAX)
        patch = as_dict(body.get("payment"), "payment", required=False)
        with self.state.lock:
            current = self.payment(payment_id)
            scope = f"payments.update:{payment_id}"
            if self.state.replay(scope, key, fingerprint(body)) is not None:
                return {"payment": copy.deepcopy(current)}
            self._check_version_token(current, patch.get("version_token"), "payment.version_token")
            if current["status"] != "APPROVED":
                raise bad("BAD_REQUEST", f"A {current['status']} payment cannot be updated.", "payment_id")
            currency = current["amount_money"]["currency"]
            payment = copy.deepcopy(current)
            if patch.get("amount_money") is not None:
                payment["amount_money"] = money(
                    money_or_400(patch["amount_money"], "payment.amount_money", currency), currency
                )
            if patch.get("tip_money") is not None:
                payment["tip_money"] = money(
                    money_or_400(patch["tip_money"], "payment.tip_money", currency), currency
                )
            amount = payment["amount_money"]["amount"]
            if amount <= 0:
                raise bad(
                    "INVALID_VALUE", "amount_money.amount must be greater than 0.", "payment.amount_money"
                )
            order = self.state.orders.get(payment.get("order_id") or "")
            if order is not None and self._made_for(order, payment_id):
                self._follow_amount(order, amount)
            elif order is not None and amount > self.due(order, exclude=frozenset({payment_id})):
                raise bad(
                    "PAYMENT_AMOUNT_MISMATCH",
                    "The payment amount exceeds the amount due.",
                    "payment.amount_money",
                )
            total = amount + (payment.get("tip_money") or {}).get("amount", 0)
            payment["total_money"] = payment["approved_money"] = money(total, currency)
            payment.update(updated_at=self.state.now(), version_token=new_id(12))
            self.state.save_payment(payment)
            self.state.remember(scope, key, fingerprint(body), payment_id)
            self.state.stats.mutation("square.payments.update")
            return {"payment": copy.deepcopy(payment)}

    def _made_for(self, order: dict[str, Any], payment_id: str) -> bool:
        """Whether ``order`` is the one Square made for this payment (see ``_auto_order``)."""
        lines = order.get("line_items") or []
        return (
            not order.get("tenders")
            and self.state.payments_by_order.get(order["id"]) == [payment_id]
            and len(lines) == 1
            and lines[0].get("item_type") == "CUSTOM_AMOUNT"
        )

    def _follow_amount(self, order: dict[str, Any], amount: int) -> None:
        """The order Square made for a payment follows the payment's new amount."""
        order = copy.deepcopy(order)
        order["line_items"][0]["base_price_money"] = money(amount, order["total_money"]["currency"])
        self.orders.price(order)
        order["version"] += 1
        order["updated_at"] = self.state.now()
        self.state.save_order(order)

    @staticmethod
    def _check_version_token(payment: dict[str, Any], token: Any, field: str) -> None:
        if token is not None and token != payment.get("version_token"):
            raise bad(
                "VERSION_MISMATCH", "The payment version_token does not match the current version.", field
            )

    def cancel(self, payment_id: str) -> dict[str, Any]:
        with self.state.lock:
            current = self.payment(payment_id)
            if current["status"] == "CANCELED":
                return {"payment": copy.deepcopy(current)}
            if current["status"] != "APPROVED":
                raise bad("BAD_REQUEST", f"A {current['status']} payment cannot be canceled.", "payment_id")
            payment = self._canceled(current)
            self.state.stats.mutation("square.payments.cancel")
            return {"payment": copy.deepcopy(payment)}

    def _canceled(self, current: dict[str, Any]) -> dict[str, Any]:
        payment = copy.deepcopy(current)
        payment.update(status="CANCELED", updated_at=self.state.now(), version_token=new_id(12))
        payment.pop("receipt_number", None)
        if payment.get("card_details"):
            payment["card_details"]["status"] = "VOIDED"
        self.state.save_payment(payment)
        return payment

    def cancel_by_idempotency_key(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", PAYMENT_IDEMPOTENCY_KEY_MAX)
        with self.state.lock:
            payment_id = self.state.payments_by_key.get(key)
            payment = self.state.payments.get(payment_id or "")
            if payment is not None and payment["status"] == "APPROVED":
                self._canceled(payment)
                self.state.stats.mutation("square.payments.cancel_by_idempotency_key")
        return {}

    def complete(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        with self.state.lock:
            current = self.payment(payment_id)
            self._check_version_token(current, body.get("version_token"), "version_token")
            if current["status"] == "COMPLETED":
                return {"payment": copy.deepcopy(current)}
            if current["status"] != "APPROVED":
                raise bad("BAD_REQUEST", f"A {current['status']} payment cannot be completed.", "payment_id")
            order = self.state.orders.get(current.get("order_id") or "")
            amount = current["amount_money"]["amount"]
            if order is not None and order["state"] == "OPEN":
                due = order["total_money"]["amount"] - paid_amount(order)
                if amount != due:
                    raise bad(
                        "PAYMENT_AMOUNT_MISMATCH",
                        "The payment total does not match the order total; pay several with PayOrder.",
                        "payment_id",
                    )
            now = self.state.now()
            made_for_payment = order is not None and self._made_for(order, payment_id)
            payment = self._completed(current, now)
            if order is not None and order["state"] == "OPEN":
                self._pay_into(order, [payment], now, made_for_payment=made_for_payment)
            self.state.stats.mutation("square.payments.complete")
            return {"payment": copy.deepcopy(payment)}

    def _completed(self, current: dict[str, Any], now: str) -> dict[str, Any]:
        payment = copy.deepcopy(current)
        payment.update(status="COMPLETED", updated_at=now, version_token=new_id(12))
        if payment.get("card_details"):
            payment["card_details"]["status"] = "CAPTURED"
        self.state.save_payment(payment)
        return payment

    # ---- PayOrder --------------------------------------------------------------------------------------
    def pay_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        payment_ids = as_list(body.get("payment_ids"), "payment_ids")
        with self.state.lock:
            current = self.orders.order(order_id)
            scope = f"orders.pay:{order_id}"
            if self.state.replay(scope, key, fingerprint(body)) is not None:
                return {"order": copy.deepcopy(current)}
            version = body.get("order_version")
            if version is not None and version != current["version"]:
                raise bad(
                    "VERSION_MISMATCH",
                    f"Supplied version {version} does not match the current version "
                    f"{current['version']} of order {order_id}.",
                    "order_version",
                )
            if current["state"] != "OPEN":
                raise bad("BAD_REQUEST", f"An order in state {current['state']} cannot be paid.", "order_id")
            tendered = {t.get("payment_id") for t in current.get("tenders") or []}
            payments = [self._payable(pid, i, order_id) for i, pid in enumerate(payment_ids)]
            new = [p for p in payments if p["id"] not in tendered]
            if not new and "tenders" in current:
                return {"order": copy.deepcopy(current)}  # already paid with these payments
            total = paid_amount(current) + sum(p["amount_money"]["amount"] for p in new)
            if total != current["total_money"]["amount"]:
                raise bad(
                    "PAYMENT_AMOUNT_MISMATCH",
                    "The total of the requested payments does not match the total of the sale order.",
                    "payment_ids",
                )
            now = self.state.now()
            completed = [self._completed(p, now) for p in new]
            listed = {p["id"] for p in payments}
            for other in self.state.payments_by_order.get(order_id, []):
                if other not in listed and self.state.payments[other]["status"] == "APPROVED":
                    self._canceled(self.state.payments[other])  # "will be canceled"
            order = self._pay_into(current, completed, now)
            self.state.remember(scope, key, fingerprint(body), order_id)
            self.state.stats.mutation("square.orders.pay")
            return {"order": copy.deepcopy(order)}

    def _payable(self, pid: Any, index: int, order_id: str) -> dict[str, Any]:
        field = f"payment_ids[{index}]"
        payment = self.state.payments.get(pid) if isinstance(pid, str) else None
        if payment is None:
            raise not_found(f"Payment `{pid}` not found.", field)
        if payment.get("order_id") not in (None, order_id):
            raise bad("INVALID_VALUE", f"Payment `{pid}` belongs to another order.", field)
        if payment["status"] not in ("APPROVED", "COMPLETED"):
            raise bad("BAD_REQUEST", f"Payment `{pid}` is {payment['status']}.", field)
        return payment
