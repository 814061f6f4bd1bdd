"""State and rules of the Square Orders/Payments emulator (HTTP lives in ``routes.py``).

Each public method takes the decoded JSON request body and returns the JSON response body, or
raises ``SquareError`` carrying Square's HTTP status and error fields. All state sits behind one
lock; every changed entity is written through the ``StateStore`` so ``--state FILE`` survives a
restart. Money maths is in ``money.py``.

Emulation choices worth knowing (Square documents the behaviour, the sandbox simplifies):

* Catalog line items: a small built-in catalog (``CATALOG``, extendable with
  ``add_catalog_item``) supplies name and price. A ``catalog_object_id`` the sandbox does not
  know is accepted when the line also gives ``base_price_money`` (treated like a variable-price
  variation), so SKU maps pointing at a real seller catalog still work against the sandbox.
* A payment created with ``order_id`` and ``autocomplete`` (the default) becomes a tender of the
  order at once, as Square does; with ``autocomplete: false`` it stays APPROVED until PayOrder
  completes it. Neither changes the order state: an order becomes COMPLETED when it is paid in
  full and all its fulfilments are terminal with at least one COMPLETED (on the update or payment
  that makes that true), or by an UpdateOrder setting ``state`` COMPLETED when those rules hold.
* Search: DRAFT orders are returned only when ``state_filter`` asks for them; a time range is
  start-inclusive and end-exclusive; sorting by CLOSED_AT only returns orders that have closed.
* Error statuses: validation, VERSION_MISMATCH and IDEMPOTENCY_KEY_REUSED are 400
  INVALID_REQUEST_ERROR, unknown ids 404 NOT_FOUND, missing/unknown token 401. None of them is a
  status the SDK retries (408/409/429/5xx), so a client sees them at once.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import string
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.sandbox.square.money import MoneyError, money, parse_decimal, parse_money, price_order
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

ORDER_KIND = "square.order"
PAYMENT_KIND = "square.payment"
IDEMPOTENCY_KIND = "square.idempotency"
CATALOG_KIND = "square.catalog"

IDEMPOTENCY_KEY_MAX = 192
PAYMENT_IDEMPOTENCY_KEY_MAX = 45
REFERENCE_ID_MAX = 40
SEARCH_LIMIT_DEFAULT = 500
SEARCH_LIMIT_MAX = 1000
BATCH_RETRIEVE_MAX = 100

LOCATIONS: list[dict[str, Any]] = [
    {
        "id": "L_SANDBOX_MAIN",
        "name": "Sandbox Main Store",
        "business_name": "ordersync sandbox",
        "status": "ACTIVE",
        "type": "PHYSICAL",
        "country": "US",
        "currency": "USD",
        "language_code": "en-US",
        "timezone": "UTC",
        "capabilities": ["CREDIT_CARD_PROCESSING"],
        "created_at": "2024-01-01T00:00:00.000Z",
        "merchant_id": "M_SANDBOX",
    }
]

# catalog_object_id -> (item name, variation name, price in minor units)
CATALOG: dict[str, tuple[str, str, int]] = {
    "SANDBOX_VAR_TSHIRT_M": ("T-shirt", "Medium", 1500),
    "SANDBOX_VAR_MUG": ("Coffee mug", "Regular", 1299),
    "SANDBOX_VAR_STICKER": ("Sticker", "Regular", 199),
}

ORDER_STATES = ("DRAFT", "OPEN", "COMPLETED", "CANCELED")
FULFILLMENT_TYPES_API = ("PICKUP", "SHIPMENT")
FULFILLMENT_STATES = ("PROPOSED", "RESERVED", "PREPARED", "COMPLETED", "CANCELED", "FAILED")
_FULFILLMENT_RANK = {"PROPOSED": 0, "RESERVED": 1, "PREPARED": 2, "COMPLETED": 3}
_FULFILLMENT_TERMINAL = ("COMPLETED", "CANCELED", "FAILED")
# Which timestamp Square stamps in the type's details object when a fulfilment reaches a state.
_FULFILLMENT_STAMPS = {
    "PICKUP": {
        "RESERVED": "accepted_at",
        "PREPARED": "ready_at",
        "COMPLETED": "picked_up_at",
        "CANCELED": "canceled_at",
        "FAILED": "rejected_at",
    },
    "SHIPMENT": {
        "RESERVED": "in_progress_at",
        "PREPARED": "packaged_at",
        "COMPLETED": "shipped_at",
        "CANCELED": "canceled_at",
        "FAILED": "failed_at",
    },
    "DELIVERY": {
        "RESERVED": "in_progress_at",
        "PREPARED": "ready_at",
        "COMPLETED": "completed_at",
        "CANCELED": "canceled_at",
        "FAILED": "rejected_at",
    },
}
_DETAILS_KEY = {"PICKUP": "pickup_details", "SHIPMENT": "shipment_details", "DELIVERY": "delivery_details"}
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
SORT_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "closed_at"}

# Fields of a request order the caller may set; everything else is computed or server-owned.
_ORDER_INPUT = (
    "location_id",
    "reference_id",
    "source",
    "customer_id",
    "line_items",
    "taxes",
    "discounts",
    "service_charges",
    "fulfillments",
    "metadata",
    "state",
    "ticket_name",
    "pricing_options",
)
_PRICED = ("line_items", "taxes", "discounts", "service_charges")
# CloneOrder copies exactly these (Square's CloneOrder reference), input fields only.
_CLONE_FIELDS = (
    "location_id",
    "customer_id",
    "line_items",
    "taxes",
    "discounts",
    "service_charges",
    "pricing_options",
)
_LINE_INPUT = (
    "uid",
    "name",
    "quantity",
    "note",
    "catalog_object_id",
    "catalog_version",
    "variation_name",
    "item_type",
    "metadata",
    "modifiers",
    "applied_taxes",
    "applied_discounts",
    "base_price_money",
    "quantity_unit",
)
_ADJ_INPUT = (
    "uid",
    "catalog_object_id",
    "catalog_version",
    "name",
    "type",
    "percentage",
    "amount_money",
    "scope",
    "metadata",
    "calculation_phase",
    "taxable",
    "applied_taxes",
    "applied_discounts",
)
_ALNUM = string.ascii_letters + string.digits


class SquareError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        field: str | None = None,
        category: str = "INVALID_REQUEST_ERROR",
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.category = category
        self.code = code
        self.detail = detail
        self.field = field


def _bad(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, code, detail, field)


def _not_found(detail: str, field: str | None = None) -> SquareError:
    return SquareError(404, "NOT_FOUND", detail, field)


def strip_nulls(value: Any) -> Any:
    """Explicit JSON nulls mean 'not set' (the SDK sends None as null)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def _fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _new_id(length: int = 29) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def _new_uid() -> str:
    return _new_id(22)


