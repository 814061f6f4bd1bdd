"""Request-body helpers shared by the Square emulator's APIs: field checks, ids, timestamps.

Each raises ``SquareError`` with Square's codes (MISSING_REQUIRED_PARAMETER, EXPECTED_STRING,
VALUE_TOO_LONG, EXPECTED_OBJECT, EXPECTED_ARRAY, INVALID_VALUE) and the dotted field path.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sync.sandbox.square.errors import SquareError, bad
from sync.sandbox.square.money import MoneyError, parse_decimal, parse_money

_ALNUM = string.ascii_letters + string.digits


def strip_nulls(value: Any) -> Any:
    """Explicit JSON nulls mean 'not set' (the SDK sends None as null)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value if v is not None]
    return value


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def new_id(length: int = 29) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_uid() -> str:
    return new_id(22)


def format_ts(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise bad("INVALID_VALUE", f"Expected an RFC 3339 timestamp for {field}.", field)
    try:
        dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise bad("INVALID_VALUE", f"Invalid RFC 3339 timestamp {value!r}.", field) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def require_str(body: dict[str, Any], key: str, field: str, max_len: int | None = None) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
    if not isinstance(value, str):
        raise bad("EXPECTED_STRING", f"Expected {field} to be a string.", field)
    if max_len is not None and len(value) > max_len:
        raise bad("VALUE_TOO_LONG", f"{field} must be at most {max_len} characters.", field)
    return value


def opt_str(body: dict[str, Any], key: str, field: str, max_len: int) -> str | None:
    if body.get(key) is None:
        return None
    return require_str(body, key, field, max_len)


def as_dict(value: Any, field: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if value is None:
        raise bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
    if not isinstance(value, dict):
        raise bad("EXPECTED_OBJECT", f"Expected {field} to be an object.", field)
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad("EXPECTED_ARRAY", f"Expected {field} to be an array.", field)
    return value


def as_bool(value: Any, field: str, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad("EXPECTED_BOOLEAN", f"Expected {field} to be a boolean.", field)
    return value


def as_limit(value: Any, field: str, default: int, maximum: int) -> int:
    """A page size: absent means ``default``; Square caps a larger one at ``maximum``."""
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad("INVALID_VALUE", f"{field} must be a positive integer.", field)
    return min(value, maximum)


def money_or_400(value: Any, field: str, currency: str) -> int:
    try:
        return parse_money(as_dict(value, field), field, currency)
    except MoneyError as exc:
        raise bad(exc.code, exc.detail, exc.field) from None


def decimal_or_400(value: Any, field: str, *, positive: bool = True) -> Fraction:
    try:
        return parse_decimal(value, field, positive=positive)
    except MoneyError as exc:
        raise bad(exc.code, exc.detail, exc.field) from None


def money_error(exc: MoneyError) -> SquareError:
    """A pricing error as Square answers it (an unknown catalog object is a 404)."""
    return SquareError(404 if exc.code == "NOT_FOUND" else 400, exc.code, exc.detail, exc.field)
