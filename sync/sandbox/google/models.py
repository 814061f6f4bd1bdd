"""State and rules of the emulated Content API v2 ``orders`` resource (no HTTP here).

One ``GoogleBackend`` holds every merchant account's orders and returns behind one lock. Each
order is a record ``{"order": <v2 Order JSON>, "ops": {operationId: fingerprint}, ...}`` written
through the ``StateStore`` after every change, so ``--state`` survives restarts.

Rules worth knowing (also in docs/architecture.md):
* Every mutation needs ``operationId``. The fingerprint of a request is its method plus the
  canonical JSON of the body without ``operationId`` (single calls and custombatch entries
  therefore fingerprint alike). Same id + same fingerprint → ``executionStatus: duplicate``, no
  change. Same id + different request → 409, reason ``duplicate`` (the body of spec §5). Failed
  requests do not consume their operationId, so a corrected retry may reuse it.
* ``shipmentId`` is unique per order. Shipping an existing shipmentId again with the *same* line
  items, carrier and tracking id under a new operationId is a no-op answered with
  ``executionStatus: duplicate`` (a resent fulfilment event cannot ship twice); with different
  contents it is a 409 ``conflict``.
* Validation happens before any change, so a failed request leaves the order untouched.
* Status is derived from the line-item counters; test orders stay ``inProgress`` until advanced.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import random
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sync.sandbox.google import templates
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

DEFAULT_MERCHANT_ID = "1234567"
BATCH_LIMIT = 1000
MAX_PAGE = 250
DEFAULT_PAGE = 25
CENT = Decimal("0.01")
TAX_RATE = {"US": Decimal("0.08"), "FR": Decimal("0.20")}

K_ORDER, K_ACCOUNT, K_RETURN = "google.order", "google.account", "google.return"

STATUS_ENUM = {
    "IN_PROGRESS": "inProgress",
    "PENDING_SHIPMENT": "pendingShipment",
    "PARTIALLY_SHIPPED": "partiallyShipped",
    "SHIPPED": "shipped",
    "PARTIALLY_DELIVERED": "partiallyDelivered",
    "DELIVERED": "delivered",
    "PARTIALLY_RETURNED": "partiallyReturned",
    "RETURNED": "returned",
    "CANCELED": "canceled",
}
STATUS_GROUPS = {
    "active": {"pendingShipment", "partiallyShipped"},
    "completed": {"shipped", "partiallyDelivered", "delivered", "partiallyReturned", "returned", "canceled"},
}
CANCEL_REASONS = {
    "customerInitiatedCancel",
    "invalidCoupon",
    "malformedShippingAddress",
    "noInventory",
    "other",
    "priceError",
    "shippingPriceError",
    "taxError",
    "undeliverableShippingAddress",
    "unsupportedPoBoxAddress",
}
RETURN_REASONS = {
    "customerDiscretionaryReturn",
    "customerInitiatedMerchantCancel",
    "deliveredTooLate",
    "expiredItem",
    "invalidCoupon",
    "malformedShippingAddress",
    "other",
    "productArrivedDamaged",
    "productNotAsDescribed",
    "qualityNotAsExpected",
    "undeliverableShippingAddress",
    "unsupportedPoBoxAddress",
    "wrongProductShipped",
}
REJECT_REASONS = {"damagedOrUsed", "missingComponent", "notEligible", "other", "outOfReturnWindow"}
REFUND_REASONS = {
    "adjustment",
    "courtesyAdjustment",
    "customerCanceled",
    "customerDiscretionaryReturn",
    "deliveredLateByCarrier",
    "feeAdjustment",
    "lateShipmentCredit",
    "noInventory",
    "other",
    "priceError",
    "productArrivedDamaged",
    "productNotAsDescribed",
    "shippingCostAdjustment",
    "taxAdjustment",
    "undeliverableShippingAddress",
    "wrongProductShipped",
}
CUSTOMER_CANCEL_REASONS = {"changedMind", "orderedWrongItem", "other"}
SHIPPING_OPTIONS = {"economy", "expedited", "oneDay", "sameDay", "standard", "twoDay"}
SHIPMENT_UPDATE_STATUSES = {"delivered", "undeliverable", "readyForPickup"}

# custombatch ``method`` → discovery method name (the Stats id is "content.orders." + this).
BATCH_METHODS = {
    m: m.lower()
    for m in (
        "acknowledge",
        "cancel",
        "cancelLineItem",
        "get",
        "getByMerchantOrderId",
        "inStoreRefundLineItem",
        "refund",
        "rejectReturnLineItem",
        "returnLineItem",
        "returnRefundLineItem",
        "setLineItemMetadata",
        "shipLineItems",
        "updateLineItemShippingDetails",
        "updateMerchantOrderId",
        "updateShipment",
    )
}
# Request sub-object name per method for custombatch (the rest use the entry's own fields).
_SUBOBJECT = {
    m: m
    for m in BATCH_METHODS
    if m not in ("acknowledge", "get", "getByMerchantOrderId", "updateMerchantOrderId")
}


class GoogleError(Exception):
    """An API error: HTTP status, Google ``reason`` and message (rendered by routes)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def _bad(message: str, reason: str = "invalid") -> GoogleError:
    return GoogleError(400, reason, message)


