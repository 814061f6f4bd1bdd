"""Deterministic ids: Google operationIds and shipmentIds, Square idempotency keys, merchantOrderIds.

Every id is a pure function of the *intent* (what we want to happen), never of when or how often we
try, so a retry or a rerun after a crash sends the same id and Google/Square de-duplicate it, while
two different intents can never share an id.

Formats (operationIds need only be unique per order; Google scopes them to the order):

=========================================  ===========================================
intent                                     id
=========================================  ===========================================
acknowledge                                ``os:ack:1``            (operation_id(o, "ack"))
any other one-off action, n-th time        ``os:<action>:<n>``
set merchantOrderId to M                   ``os:merchant-id:<sha256(M)[:12]>``
ship shipment S                            ``os:ship:<S>``
mark shipment S delivered                  ``os:deliver:<S>``
new carrier/tracking id for shipment S     ``os:track:<S>:<sha256(carrier, tracking)[:12]>``
cancel the whole order                     ``os:cancel:1``
cancel line L until N units are canceled   ``os:cancel-line:<L>:<N>``
feed shipment (order, carrier, tracking)   ``fd-<24 hex>``
Square fulfillment (order, uid)            ``sq-<24 hex>``
Square idempotency key                     ``ordersync:<purpose>:<merchant id>:<google order id>``
Google mutation for part P of Square       ``os:sq-refund:<24 hex of (R, P)>``
refund R (P: ``line:<L>``, ``amount``,
``shipping``)
RefundPayment making Square show T         ``osr:<40 base32>`` (45 characters at most)
refunded in total, A of it now
=========================================  ===========================================

The specialised formats use action names that :func:`operation_id` refuses, so ``os:ship:1`` can
only ever mean "ship the shipment whose id is 1", never "the first generic ship action".
"""

from __future__ import annotations

import base64
import hashlib
import re

PREFIX = "os"
# Actions with their own id function (and their own, non-sequence suffix).
RESERVED_ACTIONS = frozenset({"ship", "deliver", "track", "cancel-line", "merchant-id", "sq-refund"})
_ACTION = re.compile(r"^[a-z][a-z0-9-]*$")
SHIPMENT_ID_MAX = 64
SQUARE_IDEMPOTENCY_KEY_MAX = 192
SQUARE_REFUND_KEY_MAX = 45  # RefundPayment's idempotency_key limit
SQUARE_REFUND_KEY_PREFIX = "osr:"
SQUARE_REFUND_PARTS = re.compile(r"^(?:amount|shipping|line:.+)$")
_PLACEHOLDER = "{google_order_id}"


def _digest(*parts: str, length: int = 24) -> str:
    # Unit separator between parts: ("ab", "c") and ("a", "bc") must not hash alike.
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]


def _require(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


def operation_id(order_id: str, action: str, seq: int = 1) -> str:
    """``os:<action>:<seq>`` — unique per (order, action, seq); see the table in the module doc."""
    _require(order_id, "order_id")
    if not _ACTION.match(action or ""):
        raise ValueError(f"action {action!r} must be lower-case letters, digits and '-'")
    if action in RESERVED_ACTIONS:
        raise ValueError(f"action {action!r} has its own id function in sync.domain.operations")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"seq must be an integer >= 1, got {seq!r}")
    return f"{PREFIX}:{action}:{seq}"


def ship_operation_id(shipment_id: str) -> str:
    return f"{PREFIX}:ship:{_require(shipment_id, 'shipment_id')}"


def deliver_operation_id(shipment_id: str) -> str:
    return f"{PREFIX}:deliver:{_require(shipment_id, 'shipment_id')}"


def tracking_operation_id(shipment_id: str, carrier: str, tracking_id: str) -> str:
    """``os:track:<S>:<12 hex>``: "shipment S now travels with this carrier and tracking id".

    The new values are part of the intent, so each correction is its own operation and a replay of
    the same correction is a duplicate.
    """
    digest = _digest(carrier.casefold(), tracking_key(tracking_id), length=12)
    return f"{PREFIX}:track:{_require(shipment_id, 'shipment_id')}:{digest}"


def merchant_order_id_operation_id(merchant_order_id: str) -> str:
    # The value is part of the intent: if the template changes, "set it to the new value" is a new
    # operation Google must execute, not a duplicate of the old one.
    return f"{PREFIX}:merchant-id:{_digest(_require(merchant_order_id, 'merchant_order_id'), length=12)}"


def cancel_operation_id(line_item_id: str | None = None, canceled_total: int | None = None) -> str:
    """Whole order: ``os:cancel:1``. One line: ``os:cancel-line:<line>:<canceled_total>``.

    For a line the intent is "cancel until ``canceled_total`` units of this line are canceled"
    (Google's quantityCanceled before the call + the quantity to cancel): replanning the same
    cancellation from the same Google state reproduces the id, a further cancellation of the same
    line has a higher total and so a new id.
    """
    if line_item_id is None:
        if canceled_total is not None:
            raise ValueError("canceled_total only applies to a line item cancellation")
        return f"{PREFIX}:cancel:1"
    if isinstance(canceled_total, bool) or not isinstance(canceled_total, int) or canceled_total < 1:
        raise ValueError(f"canceled_total must be an integer >= 1, got {canceled_total!r}")
    return f"{PREFIX}:cancel-line:{_require(line_item_id, 'line_item_id')}:{canceled_total}"


