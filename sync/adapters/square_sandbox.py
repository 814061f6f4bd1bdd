"""The Square emulator's sandbox-only controls (``/_sandbox/square/…``), for test tooling.

Not part of Square's API: these play what a store does in Square's own apps (an itemized refund
in Square POS, a custom-amount refund in the Dashboard) and what Square does in time (a pending
refund settles). They work only against ``ordersync sandbox serve``.
"""

from __future__ import annotations

from typing import Any

import httpx


class SandboxControlError(Exception):
    """The sandbox refused (``status`` and Square's error ``code``), or is not reachable (status 0)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status or 'no response'} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


class SquareSandboxControls:
    def __init__(self, endpoint: str, *, timeout: float = 30.0) -> None:
        self._base = endpoint.rstrip("/") + "/_sandbox/square"
        self._timeout = timeout

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = httpx.post(f"{self._base}/{path}", json=body, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise SandboxControlError(0, "TRANSPORT_ERROR", f"{type(exc).__name__}: {exc}") from None
        try:
            data = resp.json()
        except ValueError:
            raise SandboxControlError(resp.status_code, "NOT_JSON", resp.text[:200]) from None
        if resp.status_code != 200:
            error = (data.get("errors") or [{}])[0] if isinstance(data, dict) else {}
            raise SandboxControlError(
                resp.status_code,
                str(error.get("code") or "UNKNOWN"),
                str(error.get("detail") or resp.text[:200]),
            )
        return data  # type: ignore[no-any-return]

    def pos_itemized_refund(
        self, order_id: str, line_uid: str, quantity: str, reason: str | None = None
    ) -> dict[str, Any]:
        """Square POS refunds ``quantity`` units of one line: {"refund", "return_order"}."""
        body: dict[str, Any] = {"line_uid": line_uid, "quantity": quantity}
        if reason:
            body["reason"] = reason
        return self._post(f"orders/{order_id}/pos-refund", body)

    def dashboard_refund(
        self,
        order_id: str,
        amount_minor: int,
        currency: str,
        *,
        shipping: bool = False,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """The Dashboard refunds an amount (``shipping``: marked as shipping): {"refund", "return_order"}."""
        body: dict[str, Any] = {
            "amount_money": {"amount": amount_minor, "currency": currency},
            "shipping": shipping,
        }
        if reason:
            body["reason"] = reason
        return self._post(f"orders/{order_id}/dashboard-refund", body)

    def settle_refund(self, refund_id: str, status: str = "COMPLETED") -> dict[str, Any]:
        return self._post(f"refunds/{refund_id}/settle", {"status": status})