def now_iso(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def parse_time(value: str, field: str) -> datetime:
    """ISO 8601 date or date-time; naive values are taken as UTC."""
    try:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    except (ValueError, AttributeError) as exc:
        raise _bad(f"Invalid value for {field}: {value!r} is not an ISO 8601 date/time") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def money(value: Decimal, currency: str) -> dict[str, str]:
    return {"value": str(value.quantize(CENT, rounding=ROUND_HALF_UP)), "currency": currency}


def dec(price: dict[str, Any] | None, field: str = "amount") -> Decimal:
    if not price:
        return Decimal(0)
    try:
        value = Decimal(str(price.get("value", "0")))
    except (InvalidOperation, AttributeError) as exc:
        raise _bad(f"Invalid value for {field}.value: {price!r}") from exc
    if not value.is_finite() or value < 0:
        raise _bad(f"Invalid value for {field}.value: must be a non-negative decimal")
    return value


def validate_merchant_id(merchant_id: Any) -> str:
    text = str(merchant_id or "")
    if not text.isdigit() or len(text) > 20 or text.strip("0") == "":
        raise _bad(f"Invalid value for merchantId: {merchant_id!r} (must be a uint64 account id)")
    return text


def fingerprint(method: str, request: dict[str, Any]) -> str:
    body = {k: v for k, v in request.items() if k != "operationId"}
    text = json.dumps([method, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _clone(obj: Any) -> Any:
    # JSON round trip: faster than copy.deepcopy for these plain trees, and proves serialisability.
    return json.loads(json.dumps(obj))


def _int_quantity(value: Any, field: str = "quantity") -> int:
    if value is None or value == "":
        raise _bad(f"Required field: {field}", "required")
    try:
        qty = int(value)
    except (TypeError, ValueError) as exc:
        raise _bad(f"Invalid value for {field}: {value!r}") from exc
    if qty <= 0 or str(value).strip() not in (str(qty), f"{qty}.0"):
        raise _bad(f"Invalid value for {field}: must be a positive integer")
    return qty


def _reason(req: dict[str, Any], allowed: set[str], field: str = "reason") -> str:
    value = req.get(field)
    if not value:
        raise _bad(f"Required field: {field}", "required")
    if value not in allowed:
        raise _bad(f"Invalid value for {field}: {value!r}; allowed: {', '.join(sorted(allowed))}")
    return str(value)


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


class _Account:
    __slots__ = ("by_merchant_order_id", "keys", "merchant_id", "return_keys")

    def __init__(self, merchant_id: str) -> None:
        self.merchant_id = merchant_id
        self.keys: list[tuple[float, str]] = []  # (placed epoch, order id), sorted: the list index
        self.return_keys: list[tuple[float, str]] = []
        self.by_merchant_order_id: dict[str, str] = {}


class GoogleBackend:
    """All Content API state. Methods raise ``GoogleError``; they are thread-safe."""

    def __init__(self, store: StateStore, stats: Stats, *, seed: int | None = None) -> None:
        self.store = store
        self.stats = stats
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._orders: dict[str, dict[str, Any]] = {}
        self._json: dict[tuple[str, str], str] = {}
        self._returns: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, _Account] = {}
        self._load()

    # ------------------------------------------------------------------ state
    def _load(self) -> None:
        with self._lock:
            for key, _value in self.store.load(K_ACCOUNT):
                self._account(key, persist=False)
            for _key, rec in self.store.load(K_ORDER):
                self._index_order(rec)
            for _key, ret in self.store.load(K_RETURN):
                self._index_return(ret)
            self._account(DEFAULT_MERCHANT_ID)

    def reset(self) -> None:
        """Forget everything (the caller clears the store)."""
        with self._lock:
            self._orders.clear()
            self._json.clear()
            self._returns.clear()
            self._accounts.clear()
            self._account(DEFAULT_MERCHANT_ID)

    def _account(self, merchant_id: str, persist: bool = True) -> _Account:
        acc = self._accounts.get(merchant_id)
        if acc is None:
            acc = self._accounts[merchant_id] = _Account(merchant_id)
            if persist:
                self.store.put(K_ACCOUNT, merchant_id, {"id": merchant_id, "created": now_iso()})
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
        self.store.put(K_ORDER, rec["order"]["id"], rec)

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

    # ------------------------------------------------------------------ reads
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

    def get_order(self, merchant_id: str, order_id: str, *, version: str = "v2") -> dict[str, Any]:
        with self._lock:
            return self._render(self._rec(merchant_id, order_id), version)

    def get_order_json(self, merchant_id: str, order_id: str, *, version: str = "v2") -> str:
        with self._lock:
            return self._order_json(self._rec(merchant_id, order_id), version)

    def get_by_merchant_order_id(
        self, merchant_id: str, merchant_order_id: str, *, version: str = "v2"
    ) -> dict[str, Any]:
        with self._lock:
            acc = self._account(merchant_id)
            order_id = acc.by_merchant_order_id.get(merchant_order_id)
            if order_id is None:
                raise GoogleError(
                    404, "notFound", f"Order with merchantOrderId {merchant_order_id} not found."
                )
            return self._render(self._orders[order_id], version)

    def list_orders(
        self,
        merchant_id: str,
        *,
        acknowledged: bool | None = None,
        statuses: list[str] | None = None,
        placed_date_start: str | None = None,
        placed_date_end: str | None = None,
        order_by: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
        version: str = "v2",
        as_json: bool = False,
    ) -> tuple[list[Any], str | None]:
        """One page, keyset-paginated on (placedDate, id) so concurrent changes never skip orders."""
        wanted: set[str] | None = None
        if statuses:
            wanted = set()
            for s in statuses:
                if s.lower() in STATUS_GROUPS:
                    wanted |= STATUS_GROUPS[s.lower()]
                elif s in STATUS_ENUM or s in STATUS_ENUM.values():
                    wanted.add(STATUS_ENUM.get(s, s))
                else:
                    raise _bad(f"Invalid value for statuses: {s!r}")
        order_by = order_by or "placedDateAsc"
        if order_by not in ("placedDateAsc", "placedDateDesc"):
            raise _bad(f"Invalid value for orderBy: {order_by!r}; use placedDateAsc or placedDateDesc")
        desc = order_by == "placedDateDesc"
        start = parse_time(placed_date_start, "placedDateStart").timestamp() if placed_date_start else None
        end = parse_time(placed_date_end, "placedDateEnd").timestamp() if placed_date_end else None
        size = _page_size(max_results)
        after = _decode_token(page_token, order_by) if page_token else None
        out: list[Any] = []
        with self._lock:
            keys = self._account(merchant_id).keys
            if desc:
                hi = bisect.bisect_left(keys, after) if after else len(keys)
                candidates = (keys[i] for i in range(hi - 1, -1, -1))
            else:
                lo = bisect.bisect_right(keys, after) if after else 0
                candidates = (keys[i] for i in range(lo, len(keys)))
            last: tuple[float, str] | None = None
            more = False
            for key in candidates:
                if start is not None and key[0] < start:
                    if desc:
                        break
                    continue
                if end is not None and key[0] >= end:
                    if desc:
                        continue
                    break
                rec = self._orders[key[1]]
                order = rec["order"]
                if acknowledged is not None and order["acknowledged"] != acknowledged:
                    continue
                if wanted is not None and order["status"] not in wanted:
                    continue
                if len(out) == size:
                    more = True
                    break
                out.append(self._order_json(rec, version) if as_json else self._render(rec, version))
                last = key
        token = _encode_token(last, order_by) if more and last else None
        return out, token

    def get_return(self, merchant_id: str, return_id: str) -> dict[str, Any]:
        with self._lock:
            ret = self._returns.get(return_id)
            if ret is None or ret["_merchantId"] != merchant_id:
                raise GoogleError(404, "notFound", f"Return {return_id} not found.")
            return _public_return(ret)

    def list_returns(
        self,
        merchant_id: str,
        *,
        created_start: str | None = None,
        created_end: str | None = None,
        order_by: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        order_by = order_by or "RETURN_CREATION_TIME_ASC"
        if order_by not in ("RETURN_CREATION_TIME_ASC", "RETURN_CREATION_TIME_DESC"):
            raise _bad(f"Invalid value for orderBy: {order_by!r}")
        start = parse_time(created_start, "createdStartDate").timestamp() if created_start else None
        # Both bounds inclusive per the doc; a bare date as end means the whole day.
        end = None
        if created_end:
            end_dt = parse_time(created_end, "createdEndDate")
            if len(created_end.strip()) == 10:
                end_dt += timedelta(days=1) - timedelta(microseconds=1)
            end = end_dt.timestamp()
        size = _page_size(max_results)
        after = _decode_token(page_token, order_by) if page_token else None
        with self._lock:
            keys = self._account(merchant_id).return_keys
            seq = list(reversed(keys)) if order_by.endswith("DESC") else list(keys)
            if after:
                seq = [k for k in seq if (k < after if order_by.endswith("DESC") else k > after)]
            seq = [k for k in seq if (start is None or k[0] >= start) and (end is None or k[0] <= end)]
            page = seq[:size]
            out = [_public_return(self._returns[k[1]]) for k in page]
        token = _encode_token(page[-1], order_by) if len(seq) > size else None
        return out, token

    # ------------------------------------------------------------------ test orders
    def get_test_order_template(self, template_name: str, country: str = "US") -> dict[str, Any]:
        name = template_name.lower()
        if name not in templates.TEMPLATE_NAMES:
            raise _bad(f"Invalid value for templateName: {template_name!r}")
        if country not in templates.COUNTRIES:
            raise _bad(f"Invalid value for country: {country!r}; allowed: US, FR")
        return templates.build_template(name, country)

    def create_test_order(
        self,
        merchant_id: str,
        *,
        template_name: str | None = None,
        test_order: dict[str, Any] | None = None,
        country: str | None = None,
    ) -> str:
        country = country or "US"
        if country not in templates.COUNTRIES:
            raise _bad(f"Invalid value for country: {country!r}; allowed: US, FR")
        if bool(template_name) == bool(test_order):
            raise _bad("Exactly one of templateName or testOrder must be set.", "required")
        now = datetime.now(UTC)
        if template_name:
            if template_name not in templates.TEMPLATE_NAMES:
                raise _bad(f"Invalid value for templateName: {template_name!r}")
            test_order = templates.build_template(template_name, country, now)
        assert test_order is not None
        with self._lock:
            acc = self._account(merchant_id)
            order_id = self._new_id(
                lambda r: f"TEST-{r.randint(1000, 9999)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}",
                self._orders,
            )
            order = self._order_from_test_order(merchant_id, order_id, test_order, country, now)
            rec = {
                "order": order,
                "ops": {},
                "advanced": False,
                "placed": now.timestamp(),
                "country": country,
                "returnIds": [],
            }
            self._orders[order_id] = rec
            bisect.insort(acc.keys, (rec["placed"], order_id))
            self._save(rec)
        self.stats.mutation("content.orders.createtestorder")
        return order_id

    def _order_from_test_order(
        self, merchant_id: str, order_id: str, t: dict[str, Any], country: str, now: datetime
    ) -> dict[str, Any]:
        if not isinstance(t, dict):
            raise _bad("testOrder must be an object")
        for field in ("customer", "lineItems", "predefinedDeliveryAddress", "shippingCost", "shippingOption"):
            if not t.get(field):
                raise _bad(f"Required field: testOrder.{field}", "required")
        person = t["predefinedDeliveryAddress"]
        if person not in templates.PEOPLE:
            raise _bad(f"Invalid value for testOrder.predefinedDeliveryAddress: {person!r}")
        if t["shippingOption"] not in SHIPPING_OPTIONS:
            raise _bad(f"Invalid value for testOrder.shippingOption: {t['shippingOption']!r}")
        email = t["customer"].get("email")
        if email not in templates.EMAIL_TO_PERSON:
            raise _bad(f"Invalid value for testOrder.customer.email: {email!r} (use a predefined customer)")
        cur = t["shippingCost"].get("currency") or templates.currency_for(country)
        rate = TAX_RATE.get(country, TAX_RATE["US"])
        if not isinstance(t["lineItems"], list):
            raise _bad("testOrder.lineItems must be a list")
        lines = []
        total = Decimal(0)
        seen_line_ids: set[str] = set()
        for i, tl in enumerate(t["lineItems"]):
            p = tl.get("product") or {}
            for field in (
                "offerId",
                "title",
                "price",
                "brand",
                "condition",
                "contentLanguage",
                "imageLink",
                "targetCountry",
            ):
                if not p.get(field):
                    raise _bad(f"Required field: testOrder.lineItems[{i}].product.{field}", "required")
            qty = _int_quantity(tl.get("quantityOrdered"), f"testOrder.lineItems[{i}].quantityOrdered")
            if p["price"].get("currency", cur) != cur:
                raise _bad("All prices of a test order must use one currency.")
            unit = dec(p["price"], f"lineItems[{i}].product.price")
            unit_tax = (
                dec(tl["unitTax"]) if tl.get("unitTax") else (unit * rate).quantize(CENT, ROUND_HALF_UP)
            )
            line_id = self._new_id(
                lambda r: "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(15)),
                dict.fromkeys(seen_line_ids),
            )
            seen_line_ids.add(line_id)
            product = _clone(p)
            product.setdefault("channel", "online")
            product["id"] = (
                f"{product['channel']}:{product['contentLanguage']}:{product['targetCountry']}:{p['offerId']}"
            )
            product["shownImage"] = product["imageLink"]
            price, tax = unit * qty, unit_tax * qty
            total += price + tax
            lines.append(
                {
                    "id": line_id,
                    "product": product,
                    "price": money(price, cur),
                    "tax": money(tax, cur),
                    "quantityOrdered": qty,
                    "quantityPending": qty,
                    "quantityShipped": 0,
                    "quantityDelivered": 0,
                    "quantityCanceled": 0,
                    "quantityReturned": 0,
                    "quantityReadyForPickup": 0,
                    "cancellations": [],
                    "returns": [],
                    "annotations": [],
                    "shippingDetails": _clone(tl.get("shippingDetails") or {"type": "delivery"}),
                    "returnInfo": _clone(tl.get("returnInfo") or {"daysToReturn": 30, "isReturnable": True}),
                }
            )
        if not lines:
            raise _bad("Required field: testOrder.lineItems (at least one)", "required")
        ship = dec(t["shippingCost"], "shippingCost")
        ship_tax = (ship * rate).quantize(CENT, ROUND_HALF_UP)
        promotions = _clone(t.get("promotions") or [])
        discount = sum(
            (dec(b.get("discount")) for pr in promotions for b in pr.get("benefits", [])), Decimal(0)
        )
        net = total + ship + ship_tax - discount
        who = templates.PEOPLE[templates.EMAIL_TO_PERSON[email]]
        cust = t["customer"]
        customer: dict[str, Any] = {
            "fullName": cust.get("fullName") or who["fullName"],
            "email": email,
            "invoiceReceivingEmail": who["email"],
        }
        if cust.get("marketingRightsInfo"):
            customer["marketingRightsInfo"] = {**cust["marketingRightsInfo"], "marketingEmailAddress": email}
        pm = t.get("paymentMethod") or {
            "type": "VISA",
            "lastFourDigits": "0000",
            "predefinedBillingAddress": person,
        }
        billing = pm.get("predefinedBillingAddress") or person
        if billing not in templates.PEOPLE:
            raise _bad(f"Invalid value for testOrder.paymentMethod.predefinedBillingAddress: {billing!r}")
        payment = {
            "type": pm.get("type", "VISA"),
            "lastFourDigits": pm.get("lastFourDigits", "0000"),
            "expirationMonth": pm.get("expirationMonth", 12),
            "expirationYear": pm.get("expirationYear", now.year + 2),
            "billingAddress": templates.full_address(billing),
            "phoneNumber": templates.PEOPLE[billing]["phoneNumber"],
        }
        return {
            "kind": "content#order",
            "id": order_id,
            "merchantId": merchant_id,
            "acknowledged": False,
            "status": "inProgress",
            "placedDate": now_iso(now),
            "channelType": "purchasesOnGoogle",
            "taxCollector": "marketplaceFacilitator",
            "paymentStatus": "paymentSecured",
            "shippingOption": t["shippingOption"],
            "customer": customer,
            "deliveryDetails": {
                "address": templates.full_address(person),
                "phoneNumber": templates.PEOPLE[person]["phoneNumber"],
            },
            "paymentMethod": payment,
            "lineItems": lines,
            "shipments": [],
            "refunds": [],
            "promotions": promotions,
            "shippingCost": money(ship, cur),
            "shippingCostTax": money(ship_tax, cur),
            "netAmount": money(net, cur),
        }

    def advance_test_order(self, merchant_id: str, order_id: str) -> None:
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            if rec["order"]["status"] != "inProgress":
                raise _bad(
                    f"Order {order_id} is {rec['order']['status']}; only inProgress test orders "
                    "can be advanced."
                )
            rec["advanced"] = True
            self._touch(rec)
        self.stats.mutation("content.orders.advancetestorder")

    def cancel_test_order_by_customer(self, merchant_id: str, order_id: str, reason: str | None) -> None:
        reason = _reason({"reason": reason}, CUSTOMER_CANCEL_REASONS)
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            lines = rec["order"]["lineItems"]
            if not any(li["quantityPending"] for li in lines):
                raise _bad(f"Order {order_id} has nothing left to cancel.")
            stamp = now_iso()
            for li in lines:
                qty = li["quantityPending"]
                if qty:
                    self._cancel_units(rec, li, qty, "customer", "customerCanceled", reason, stamp)
            self._touch(rec)
        self.stats.mutation("content.orders.canceltestorderbycustomer")

    def create_test_return(self, merchant_id: str, order_id: str, items: list[dict[str, Any]] | None) -> str:
        if not items:
            raise _bad("Required field: items", "required")
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            order = rec["order"]
            plan: dict[str, int] = {}
            for i, item in enumerate(items):
                li = self._line(
                    order, {"lineItemId": item.get("lineItemId"), "productId": item.get("productId")}
                )
                plan[li["id"]] = plan.get(li["id"], 0) + _int_quantity(
                    item.get("quantity"), f"items[{i}].quantity"
                )
            for line_id, qty in plan.items():
                li = self._line(order, {"lineItemId": line_id})
                if qty > li["quantityShipped"] - li["quantityReturned"]:
                    raise _bad(
                        f"Cannot return {qty} of line item {line_id}: only "
                        f"{li['quantityShipped'] - li['quantityReturned']} shipped and not returned."
                    )
            return_id = self._new_id(lambda r: str(r.randint(10**15, 10**16 - 1)), self._returns)
            stamp = now_iso()
            now = datetime.now(UTC).timestamp()
            ret_items = []
            for line_id, qty in plan.items():
                li = self._line(order, {"lineItemId": line_id})
                li["quantityReturned"] += qty
                li["returns"].append(
                    {
                        "actor": "customer",
                        "creationDate": stamp,
                        "quantity": qty,
                        "reason": "customerDiscretionaryReturn",
                        "reasonText": "Test return",
                    }
                )
                for _ in range(qty):
                    ret_items.append(
                        {
                            "itemId": f"{return_id}-{len(ret_items) + 1}",
                            "lineItemId": line_id,  # ours: lets reject/refund find the open items
                            "product": _clone(li["product"]),
                            "customerReturnReason": {
                                "reasonCode": "CHANGED_MIND",
                                "description": "Test return",
                            },
                            "state": "new",
                            "returnShipmentIds": [],
                        }
                    )
            ret = {
                "orderReturnId": return_id,
                "orderId": order_id,
                "merchantOrderId": order.get("merchantOrderId", ""),
                "creationDate": stamp,
                "returnItems": ret_items,
                "returnShipments": [],
                "_merchantId": merchant_id,
                "_created": now,
            }
            self._index_return(ret)
            self.store.put(K_RETURN, return_id, ret)
            rec["returnIds"].append(return_id)
            self._touch(rec)
        self.stats.mutation("content.orders.createtestreturn")
        return return_id

    # ------------------------------------------------------------------ mutations
    def mutate(
        self, merchant_id: str, order_id: str, method: str, request: dict[str, Any], *, version: str = "v2"
    ) -> str:
        """Apply one mutating method (discovery name, e.g. ``shiplineitems``); return executionStatus."""
        handler = _MUTATORS.get((version, method)) or _MUTATORS.get(("*", method))
        if handler is None:
            raise GoogleError(404, "notFound", f"Method {method} is not available in {version}.")
        if not isinstance(request, dict):
            raise _bad("Request body must be a JSON object")
        op_id = request.get("operationId")
        if method == "captureorder" and not op_id:
            # v2.1 CaptureOrderRequest has no operationId; capturing twice is harmless.
            with self._lock:
                rec = self._rec(merchant_id, order_id)
                handler(self, rec, request)
                self._touch(rec)
            self.stats.mutation("content.orders.captureorder")
            return "executed"
        if not op_id or not isinstance(op_id, str):
            raise _bad("Required parameter: operationId", "required")
        fp = fingerprint(method, request)
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            prev = rec["ops"].get(op_id)
            if prev is not None:
                if prev == fp:
                    return "duplicate"
                raise GoogleError(
                    409, "duplicate", f"Operation ID {op_id} already used for a different request."
                )
            outcome = handler(self, rec, request)
            rec["ops"][op_id] = fp
            self._touch(rec)
        if outcome == "duplicate":
            return "duplicate"
        self.stats.mutation(f"content.orders.{method}")
        return "executed"

    def _touch(self, rec: dict[str, Any]) -> None:
        order = rec["order"]
        for li in order["lineItems"]:
            li["quantityPending"] = li["quantityOrdered"] - li["quantityShipped"] - li["quantityCanceled"]
        order["status"] = derive_status(order, rec["advanced"])
        self._save(rec)

    def _line(self, order: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
        line_id, product_id = req.get("lineItemId"), req.get("productId")
        if not line_id and not product_id:
            raise _bad("Required field: lineItemId or productId", "required")
        for li in order["lineItems"]:
            if (not line_id or li["id"] == line_id) and (not product_id or li["product"]["id"] == product_id):
                return li
        which = f"lineItemId {line_id}" if line_id else f"productId {product_id}"
        raise _bad(f"Unknown {which} in order {order['id']}.")

    def _cancel_units(
        self,
        rec: dict[str, Any],
        li: dict[str, Any],
        qty: int,
        actor: str,
        reason: str,
        reason_text: str,
        stamp: str,
        pretax: Decimal | None = None,
        tax: Decimal | None = None,
    ) -> None:
        li["quantityCanceled"] += qty
        li["cancellations"].append(
            {
                "actor": actor,
                "creationDate": stamp,
                "quantity": qty,
                "reason": reason,
                "reasonText": reason_text,
            }
        )
        unit, unit_tax = _unit_amounts(li)
        self._refund(
            rec,
            unit * qty if pretax is None else pretax,
            unit_tax * qty if tax is None else tax,
            actor,
            reason,
            reason_text,
            stamp,
        )

    def _refund(
        self,
        rec: dict[str, Any],
        pretax: Decimal,
        tax: Decimal,
        actor: str,
        reason: str,
        reason_text: str,
        stamp: str,
    ) -> None:
        order = rec["order"]
        amount = pretax + tax
        if amount <= 0:
            return
        cur = order["netAmount"]["currency"]
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

    def _check_refund(self, rec: dict[str, Any], amount: Decimal) -> None:
        if amount > dec(rec["order"]["netAmount"]):
            raise _bad(
                f"Refund of {amount} exceeds the remaining order amount {rec['order']['netAmount']['value']}."
            )

    def _open_return_items(self, rec: dict[str, Any], line_id: str) -> list[dict[str, Any]]:
        items = []
        for rid in rec["returnIds"]:
            items += [
                it
                for it in self._returns[rid]["returnItems"]
                if it["lineItemId"] == line_id and it["state"] == "new"
            ]
        return items

    def _save_returns(self, rec: dict[str, Any]) -> None:
        for rid in rec["returnIds"]:
            self.store.put(K_RETURN, rid, self._returns[rid])

    # ------------------------------------------------------------------ custombatch
    def custombatch(self, entries: Any, *, version: str = "v2") -> list[dict[str, Any]]:
        if not isinstance(entries, list):
            raise _bad("Required field: entries", "required")
        if len(entries) > BATCH_LIMIT:
            raise _bad(
                f"Too many entries in custombatch request: {len(entries)} (limit {BATCH_LIMIT}).",
                "batchSizeTooLarge",
            )
        batch_ids: set[Any] = set()
        out = []
        for entry in entries:
            res: dict[str, Any] = {"kind": "content#ordersCustomBatchResponseEntry"}
            try:
                if not isinstance(entry, dict):
                    raise _bad("Each entry must be an object")
                res["batchId"] = entry.get("batchId")
                if entry.get("batchId") is None:
                    raise _bad("Required field: batchId", "required")
                if entry["batchId"] in batch_ids:
                    raise _bad(f"Duplicate batchId {entry['batchId']} in batch.")
                batch_ids.add(entry["batchId"])
                res.update(self._batch_entry(entry, version))
            except GoogleError as err:
                res["errors"] = {
                    "code": err.status,
                    "message": err.message,
                    "errors": [{"domain": "global", "reason": err.reason, "message": err.message}],
                }
            out.append(res)
        return out

    def _batch_entry(self, entry: dict[str, Any], version: str) -> dict[str, Any]:
        merchant_id = self.ensure_account(entry.get("merchantId"))
        method = entry.get("method")
        if method not in BATCH_METHODS:
            raise _bad(f"Invalid value for method: {method!r}")
        if method == "getByMerchantOrderId":
            if not entry.get("merchantOrderId"):
                raise _bad("Required field: merchantOrderId", "required")
            return {
                "order": self.get_by_merchant_order_id(merchant_id, entry["merchantOrderId"], version=version)
            }
        if not entry.get("orderId"):
            raise _bad("Required field: orderId", "required")
        if method == "get":
            return {"order": self.get_order(merchant_id, entry["orderId"], version=version)}
        if method in _SUBOBJECT:
            sub = entry.get(_SUBOBJECT[method]) or {}
            if not isinstance(sub, dict):
                raise _bad(f"{_SUBOBJECT[method]} must be an object")
            request = dict(sub)
        elif method == "updateMerchantOrderId":
            request = {"merchantOrderId": entry.get("merchantOrderId")}
        else:
            request = {}
        request["operationId"] = entry.get("operationId")
        status = self.mutate(merchant_id, entry["orderId"], BATCH_METHODS[method], request, version=version)
        return {"executionStatus": status}


# ---------------------------------------------------------------------- per-method rules
# Each mutator validates everything first, then changes ``rec``; returning "duplicate" means
# "valid but already applied" (a resent shipment).
Mutator = Callable[[GoogleBackend, dict[str, Any], dict[str, Any]], str | None]


def _unit_amounts(li: dict[str, Any]) -> tuple[Decimal, Decimal]:
    qty = li["quantityOrdered"]
    return dec(li["price"]) / qty, dec(li["tax"]) / qty


def _stamp() -> str:
    return now_iso()


def _m_acknowledge(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    rec["order"]["acknowledged"] = True


def _m_update_merchant_order_id(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    new = req.get("merchantOrderId")
    if not new or not isinstance(new, str):
        raise _bad("Required field: merchantOrderId", "required")
    if len(new) > 128:
        raise _bad("Invalid value for merchantOrderId: longer than 128 characters")
    order = rec["order"]
    acc = b._account(order["merchantId"])
    owner = acc.by_merchant_order_id.get(new)
    if owner and owner != order["id"]:
        raise GoogleError(
            409, "conflict", f"merchantOrderId {new} is already used by another order ({owner})."
        )
    old = order.get("merchantOrderId")
    if old and acc.by_merchant_order_id.get(old) == order["id"]:
        del acc.by_merchant_order_id[old]
    acc.by_merchant_order_id[new] = order["id"]
    order["merchantOrderId"] = new
    for rid in rec["returnIds"]:
        b._returns[rid]["merchantOrderId"] = new
    b._save_returns(rec)


def _shipment_infos(req: dict[str, Any], version: str) -> list[dict[str, Any]]:
    infos = req.get("shipmentInfos") or []
    if not isinstance(infos, list):
        raise _bad("shipmentInfos must be a list")
    if not infos and version == "v2" and req.get("shipmentId"):
        # Deprecated flat fields, still accepted by v2.
        infos = [
            {
                "shipmentId": req["shipmentId"],
                "carrier": req.get("carrier"),
                "trackingId": req.get("trackingId"),
            }
        ]
    if not infos:
        raise _bad("Required field: shipmentInfos", "required")
    ids = set()
    for i, info in enumerate(infos):
        if not isinstance(info, dict) or not info.get("shipmentId"):
            raise _bad(f"Required field: shipmentInfos[{i}].shipmentId", "required")
        if info["shipmentId"] in ids:
            raise _bad(f"Duplicate shipmentId {info['shipmentId']} in request.")
        ids.add(info["shipmentId"])
    return infos


def _make_ship(version: str) -> Mutator:
    def ship(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> str | None:
        order = rec["order"]
        infos = _shipment_infos(req, version)
        items = req.get("lineItems")
        if not items or not isinstance(items, list):
            raise _bad("Required field: lineItems", "required")
        plan: dict[str, int] = {}
        for i, item in enumerate(items):
            li = b._line(order, item)
            plan[li["id"]] = plan.get(li["id"], 0) + _int_quantity(
                item.get("quantity"), f"lineItems[{i}].quantity"
            )
        wanted_lines = sorted(plan.items())
        existing = {s["id"]: s for s in order["shipments"]}
        clashes = [info for info in infos if info["shipmentId"] in existing]
        if clashes:
            # Same contents → the resent fulfilment event is a no-op; anything else is a conflict.
            first = infos[0]
            same = (
                len(clashes) == len(infos)
                and all(
                    (existing[info["shipmentId"]].get("carrier") or None) == (info.get("carrier") or None)
                    and (existing[info["shipmentId"]].get("trackingId") or None)
                    == (info.get("trackingId") or None)
                    for info in infos
                )
                and sorted(
                    (x["lineItemId"], x["quantity"]) for x in existing[first["shipmentId"]]["lineItems"]
                )
                == wanted_lines
            )
            if same:
                return "duplicate"
            raise GoogleError(
                409,
                "conflict",
                f"Shipment ID {clashes[0]['shipmentId']} already exists with different contents.",
            )
        status = order["status"]
        if status == "inProgress":
            raise _bad(f"Order {order['id']} is still inProgress and cannot be shipped yet.")
        if status == "canceled":
            raise _bad(f"Order {order['id']} is canceled and cannot be shipped.")
        for line_id, qty in wanted_lines:
            li = b._line(order, {"lineItemId": line_id})
            pending = li["quantityOrdered"] - li["quantityShipped"] - li["quantityCanceled"]
            if qty > pending:
                raise _bad(f"Cannot ship {qty} of line item {line_id}: only {pending} pending.")
        stamp = _stamp()
        for line_id, qty in wanted_lines:
            b._line(order, {"lineItemId": line_id})["quantityShipped"] += qty
        for n, info in enumerate(infos):
            shipment = {
                "id": info["shipmentId"],
                "carrier": info.get("carrier") or "",
                "trackingId": info.get("trackingId") or "",
                "status": "shipped",
                "creationDate": stamp,
                # The first parcel carries the quantities; further infos are extra parcels
                # (tracking ids) of the same shipment, so units are never counted twice.
                "lineItems": [{"lineItemId": lid, "quantity": q} for lid, q in wanted_lines]
                if n == 0
                else [],
            }
            if req.get("shipmentGroupId"):
                shipment["shipmentGroupId"] = req["shipmentGroupId"]
            order["shipments"].append(shipment)
        if order["paymentStatus"] == "paymentSecured":
            order["paymentStatus"] = "paymentCaptured"
        return None

    return ship


def _make_update_shipment(version: str) -> Mutator:
    def update(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
        order = rec["order"]
        sid = req.get("shipmentId")
        if not sid:
            raise _bad("Required field: shipmentId", "required")
        shipment = next((s for s in order["shipments"] if s["id"] == sid), None)
        if shipment is None:
            raise _bad(f"Unknown shipmentId {sid} in order {order['id']}.")
        status = req.get("status")
        if status is not None and status not in SHIPMENT_UPDATE_STATUSES:
            raise _bad(
                f"Invalid value for status: {status!r}; allowed: delivered, undeliverable, readyForPickup"
            )
        if req.get("deliveryDate") and status != "delivered":
            raise _bad("deliveryDate may only be set together with status delivered.")
        delivery = parse_time(req["deliveryDate"], "deliveryDate") if req.get("deliveryDate") else None
        if shipment["status"] == "delivered" and status not in (None, "delivered"):
            raise _bad(f"Shipment {sid} is already delivered.")
        if req.get("carrier"):
            shipment["carrier"] = req["carrier"]
        if req.get("trackingId"):
            shipment["trackingId"] = req["trackingId"]
        if status == "delivered" and shipment["status"] != "delivered":
            for item in shipment["lineItems"]:
                b._line(order, {"lineItemId": item["lineItemId"]})["quantityDelivered"] += item["quantity"]
            shipment["status"] = "delivered"
            shipment["deliveryDate"] = now_iso(delivery) if delivery else _stamp()
        elif status and status != "delivered":
            shipment["status"] = status
        for field in ("undeliveredDate", "readyPickupDate", "lastPickupDate"):
            if version != "v2" and req.get(field):
                shipment[field] = req[field]

    return update


def _m_cancel(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, CANCEL_REASONS)
    order = rec["order"]
    if not any(li["quantityPending"] for li in order["lineItems"]):
        raise _bad(f"Order {order['id']} has no pending quantity to cancel.")
    stamp = _stamp()
    for li in order["lineItems"]:
        if li["quantityPending"]:
            b._cancel_units(
                rec, li, li["quantityPending"], "merchant", reason, req.get("reasonText", ""), stamp
            )


def _m_cancel_line_item(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, CANCEL_REASONS)
    order = rec["order"]
    li = b._line(order, req)
    qty = _int_quantity(req.get("quantity"))
    if qty > li["quantityPending"]:
        raise _bad(f"Cannot cancel {qty} of line item {li['id']}: only {li['quantityPending']} pending.")
    pretax = tax = None
    if req.get("amountPretax") or req.get("amount"):
        pretax = dec(req.get("amountPretax") or req.get("amount"), "amountPretax")
        tax = (
            dec(req["amountTax"], "amountTax")
            if req.get("amountTax")
            else (pretax * dec(li["tax"]) / dec(li["price"]))
            if dec(li["price"])
            else Decimal(0)
        )
        b._check_refund(rec, pretax + tax)
    b._cancel_units(rec, li, qty, "merchant", reason, req.get("reasonText", ""), _stamp(), pretax, tax)


def _returnable(li: dict[str, Any]) -> int:
    return li["quantityShipped"] - li["quantityReturned"]


def _m_return_line_item(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, RETURN_REASONS)
    li = b._line(rec["order"], req)
    qty = _int_quantity(req.get("quantity"))
    if qty > _returnable(li):
        raise _bad(
            f"Cannot return {qty} of line item {li['id']}: only {_returnable(li)} shipped and not returned."
        )
    li["quantityReturned"] += qty
    li["returns"].append(
        {
            "actor": "merchant",
            "creationDate": _stamp(),
            "quantity": qty,
            "reason": reason,
            "reasonText": req.get("reasonText", ""),
        }
    )


def _make_return_refund(price_field: str, tax_field: str) -> Mutator:
    def return_refund(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
        reason = _reason(req, RETURN_REASONS)
        order = rec["order"]
        li = b._line(order, req)
        qty = _int_quantity(req.get("quantity"))
        if any(x["quantityPending"] for x in order["lineItems"]):
            raise _bad("returnRefundLineItem is only allowed on fully shipped orders.")
        open_items = b._open_return_items(rec, li["id"])
        # Units the customer already sent back (createtestreturn) are refunded first; the rest
        # are new merchant-initiated returns and must still be returnable.
        fresh = max(0, qty - len(open_items))
        if fresh > _returnable(li):
            raise _bad(
                f"Cannot return {qty} of line item {li['id']}: only "
                f"{_returnable(li) + len(open_items)} returnable."
            )
        pretax = tax = Decimal(0)
        if req.get(price_field):
            pretax = dec(req[price_field], price_field)
            tax = (
                dec(req.get(tax_field), tax_field)
                if req.get(tax_field)
                else (pretax * dec(li["tax"]) / dec(li["price"]) if dec(li["price"]) else Decimal(0))
            )
            b._check_refund(rec, pretax + tax)
        stamp = _stamp()
        for it in open_items[:qty]:
            it["state"] = "refunded" if pretax + tax > 0 else "received"
        if fresh:
            li["quantityReturned"] += fresh
            li["returns"].append(
                {
                    "actor": "merchant",
                    "creationDate": stamp,
                    "quantity": fresh,
                    "reason": reason,
                    "reasonText": req.get("reasonText", ""),
                }
            )
        b._refund(rec, pretax, tax, "merchant", reason, req.get("reasonText", ""), stamp)
        b._save_returns(rec)

    return return_refund


def _m_reject_return_line_item(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    _reason(req, REJECT_REASONS)
    li = b._line(rec["order"], req)
    qty = _int_quantity(req.get("quantity"))
    open_items = b._open_return_items(rec, li["id"])
    if qty > len(open_items):
        raise _bad(
            f"Cannot reject {qty} of line item {li['id']}: only {len(open_items)} open customer returns."
        )
    for it in open_items[:qty]:
        it["state"] = "rejected"
        it["merchantReturnReason"] = {"reasonCode": req["reason"], "description": req.get("reasonText", "")}
    b._save_returns(rec)


def _m_refund(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, REFUND_REASONS)
    if req.get("amountPretax"):
        pretax = dec(req["amountPretax"], "amountPretax")
        tax = dec(req.get("amountTax"), "amountTax")
    elif req.get("amount"):
        pretax, tax = dec(req["amount"]), Decimal(0)
    else:
        raise _bad("Required field: amountPretax", "required")
    if pretax + tax <= 0:
        raise _bad("Refund amount must be positive.")
    b._check_refund(rec, pretax + tax)
    b._refund(rec, pretax, tax, "merchant", reason, req.get("reasonText", ""), _stamp())


def _m_in_store_refund(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, RETURN_REASONS)
    li = b._line(rec["order"], req)
    qty = _int_quantity(req.get("quantity"))
    if not req.get("amountPretax") or not req.get("amountTax"):
        raise _bad("Required fields: amountPretax and amountTax", "required")
    if qty > _returnable(li):
        raise _bad(
            f"Cannot refund {qty} of line item {li['id']}: only {_returnable(li)} shipped and not returned."
        )
    pretax, tax = dec(req["amountPretax"], "amountPretax"), dec(req["amountTax"], "amountTax")
    b._check_refund(rec, pretax + tax)
    stamp = _stamp()
    li["quantityReturned"] += qty
    li["returns"].append(
        {
            "actor": "merchant",
            "creationDate": stamp,
            "quantity": qty,
            "reason": reason,
            "reasonText": req.get("reasonText", ""),
        }
    )
    b._refund(rec, pretax, tax, "merchant", reason, req.get("reasonText", ""), stamp)


def _m_set_line_item_metadata(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    li = b._line(rec["order"], req)
    annotations = req.get("annotations")
    if not annotations or not isinstance(annotations, list):
        raise _bad("Required field: annotations", "required")
    for i, a in enumerate(annotations):
        if not isinstance(a, dict) or not a.get("key"):
            raise _bad(f"Required field: annotations[{i}].key", "required")
    current = {a["key"]: a for a in li["annotations"]}
    for a in annotations:
        current[a["key"]] = {"key": a["key"], "value": str(a.get("value", ""))}
    li["annotations"] = list(current.values())


def _m_update_line_item_shipping_details(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    li = b._line(rec["order"], req)
    if not req.get("shipByDate") and not req.get("deliverByDate"):
        raise _bad("Required field: shipByDate or deliverByDate", "required")
    today = datetime.now(UTC).date()
    parsed: dict[str, date] = {}
    for field in ("shipByDate", "deliverByDate"):
        if req.get(field):
            d = parse_time(req[field], field).date()
            if d < today or d > today + timedelta(days=366):
                raise _bad(f"Invalid value for {field}: must be between today and one year from now.")
            parsed[field] = d
    if (
        "shipByDate" in parsed
        and "deliverByDate" in parsed
        and parsed["deliverByDate"] < parsed["shipByDate"]
    ):
        raise _bad("deliverByDate must not be before shipByDate.")
    for field, d in parsed.items():
        li["shippingDetails"][field] = d.isoformat()


def _m_refund_item(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    """v2.1 refunditem: refund line items (full or an explicit MonetaryAmount) and/or shipping."""
    order = rec["order"]
    reason = _reason(req, REFUND_REASONS | RETURN_REASONS)
    total_pre = total_tax = Decimal(0)
    for i, item in enumerate(req.get("items") or []):
        li = b._line(order, item)
        qty = _int_quantity(item.get("quantity"), f"items[{i}].quantity")
        if qty > li["quantityShipped"]:
            raise _bad(f"Cannot refund {qty} of line item {li['id']}: only {li['quantityShipped']} shipped.")
        unit, unit_tax = _unit_amounts(li)
        if item.get("fullRefund"):
            total_pre += unit * qty
            total_tax += unit_tax * qty
        else:
            amount = item.get("amount") or {}
            total_pre += dec(amount.get("priceAmount"), f"items[{i}].amount.priceAmount")
            total_tax += dec(amount.get("taxAmount"), f"items[{i}].amount.taxAmount")
    shipping = req.get("shipping") or {}
    if shipping.get("fullRefund"):
        total_pre += dec(order["shippingCost"])
        total_tax += dec(order["shippingCostTax"])
    elif shipping.get("amount"):
        total_pre += dec(shipping["amount"], "shipping.amount")
    if total_pre + total_tax <= 0:
        raise _bad("Required field: items or shipping with a positive amount", "required")
    b._check_refund(rec, total_pre + total_tax)
    b._refund(rec, total_pre, total_tax, "merchant", reason, req.get("reasonText", ""), _stamp())


def _m_refund_order(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    reason = _reason(req, REFUND_REASONS | RETURN_REASONS)
    remaining = dec(rec["order"]["netAmount"])
    if req.get("fullRefund"):
        pre, tax = remaining, Decimal(0)
    else:
        amount = req.get("amount") or {}
        pre = dec(amount.get("priceAmount"), "amount.priceAmount")
        tax = dec(amount.get("taxAmount"), "amount.taxAmount")
    if pre + tax <= 0:
        raise _bad("Nothing to refund: set fullRefund or a positive amount.")
    b._check_refund(rec, pre + tax)
    b._refund(rec, pre, tax, "merchant", reason, req.get("reasonText", ""), _stamp())


def _m_capture_order(b: GoogleBackend, rec: dict[str, Any], req: dict[str, Any]) -> None:
    order = rec["order"]
    if order["status"] == "canceled":
        raise _bad(f"Order {order['id']} is canceled; nothing to capture.")
    order["paymentStatus"] = "paymentCaptured"


_MUTATORS: dict[tuple[str, str], Mutator] = {
    ("*", "acknowledge"): _m_acknowledge,
    ("*", "updatemerchantorderid"): _m_update_merchant_order_id,
    ("v2", "shiplineitems"): _make_ship("v2"),
    ("v2.1", "shiplineitems"): _make_ship("v2.1"),
    ("v2", "updateshipment"): _make_update_shipment("v2"),
    ("v2.1", "updateshipment"): _make_update_shipment("v2.1"),
    ("*", "cancel"): _m_cancel,
    ("*", "cancellineitem"): _m_cancel_line_item,
    ("v2", "returnlineitem"): _m_return_line_item,
    ("v2", "returnrefundlineitem"): _make_return_refund("amountPretax", "amountTax"),
    ("v2.1", "returnrefundlineitem"): _make_return_refund("priceAmount", "taxAmount"),
    ("*", "rejectreturnlineitem"): _m_reject_return_line_item,
    ("v2", "refund"): _m_refund,
    ("*", "instorerefundlineitem"): _m_in_store_refund,
    ("*", "setlineitemmetadata"): _m_set_line_item_metadata,
    ("*", "updatelineitemshippingdetails"): _m_update_line_item_shipping_details,
    ("v2.1", "refunditem"): _m_refund_item,
    ("v2.1", "refundorder"): _m_refund_order,
    ("v2.1", "captureorder"): _m_capture_order,
}


# ---------------------------------------------------------------------- helpers
def _page_size(max_results: int | None) -> int:
    if max_results is None:
        return DEFAULT_PAGE
    if max_results <= 0:
        raise _bad(f"Invalid value for maxResults: {max_results} (must be positive)")
    return min(max_results, MAX_PAGE)  # Google caps an oversized page rather than failing


def _encode_token(key: tuple[float, str], order_by: str) -> str:
    raw = json.dumps([repr(key[0]), key[1], order_by], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str, order_by: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ts, key, token_order = json.loads(raw)
        parsed = (float(ts), str(key))
    except (ValueError, TypeError) as exc:
        raise _bad("Invalid value for pageToken.") from exc
    if token_order != order_by:
        raise _bad("pageToken was issued for a different orderBy.")
    return parsed


def _public_return(ret: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in ret.items() if not k.startswith("_")}
    out = _clone(out)
    for it in out["returnItems"]:
        it.pop("lineItemId", None)
    return out


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
