"""Orders API: CreateOrder, RetrieveOrder, BatchRetrieveOrders, UpdateOrder, CalculateOrder,
CloneOrder and SearchOrders (``order_search.py``); fulfilment rules are in ``fulfillments.py``,
price maths in ``pricing.py``.

Rules emulated (Orders API reference, "Create Orders", "Update Orders"):

* ``idempotency_key`` up to 192 characters; CreateOrder/CloneOrder with a used key and the same
  body return the order made the first time, with another body IDEMPOTENCY_KEY_REUSED.
* UpdateOrder needs the current ``order.version`` (an older one is VERSION_MISMATCH; a missing one
  the code in the sandbox setting ``missing_version_code``). "If you don't provide a new
  idempotency_key with each update request, you get a 200 response but the returned order doesn't
  reflect any of your updates" ("Update Orders"): a used key answers the order as it is, whatever
  the body. COMPLETED and CANCELED orders cannot be updated; line items, taxes, discounts and
  service charges cannot change once the order has tenders ("LineItems cannot be modified for
  finalized tenders"). An update that changes nothing keeps the version.
* ``catalog_object_id`` on lines, modifiers, taxes and discounts must name a catalog object
  (NOT_FOUND otherwise, a given price included).
* CloneOrder copies location, customer, line items, taxes, discounts, service charges and pricing
  options (input fields only) into a new DRAFT.
* Square bumps an order's version on its own now and then ("asynchronous functions/calculations
  ... may bump the order version", a Square staff answer on the developer forum); ``bump_version``
  does that for the sandbox's version-bump fault.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from sync.sandbox.square.catalog import CatalogModel
from sync.sandbox.square.errors import bad, not_found
from sync.sandbox.square.fulfillments import (
    FULFILLMENT_TERMINAL,
    ORDER_STATES,
    check_fulfillments,
    close,
    completable,
    maybe_complete,
)
from sync.sandbox.square.locations import location
from sync.sandbox.square.money import MoneyError, money
from sync.sandbox.square.order_search import search_orders
from sync.sandbox.square.pricing import price_order
from sync.sandbox.square.state import SquareState
from sync.sandbox.square.validate import (
    as_dict,
    as_list,
    fingerprint,
    money_error,
    new_id,
    new_uid,
    opt_str,
    require_str,
    strip_nulls,
)

IDEMPOTENCY_KEY_MAX = 192
REFERENCE_ID_MAX = 40
BATCH_RETRIEVE_MAX = 100

# Fields of a request order the caller may set; everything else is computed or server-owned.
ORDER_INPUT = (
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
PRICED = ("line_items", "taxes", "discounts", "service_charges")
# CloneOrder copies exactly these (Square's CloneOrder reference), input fields only.
CLONE_FIELDS = (
    "location_id",
    "customer_id",
    "line_items",
    "taxes",
    "discounts",
    "service_charges",
    "pricing_options",
)
LINE_INPUT = (
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
    "pricing_blocklists",
)
ADJUSTMENT_INPUT = (
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
_UNCLEARABLE = ("id", "version", "location_id", "created_at", "updated_at", "state", "tenders", "refunds")
_PATH_TOKEN = re.compile(r"^([A-Za-z_]+)(?:\[([^\]]+)\])?$")


def merge(base: dict[str, Any], patch: dict[str, Any]) -> None:
    """Sparse update: objects merge, lists of uid'd objects merge by uid, anything else replaces."""
    for key, value in patch.items():
        current = base.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif (
            isinstance(value, list)
            and isinstance(current, list)
            and all(isinstance(v, dict) for v in value + current)
            and any("uid" in v for v in value + current)
        ):
            by_uid = {c.get("uid"): c for c in current}
            for item in value:
                if item.get("uid") in by_uid:
                    merge(by_uid[item["uid"]], item)
                else:
                    current.append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


def clear_path(order: dict[str, Any], path: str) -> None:
    """fields_to_clear: dot paths with ``[uid]`` selectors, e.g. ``line_items[uid].note``."""
    tokens = []
    for part in path.split("."):
        m = _PATH_TOKEN.match(part)
        if not m:
            raise bad("INVALID_VALUE", f"Invalid field path {path!r}.", "fields_to_clear")
        tokens.append((m.group(1), m.group(2)))
    if tokens[0][0] in _UNCLEARABLE:
        raise bad("INVALID_VALUE", f"Field {path!r} cannot be cleared.", "fields_to_clear")
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


