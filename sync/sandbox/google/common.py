"""Shared vocabulary of the Content API emulator: its error, money, times, ids and enums.

Everything here is pure (no state, no HTTP). ``GoogleError`` carries what routes render as
Google's JSON error body; the enums are the discovery document's "Acceptable values".
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


class GoogleError(Exception):
    """An API error: HTTP status, Google ``reason`` and message (rendered by routes)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def bad(message: str, reason: str = "invalid") -> GoogleError:
    return GoogleError(400, reason, message)


DEFAULT_PAGE = 25
MAX_PAGE = 250  # orders.list and orderreturns.list: "the maximum allowed value is 250"

STATUS_ENUM = {
    "IN_PROGRESS": "inProgress",
    "PENDING_SHIPMENT": "pendingShipment",
    "PARTIALLY_SHIPPED": "partiallyShipped",
    "SHIPPED": "shipped",
    "PARTIALLY_DELIVERED": "partiallyDelivered",
    "DELIVERED": "delivered",
    "PARTIALLY_RETURNED": "partiallyReturned",
    "RETURNED": "returned",
    "CANCELED": "canceled",
}
STATUS_GROUPS = {
    "active": {"pendingShipment", "partiallyShipped"},
    "completed": {"shipped", "partiallyDelivered", "delivered", "partiallyReturned", "returned", "canceled"},
}
CANCEL_REASONS = frozenset(
    {
        "customerInitiatedCancel",
        "invalidCoupon",
        "malformedShippingAddress",
        "noInventory",
        "other",
        "priceError",
        "shippingPriceError",
        "taxError",
        "undeliverableShippingAddress",
        "unsupportedPoBoxAddress",
    }
)
RETURN_REASONS = frozenset(
    {
        "customerDiscretionaryReturn",
        "customerInitiatedMerchantCancel",
        "deliveredTooLate",
        "expiredItem",
        "invalidCoupon",
        "malformedShippingAddress",
        "other",
        "productArrivedDamaged",
        "productNotAsDescribed",
        "qualityNotAsExpected",
        "undeliverableShippingAddress",
        "unsupportedPoBoxAddress",
        "wrongProductShipped",
    }
)
REJECT_REASONS = frozenset({"damagedOrUsed", "missingComponent", "notEligible", "other", "outOfReturnWindow"})
REFUND_REASONS = frozenset(
    {
        "adjustment",
        "courtesyAdjustment",
        "customerCanceled",
        "customerDiscretionaryReturn",
        "deliveredLateByCarrier",
        "feeAdjustment",
        "lateShipmentCredit",
        "noInventory",
        "other",
        "priceError",
        "productArrivedDamaged",
        "productNotAsDescribed",
        "shippingCostAdjustment",
        "taxAdjustment",
        "undeliverableShippingAddress",
        "wrongProductShipped",
    }
)
# OrderRefund.reason / the refund-invoice refundOnlyOption.reason: the long list of the document.
REFUND_RECORD_REASONS = REFUND_REASONS | frozenset(
    {
        "autoPostInternal",
        "autoPostInvalidBillingAddress",
        "autoPostNoInventory",
        "autoPostPriceError",
        "autoPostUndeliverableShippingAddress",
        "couponAbuse",
        "customerInitiatedMerchantCancel",
        "customerSupportRequested",
        "deliveredTooLate",
        "expiredItem",
        "failToPushOrderGoogleError",
        "failToPushOrderMerchantError",
        "failToPushOrderMerchantFulfillmentError",
        "failToPushOrderToMerchant",
        "failToPushOrderToMerchantOutOfStock",
        "invalidCoupon",
        "malformedShippingAddress",
        "merchantDidNotShipOnTime",
        "orderTimeout",
        "paymentAbuse",
        "paymentDeclined",
        "priceAdjustment",
        "promoReallocation",
        "qualityNotAsExpected",
        "returnRefundAbuse",
        "shippingPriceError",
        "taxError",
        "unsupportedPoBoxAddress",
    }
)
CUSTOMER_CANCEL_REASONS = frozenset({"changedMind", "orderedWrongItem", "other"})
SHIPPING_OPTIONS = frozenset({"economy", "expedited", "oneDay", "sameDay", "standard", "twoDay"})
SHIPMENT_UPDATE_STATUSES = frozenset({"delivered", "undeliverable", "readyForPickup"})

