"""Helpers for tests that drive the Square emulator (inside a full Sandbox) through the squareup SDK."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from square import Square
from square.core.api_error import ApiError

from sync.sandbox.server import Sandbox

LOC = "L_SANDBOX_MAIN"
NO_RETRY: Any = {"max_retries": 0}


# The token the integration fixtures start their Sandbox with (conftest.TOKEN): a Sandbox given
# tokens accepts only those, on the Square side too.
FIXTURE_TOKEN = "t"


def client(sb: Sandbox, token: str = FIXTURE_TOKEN) -> Square:
    return Square(token=token, base_url=sb.url, timeout=10)


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def api_error(fn: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, request_options=NO_RETRY, **kwargs)
    return info.value


def sandbox_call(sb: Sandbox, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """A call to the sandbox-only controls under /_sandbox/square/ (no token, never faulted)."""
    resp = httpx.post(f"{sb.url}/_sandbox/square/{path}", json=body or {}, timeout=10)
    return resp.status_code, resp.json()


def settings(sb: Sandbox, **changes: Any) -> dict[str, Any]:
    status, body = sandbox_call(sb, "settings", changes)
    assert status == 200, body
    return body


def shipment() -> dict[str, Any]:
    return {"type": "SHIPMENT", "shipment_details": {"recipient": {"display_name": "Jane Doe"}}}


def order_of(sq: Square, key: str, *lines: tuple[str, str, int], **extra: Any) -> Any:
    """An OPEN order of ad-hoc lines (name, quantity, unit price)."""
    body = {
        "location_id": LOC,
        "line_items": [{"name": n, "quantity": q, "base_price_money": usd(p)} for n, q, p in lines],
        **extra,
    }
    return sq.orders.create(idempotency_key=key, order=body).order


def pay_external(sq: Square, order: Any, key: str, amount: int | None = None, **extra: Any) -> Any:
    return sq.payments.create(
        source_id="EXTERNAL",
        idempotency_key=key,
        amount_money=usd(order.total_money.amount if amount is None else amount),
        order_id=order.id,
        location_id=LOC,
        external_details={"type": "OTHER", "source": "Google Shopping"},
        **extra,
    ).payment
