"""Catalog API subset: BatchUpsertCatalogObjects, UpsertCatalogObject, RetrieveCatalogObject,
BatchRetrieveCatalogObjects, SearchCatalogObjects — and the catalog lookups order pricing uses.

Square's rules emulated (Catalog API reference and "Design a Catalog"):

* New objects have ids starting with ``#``; the server replaces them (and every reference to them
  in the same request, e.g. a variation's ``item_id``) with generated ids and answers the pairs in
  ``id_mappings``. An id without ``#`` must name an existing object.
* Every write stamps ``version`` (one new, increasing number per request) and ``updated_at``;
  an update must carry the object's current ``version`` or fails with VERSION_MISMATCH (a missing
  one too, setting ``catalog_update_requires_version``).
* Full replacement: an upserted ITEM replaces its variations (ones left out are deleted), a
  MODIFIER_LIST its modifiers. Nested children are stored as objects of their own (searchable,
  retrievable) and nested again in their parent on reads.
* SearchCatalogObjects: ``object_types`` (default: the top-level types, so ITEM_VARIATION must be
  asked for), ``exact_query`` and ``set_query`` (exact, case insensitive; at most 250 values),
  ``prefix_query``; searchable attributes ``name``, ``sku``, ``upc``, ``description``,
  ``abbreviation``; ``begin_time`` (exclusive), ``include_deleted_objects``,
  ``include_related_objects``, ``limit`` (default 100, at most 1,000) and a cursor.

Simplifications: one request is applied all or nothing (Square applies each batch of a
BatchUpsert on its own); ``catalog_version`` reads return the current version; other query types
are refused with BAD_REQUEST rather than guessed at.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from sync.sandbox.square.errors import bad, not_found
from sync.sandbox.square.listing import decode_cursor, encode_cursor
from sync.sandbox.square.money import MoneyError, parse_decimal, parse_money
from sync.sandbox.square.pricing import CatalogAdjustment, CatalogVariation
from sync.sandbox.square.state import SquareState
from sync.sandbox.square.validate import (
    as_bool,
    as_dict,
    as_limit,
    as_list,
    fingerprint,
    money_or_400,
    new_id,
    parse_ts,
    require_str,
    strip_nulls,
)

DATA_KEY = {
    "ITEM": "item_data",
    "ITEM_VARIATION": "item_variation_data",
    "MODIFIER_LIST": "modifier_list_data",
    "MODIFIER": "modifier_data",
    "DISCOUNT": "discount_data",
    "TAX": "tax_data",
    "CATEGORY": "category_data",
    "PRICING_RULE": "pricing_rule_data",
    "PRODUCT_SET": "product_set_data",
    "TIME_PERIOD": "time_period_data",
    "MEASUREMENT_UNIT": "measurement_unit_data",
    "ITEM_OPTION": "item_option_data",
    "ITEM_OPTION_VAL": "item_option_value_data",
    "IMAGE": "image_data",
}
TOP_LEVEL_TYPES = (
    "ITEM",
    "CATEGORY",
    "TAX",
    "DISCOUNT",
    "MODIFIER_LIST",
    "PRICING_RULE",
    "PRODUCT_SET",
    "TIME_PERIOD",
    "MEASUREMENT_UNIT",
    "ITEM_OPTION",
)
# parent type -> (list of nested children in its data, child type, child's reference to the parent)
CHILDREN = {
    "ITEM": ("variations", "ITEM_VARIATION", "item_id"),
    "MODIFIER_LIST": ("modifiers", "MODIFIER", "modifier_list_id"),
}
SEARCHABLE = ("name", "sku", "upc", "description", "abbreviation")
DISCOUNT_TYPES = ("FIXED_PERCENTAGE", "FIXED_AMOUNT", "VARIABLE_PERCENTAGE", "VARIABLE_AMOUNT")
BATCH_OBJECTS_MAX = 1000
REQUEST_OBJECTS_MAX = 10000
SET_QUERY_VALUES_MAX = 250
SEARCH_LIMIT_DEFAULT = 100
SEARCH_LIMIT_MAX = 1000
BATCH_RETRIEVE_MAX = 1000

# The sandbox's own small catalog: (variation id, item name, variation name, price, sku).
BUILTIN_VARIATIONS = (
    ("SANDBOX_VAR_TSHIRT_M", "T-shirt", "Medium", 1500, "SANDBOX-TSHIRT-M"),
    ("SANDBOX_VAR_MUG", "Coffee mug", "Regular", 1299, "SANDBOX-MUG"),
    ("SANDBOX_VAR_STICKER", "Sticker", "Regular", 199, "SANDBOX-STICKER"),
)
_BUILTIN_VERSION = 1704067200000  # 2024-01-01, like the sandbox location
_BUILTIN_TIME = "2024-01-01T00:00:00.000Z"


def _item_objects(
    variation_id: str, name: str, variation_name: str, price: int, sku: str | None, version: int, now: str
) -> list[dict[str, Any]]:
    item_id = f"{variation_id}_ITEM"
    common = {"updated_at": now, "version": version, "is_deleted": False, "present_at_all_locations": True}
    variation_data: dict[str, Any] = {
        "item_id": item_id,
        "name": variation_name,
        "ordinal": 0,
        "pricing_type": "FIXED_PRICING",
        "price_money": {"amount": price, "currency": "USD"},
    }
    if sku:
        variation_data["sku"] = sku
    return [
        {"type": "ITEM", "id": item_id, **common, "item_data": {"name": name}},
        {"type": "ITEM_VARIATION", "id": variation_id, **common, "item_variation_data": variation_data},
    ]


def _not_found_money(object_id: str, field: str) -> MoneyError:
    return MoneyError("NOT_FOUND", f"Catalog object `{object_id}` not found.", field)


class CatalogModel:
    def __init__(self, state: SquareState) -> None:
        self.state = state
        self._children: dict[str, list[str]] = {}
        self._version = max((int(o.get("version") or 0) for o in state.catalog.values()), default=0)
        self._seed()

    # ---- built-ins, legacy rows, indexes -----------------------------------------------------------
    def _seed(self) -> None:
        with self.state.lock:
            for variation_id, name, variation_name, price, sku in BUILTIN_VARIATIONS:
                if variation_id not in self.state.catalog:
                    for obj in _item_objects(
                        variation_id, name, variation_name, price, sku, _BUILTIN_VERSION, _BUILTIN_TIME
                    ):
                        self.state.catalog.setdefault(obj["id"], obj)  # constants: not written to the store
            for object_id, row in self.state.legacy_catalog:  # state files written before the Catalog API
                self.add_item(object_id, str(row[0]), int(row[2]), str(row[1]))
            self.state.drop_legacy_catalog()
            self._children.clear()
            for obj in self.state.catalog.values():
                self._index(obj)

    def _index(self, obj: dict[str, Any]) -> None:
        parent = self._parent_id(obj)
        if parent is not None:
            siblings = self._children.setdefault(parent, [])
            if obj["id"] not in siblings:
                siblings.append(obj["id"])

    @staticmethod
    def _parent_id(obj: dict[str, Any]) -> str | None:
        for _, child_type, ref in CHILDREN.values():
            if obj.get("type") == child_type:
                parent = (obj.get(DATA_KEY[child_type]) or {}).get(ref)
                return str(parent) if parent else None
        return None

    def reset(self) -> None:
        self._version = 0
        self._seed()

    def add_item(self, object_id: str, name: str, price: int, variation_name: str = "Regular") -> None:
        """Register an item with one variation ``object_id`` (tests and demos; not an API call)."""
        with self.state.lock:
            for obj in _item_objects(
                object_id, name, variation_name, price, None, self._next_version(), self.state.now()
            ):
                self.state.save_catalog_object(obj)
                self._index(obj)

    def _next_version(self) -> int:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        self._version = max(self._version + 1, now_ms)
        return self._version

    # ---- reads ------------------------------------------------------------------------------------
    def _live(self, object_id: Any) -> dict[str, Any] | None:
        obj = self.state.catalog.get(object_id) if isinstance(object_id, str) else None
        return None if obj is None or obj.get("is_deleted") else obj

    def _public(self, obj: dict[str, Any], *, include_deleted: bool = False) -> dict[str, Any]:
        """The object as Square answers it: children nested in their parent, in ordinal order."""
        out = copy.deepcopy(obj)
        nested = CHILDREN.get(obj["type"])
        if nested is not None:
            list_key, _, _ = nested
            children = [
                self.state.catalog[cid]
                for cid in self._children.get(obj["id"], [])
                if include_deleted or not self.state.catalog[cid].get("is_deleted")
            ]
            children.sort(key=lambda c: (c.get(DATA_KEY[c["type"]]) or {}).get("ordinal", 0))
            if children:
                out.setdefault(DATA_KEY[obj["type"]], {})[list_key] = [copy.deepcopy(c) for c in children]
        return out

    def _related(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Objects the given ones reference by id, one level deep (include_related_objects)."""
        wanted: list[str] = []
        for obj in objects:
            data = obj.get(DATA_KEY.get(obj["type"], ""), {}) or {}
            if obj["type"] == "ITEM_VARIATION":
                wanted.append(data.get("item_id", ""))
            if obj["type"] == "ITEM":
                wanted.append(data.get("category_id", ""))
                wanted += [c.get("id", "") for c in data.get("categories") or []]
                wanted += list(data.get("tax_ids") or [])
                wanted += [m.get("modifier_list_id", "") for m in data.get("modifier_list_info") or []]
        seen = {o["id"] for o in objects}
        out = []
        for object_id in wanted:
            obj = self._live(object_id)
            if obj is not None and object_id not in seen:
                seen.add(object_id)
                out.append(self._public(obj))
        return out

    def get(self, object_id: str, include_related: bool = False) -> dict[str, Any]:
        with self.state.lock:
            obj = self._live(object_id)
            if obj is None:
                raise not_found(f"Catalog object `{object_id}` not found.", "object_id")
            result: dict[str, Any] = {"object": self._public(obj)}
            if include_related:
                result["related_objects"] = self._related([obj])
            return result

    def batch_get(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        ids = as_list(body.get("object_ids"), "object_ids")
        if not ids:
            raise bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter object_ids.", "object_ids")
        if len(ids) > BATCH_RETRIEVE_MAX:
            raise bad("INVALID_VALUE", f"At most {BATCH_RETRIEVE_MAX} object_ids are allowed.", "object_ids")
        with self.state.lock:
            found = [obj for obj in (self._live(i) for i in ids) if obj is not None]
            result: dict[str, Any] = {"objects": [self._public(o) for o in found]}
            if as_bool(body.get("include_related_objects"), "include_related_objects", False):
                result["related_objects"] = self._related(found)
            return result

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        types = as_list(body.get("object_types"), "object_types") or list(TOP_LEVEL_TYPES)
        for t in types:
            if t not in DATA_KEY:
                raise bad(
                    "INVALID_ENUM_VALUE",
                    f"`{t}` is not a valid enum value for `object_types`.",
                    "object_types",
                )
        match = self._query_predicate(as_dict(body.get("query"), "query", required=False))
        include_deleted = as_bool(body.get("include_deleted_objects"), "include_deleted_objects", False)
        begin = parse_ts(body["begin_time"], "begin_time") if body.get("begin_time") else None
        limit = as_limit(body.get("limit"), "limit", SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX)
        query_hash = fingerprint({k: body.get(k) for k in ("object_types", "query", "begin_time")})[:16]
        offset = decode_cursor(body["cursor"], query_hash) if body.get("cursor") else 0
        with self.state.lock:
            rows = [
                obj
                for obj in self.state.catalog.values()
                if obj["type"] in types
                and (include_deleted or not obj.get("is_deleted"))
                and (begin is None or parse_ts(obj["updated_at"], "updated_at") > begin)
                and match(obj)
            ]
            page = rows[offset : offset + limit]
            result: dict[str, Any] = {
                "objects": [self._public(o, include_deleted=include_deleted) for o in page]
            }
            if as_bool(body.get("include_related_objects"), "include_related_objects", False):
                result["related_objects"] = self._related(page)
            stamps = [o.get("updated_at") or "" for o in self.state.catalog.values()]
            result["latest_time"] = max(stamps, default=_BUILTIN_TIME)
        if offset + limit < len(rows):
            result["cursor"] = encode_cursor({"o": offset + limit, "h": query_hash})
        return result

    @staticmethod
    def _query_predicate(query: dict[str, Any]) -> Any:
        supported = {"exact_query", "set_query", "prefix_query"}
        unsupported = set(query) - supported
        if unsupported:
            raise bad(
                "BAD_REQUEST",
                f"Query type(s) {sorted(unsupported)} are not emulated by the sandbox.",
                "query",
            )
        if "set_query" in query and len(query) > 1:
            raise bad("BAD_REQUEST", "set_query cannot be combined with other query types.", "query")
        tests = []
        for kind, values_key in (
            ("exact_query", "attribute_value"),
            ("set_query", "attribute_values"),
            ("prefix_query", "attribute_prefix"),
        ):
            if kind not in query:
                continue
            spec = as_dict(query[kind], f"query.{kind}")
            attribute = require_str(spec, "attribute_name", f"query.{kind}.attribute_name")
            if kind == "set_query":
                values = as_list(spec.get(values_key), f"query.{kind}.{values_key}")
                if not values or len(values) > SET_QUERY_VALUES_MAX:
                    raise bad(
                        "INVALID_VALUE",
                        f"attribute_values needs 1 to {SET_QUERY_VALUES_MAX} values.",
                        f"query.{kind}.{values_key}",
                    )
                wanted = {str(v).casefold() for v in values}
                tests.append((attribute, lambda v, w=frozenset(wanted): v in w))
            else:
                value = require_str(spec, values_key, f"query.{kind}.{values_key}").casefold()
                if kind == "exact_query":
                    tests.append((attribute, lambda v, w=value: v == w))
                else:
                    tests.append((attribute, lambda v, w=value: v.startswith(w)))

        def predicate(obj: dict[str, Any]) -> bool:
            data = obj.get(DATA_KEY.get(obj["type"], ""), {}) or {}
            for attribute, test in tests:
                value = data.get(attribute) if attribute in SEARCHABLE else None
                if not isinstance(value, str) or not test(value.casefold()):
                    return False
            return True

        return predicate

    # ---- writes -----------------------------------------------------------------------------------
    def upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", 128)
        obj = as_dict(body.get("object"), "object")
        result = self._write("catalog.upsert", key, fingerprint(body), [[obj]], "object")
        return {"catalog_object": result["objects"][0], "id_mappings": result["id_mappings"]}

    def batch_upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        body = strip_nulls(body)
        key = require_str(body, "idempotency_key", "idempotency_key", 128)
        batches = as_list(body.get("batches"), "batches")
        if not batches:
            raise bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter batches.", "batches")
        objects_per_batch = []
        for i, batch in enumerate(batches):
            objects = as_list(as_dict(batch, f"batches[{i}]").get("objects"), f"batches[{i}].objects")
            if not objects or len(objects) > BATCH_OBJECTS_MAX:
                raise bad(
                    "INVALID_VALUE",
                    f"A batch holds 1 to {BATCH_OBJECTS_MAX} objects.",
                    f"batches[{i}].objects",
                )
            objects_per_batch.append(objects)
        if sum(len(b) for b in objects_per_batch) > REQUEST_OBJECTS_MAX:
            raise bad("INVALID_VALUE", f"At most {REQUEST_OBJECTS_MAX} objects per request.", "batches")
        return self._write("catalog.batch_upsert", key, fingerprint(body), objects_per_batch, "batches")

    def _write(
        self, scope: str, key: str, print_: str, batches: list[list[Any]], field_root: str
    ) -> dict[str, Any]:
        with self.state.lock:
            seen = self.state.replayed(scope, key, print_)
            if seen is not None:
                return copy.deepcopy(seen["response"])
            version = self._next_version()
            now = self.state.now()
            writes: list[dict[str, Any]] = []
            mappings: list[dict[str, str]] = []
            tops: list[str] = []
            for b, objects in enumerate(batches):
                temp: dict[str, str] = {}  # "#" ids of this batch -> generated ids
                flat: list[tuple[dict[str, Any], str]] = []
                for i, raw in enumerate(objects):
                    path = f"{field_root}[{b}].objects[{i}]" if field_root == "batches" else field_root
                    flat += self._flatten(as_dict(raw, path), path, temp)
                for obj, path in flat:
                    self._resolve_refs(obj, temp, path)
                mappings += [{"client_object_id": c, "object_id": s} for c, s in temp.items()]
                created = set(temp.values())
                for obj, path in flat:
                    writes.append(self._prepared(obj, path, version, now, created))
                tops += [temp.get(o["id"], o["id"]) for o in objects]
                writes += self._deleted_children(flat, version, now)
            for obj in writes:
                self.state.save_catalog_object(obj)
                self._index(obj)
            response = {
                "objects": [self._public(self.state.catalog[i]) for i in tops],
                "id_mappings": mappings,
                "updated_at": now,
            }
            self.state.remember(scope, key, print_, tops[0] if tops else "", response)
            self.state.stats.mutation(f"square.{scope}")
            return copy.deepcopy(response)

    def _flatten(
        self, raw: dict[str, Any], path: str, temp: dict[str, str]
    ) -> list[tuple[dict[str, Any], str]]:
        """The object and its nested children as separate objects, new ids assigned."""
        obj = copy.deepcopy(raw)
        obj_type = require_str(obj, "type", f"{path}.type")
        if obj_type not in DATA_KEY:
            raise bad(
                "INVALID_ENUM_VALUE", f"`{obj_type}` is not a valid catalog object type.", f"{path}.type"
            )
        object_id = require_str(obj, "id", f"{path}.id")
        if object_id.startswith("#"):
            if object_id in temp:
                raise bad("INVALID_VALUE", f"Duplicate temporary id {object_id}.", f"{path}.id")
            temp[object_id] = new_id(24).upper()
        data = as_dict(obj.get(DATA_KEY[obj_type]), f"{path}.{DATA_KEY[obj_type]}")
        out = [(obj, path)]
        nested = CHILDREN.get(obj_type)
        if nested is not None:
            list_key, child_type, ref = nested
            children = as_list(data.pop(list_key, None), f"{path}.{DATA_KEY[obj_type]}.{list_key}")
            for j, child in enumerate(children):
                cpath = f"{path}.{DATA_KEY[obj_type]}.{list_key}[{j}]"
                child = as_dict(child, cpath)
                if child.get("type", child_type) != child_type:
                    raise bad("INVALID_VALUE", f"Nested objects here must be {child_type}.", f"{cpath}.type")
                child = {**child, "type": child_type}
                child_data = dict(as_dict(child.get(DATA_KEY[child_type]), f"{cpath}.{DATA_KEY[child_type]}"))
                child_data[ref] = object_id
                child_data.setdefault("ordinal", j)
                child[DATA_KEY[child_type]] = child_data
                out += self._flatten(child, cpath, temp)
        return out

    @staticmethod
    def _resolve_refs(obj: dict[str, Any], temp: dict[str, str], path: str) -> None:
        def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [walk(v) for v in value]
            if isinstance(value, str) and value.startswith("#"):
                if value not in temp:
                    raise bad("INVALID_VALUE", f"Unknown temporary id {value}.", path)
                return temp[value]
            return value

        for k in list(obj):
            obj[k] = walk(obj[k])

    def _prepared(
        self, obj: dict[str, Any], path: str, version: int, now: str, created: set[str]
    ) -> dict[str, Any]:
        """Validate one flattened object against its current state; the object as stored.
        ``created`` holds the ids generated for this batch's ``#`` objects."""
        current = self.state.catalog.get(obj["id"])
        if current is None:
            if obj["id"] not in created:
                raise not_found(f"Catalog object `{obj['id']}` not found.", f"{path}.id")
        else:
            if current.get("is_deleted"):
                raise bad("INVALID_VALUE", f"Catalog object `{obj['id']}` is deleted.", f"{path}.id")
            if current["type"] != obj["type"]:
                raise bad("INVALID_VALUE", "The type of a catalog object cannot change.", f"{path}.type")
            supplied = obj.get("version")
            required = self.state.settings.current.catalog_update_requires_version
            if (supplied is None and required) or (
                supplied is not None and supplied != current.get("version")
            ):
                raise bad(
                    "VERSION_MISMATCH",
                    f"Object version does not match the latest database version {current.get('version')}.",
                    f"{path}.version",
                )
        self._validate_data(obj, path, created)
        obj.update(version=version, updated_at=now, is_deleted=False)
        obj.setdefault("present_at_all_locations", True)
        return obj

    def _deleted_children(
        self, flat: list[tuple[dict[str, Any], str]], version: int, now: str
    ) -> list[dict[str, Any]]:
        """Full replacement: children of an upserted parent that the request left out."""
        kept = {obj["id"] for obj, _ in flat}
        out = []
        for obj, _ in flat:
            if obj["type"] not in CHILDREN:
                continue
            for child_id in self._children.get(obj["id"], []):
                child = self.state.catalog.get(child_id)
                if child is not None and child_id not in kept and not child.get("is_deleted"):
                    out.append(
                        {**copy.deepcopy(child), "is_deleted": True, "version": version, "updated_at": now}
                    )
        return out

    def _validate_data(self, obj: dict[str, Any], path: str, created: set[str]) -> None:
        data_key = DATA_KEY[obj["type"]]
        data = obj[data_key]
        dpath = f"{path}.{data_key}"
        if obj["type"] in ("ITEM", "CATEGORY", "DISCOUNT", "TAX", "MODIFIER_LIST"):
            require_str(data, "name", f"{dpath}.name", 512)
        if obj["type"] == "ITEM_VARIATION":
            parent = require_str(data, "item_id", f"{dpath}.item_id")
            if self._live(parent) is None and parent not in created:
                raise bad("INVALID_VALUE", f"Item `{parent}` not found.", f"{dpath}.item_id")
            if data.get("price_money") is not None:
                money_or_400(data["price_money"], f"{dpath}.price_money", "USD")
            pricing = data.setdefault(
                "pricing_type", "FIXED_PRICING" if data.get("price_money") else "VARIABLE_PRICING"
            )
            if pricing not in ("FIXED_PRICING", "VARIABLE_PRICING"):
                raise bad("INVALID_ENUM_VALUE", f"Invalid pricing_type {pricing}.", f"{dpath}.pricing_type")
            if pricing == "FIXED_PRICING" and data.get("price_money") is None:
                raise bad(
                    "MISSING_REQUIRED_PARAMETER", "FIXED_PRICING needs price_money.", f"{dpath}.price_money"
                )
        if obj["type"] == "MODIFIER" and data.get("price_money") is not None:
            money_or_400(data["price_money"], f"{dpath}.price_money", "USD")
        if obj["type"] == "DISCOUNT":
            kind = data.get("discount_type")
            if kind not in DISCOUNT_TYPES:
                raise bad("INVALID_ENUM_VALUE", f"Invalid discount_type {kind}.", f"{dpath}.discount_type")
            if kind == "FIXED_PERCENTAGE":
                self._percentage(data, f"{dpath}.percentage")
            if kind == "FIXED_AMOUNT":
                money_or_400(data.get("amount_money"), f"{dpath}.amount_money", "USD")
        if obj["type"] == "TAX":
            self._percentage(data, f"{dpath}.percentage")
            data.setdefault("inclusion_type", "ADDITIVE")
            if data["inclusion_type"] not in ("ADDITIVE", "INCLUSIVE"):
                raise bad(
                    "INVALID_ENUM_VALUE",
                    "inclusion_type must be ADDITIVE or INCLUSIVE.",
                    f"{dpath}.inclusion_type",
                )
            data.setdefault("calculation_phase", "TAX_SUBTOTAL_PHASE")

    @staticmethod
    def _percentage(data: dict[str, Any], field: str) -> None:
        try:
            parse_decimal(require_str(data, "percentage", field), field)
        except MoneyError as exc:
            raise bad(exc.code, exc.detail, exc.field) from None

    # ---- CatalogPricing (pricing.py) ---------------------------------------------------------------
    def _typed(self, object_id: str, field: str, wanted: str) -> dict[str, Any]:
        obj = self._live(object_id)
        if obj is None:
            raise _not_found_money(object_id, field)
        if obj["type"] != wanted:
            raise MoneyError("INVALID_VALUE", f"Catalog object `{object_id}` is not a {wanted}.", field)
        return obj

    def variation(self, object_id: str, field: str) -> CatalogVariation:
        obj = self._typed(object_id, field, "ITEM_VARIATION")
        data = obj["item_variation_data"]
        item = self._live(data.get("item_id")) or {}
        price = data.get("price_money") if data.get("pricing_type") == "FIXED_PRICING" else None
        return CatalogVariation(
            item_name=(item.get("item_data") or {}).get("name") or data.get("name") or object_id,
            variation_name=data.get("name") or "",
            price=None if price is None else parse_money(price, field, "USD"),
            version=obj.get("version"),
        )

    def modifier(self, object_id: str, field: str) -> tuple[str, int, int | None]:
        obj = self._typed(object_id, field, "MODIFIER")
        data = obj["modifier_data"]
        price = data.get("price_money") or {"amount": 0}
        return data.get("name") or "", parse_money(price, field, "USD"), obj.get("version")

    def discount(self, object_id: str, field: str) -> CatalogAdjustment:
        obj = self._typed(object_id, field, "DISCOUNT")
        data = obj["discount_data"]
        amount = data.get("amount_money")
        return CatalogAdjustment(
            name=data.get("name") or "",
            kind=data.get("discount_type") or "FIXED_PERCENTAGE",
            percentage=data.get("percentage"),
            amount=None if amount is None else parse_money(amount, field, "USD"),
            version=obj.get("version"),
        )

    def tax(self, object_id: str, field: str) -> CatalogAdjustment:
        obj = self._typed(object_id, field, "TAX")
        data = obj["tax_data"]
        return CatalogAdjustment(
            name=data.get("name") or "",
            kind=data.get("inclusion_type") or "ADDITIVE",
            percentage=data.get("percentage"),
            version=obj.get("version"),
        )