def inputs_only(obj: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """The caller-set fields of a line or adjustment (computed amounts dropped)."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k in allowed}
    for key in ("applied_taxes", "applied_discounts"):
        if key in out:
            out[key] = [{k: v for k, v in a.items() if k != "applied_money"} for a in out[key]]
    if "modifiers" in out:
        out["modifiers"] = [
            {k: v for k, v in m.items() if k != "total_price_money"} for m in out["modifiers"]
        ]
    return out


def paid_amount(order: dict[str, Any]) -> int:
    return sum(t["amount_money"]["amount"] for t in order.get("tenders") or [])


class OrdersModel:
    def __init__(self, state: SquareState, catalog: CatalogModel) -> None:
        self.state = state
        self.catalog = catalog

    # ---- helpers shared with payments and refunds --------------------------------------------------
    def order(self, order_id: Any, field: str = "order_id") -> dict[str, Any]:
        found = self.state.orders.get(order_id) if isinstance(order_id, str) else None
        if found is None:
            raise not_found(f"Order `{order_id}` not found.", field)
        return found

    def price(self, order: dict[str, Any]) -> None:
        currency = location(order.get("location_id"), "order.location_id")["currency"]
        try:
            price_order(
                order,
                currency,
                new_uid,
                self.catalog,
                discount_order=self.state.settings.current.same_phase_discount_order,
            )
        except MoneyError as exc:
            raise money_error(exc) from None
        order["net_amount_due_money"] = money(order["total_money"]["amount"] - paid_amount(order), currency)

    def save_new_version(self, order: dict[str, Any], now: str) -> None:
        """Store a changed order: amount due, automatic completion, version + 1, updated_at."""
        currency = order["total_money"]["currency"]
        order["net_amount_due_money"] = money(order["total_money"]["amount"] - paid_amount(order), currency)
        maybe_complete(order, now)
        order["version"] += 1
        order["updated_at"] = now
        self.state.save_order(order)

    def bump_version(self, order_id: str) -> dict[str, Any]:
        """What Square's own background work does to an order: a new version, nothing else."""
        with self.state.lock:
            order = copy.deepcopy(self.order(order_id))
            order["version"] += 1
            order["updated_at"] = self.state.now()
            self.state.save_order(order)
            return copy.deepcopy(order)

    @staticmethod
    def input_order(raw: dict[str, Any]) -> dict[str, Any]:
        order = {k: copy.deepcopy(raw[k]) for k in ORDER_INPUT if k in raw}
        for key in ("line_items", "taxes", "discounts", "service_charges", "fulfillments"):
            items = as_list(order.get(key), f"order.{key}")
            for i, item in enumerate(items):
                as_dict(item, f"order.{key}[{i}]")
        ref = order.get("reference_id")
        if ref is not None and (not isinstance(ref, str) or len(ref) > REFERENCE_ID_MAX):
            raise bad(
                "VALUE_TOO_LONG",
                f"order.reference_id must be a string of at most {REFERENCE_ID_MAX} characters.",
                "order.reference_id",
            )
        return order

    # ---- API ---------------------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        raw = as_dict(body.get("order"), "order")
        with self.state.lock:
            existing = self.state.replay("orders.create", key, fingerprint(body))
            if existing is not None:
                return {"order": copy.deepcopy(self.state.orders[existing])}
            order = self.input_order(raw)
            location(order.get("location_id"), "order.location_id")
            state = order.setdefault("state", "OPEN")
            if state not in ("OPEN", "DRAFT"):
                raise bad("INVALID_VALUE", "A new order must be OPEN or DRAFT.", "order.state")
            self.price(order)
            now = self.state.now()
            order.update(id=new_id(), version=1, created_at=now, updated_at=now)
            check_fulfillments(None, order, now)
            self.state.save_order(order)
            if key is not None:
                self.state.remember("orders.create", key, fingerprint(body), order["id"])
            self.state.stats.mutation("square.orders.create")
            return {"order": copy.deepcopy(order)}

    def get(self, order_id: str) -> dict[str, Any]:
        with self.state.lock:
            return {"order": copy.deepcopy(self.order(order_id))}

    def batch_get(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        ids = as_list(body.get("order_ids"), "order_ids")
        if not ids:
            raise bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter order_ids.", "order_ids")
        if len(ids) > BATCH_RETRIEVE_MAX:
            raise bad("INVALID_VALUE", f"At most {BATCH_RETRIEVE_MAX} order_ids are allowed.", "order_ids")
        location_id = body.get("location_id")
        with self.state.lock:
            # Square ignores ids it does not know instead of failing the batch.
            found = [
                copy.deepcopy(self.state.orders[i])
                for i in ids
                if isinstance(i, str) and i in self.state.orders
            ]
        if location_id:
            found = [o for o in found if o["location_id"] == location_id]
        return {"orders": found}

    def update(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        patch = as_dict(body.get("order"), "order", required=False)
        clear = as_list(body.get("fields_to_clear"), "fields_to_clear")
        with self.state.lock:
            current = self.order(order_id)
            scope = f"orders.update:{order_id}"
            if self.state.seen(scope, key) is not None:
                return {"order": copy.deepcopy(current)}  # a used key: 200, the order as it is
            self._check_version(order_id, current, patch.get("version"))
            if current["state"] in ("COMPLETED", "CANCELED"):
                raise bad(
                    "BAD_REQUEST", f"An order in state {current['state']} cannot be updated.", "order.state"
                )
            if patch.get("location_id") not in (None, current["location_id"]):
                raise bad("INVALID_VALUE", "The location of an order cannot change.", "order.location_id")
            edits = self.input_order(patch)
            touched = set(edits) | {str(p).split(".")[0].split("[")[0] for p in clear}
            if current.get("tenders") and touched & set(PRICED):
                raise bad(
                    "BAD_REQUEST", "LineItems cannot be modified for finalized tenders.", "order.line_items"
                )
            order, now = self._updated(current, edits, clear)
            if order == current:
                return {"order": copy.deepcopy(current)}  # nothing changed: no new version
            order["version"] = current["version"] + 1
            order["updated_at"] = now
            self.state.save_order(order)
            if key is not None:
                self.state.remember(scope, key, fingerprint(body), order_id)
            self.state.stats.mutation("square.orders.update")
            return {"order": copy.deepcopy(order)}

    def _check_version(self, order_id: str, current: dict[str, Any], version: Any) -> None:
        if version is None:
            code = self.state.settings.current.missing_version_code
            raise bad(code, "Missing required parameter order.version.", "order.version")
        if version != current["version"]:
            raise bad(
                "VERSION_MISMATCH",
                f"Supplied version {version} does not match the current version "
                f"{current['version']} of order {order_id}.",
                "order.version",
            )

    def _updated(
        self, current: dict[str, Any], edits: dict[str, Any], clear: list[Any]
    ) -> tuple[dict[str, Any], str]:
        """The order after a sparse update (priced, fulfilments checked, state moved), and the
        update's time."""
        order = copy.deepcopy(current)
        for path in clear:
            if not isinstance(path, str):
                raise bad("EXPECTED_STRING", "fields_to_clear entries must be strings.", "fields_to_clear")
            clear_path(order, path)
        new_state = edits.pop("state", order["state"])
        merge(order, edits)
        if new_state not in ORDER_STATES:
            raise bad("INVALID_VALUE", f"Invalid order state {new_state}.", "order.state")
        if order["state"] == "OPEN" and new_state == "DRAFT":
            raise bad("INVALID_VALUE", "An OPEN order cannot go back to DRAFT.", "order.state")
        now = self.state.now()
        self.price(order)
        if new_state == "CANCELED":
            for f in order.get("fulfillments") or []:
                if f.get("state") not in FULFILLMENT_TERMINAL:
                    f["state"] = "CANCELED"
        order["state"] = "OPEN" if new_state == "COMPLETED" else new_state
        check_fulfillments(current, order, now)
        if new_state == "COMPLETED" and not completable(order):
            raise bad(
                "BAD_REQUEST",
                "An order can be COMPLETED only when it is paid in full and all its "
                "fulfillments are terminal.",
                "order.state",
            )
        if new_state in ("COMPLETED", "CANCELED"):
            close(order, new_state, now)
        maybe_complete(order, now)
        return order, now

    def calculate(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        order = self.input_order(as_dict(body.get("order"), "order"))
        location(order.get("location_id"), "order.location_id")
        order.setdefault("state", "OPEN")
        with self.state.lock:
            self.price(order)
        return {"order": order}

    def clone(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        order_id = require_str(body, "order_id", "order_id")
        key = opt_str(body, "idempotency_key", "idempotency_key", IDEMPOTENCY_KEY_MAX)
        with self.state.lock:
            existing = self.state.replay("orders.clone", key, fingerprint(body))
            if existing is not None:
                return {"order": copy.deepcopy(self.state.orders[existing])}
            source = self.order(order_id)
            if body.get("version") is not None and body["version"] != source["version"]:
                raise bad(
                    "VERSION_MISMATCH",
                    f"Supplied version {body['version']} does not match the current "
                    f"version {source['version']} of order {order_id}.",
                    "version",
                )
            clone: dict[str, Any] = {}
            for k in CLONE_FIELDS:
                if k not in source:
                    continue
                value = copy.deepcopy(source[k])
                if k == "line_items":
                    value = [inputs_only(li, LINE_INPUT) for li in value]
                elif k in ("taxes", "discounts", "service_charges"):
                    value = [inputs_only(a, ADJUSTMENT_INPUT) for a in value]
                clone[k] = value
            clone["state"] = "DRAFT"
            self.price(clone)
            now = self.state.now()
            clone.update(id=new_id(), version=1, created_at=now, updated_at=now)
            self.state.save_order(clone)
            if key is not None:
                self.state.remember("orders.clone", key, fingerprint(body), clone["id"])
            self.state.stats.mutation("square.orders.clone")
            return {"order": copy.deepcopy(clone)}

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return search_orders(self.state, body)
