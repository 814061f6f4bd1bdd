"""State and rules of the emulated Content API (no HTTP here): the ``GoogleBackend`` of one environment.

The backend is assembled from one class per resource, all sharing the state of ``OrderBook``
(state.py): ``orders`` (orders.py), returns and refunds (returns.py), sandbox test orders
(testorders.py), ``orderinvoices`` (invoices.py) and ``orderreports`` (reports.py). This module
owns what every mutation goes through:

* Every mutation needs ``operationId``. The fingerprint of a request is its method plus the
  canonical JSON of the body without ``operationId`` (single calls and custombatch entries
  therefore fingerprint alike). Same id + same fingerprint → ``executionStatus: duplicate``, no
  change. Same id + different request → 409, reason ``duplicate`` (the body of spec §5). Failed
  requests do not consume their operationId, so a corrected retry may reuse it. operationIds are
  unique per order across ``orders`` and ``orderinvoices`` methods.
* Validation happens before any change, so a failed request leaves the order untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sync.sandbox.google.common import GoogleError, bad, fingerprint, validate_merchant_id
from sync.sandbox.google.invoices import INVOICE_MUTATORS, InvoicesResource
from sync.sandbox.google.orders import ORDERS_MUTATORS
from sync.sandbox.google.reports import ReportsResource
from sync.sandbox.google.returns import RETURNS_MUTATORS
from sync.sandbox.google.state import DEFAULT_MERCHANT_ID, Environment, derive_status, order_v21
from sync.sandbox.google.testorders import TestOrdersResource

__all__ = [
    "BATCH_LIMIT",
    "DEFAULT_MERCHANT_ID",
    "GoogleBackend",
    "GoogleBackends",
    "GoogleError",
    "derive_status",
    "fingerprint",
    "order_v21",
    "validate_merchant_id",
]

BATCH_LIMIT = 1000
# (version or "*", discovery method name) → backend method applying it.
MUTATORS: dict[tuple[str, str], str] = {**ORDERS_MUTATORS, **RETURNS_MUTATORS, **INVOICE_MUTATORS}
# Discovery resource of a mutating method, for the stats ids ("content.<resource>.<method>").
RESOURCE_OF = {"createchargeinvoice": "orderinvoices", "createrefundinvoice": "orderinvoices"}

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


class GoogleBackend(TestOrdersResource, InvoicesResource, ReportsResource):
    """All Content API state of one environment. Methods raise ``GoogleError``; they are thread-safe."""

    def mutate(
        self, merchant_id: str, order_id: str, method: str, request: dict[str, Any], *, version: str = "v2"
    ) -> str:
        """Apply one mutating method (discovery name, e.g. ``shiplineitems``); return executionStatus."""
        name = MUTATORS.get((version, method)) or MUTATORS.get(("*", method))
        if name is None:
            raise GoogleError(404, "notFound", f"Method {method} is not available in {version}.")
        handler = getattr(self, name)
        if not isinstance(request, dict):
            raise bad("Request body must be a JSON object")
        stat = f"content.{RESOURCE_OF.get(method, 'orders')}.{method}"
        op_id = request.get("operationId")
        if method == "captureorder" and not op_id:
            # v2.1 CaptureOrderRequest has no operationId; capturing twice is harmless.
            with self._lock:
                rec = self._rec(merchant_id, order_id)
                handler(rec, request)
                self._touch(rec)
            self.stats.mutation(stat)
            return "executed"
        if not op_id or not isinstance(op_id, str):
            raise bad("Required parameter: operationId", "required")
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
            outcome = handler(rec, request)
            rec["ops"][op_id] = fp
            self._touch(rec)
        if outcome == "duplicate":
            return "duplicate"
        self.stats.mutation(stat)
        return "executed"

    # ------------------------------------------------------------------ custombatch
    def custombatch(self, entries: Any, *, version: str = "v2") -> list[dict[str, Any]]:
        if not isinstance(entries, list):
            raise bad("Required field: entries", "required")
        if len(entries) > BATCH_LIMIT:
            raise bad(
                f"Too many entries in custombatch request: {len(entries)} (limit {BATCH_LIMIT}).",
                "batchSizeTooLarge",
            )
        batch_ids: set[Any] = set()
        out = []
        for entry in entries:
            res: dict[str, Any] = {"kind": "content#ordersCustomBatchResponseEntry"}
            try:
                if not isinstance(entry, dict):
                    raise bad("Each entry must be an object")
                res["batchId"] = entry.get("batchId")
                if entry.get("batchId") is None:
                    raise bad("Required field: batchId", "required")
                if entry["batchId"] in batch_ids:
                    raise bad(f"Duplicate batchId {entry['batchId']} in batch.")
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
            raise bad(f"Invalid value for method: {method!r}")
        if method == "getByMerchantOrderId":
            if not entry.get("merchantOrderId"):
                raise bad("Required field: merchantOrderId", "required")
            return {
                "order": self.get_by_merchant_order_id(merchant_id, entry["merchantOrderId"], version=version)
            }
        if not entry.get("orderId"):
            raise bad("Required field: orderId", "required")
        if method == "get":
            return {"order": self.get_order(merchant_id, entry["orderId"], version=version)}
        if method in _SUBOBJECT:
            sub = entry.get(_SUBOBJECT[method]) or {}
            if not isinstance(sub, dict):
                raise bad(f"{_SUBOBJECT[method]} must be an object")
            request = dict(sub)
        elif method == "updateMerchantOrderId":
            request = {"merchantOrderId": entry.get("merchantOrderId")}
        else:
            request = {}
        request["operationId"] = entry.get("operationId")
        status = self.mutate(merchant_id, entry["orderId"], BATCH_METHODS[method], request, version=version)
        return {"executionStatus": status}


@dataclass(frozen=True)
class GoogleBackends:
    """The two environments of the Content API (``v2sandbox`` and ``v2``), each with its own state."""

    sandbox: GoogleBackend
    production: GoogleBackend

    def of(self, environment: Environment) -> GoogleBackend:
        return self.sandbox if environment == "sandbox" else self.production

    def reset(self) -> None:
        self.sandbox.reset()
        self.production.reset()

    def order_count(self) -> int:
        return self.sandbox.order_count() + self.production.order_count()
