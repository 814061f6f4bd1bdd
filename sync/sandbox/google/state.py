"""The state of one Content API environment (sandbox or production) and the rules every resource shares.

An ``OrderBook`` holds every merchant account's orders, returns and disbursement transactions
behind one lock. Each order is a record ``{"order": <v2 Order JSON>, "ops": {operationId:
fingerprint}, ...}`` written through the ``StateStore`` after every change, so ``--state``
survives restarts. Sandbox and production are separate books with separate store kinds: an order
created under ``/content/v2sandbox/`` is not visible under ``/content/v2/`` (as at Google).

Shared rules (the resource modules build on them):
* ``touch`` re-derives ``quantityPending`` and ``status`` from the line counters and saves;
  test orders stay ``inProgress`` until advanced.
* ``record_refund`` is the one place money goes back to the customer: it appends to
  ``refunds[]``, lowers ``netAmount`` and, once the order was charged, books a negative
  transaction for ``orderreports``. ``check_refundable`` refuses a refund above ``netAmount``.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

from sync.sandbox.google.common import (
    GoogleError,
    bad,
    dec,
    money,
    now_iso,
    round_minor,
    validate_merchant_id,
)
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

Environment = Literal["sandbox", "production"]
DEFAULT_MERCHANT_ID = "1234567"


def derive_status(order: dict[str, Any], advanced: bool) -> str:
    """Order.status from the line-item counters (Google's documented status values)."""
    lines = order["lineItems"]
    ordered = sum(li["quantityOrdered"] - li["quantityCanceled"] for li in lines)
    if ordered <= 0:
        return "canceled"
    if not advanced:
        return "inProgress"
    shipped = sum(li["quantityShipped"] for li in lines)
    delivered = sum(li["quantityDelivered"] for li in lines)
    returned = sum(li["quantityReturned"] for li in lines)
    if returned:
        return "returned" if returned >= ordered else "partiallyReturned"
    if delivered:
        return "delivered" if delivered >= ordered else "partiallyDelivered"
    if shipped:
        return "shipped" if shipped >= ordered else "partiallyShipped"
    return "pendingShipment"


class Account:
    __slots__ = ("by_merchant_order_id", "keys", "merchant_id", "return_keys", "transactions")

    def __init__(self, merchant_id: str) -> None:
        self.merchant_id = merchant_id
        self.keys: list[tuple[float, str]] = []  # (placed epoch, order id), sorted: the list index
        self.return_keys: list[tuple[float, str]] = []
        self.by_merchant_order_id: dict[str, str] = {}
        self.transactions: list[dict[str, Any]] = []  # in booking order


class OrderBook:
    """All Content API state of one environment. Methods raise ``GoogleError``; they are thread-safe."""

    def __init__(
        self,
        store: StateStore,
        stats: Stats,
        *,
        seed: int | None = None,
        environment: Environment = "sandbox",
    ) -> None:
        self.store = store
        self.stats = stats
        self.environment = environment
        # The sandbox keeps the kinds it always had, so existing --state files load unchanged.
        prefix = "google." if environment == "sandbox" else "google.production."
        self.k_order, self.k_account = prefix + "order", prefix + "account"
        self.k_return, self.k_txn = prefix + "return", prefix + "transaction"
        self._lock = threading.RLock()
        # Ids are unique across environments too (Google's order ids are globally unique).
        self._rng = random.Random(
            seed if seed is None or environment == "sandbox" else f"{seed}:{environment}"
        )
        self._orders: dict[str, dict[str, Any]] = {}
        self._json: dict[tuple[str, str], str] = {}
        self._returns: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, Account] = {}
        self._load()

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        with self._lock:
            for key, _value in self.store.load(self.k_account):
                self._account(key, persist=False)
            for _key, rec in self.store.load(self.k_order):
                self._index_order(rec)
            for _key, ret in self.store.load(self.k_return):
                self._index_return(ret)
            for _key, txn in self.store.load(self.k_txn):
                self._account(txn["merchantId"], persist=False).transactions.append(txn)
            self._account(DEFAULT_MERCHANT_ID)

    def reset(self) -> None:
        """Forget everything (the caller clears the store)."""
        with self._lock:
            self._orders.clear()
            self._json.clear()
            self._returns.clear()
            self._accounts.clear()
            self._account(DEFAULT_MERCHANT_ID)

    def _account(self, merchant_id: str, persist: bool = True) -> Account:
        acc = self._accounts.get(merchant_id)
        if acc is None:
            acc = self._accounts[merchant_id] = Account(merchant_id)
            if persist:
                self.store.put(self.k_account, merchant_id, {"id": merchant_id, "created": now_iso()})
        return acc

    def _index_order(self, rec: dict[str, Any]) -> None:
        order = rec["order"]
        acc = self._account(order["merchantId"], persist=False)
        self._orders[order["id"]] = rec
        bisect.insort(acc.keys, (rec["placed"], order["id"]))
        if order.get("merchantOrderId"):
            acc.by_merchant_order_id[order["merchantOrderId"]] = order["id"]

    def _index_return(self, ret: dict[str, Any]) -> None:
        acc = self._account(ret["_merchantId"], persist=False)
        self._returns[ret["orderReturnId"]] = ret
        bisect.insort(acc.return_keys, (ret["_created"], ret["orderReturnId"]))

    def _save(self, rec: dict[str, Any]) -> None:
        oid = rec["order"]["id"]
        self._json.pop((oid, "v2"), None)
        self._json.pop((oid, "v2.1"), None)
        self.store.put(self.k_order, oid, rec)

    def _save_returns(self, rec: dict[str, Any]) -> None:
        for rid in rec["returnIds"]:
            self.store.put(self.k_return, rid, self._returns[rid])

    # ------------------------------------------------------------------ lookups
    def ensure_account(self, merchant_id: str) -> str:
        merchant_id = validate_merchant_id(merchant_id)
        with self._lock:
            self._account(merchant_id)
        return merchant_id

    def account_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._accounts)

    def order_count(self) -> int:
        with self._lock:
            return len(self._orders)

    def _rec(self, merchant_id: str, order_id: str) -> dict[str, Any]:
        rec = self._orders.get(order_id)
        if rec is None or rec["order"]["merchantId"] != merchant_id:
            raise GoogleError(404, "notFound", f"Order {order_id} not found for merchant {merchant_id}.")
        return rec

    def _new_id(self, fmt: Callable[[random.Random], str], taken: dict[str, Any]) -> str:
        for _ in range(1000):
            candidate = fmt(self._rng)
            if candidate not in taken:
                return candidate
        raise GoogleError(500, "backendError", "Could not allocate a unique id.")

    def _line(self, order: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        line_id, product_id = req.get("lineItemId"), req.get("productId")
        if not line_id and not product_id:
            raise bad("Required field: lineItemId or productId", "required")
        for li in order["lineItems"]:
            if (not line_id or li["id"] == line_id) and (not product_id or li["product"]["id"] == product_id):
                return li
        which = f"lineItemId {line_id}" if line_id else f"productId {product_id}"
        raise bad(f"Unknown {which} in order {order['id']}.")

    # ------------------------------------------------------------------ shared rules
    def _touch(self, rec: dict[str, Any]) -> None:
        order = rec["order"]
        for li in order["lineItems"]:
            li["quantityPending"] = li["quantityOrdered"] - li["quantityShipped"] - li["quantityCanceled"]
        order["status"] = derive_status(order, rec["advanced"])
        self._save(rec)

    def _check_refundable(self, rec: dict[str, Any], amount: Decimal) -> None:
        if amount > dec(rec["order"]["netAmount"]):
            raise bad(
                f"Refund of {amount} exceeds the remaining order amount {rec['order']['netAmount']['value']}."
            )

    def _record_refund(
        self,
        rec: dict[str, Any],
        pretax: Decimal,
        tax: Decimal,
        actor: str,
        reason: str,
        reason_text: str,
        stamp: str,
        line_id: str | None = None,
        charged: bool = True,
    ) -> None:
        """Refund ``pretax`` + ``tax`` (rounded to the minor unit), charged to ``line_id`` if given.

        ``charged`` is False for units never charged (a cancellation): no transaction is booked.
        """
        order = rec["order"]
        cur = order["netAmount"]["currency"]
        pretax, tax = round_minor(pretax, cur), round_minor(tax, cur)
        amount = pretax + tax
        if amount <= 0:
            return
        if line_id is not None:
            refunded = rec.setdefault("lineRefunded", {})
            refunded[line_id] = str(Decimal(refunded.get(line_id, "0")) + amount)
        order["refunds"].append(
            {
                "actor": actor,
                "amount": money(amount, cur),
                "creationDate": stamp,
                "reason": reason,
                "reasonText": reason_text,
            }
        )
        order["netAmount"] = money(dec(order["netAmount"]) - amount, cur)
        rec["refundedTax"] = str(Decimal(rec.get("refundedTax", "0")) + tax)
        if charged and order.get("paymentStatus") == "paymentCaptured":
            self._book_transaction(rec, -pretax, -tax, stamp)

    def _book_transaction(self, rec: dict[str, Any], pretax: Decimal, tax: Decimal, stamp: str) -> None:
        """Money Google moved for the order (a charge, or a negative refund) → ``orderreports``."""
        order = rec["order"]
        acc = self._account(order["merchantId"])
        txn = {
            "merchantId": order["merchantId"],
            "orderId": order["id"],
            "seq": len(acc.transactions),
            "transactionDate": stamp,
            "currency": order["netAmount"]["currency"],
            "pretax": str(pretax),
            "tax": str(tax),
            # Marketplace facilitator: Google remits the tax, the merchant is paid the pre-tax part.
            "remitted": str(tax) if order.get("taxCollector") == "marketplaceFacilitator" else "0",
        }
        acc.transactions.append(txn)
        self.store.put(self.k_txn, f"{order['merchantId']}:{txn['seq']:09d}", txn)

    # ------------------------------------------------------------------ rendering
    def _order_json(self, rec: dict[str, Any], version: str) -> str:
        """The order's JSON, cached until it changes: reads are the hot path of every client."""
        key = (rec["order"]["id"], version)
        text = self._json.get(key)
        if text is None:
            order = (
                order_v21(rec["order"], rec.get("refundedTax", "0")) if version == "v2.1" else rec["order"]
            )
            text = self._json[key] = json.dumps(order, separators=(",", ":"))
        return text

    def _render(self, rec: dict[str, Any], version: str) -> dict[str, Any]:
        return json.loads(self._order_json(rec, version))  # a private copy for the caller


def order_v21(order: dict[str, Any], rec_refunded_tax: str = "0") -> dict[str, Any]:
    """Render a stored (v2-shaped) order in the v2.1 ``Order`` shape."""
    out = {
        k: v
        for k, v in order.items()
        if k not in ("netAmount", "paymentMethod", "channelType", "shippingOption", "promotions")
    }
    cur = order["netAmount"]["currency"]
    net = dec(order["netAmount"])
    tax_total = sum((dec(li["tax"]) for li in order["lineItems"]), Decimal(0)) + dec(order["shippingCostTax"])
    net_tax = max(Decimal(0), tax_total - Decimal(rec_refunded_tax))
    out["netTaxAmount"] = money(net_tax, cur)
    out["netPriceAmount"] = money(max(Decimal(0), net - net_tax), cur)
    out["promotions"] = []
    if "paymentMethod" in order:
        out["billingAddress"] = order["paymentMethod"].get("billingAddress")
    lines = []
    for li in order["lineItems"]:
        li2 = dict(li)
        li2["quantityUndeliverable"] = 0
        li2["adjustments"] = []
        lines.append(li2)
    out["lineItems"] = lines
    return out
