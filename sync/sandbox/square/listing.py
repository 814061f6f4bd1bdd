"""The list endpoints' common query rules (ListPayments, ListPaymentRefunds) and offset cursors.

Square's list requests share: ``begin_time``/``end_time`` on ``created_at`` (begin inclusive,
default one year ago; end default now), ``updated_at_begin_time``/``updated_at_end_time``,
``sort_field`` and ``sort_order`` (default DESC), ``limit`` (at most 100; "If the supplied value is
greater than 100, no more than 100 results are returned") and a cursor bound to the query.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.sandbox.square.errors import bad
from sync.sandbox.square.validate import as_limit, fingerprint, format_ts, parse_ts

LIST_LIMIT_MAX = 100
DEFAULT_WINDOW_DAYS = 365


def encode_cursor(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: Any, query_hash: str) -> int:
    """The offset a cursor points at (these endpoints page by offset over a stable sort)."""
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        data = json.loads(text)
        if data["h"] == query_hash and isinstance(data["o"], int) and data["o"] >= 0:
            return int(data["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise bad("INVALID_CURSOR", "The cursor is invalid or was issued for a different query.", "cursor")


def _window(
    query: dict[str, Any], begin_key: str, end_key: str, now: datetime, default_days: int | None
) -> tuple[str, str]:
    begin = parse_ts(query[begin_key], begin_key) if query.get(begin_key) else None
    if begin is None and default_days is not None:
        begin = now - timedelta(days=default_days)
    end = parse_ts(query[end_key], end_key) if query.get(end_key) else now
    return (format_ts(begin) if begin else ""), format_ts(end)


@dataclass(frozen=True)
class ListQuery:
    created: tuple[str, str]
    updated: tuple[str, str] | None  # None: no updated_at bound asked for
    ts_key: str
    descending: bool
    limit: int
    offset: int
    query_hash: str

    def in_windows(self, entity: dict[str, Any]) -> bool:
        lo, hi = self.created
        if not lo <= entity["created_at"] <= hi:
            return False
        return self.updated is None or self.updated[0] <= entity["updated_at"] <= self.updated[1]

    def page(self, rows: Iterable[dict[str, Any]], key: str) -> dict[str, Any]:
        """``{key: [...], cursor?}`` for the rows this query matched (already filtered)."""
        ordered = sorted(rows, key=lambda r: (r[self.ts_key], r["id"]), reverse=self.descending)
        result: dict[str, Any] = {
            key: [copy.deepcopy(r) for r in ordered[self.offset : self.offset + self.limit]]
        }
        if self.offset + self.limit < len(ordered):
            result["cursor"] = encode_cursor({"o": self.offset + self.limit, "h": self.query_hash})
        return result


def list_query(query: dict[str, Any], sort_fields: tuple[str, ...], now: datetime) -> ListQuery:
    sort_field = query.get("sort_field") or "CREATED_AT"
    sort_order = query.get("sort_order") or "DESC"
    if sort_field not in sort_fields:
        raise bad("INVALID_ENUM_VALUE", f"Invalid sort_field {sort_field}.", "sort_field")
    if sort_order not in ("ASC", "DESC"):
        raise bad("INVALID_SORT_ORDER", f"Invalid sort_order {sort_order}.", "sort_order")
    query_hash = fingerprint({k: v for k, v in query.items() if k not in ("cursor", "limit")})[:16]
    by_update = bool(query.get("updated_at_begin_time") or query.get("updated_at_end_time"))
    return ListQuery(
        created=_window(query, "begin_time", "end_time", now, DEFAULT_WINDOW_DAYS),
        updated=_window(query, "updated_at_begin_time", "updated_at_end_time", now, None)
        if by_update
        else None,
        ts_key="updated_at" if sort_field == "UPDATED_AT" else "created_at",
        descending=sort_order == "DESC",
        limit=as_limit(query.get("limit"), "limit", LIST_LIMIT_MAX, LIST_LIMIT_MAX),
        offset=decode_cursor(query["cursor"], query_hash) if query.get("cursor") else 0,
        query_hash=query_hash,
    )