# ISO 4217 minor units for the currencies whose exponent is not 2 (everything else has cents).
_EXPONENT = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (0.01 for USD/EUR, 1 for JPY, 0.001 for KWD)."""
    return Decimal(1).scaleb(-_EXPONENT.get(currency, 2))


def round_minor(value: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (Google's rounding mode is not documented)."""
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def money(value: Decimal, currency: str) -> dict[str, str]:
    return {"value": str(round_minor(value, currency)), "currency": currency}


def dec(price: dict[str, Any] | None, field: str = "amount", *, signed: bool = False) -> Decimal:
    """A Price's value as an exact Decimal (absent → 0); negative values only when ``signed``."""
    if not price:
        return Decimal(0)
    try:
        value = Decimal(str(price.get("value", "0")))
    except (InvalidOperation, AttributeError) as exc:
        raise bad(f"Invalid value for {field}.value: {price!r}") from exc
    if not value.is_finite() or (value < 0 and not signed):
        raise bad(f"Invalid value for {field}.value: must be a non-negative decimal")
    return value


def order_price(price: Any, field: str, currency: str, *, signed: bool = False) -> Decimal:
    """A Price sent against an order: its currency must be the order's, its precision the unit's."""
    if not isinstance(price, dict):
        raise bad(f"Invalid value for {field}: a Price object {{value, currency}} is required")
    sent = price.get("currency")
    if sent != currency:
        raise bad(
            f"Invalid value for {field}.currency: {sent!r} does not match the order's currency {currency}."
        )
    value = dec(price, field, signed=signed)
    if value != round_minor(value, currency):
        raise bad(
            f"Invalid value for {field}.value: {price.get('value')!r} has more decimals than {currency}"
        )
    return value


def now_iso(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def parse_time(value: str, field: str) -> datetime:
    """ISO 8601 date or date-time; naive values are taken as UTC."""
    try:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    except (ValueError, AttributeError) as exc:
        raise bad(f"Invalid value for {field}: {value!r} is not an ISO 8601 date/time") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def validate_merchant_id(merchant_id: Any) -> str:
    text = str(merchant_id or "")
    if not text.isdigit() or len(text) > 20 or text.strip("0") == "":
        raise bad(f"Invalid value for merchantId: {merchant_id!r} (must be a uint64 account id)")
    return text


def fingerprint(method: str, request: dict[str, Any]) -> str:
    body = {k: v for k, v in request.items() if k != "operationId"}
    text = json.dumps([method, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def clone(obj: Any) -> Any:
    # JSON round trip: faster than copy.deepcopy for these plain trees, and proves serialisability.
    return json.loads(json.dumps(obj))


def int_quantity(value: Any, field: str = "quantity") -> int:
    if value is None or value == "":
        raise bad(f"Required field: {field}", "required")
    try:
        qty = int(value)
    except (TypeError, ValueError) as exc:
        raise bad(f"Invalid value for {field}: {value!r}") from exc
    if qty <= 0 or str(value).strip() not in (str(qty), f"{qty}.0"):
        raise bad(f"Invalid value for {field}: must be a positive integer")
    return qty


def reason(req: dict[str, Any], allowed: frozenset[str], field: str = "reason") -> str:
    value = req.get(field)
    if not value:
        raise bad(f"Required field: {field}", "required")
    if not isinstance(value, str) or value not in allowed:
        raise bad(f"Invalid value for {field}: {value!r}; allowed: {', '.join(sorted(allowed))}")
    return str(value)


def page_size(max_results: int | None, *, limit: int | None = MAX_PAGE) -> int:
    """The page size of a list call; above ``limit`` is an error, as the document's maximum says."""
    if max_results is None:
        return DEFAULT_PAGE
    if max_results <= 0:
        raise bad(f"Invalid value for maxResults: {max_results} (must be positive)")
    if limit is not None and max_results > limit:
        raise bad(f"Invalid value for maxResults: {max_results} (the maximum allowed value is {limit})")
    return max_results


def encode_token(key: tuple[float, str], order_by: str) -> str:
    raw = json.dumps([repr(key[0]), key[1], order_by], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, order_by: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ts, key, token_order = json.loads(raw)
        parsed = (float(ts), str(key))
    except (ValueError, TypeError) as exc:
        raise bad("Invalid value for pageToken.") from exc
    if token_order != order_by:
        raise bad("pageToken was issued for a different orderBy.")
    return parsed