def format_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise _bad("INVALID_VALUE", f"Expected an RFC 3339 timestamp for {field}.", field)
    try:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise _bad("INVALID_VALUE", f"Invalid RFC 3339 timestamp {value!r}.", field) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def _require_str(body: dict[str, Any], key: str, field: str, max_len: int | None = None) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise _bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
    if not isinstance(value, str):
        raise _bad("EXPECTED_STRING", f"Expected {field} to be a string.", field)
    if max_len is not None and len(value) > max_len:
        raise _bad("VALUE_TOO_LONG", f"{field} must be at most {max_len} characters.", field)
    return value


def _opt_str(body: dict[str, Any], key: str, field: str, max_len: int) -> str | None:
    if body.get(key) is None:
        return None
    return _require_str(body, key, field, max_len)


def _as_dict(value: Any, field: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if value is None:
        raise _bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
    if not isinstance(value, dict):
        raise _bad("EXPECTED_OBJECT", f"Expected {field} to be an object.", field)
    return value


def _as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad("EXPECTED_ARRAY", f"Expected {field} to be an array.", field)
    return value


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> None:
    """Sparse update: objects merge, lists of uid'd objects merge by uid, anything else replaces."""
    for key, value in patch.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            _merge(current, value)
        elif (
            isinstance(value, list)
            and isinstance(current, list)
            and all(isinstance(v, dict) for v in value + current)
            and any("uid" in v for v in value + current)
        ):
            by_uid = {c.get("uid"): c for c in current}
            for item in value:
                if item.get("uid") in by_uid:
                    _merge(by_uid[item["uid"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


_PATH_TOKEN = re.compile(r"^([A-Za-z_]+)(?:\[([^\]]+)\])?$")


def _clear_path(order: dict[str, Any], path: str) -> None:
    """fields_to_clear: dot paths with ``[uid]`` selectors, e.g. ``line_items[uid].note``."""
    tokens = []
    for part in path.split("."):
        m = _PATH_TOKEN.match(part)
        if not m:
            raise _bad("INVALID_VALUE", f"Invalid field path {path!r}.", "fields_to_clear")
        tokens.append((m.group(1), m.group(2)))
    if tokens[0][0] in ("id", "version", "location_id", "created_at", "updated_at", "state", "tenders"):
        raise _bad("INVALID_VALUE", f"Field {path!r} cannot be cleared.", "fields_to_clear")
    obj: Any = order
    for i, (name, selector) in enumerate(tokens):
        last = i == len(tokens) - 1
        if not isinstance(obj, dict) or name not in obj:
            return  # clearing something that is not set is a no-op
        if selector is None:
            if last:
                obj.pop(name)
                return
            obj = obj[name]
            continue
        items = obj[name]
        if not isinstance(items, list):
            return
        match = next((x for x in items if isinstance(x, dict) and x.get("uid") == selector), None)
        if match is None:
            return
        if last:
            items.remove(match)
            return
        obj = match


class SquareBackend:
    def __init__(
        self, store: StateStore, stats: Stats, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._store = store
        self._stats = stats
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._last_ts = datetime(1970, 1, 1, tzinfo=UTC)
        self._orders: dict[str, dict[str, Any]] = {}
        self._payments: dict[str, dict[str, Any]] = {}
        self._payments_by_order: dict[str, list[str]] = {}
        self._idempotency: dict[str, dict[str, Any]] = {}
        self._catalog: dict[str, tuple[str, str, int]] = dict(CATALOG)
        self._load()

    # ---- persistence -------------------------------------------------------------------------
    def _load(self) -> None:
        for key, value in self._store.load(ORDER_KIND):
            self._orders[key] = value
        for key, value in self._store.load(PAYMENT_KIND):
            self._payments[key] = value
            if value.get("order_id"):
                self._payments_by_order.setdefault(value["order_id"], []).append(key)
        for key, value in self._store.load(IDEMPOTENCY_KIND):
            self._idempotency[key] = value
        for key, value in self._store.load(CATALOG_KIND):
            self._catalog[key] = (value[0], value[1], value[2])
        stamps = [o["updated_at"] for o in self._orders.values()] + [
            p["updated_at"] for p in self._payments.values()
        ]
        if stamps:
            self._last_ts = parse_ts(max(stamps), "updated_at")

    def _save_order(self, order: dict[str, Any]) -> None:
        self._orders[order["id"]] = order
        self._store.put(ORDER_KIND, order["id"], order)

    def _save_payment(self, payment: dict[str, Any]) -> None:
        if payment.get("order_id"):
            linked = self._payments_by_order.setdefault(payment["order_id"], [])
            if payment["id"] not in linked:
                linked.append(payment["id"])
        self._payments[payment["id"]] = payment
        self._store.put(PAYMENT_KIND, payment["id"], payment)

    def _remember(self, scope: str, key: str, fingerprint: str, result_id: str) -> None:
        name = f"{scope}|{key}"
        self._idempotency[name] = {"fingerprint": fingerprint, "id": result_id}
        self._store.put(IDEMPOTENCY_KIND, name, self._idempotency[name])

    def _replay(self, scope: str, key: str | None, fingerprint: str) -> str | None:
        """The id an earlier identical request produced; a different request with the key is an error."""
        if key is None:
            return None
        seen = self._idempotency.get(f"{scope}|{key}")
        if seen is None:
            return None
        if seen["fingerprint"] != fingerprint:
            raise _bad(
                "IDEMPOTENCY_KEY_REUSED",
                "The idempotency key can only be retried with the same request data.",
                "idempotency_key",
            )
        return str(seen["id"])

    def reset(self) -> None:
        with self._lock:
            for kind, keys in (
                (ORDER_KIND, self._orders),
                (PAYMENT_KIND, self._payments),
                (IDEMPOTENCY_KIND, self._idempotency),
            ):
                for key in list(keys):
                    self._store.delete(kind, key)
            for key in set(self._catalog) - set(CATALOG):
                self._store.delete(CATALOG_KIND, key)
            self._orders.clear()
            self._payments.clear()
            self._payments_by_order.clear()
            self._idempotency.clear()
            self._catalog = dict(CATALOG)

    def order_count(self) -> int:
        with self._lock:
            return len(self._orders)

    def add_catalog_item(
        self, object_id: str, name: str, price: int, variation_name: str = "Regular"
    ) -> None:
        """Register a catalog variation (for tests and demos)."""
        with self._lock:
            self._catalog[object_id] = (name, variation_name, price)
            self._store.put(CATALOG_KIND, object_id, [name, variation_name, price])

    # ---- helpers -------------------------------------------------------------------------------
    def _now(self) -> str:
        # Strictly increasing timestamps keep sort orders and updated_at cursors unambiguous.
        now = self._clock().astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_ts:
            now = self._last_ts + timedelta(milliseconds=1)
        self._last_ts = now
        return format_ts(now)

    @staticmethod
    def _location(location_id: Any, field: str) -> dict[str, Any]:
        if not location_id:
            raise _bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
        for loc in LOCATIONS:
            if loc["id"] == location_id:
                return loc
        raise _not_found(f"Location `{location_id}` not found.", field)

    def _order(self, order_id: Any, field: str = "order_id") -> dict[str, Any]:
        order = self._orders.get(order_id) if isinstance(order_id, str) else None
        if order is None:
            raise _not_found(f"Order `{order_id}` not found.", field)
        return order

    def _catalog_price(self, line: dict[str, Any], field: str) -> tuple[str, str, int]:
        object_id = line["catalog_object_id"]
        known = self._catalog.get(object_id)
        if line.get("base_price_money") is not None:
            price = parse_money(line["base_price_money"], f"{field}.base_price_money", "USD")
            return (
                line.get("name") or (known[0] if known else object_id),
                line.get("variation_name") or (known[1] if known else ""),
                price,
            )
        if known is None:
            raise MoneyError(
                "NOT_FOUND", f"Catalog object `{object_id}` not found.", f"{field}.catalog_object_id"
            )
        return known

    def _price(self, order: dict[str, Any]) -> None:
        currency = self._location(order.get("location_id"), "order.location_id")["currency"]
        try:
            price_order(order, currency, _new_uid, self._catalog_price)
        except MoneyError as exc:
            status = 404 if exc.code == "NOT_FOUND" else 400
            raise SquareError(status, exc.code, exc.detail, exc.field) from None
        paid = sum(t["amount_money"]["amount"] for t in order.get("tenders") or [])
        order["net_amount_due_money"] = money(order["total_money"]["amount"] - paid, currency)

    @staticmethod
    def _input_order(raw: dict[str, Any]) -> dict[str, Any]:
        order = {k: copy.deepcopy(raw[k]) for k in _ORDER_INPUT if k in raw}
        for key in ("line_items", "taxes", "discounts", "service_charges", "fulfillments"):
            items = _as_list(order.get(key), f"order.{key}")
            for i, item in enumerate(items):
                _as_dict(item, f"order.{key}[{i}]")
        ref = order.get("reference_id")
        if ref is not None and (not isinstance(ref, str) or len(ref) > REFERENCE_ID_MAX):
            raise _bad(
                "VALUE_TOO_LONG",
                f"order.reference_id must be a string of at most {REFERENCE_ID_MAX} characters.",
                "order.reference_id",
            )
        return order

    # ---- fulfilments ---------------------------------------------------------------------------
    def _check_fulfillments(self, old: dict[str, Any] | None, order: dict[str, Any], now: str) -> None:
        """Validate fulfilments against Square's rules and stamp the state timestamps."""
        previous = {f["uid"]: f for f in (old or {}).get("fulfillments") or []}
        fulfillments = order.get("fulfillments") or []
        if old is None and len(fulfillments) > 1:
            raise _bad(
                "INVALID_VALUE", "Only one fulfillment can be created through the API.", "order.fulfillments"
            )
        line_qty = {li["uid"]: li.get("quantity") for li in order.get("line_items") or []}
        for i, f in enumerate(fulfillments):
            field = f"order.fulfillments[{i}]"
            f.setdefault("uid", _new_uid())
            prev = previous.get(f["uid"])
            ftype = f.get("type")
            if prev is not None and ftype != prev["type"]:
                raise _bad(
                    "INVALID_VALUE",
                    "A fulfillment's type cannot change; cancel it and add a new one.",
                    f"{field}.type",
                )
            if prev is None and ftype not in FULFILLMENT_TYPES_API:
                raise _bad(
                    "INVALID_VALUE",
                    f"Fulfillment type must be one of {', '.join(FULFILLMENT_TYPES_API)}.",
                    f"{field}.type",
                )
            state = f.setdefault("state", "PROPOSED")
            if state not in FULFILLMENT_STATES:
                raise _bad("INVALID_VALUE", f"Invalid fulfillment state {state}.", f"{field}.state")
            details_key = _DETAILS_KEY[ftype]
            details = f.get(details_key)
            if not isinstance(details, dict):
                raise _bad(
                    "MISSING_REQUIRED_PARAMETER",
                    f"A {ftype} fulfillment needs {details_key}.",
                    f"{field}.{details_key}",
                )
            if ftype == "SHIPMENT" and not isinstance(details.get("recipient"), dict):
                raise _bad(
                    "MISSING_REQUIRED_PARAMETER",
                    "A SHIPMENT fulfillment needs a recipient.",
                    f"{field}.shipment_details.recipient",
                )
            if (
                ftype == "PICKUP"
                and details.setdefault("schedule_type", "SCHEDULED") == "SCHEDULED"
                and not details.get("pickup_at")
            ):
                raise _bad(
                    "MISSING_REQUIRED_PARAMETER",
                    "A SCHEDULED pickup needs pickup_at.",
                    f"{field}.pickup_details.pickup_at",
                )
            before = prev["state"] if prev else "PROPOSED"
            if state != before:
                if before in _FULFILLMENT_TERMINAL:
                    raise _bad(
                        "INVALID_VALUE",
                        f"Fulfillment state cannot change from {before} to {state}.",
                        f"{field}.state",
                    )
                if state in _FULFILLMENT_RANK and _FULFILLMENT_RANK[state] < _FULFILLMENT_RANK[before]:
                    raise _bad(
                        "INVALID_VALUE",
                        f"Fulfillment state cannot move back from {before} to {state}.",
                        f"{field}.state",
                    )
            if order["state"] == "DRAFT" and state != "PROPOSED":
                raise _bad(
                    "INVALID_VALUE",
                    "The fulfillment of a DRAFT order cannot pass PROPOSED.",
                    f"{field}.state",
                )
            application = f.setdefault("line_item_application", "ALL")
            if application == "ENTRY_LIST":
                entries = _as_list(f.get("entries"), f"{field}.entries")
                if not entries:
                    raise _bad(
                        "MISSING_REQUIRED_PARAMETER",
                        "ENTRY_LIST fulfillments need entries.",
                        f"{field}.entries",
                    )
                for j, entry in enumerate(entries):
                    efield = f"{field}.entries[{j}]"
                    _as_dict(entry, efield)
                    entry.setdefault("uid", _new_uid())
                    if entry.get("line_item_uid") not in line_qty:
                        raise _bad("INVALID_VALUE", "Unknown line_item_uid.", f"{efield}.line_item_uid")
                    qty = parse_decimal_or_400(entry.get("quantity"), f"{efield}.quantity")
                    if qty > parse_decimal_or_400(line_qty[entry["line_item_uid"]], "quantity"):
                        raise _bad(
                            "INVALID_VALUE",
                            "Entry quantity exceeds the line item quantity.",
                            f"{efield}.quantity",
                        )
            elif application != "ALL":
                raise _bad(
                    "INVALID_VALUE",
                    "line_item_application must be ALL or ENTRY_LIST.",
                    f"{field}.line_item_application",
                )
            if prev is None and application == "ALL":
                # The API adds one fulfilment per order; a type change needs the old one CANCELED first.
                others = [
                    g for g in fulfillments if g is not f and g.get("state") not in ("CANCELED", "FAILED")
                ]
                if others:
                    raise _bad(
                        "INVALID_VALUE",
                        "An order can only have one active fulfillment created through "
                        "the API; cancel the existing one first.",
                        f"{field}",
                    )
            # timestamps
            if order["state"] != "DRAFT":
                details.setdefault("placed_at", now)
            if prev is None or state != prev["state"]:
                stamp = _FULFILLMENT_STAMPS[ftype].get(state)
                if stamp:
                    details.setdefault(stamp, now)
        active_types = {f["type"] for f in fulfillments if f["state"] not in ("CANCELED", "FAILED")}
        if len(active_types) > 1:
            raise _bad(
                "INVALID_VALUE", "All fulfillments of an order must have the same type.", "order.fulfillments"
            )

    def _maybe_complete(self, order: dict[str, Any], now: str) -> None:
        # Automatic completion needs fulfilments that were actually completed; a paid order
        # without fulfilments stays OPEN until an UpdateOrder completes it.
        fulfillments = order.get("fulfillments") or []
        if (
            order["state"] == "OPEN"
            and self._completable(order)
            and any(f["state"] == "COMPLETED" for f in fulfillments)
        ):
            order["state"] = "COMPLETED"
            order["closed_at"] = now

    @staticmethod
    def _completable(order: dict[str, Any]) -> bool:
        """Paid in full (tenders recorded) and every fulfilment in a terminal state."""
        paid = "tenders" in order and order["net_amount_due_money"]["amount"] <= 0
        return paid and all(f["state"] in _FULFILLMENT_TERMINAL for f in order.get("fulfillments") or [])

    # ---- API: locations --------------------------------------------------------------------------
    def list_locations(self) -> dict[str, Any]:
        return {"locations": copy.deepcopy(LOCATIONS)}

    # ---- API: orders ---------------------------------------------------------------------------
    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = _opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        raw = _as_dict(body.get("order"), "order")
        with self._lock:
            existing = self._replay("orders.create", key, _fingerprint(body))
            if existing is not None:
                return {"order": copy.deepcopy(self._orders[existing])}
            order = self._input_order(raw)
            self._location(order.get("location_id"), "order.location_id")
            state = order.setdefault("state", "OPEN")
            if state not in ("OPEN", "DRAFT"):
                raise _bad("INVALID_VALUE", "A new order must be OPEN or DRAFT.", "order.state")
            self._price(order)
            now = self._now()
            order.update(id=_new_id(), version=1, created_at=now, updated_at=now)
            self._check_fulfillments(None, order, now)
            self._save_order(order)
            if key is not None:
                self._remember("orders.create", key, _fingerprint(body), order["id"])
            self._stats.mutation("square.orders.create")
            return {"order": copy.deepcopy(order)}

    def get_order(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return {"order": copy.deepcopy(self._order(order_id))}

    def batch_get_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        ids = _as_list(body.get("order_ids"), "order_ids")
        if not ids:
            raise _bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter order_ids.", "order_ids")
        if len(ids) > BATCH_RETRIEVE_MAX:
            raise _bad("INVALID_VALUE", f"At most {BATCH_RETRIEVE_MAX} order_ids are allowed.", "order_ids")
        location_id = body.get("location_id")
        with self._lock:
            # Square ignores ids it does not know instead of failing the batch.
            found = [copy.deepcopy(self._orders[i]) for i in ids if isinstance(i, str) and i in self._orders]
        if location_id:
            found = [o for o in found if o["location_id"] == location_id]
        return {"orders": found}

    def update_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = _opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        patch = _as_dict(body.get("order"), "order", required=False)
        clear = _as_list(body.get("fields_to_clear"), "fields_to_clear")
        with self._lock:
            current = self._order(order_id)
            scope = f"orders.update:{order_id}"
            if self._replay(scope, key, _fingerprint(body)) is not None:
                return {"order": copy.deepcopy(current)}
            version = patch.get("version")
            if version is None:
                raise _bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter.", "order.version")
            if version != current["version"]:
                raise _bad(
                    "VERSION_MISMATCH",
                    f"Supplied version {version} does not match the current version "
                    f"{current['version']} of order {order_id}.",
                    "order.version",
                )
            if current["state"] in ("COMPLETED", "CANCELED"):
                raise _bad(
                    "BAD_REQUEST", f"An order in state {current['state']} cannot be updated.", "order.state"
                )
            if patch.get("location_id") not in (None, current["location_id"]):
                raise _bad("INVALID_VALUE", "The location of an order cannot change.", "order.location_id")
            edits = self._input_order(patch)
            touched = set(edits) | {str(p).split(".")[0].split("[")[0] for p in clear}
            if current.get("tenders") and touched & set(_PRICED):
                raise _bad(
                    "BAD_REQUEST", "LineItems cannot be modified for finalized tenders.", "order.line_items"
                )
            order = copy.deepcopy(current)
            for path in clear:
                if not isinstance(path, str):
                    raise _bad(
                        "EXPECTED_STRING", "fields_to_clear entries must be strings.", "fields_to_clear"
                    )
                _clear_path(order, path)
            new_state = edits.pop("state", order["state"])
            _merge(order, edits)
            if new_state not in ORDER_STATES:
                raise _bad("INVALID_VALUE", f"Invalid order state {new_state}.", "order.state")
            if order["state"] == "OPEN" and new_state == "DRAFT":
                raise _bad("INVALID_VALUE", "An OPEN order cannot go back to DRAFT.", "order.state")
            now = self._now()
            self._price(order)
            if new_state == "CANCELED":
                for f in order.get("fulfillments") or []:
                    if f.get("state") not in _FULFILLMENT_TERMINAL:
                        f["state"] = "CANCELED"
            order["state"] = "OPEN" if new_state == "COMPLETED" else new_state
            self._check_fulfillments(current, order, now)
            if new_state == "COMPLETED" and not self._completable(order):
                raise _bad(
                    "BAD_REQUEST",
                    "An order can be COMPLETED only when it is paid in full and all its "
                    "fulfillments are terminal.",
                    "order.state",
                )
            if new_state in ("COMPLETED", "CANCELED"):
                order["state"] = new_state
                order["closed_at"] = now
            self._maybe_complete(order, now)
            if order == current:
                return {"order": copy.deepcopy(current)}  # nothing changed: no new version
            order["version"] = current["version"] + 1
            order["updated_at"] = now
            self._save_order(order)
            if key is not None:
                self._remember(scope, key, _fingerprint(body), order_id)
            self._stats.mutation("square.orders.update")
            return {"order": copy.deepcopy(order)}

    def calculate_order(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        order = self._input_order(_as_dict(body.get("order"), "order"))
        self._location(order.get("location_id"), "order.location_id")
        order.setdefault("state", "OPEN")
        with self._lock:
            self._price(order)
        return {"order": order}

    def clone_order(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        order_id = _require_str(body, "order_id", "order_id")
        key = _opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        with self._lock:
            existing = self._replay("orders.clone", key, _fingerprint(body))
            if existing is not None:
                return {"order": copy.deepcopy(self._orders[existing])}
            source = self._order(order_id)
            if body.get("version") is not None and body["version"] != source["version"]:
                raise _bad(
                    "VERSION_MISMATCH",
                    f"Supplied version {body['version']} does not match the current "
                    f"version {source['version']} of order {order_id}.",
                    "version",
                )
            clone: dict[str, Any] = {}
            for k in _CLONE_FIELDS:
                if k not in source:
                    continue
                value = copy.deepcopy(source[k])
                if k == "line_items":
                    value = [self._inputs_only(li, _LINE_INPUT) for li in value]
                elif k in ("taxes", "discounts", "service_charges"):
                    value = [self._inputs_only(a, _ADJ_INPUT) for a in value]
                clone[k] = value
            clone["state"] = "DRAFT"
            self._price(clone)
            now = self._now()
            clone.update(id=_new_id(), version=1, created_at=now, updated_at=now)
            self._save_order(clone)
            if key is not None:
                self._remember("orders.clone", key, _fingerprint(body), clone["id"])
            self._stats.mutation("square.orders.clone")
            return {"order": copy.deepcopy(clone)}

    @staticmethod
    def _inputs_only(obj: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k in allowed}
        for key in ("applied_taxes", "applied_discounts"):
            if key in out:
                out[key] = [{k: v for k, v in a.items() if k != "applied_money"} for a in out[key]]
        if "modifiers" in out:
            out["modifiers"] = [
                {k: v for k, v in m.items() if k != "total_price_money"} for m in out["modifiers"]
            ]
        return out

    def search_orders(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        location_ids = _as_list(body.get("location_ids"), "location_ids")
        if not location_ids:
            raise _bad(
                "MISSING_REQUIRED_PARAMETER", "Missing required parameter location_ids.", "location_ids"
            )
        if len(location_ids) > 10:
            raise _bad("INVALID_VALUE", "At most 10 location_ids are allowed.", "location_ids")
        query = _as_dict(body.get("query"), "query", required=False)
        flt = _as_dict(query.get("filter"), "query.filter", required=False)
        sort = _as_dict(query.get("sort"), "query.sort", required=False)
        sort_field = sort.get("sort_field", "CREATED_AT")
        sort_order = sort.get("sort_order", "DESC")
        if sort_field not in SORT_FIELDS:
            raise _bad("INVALID_ENUM_VALUE", f"Invalid sort_field {sort_field}.", "query.sort.sort_field")
        if sort_order not in ("ASC", "DESC"):
            raise _bad("INVALID_SORT_ORDER", f"Invalid sort_order {sort_order}.", "query.sort.sort_order")
        limit = body.get("limit", SEARCH_LIMIT_DEFAULT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _bad("INVALID_VALUE", "limit must be a positive integer.", "limit")
        limit = min(limit, SEARCH_LIMIT_MAX)
        predicates = self._search_predicates(flt, sort_field)
        ts_key = SORT_FIELDS[sort_field]
        # The cursor is bound to the query: reusing it with another query is an error.
        query_hash = _fingerprint({"l": location_ids, "q": query, "e": bool(body.get("return_entries"))})[:16]
        after: tuple[str, str] | None = None
        if body.get("cursor"):
            after = self._decode_cursor(body["cursor"], query_hash)
        with self._lock:
            rows = [
                o
                for o in self._orders.values()
                if o["location_id"] in location_ids and o.get(ts_key) and all(p(o) for p in predicates)
            ]
            desc = sort_order == "DESC"
            rows.sort(key=lambda o: (o[ts_key], o["id"]), reverse=desc)
            if after is not None:
                rows = [
                    o
                    for o in rows
                    if ((o[ts_key], o["id"]) < after if desc else (o[ts_key], o["id"]) > after)
                ]
            page = [copy.deepcopy(o) for o in rows[:limit]]
        result: dict[str, Any] = {}
        if body.get("return_entries"):
            result["order_entries"] = [
                {"order_id": o["id"], "version": o["version"], "location_id": o["location_id"]} for o in page
            ]
        else:
            result["orders"] = page
        if len(rows) > limit:
            last = page[-1]
            token = json.dumps({"k": [last[ts_key], last["id"]], "h": query_hash}, separators=(",", ":"))
            result["cursor"] = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
        return result

    @staticmethod
    def _decode_cursor(cursor: Any, query_hash: str) -> tuple[str, str]:
        try:
            text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
            data = json.loads(text)
            key = (str(data["k"][0]), str(data["k"][1]))
            ok = data["h"] == query_hash
        except (ValueError, KeyError, TypeError, IndexError):
            ok = False
        if not ok:
            raise _bad(
                "INVALID_CURSOR", "The cursor is invalid or was issued for a different query.", "cursor"
            )
        return key

    @staticmethod
    def _search_predicates(flt: dict[str, Any], sort_field: str) -> list[Callable[[dict[str, Any]], bool]]:
        preds: list[Callable[[dict[str, Any]], bool]] = []
        state_filter = _as_dict(flt.get("state_filter"), "query.filter.state_filter", required=False)
        if state_filter:
            states = _as_list(state_filter.get("states"), "query.filter.state_filter.states")
            if not states or any(s not in ORDER_STATES for s in states):
                raise _bad(
                    "INVALID_VALUE",
                    "state_filter.states must list order states.",
                    "query.filter.state_filter.states",
                )
            preds.append(lambda o, s=frozenset(states): o["state"] in s)
        else:
            preds.append(lambda o: o["state"] != "DRAFT")
        dtf = _as_dict(flt.get("date_time_filter"), "query.filter.date_time_filter", required=False)
        for name, sort_name in (
            ("created_at", "CREATED_AT"),
            ("updated_at", "UPDATED_AT"),
            ("closed_at", "CLOSED_AT"),
        ):
            if name not in dtf:
                continue
            field = f"query.filter.date_time_filter.{name}"
            if sort_name != sort_field:
                raise _bad(
                    "INVALID_VALUE",
                    f"A date_time_filter on {name} requires sort_field {sort_name}.",
                    "query.sort.sort_field",
                )
            rng = _as_dict(dtf[name], field)
            start = parse_ts(rng["start_at"], f"{field}.start_at") if rng.get("start_at") else None
            end = parse_ts(rng["end_at"], f"{field}.end_at") if rng.get("end_at") else None
            if start and end and end < start:
                raise _bad("INVALID_TIME_RANGE", "end_at is before start_at.", field)

            def in_range(
                o: dict[str, Any], key: str = name, lo: datetime | None = start, hi: datetime | None = end
            ) -> bool:
                value = o.get(key)
                if not value:
                    return False
                ts = parse_ts(value, key)
                return (lo is None or ts >= lo) and (hi is None or ts < hi)

            preds.append(in_range)
        ff = _as_dict(flt.get("fulfillment_filter"), "query.filter.fulfillment_filter", required=False)
        if ff:
            types = frozenset(_as_list(ff.get("fulfillment_types"), "fulfillment_types"))
            fstates = frozenset(_as_list(ff.get("fulfillment_states"), "fulfillment_states"))
            preds.append(
                lambda o: any(
                    (not types or f["type"] in types) and (not fstates or f["state"] in fstates)
                    for f in o.get("fulfillments") or []
                )
            )
        sf = _as_dict(flt.get("source_filter"), "query.filter.source_filter", required=False)
        if sf:
            names = frozenset(_as_list(sf.get("source_names"), "source_names"))
            preds.append(lambda o: (o.get("source") or {}).get("name") in names)
        cf = _as_dict(flt.get("customer_filter"), "query.filter.customer_filter", required=False)
        if cf:
            customers = frozenset(_as_list(cf.get("customer_ids"), "customer_ids"))
            preds.append(lambda o: o.get("customer_id") in customers)
        return preds

    # ---- API: payments -------------------------------------------------------------------------
    def _due(self, order: dict[str, Any], exclude: frozenset[str] = frozenset()) -> int:
        """What is still to be paid: total minus payments already linked (approved or completed)."""
        taken = sum(
            self._payments[p]["amount_money"]["amount"]
            for p in self._payments_by_order.get(order["id"], [])
            if p not in exclude and self._payments[p]["status"] in ("APPROVED", "COMPLETED")
        )
        return int(order["total_money"]["amount"]) - taken

    @staticmethod
    def _tender(payment: dict[str, Any], order: dict[str, Any], now: str) -> dict[str, Any]:
        return {
            "id": payment["id"],
            "location_id": payment["location_id"],
            "transaction_id": order["id"],
            "created_at": now,
            "amount_money": payment["amount_money"],
            "type": "OTHER",
            "payment_id": payment["id"],
        }

    def create_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = _require_str(body, "idempotency_key", "idempotency_key", PAYMENT_IDEMPOTENCY_KEY_MAX)
        source_id = _require_str(body, "source_id", "source_id")
        with self._lock:
            existing = self._replay("payments.create", key, _fingerprint(body))
            if existing is not None:
                return {"payment": copy.deepcopy(self._payments[existing])}
            if source_id != "EXTERNAL":
                raise _bad("INVALID_VALUE", "The sandbox accepts only source_id EXTERNAL.", "source_id")
            ext = _as_dict(body.get("external_details"), "external_details")
            if ext.get("type") not in EXTERNAL_TYPES:
                raise _bad("INVALID_VALUE", "external_details.type is invalid.", "external_details.type")
            _require_str(ext, "source", "external_details.source", 255)
            order_id = body.get("order_id")
            order = self._order(order_id, "order_id") if order_id else None
            location_id = body.get("location_id") or (order["location_id"] if order else LOCATIONS[0]["id"])
            location = self._location(location_id, "location_id")
            amount_field = "amount_money"
            try:
                amount = parse_money(
                    _as_dict(body.get("amount_money"), amount_field), amount_field, location["currency"]
                )
            except MoneyError as exc:
                raise _bad(exc.code, exc.detail, exc.field) from None
            if amount <= 0:
                raise _bad(
                    "INVALID_VALUE", "amount_money.amount must be greater than 0.", "amount_money.amount"
                )
            autocomplete = body.get("autocomplete", True)
            now = self._now()
            if order is not None:
                if order["location_id"] != location_id:
                    raise _bad(
                        "INVALID_VALUE", "The payment location must be the order's location.", "location_id"
                    )
                if order["state"] != "OPEN":
                    raise _bad(
                        "BAD_REQUEST",
                        f"Cannot take a payment for an order in state {order['state']}.",
                        "order_id",
                    )
                due = self._due(order)
                if amount > due:
                    raise _bad(
                        "PAYMENT_AMOUNT_MISMATCH",
                        f"The payment amount {amount} exceeds the amount due {due} on the order.",
                        "amount_money.amount",
                    )
            payment = {
                "id": _new_id(),
                "created_at": now,
                "updated_at": now,
                "amount_money": money(amount, location["currency"]),
                "total_money": money(amount, location["currency"]),
                "approved_money": money(amount, location["currency"]),
                "status": "COMPLETED" if autocomplete else "APPROVED",
                "source_type": "EXTERNAL",
                "external_details": copy.deepcopy(ext),
                "location_id": location_id,
                "delay_action": "CANCEL",
                "version_token": _new_id(12),
            }
            for k in ("order_id", "reference_id", "note", "customer_id"):
                if body.get(k) is not None:
                    payment[k] = body[k]
            self._save_payment(payment)
            if order is not None and autocomplete:
                order = copy.deepcopy(order)
                order.setdefault("tenders", []).append(self._tender(payment, order, now))
                self._bump(order, now)
            self._remember("payments.create", key, _fingerprint(body), payment["id"])
            self._stats.mutation("square.payments.create")
            return {"payment": copy.deepcopy(payment)}

    def _bump(self, order: dict[str, Any], now: str) -> None:
        paid = sum(t["amount_money"]["amount"] for t in order.get("tenders") or [])
        order["net_amount_due_money"] = money(
            order["total_money"]["amount"] - paid, order["total_money"]["currency"]
        )
        self._maybe_complete(order, now)
        order["version"] += 1
        order["updated_at"] = now
        self._save_order(order)

    def get_payment(self, payment_id: str) -> dict[str, Any]:
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise _not_found(f"Payment `{payment_id}` not found.", "payment_id")
            return {"payment": copy.deepcopy(payment)}

    def pay_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = _require_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        payment_ids = _as_list(body.get("payment_ids"), "payment_ids")
        with self._lock:
            current = self._order(order_id)
            scope = f"orders.pay:{order_id}"
            if self._replay(scope, key, _fingerprint(body)) is not None:
                return {"order": copy.deepcopy(current)}
            version = body.get("order_version")
            if version is not None and version != current["version"]:
                raise _bad(
                    "VERSION_MISMATCH",
                    f"Supplied version {version} does not match the current version "
                    f"{current['version']} of order {order_id}.",
                    "order_version",
                )
            if current["state"] != "OPEN":
                raise _bad("BAD_REQUEST", f"An order in state {current['state']} cannot be paid.", "order_id")
            tendered = {t.get("payment_id") for t in current.get("tenders") or []}
            payments = []
            for i, pid in enumerate(payment_ids):
                payment = self._payments.get(pid) if isinstance(pid, str) else None
                if payment is None:
                    raise _not_found(f"Payment `{pid}` not found.", f"payment_ids[{i}]")
                if payment.get("order_id") not in (None, order_id):
                    raise _bad(
                        "INVALID_VALUE", f"Payment `{pid}` belongs to another order.", f"payment_ids[{i}]"
                    )
                if payment["status"] not in ("APPROVED", "COMPLETED"):
                    raise _bad("BAD_REQUEST", f"Payment `{pid}` is {payment['status']}.", f"payment_ids[{i}]")
                payments.append(payment)
            new = [p for p in payments if p["id"] not in tendered]
            paid_before = sum(t["amount_money"]["amount"] for t in current.get("tenders") or [])
            total = paid_before + sum(p["amount_money"]["amount"] for p in new)
            if not new and "tenders" in current:
                return {"order": copy.deepcopy(current)}  # already paid with these payments
            if total != current["total_money"]["amount"]:
                raise _bad(
                    "PAYMENT_AMOUNT_MISMATCH",
                    "The total of the requested payments does not match the total of the sale order.",
                    "payment_ids",
                )
            now = self._now()
            order = copy.deepcopy(current)
            for payment in new:
                payment = copy.deepcopy(payment)
                payment.update(status="COMPLETED", order_id=order_id, updated_at=now)
                self._save_payment(payment)
                order.setdefault("tenders", []).append(self._tender(payment, order, now))
            if not new:
                order.setdefault("tenders", [])  # a $0 order paid with no payments
            self._bump(order, now)
            self._remember(scope, key, _fingerprint(body), order_id)
            self._stats.mutation("square.orders.pay")
            return {"order": copy.deepcopy(order)}


def parse_decimal_or_400(value: Any, field: str) -> Any:
    try:
        return parse_decimal(value, field, positive=True)
    except MoneyError as exc:
        raise _bad(exc.code, exc.detail, exc.field) from None
