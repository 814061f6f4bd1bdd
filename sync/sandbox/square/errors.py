"""Square's error shape: an HTTP status plus ``{"errors": [{"category", "code", "detail", "field"}]}``.

Every emulator rule raises ``SquareError``; the routes turn it into the JSON body Square sends.
Status choices: validation, VERSION_MISMATCH and IDEMPOTENCY_KEY_REUSED are 400
INVALID_REQUEST_ERROR, unknown ids and unserved routes 404 NOT_FOUND, a missing or unknown token
401. None of them is a status the SDK retries (408/409/429/5xx), so a client sees them at once.
"""

from __future__ import annotations

from typing import Any


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


def bad(code: str, detail: str, field: str | None = None) -> SquareError:
    """A 400 INVALID_REQUEST_ERROR."""
    return SquareError(400, code, detail, field)


def not_found(detail: str, field: str | None = None) -> SquareError:
    return SquareError(404, "NOT_FOUND", detail, field)


def error_body(category: str, code: str, detail: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        error["field"] = field
    return {"errors": [error]}