def tracking_key(tracking_id: str) -> str:
    """The comparable form of a tracking id: "1Z 999-AA1" and "1z999aa1" are the same parcel."""
    return re.sub(r"[^0-9A-Z]", "", tracking_id.upper())


def feed_shipment_id(order_id: str, tracking_id: str, carrier: str) -> str:
    """``fd-<24 hex>`` from (order, carrier, tracking id); ≤ 64 chars, same parcel -> same id.

    Tracking ids are compared without case, spaces or punctuation; pass the *normalised* carrier
    (carriers.normalize_carrier) so "FedEx Ground" and "fedex" give the same id.
    """
    order = _require(order_id, "order_id")
    tracking = tracking_key(_require(tracking_id, "tracking_id"))
    if not tracking:
        raise ValueError(f"tracking_id {tracking_id!r} has no letters or digits")
    return f"fd-{_digest(order, _require(carrier, 'carrier').casefold(), tracking)}"


def square_shipment_id(square_order_id: str, fulfillment_uid: str) -> str:
    """``sq-<24 hex>`` for a Square fulfillment: one Square fulfillment is one Google shipment."""
    order = _require(square_order_id, "square_order_id")
    return f"sq-{_digest(order, _require(fulfillment_uid, 'fulfillment_uid'))}"


def square_idempotency_key(merchant_id: str, google_order_id: str, purpose: str = "order") -> str:
    """``ordersync:<purpose>:<merchant id>:<google order id>`` (≤ 192 chars, hashed if longer).

    ``purpose`` separates the calls made for one order ("order" for CreateOrder, "payment" for
    CreatePayment): one key per call kind, the same key on every retry.
    """
    merchant = _require(merchant_id, "merchant_id")
    order = _require(google_order_id, "google_order_id")
    if not _ACTION.match(purpose or ""):
        raise ValueError(f"purpose {purpose!r} must be lower-case letters, digits and '-'")
    key = f"ordersync:{purpose}:{merchant}:{order}"
    if len(key) > SQUARE_IDEMPOTENCY_KEY_MAX:
        key = f"ordersync:{purpose}:{_digest(merchant, order, length=64)}"
    return key


def merchant_order_id(template: str, google_order_id: str) -> str:
    """``"OS-{google_order_id}"``, ``"TEST-1"`` -> ``"OS-TEST-1"``.

    Only the ``{google_order_id}`` placeholder is allowed (no str.format: attribute lookups and
    stray braces in a config value must not reach the output).
    """
    order = _require(google_order_id, "google_order_id")
    if not isinstance(template, str) or _PLACEHOLDER not in template:
        raise ValueError(f"merchant_order_id_template {template!r} must contain {_PLACEHOLDER}")
    parts = template.split(_PLACEHOLDER)
    if any("{" in part or "}" in part for part in parts):
        raise ValueError(
            f"merchant_order_id_template {template!r}: {_PLACEHOLDER} is the only placeholder allowed"
        )
    return order.join(parts)


def square_line_cancel_key(merchant_id: str, google_order_id: str, canceled: dict[str, int]) -> str:
    """The id of "make the Square order show these canceled counts" (line id -> units canceled):
    the same counts give the same id, a further cancellation on the order a new one."""
    counts = ",".join(f"{line}={units}" for line, units in sorted(canceled.items()))
    order = _require(google_order_id, "google_order_id")
    return square_idempotency_key(merchant_id, f"{order}:{_digest(counts, length=16)}", "cancel-lines")


def square_refund_operation_id(square_refund_id: str, part: str) -> str:
    """``os:sq-refund:<24 hex>``: the Google mutation that reports one part of one Square refund.

    ``part`` is ``line:<Google line item id>`` (an itemized return of that line), ``amount`` (a
    custom amount) or ``shipping``: one Square refund may carry several, each its own operation.
    The id depends on nothing but the refund's identity, so re-detecting the same refund after a
    crash, a lost response or a lost cursor reproduces it and Google answers ``duplicate``.
    """
    refund = _require(square_refund_id, "square_refund_id")
    if not SQUARE_REFUND_PARTS.match(part or ""):
        raise ValueError(f"part {part!r} must be 'amount', 'shipping' or 'line:<line item id>'")
    return f"{PREFIX}:sq-refund:{_digest(refund, part)}"


def square_refund_key(
    merchant_id: str, google_order_id: str, payment_id: str, refunded_after_minor: int, amount_minor: int
) -> str:
    """``osr:<40 base32>`` (44 characters; RefundPayment takes 45 at most) for "refund
    ``amount_minor`` of the payment so that Square shows ``refunded_after_minor`` refunded in all".

    The Google side gives a refund no identity Square could use (``refunds[]`` entries are plain
    values), so the key names the state the refund produces: replanning from the same Square and
    Google state gives the same key and Square replays the first refund; a further Google refund
    has a higher total, hence a new key. The amount is in the key too, so two different bodies
    can never share one (Square would answer IDEMPOTENCY_KEY_REUSED).
    """
    for name, value in (("refunded_after_minor", refunded_after_minor), ("amount_minor", amount_minor)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if amount_minor > refunded_after_minor:
        raise ValueError("amount_minor cannot exceed refunded_after_minor")
    parts = (
        _require(merchant_id, "merchant_id"),
        _require(google_order_id, "google_order_id"),
        _require(payment_id, "payment_id"),
        str(refunded_after_minor),
        str(amount_minor),
    )
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return SQUARE_REFUND_KEY_PREFIX + base64.b32encode(digest).decode("ascii").lower()[:40]
