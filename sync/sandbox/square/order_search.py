"""SearchOrders: filters, sort and the cursor (SearchOrdersRequest / SearchOrdersDateTimeFilter).

* ``location_ids`` 1 to 10; ``limit`` default 500, at most 1,000 (a larger one is capped).
* DRAFT orders come back only when ``state_filter`` asks for them.
* A ``date_time_filter`` range needs ``sort_field`` on the same timestamp; "for each time range,
  the start time and end time are inclusive. If the end time is absent, it defaults to the time of
  the first request for the cursor" — the cursor carries that time, so a walk over pages never
  picks up orders changed after it started (the next walk does).
* Sorting by CLOSED_AT only returns orders that have closed.
* The cursor is bound to the query: reusing it with another query is INVALID_CURSOR. It points
  after the last (timestamp, id) returned, so orders changing while a walk is under way are
  neither skipped nor, when they sort later, missed.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sync.sandbox.square.errors import bad
from sync.sandbox.square.fulfillments import ORDER_STATES
from sync.sandbox.square.state import SquareState
from sync.sandbox.square.validate import as_dict, as_list, fingerprint, format_ts, parse_ts, strip_nulls

SEARCH_LIMIT_DEFAULT = 500
SEARCH_LIMIT_MAX = 1000
LOCATION_IDS_MAX = 10
SORT_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "CLOSED_AT": "closed_at"}
Predicate = Callable[[dict[str, Any]], bool]


def search_orders(state: SquareState, body: dict[str, Any]) -> dict[str, Any]:
    body = strip_nulls(body)
    location_ids = as_list(body.get("location_ids"), "location_ids")
    if not location_ids:
        raise bad("MISSING_REQUIRED_PARAMETER", "Missing required parameter location_ids.", "location_ids")
    if len(location_ids) > LOCATION_IDS_MAX:
        raise bad("INVALID_VALUE", f"At most {LOCATION_IDS_MAX} location_ids are allowed.", "location_ids")
    query = as_dict(body.get("query"), "query", required=False)
    flt = as_dict(query.get("filter"), "query.filter", required=False)
    sort = as_dict(query.get("sort"), "query.sort", required=False)
    sort_field = sort.get("sort_field", "CREATED_AT")
    sort_order = sort.get("sort_order", "DESC")
    if sort_field not in SORT_FIELDS:
        raise bad("INVALID_ENUM_VALUE", f"Invalid sort_field {sort_field}.", "query.sort.sort_field")
    if sort_order not in ("ASC", "DESC"):
        raise bad("INVALID_SORT_ORDER", f"Invalid sort_order {sort_order}.", "query.sort.sort_order")
    limit = body.get("limit", SEARCH_LIMIT_DEFAULT)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise bad("INVALID_VALUE", "limit must be a positive integer.", "limit")
    limit = min(limit, SEARCH_LIMIT_MAX)
    query_hash = fingerprint({"l": location_ids, "q": query, "e": bool(body.get("return_entries"))})[:16]
    after: tuple[str, str] | None = None
    with state.lock:
        if body.get("cursor"):
            after, first_request = _decode_cursor(body["cursor"], query_hash)
        else:
            first_request = state.now()
        predicates = _predicates(flt, sort_field, first_request)
        ts_key = SORT_FIELDS[sort_field]
        rows = [
            o
            for o in state.orders.values()
            if o["location_id"] in location_ids and o.get(ts_key) and all(p(o) for p in predicates)
        ]
        desc = sort_order == "DESC"
        rows.sort(key=lambda o: (o[ts_key], o["id"]), reverse=desc)
        if after is not None:
            rows = [
                o for o in rows if ((o[ts_key], o["id"]) < after if desc else (o[ts_key], o["id"]) > after)
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
        token = {"k": [last[ts_key], last["id"]], "h": query_hash, "f": first_request}
        text = json.dumps(token, separators=(",", ":"))
        result["cursor"] = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return result


def _decode_cursor(cursor: Any, query_hash: str) -> tuple[tuple[str, str], str]:
    """(the last sort key returned, the time of the walk's first request)."""
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        data = json.loads(text)
        key = (str(data["k"][0]), str(data["k"][1]))
        first = str(data["f"])
        ok = data["h"] == query_hash
    except (ValueError, KeyError, TypeError, IndexError):
        ok = False
    if not ok:
        raise bad("INVALID_CURSOR", "The cursor is invalid or was issued for a different query.", "cursor")
    return key, first


def _predicates(flt: dict[str, Any], sort_field: str, first_request: str) -> list[Predicate]:
    preds: list[Predicate] = []
    state_filter = as_dict(flt.get("state_filter"), "query.filter.state_filter", required=False)
    if state_filter:
        states = as_list(state_filter.get("states"), "query.filter.state_filter.states")
        if not states or any(s not in ORDER_STATES for s in states):
            raise bad(
                "INVALID_VALUE",
                "state_filter.states must list order states.",
                "query.filter.state_filter.states",
            )
        preds.append(lambda o, s=frozenset(states): o["state"] in s)
    else:
        preds.append(lambda o: o["state"] != "DRAFT")
    preds += _time_ranges(flt, sort_field, first_request)
    ff = as_dict(flt.get("fulfillment_filter"), "query.filter.fulfillment_filter", required=False)
    if ff:
        types = frozenset(as_list(ff.get("fulfillment_types"), "fulfillment_types"))
        fstates = frozenset(as_list(ff.get("fulfillment_states"), "fulfillment_states"))
        preds.append(
            lambda o: any(
                (not types or f["type"] in types) and (not fstates or f["state"] in fstates)
                for f in o.get("fulfillments") or []
            )
        )
    sf = as_dict(flt.get("source_filter"), "query.filter.source_filter", required=False)
    if sf:
        names = frozenset(as_list(sf.get("source_names"), "source_names"))
        preds.append(lambda o: (o.get("source") or {}).get("name") in names)
    cf = as_dict(flt.get("customer_filter"), "query.filter.customer_filter", required=False)
    if cf:
        customers = frozenset(as_list(cf.get("customer_ids"), "customer_ids"))
        preds.append(lambda o: o.get("customer_id") in customers)
    return preds


def _time_ranges(flt: dict[str, Any], sort_field: str, first_request: str) -> list[Predicate]:
    """Inclusive ranges; an absent end is the walk's first request. Stored timestamps all have
    the one millisecond format ``format_ts`` writes, so the bounds compare as strings."""
    dtf = as_dict(flt.get("date_time_filter"), "query.filter.date_time_filter", required=False)
    preds: list[Predicate] = []
    for name, sort_name in (
        ("created_at", "CREATED_AT"),
        ("updated_at", "UPDATED_AT"),
        ("closed_at", "CLOSED_AT"),
    ):
        if name not in dtf:
            continue
        field = f"query.filter.date_time_filter.{name}"
        if sort_name != sort_field:
            raise bad(
                "INVALID_VALUE",
                f"A date_time_filter on {name} requires sort_field {sort_name}.",
                "query.sort.sort_field",
            )
        rng = as_dict(dtf[name], field)
        start = parse_ts(rng["start_at"], f"{field}.start_at") if rng.get("start_at") else None
        end = parse_ts(rng["end_at"], f"{field}.end_at") if rng.get("end_at") else None
        if start and end and end < start:
            raise bad("INVALID_TIME_RANGE", "end_at is before start_at.", field)
        lo = _ceil_ms(start) if start else ""
        hi = format_ts(end) if end else first_request

        def in_range(o: dict[str, Any], key: str = name, lo: str = lo, hi: str = hi) -> bool:
            value = o.get(key)
            return bool(value) and lo <= value <= hi

        preds.append(in_range)
    return preds


def _ceil_ms(dt: datetime) -> str:
    """The first stored (millisecond) timestamp at or after ``dt``."""
    if dt.microsecond % 1000:
        dt += timedelta(microseconds=1000 - dt.microsecond % 1000)
    return format_ts(dt)
