"""What the refund rules leave to configuration, and the marks ordersync leaves on its own refunds.

Square's refund ``reason`` is free text (POS offers presets such as "Returned goods",
"Accidental charge", "Canceled order", "Fraudulent charge", "Other" — not verified against a
current POS), and Google wants an enum, so the reason travels through keyword maps: the first
keyword found at the start of a word of the text (case-insensitive) wins. A custom-amount refund
counts as shipping when its return line's name or its reason contains a ``shipping_words`` word
(the store's only way to say so in the Dashboard). All of it is [D] (returns-refunds.md §3): the
defaults below, overridable.

Echo prevention: a refund ordersync records in Square carries ``[ordersync osr:…]`` (its own
idempotency key) in its ``reason``. Square stores the reason with the PaymentRefund and shows it
in every read, so recognising our refunds survives the loss of the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# v2 discovery document enums (returns-refunds.md §1.3).
GOOGLE_RETURN_REASONS = frozenset({
    "customerDiscretionaryReturn", "customerInitiatedMerchantCancel", "deliveredTooLate", "expiredItem",
    "invalidCoupon", "malformedShippingAddress", "other", "productArrivedDamaged", "productNotAsDescribed",
    "qualityNotAsExpected", "undeliverableShippingAddress", "unsupportedPoBoxAddress", "wrongProductShipped",
})  # fmt: skip
GOOGLE_REFUND_REASONS = frozenset({
    "adjustment", "courtesyAdjustment", "customerCanceled", "customerDiscretionaryReturn",
    "deliveredLateByCarrier", "feeAdjustment", "lateShipmentCredit", "noInventory", "other", "priceError",
    "productArrivedDamaged", "productNotAsDescribed", "shippingCostAdjustment", "taxAdjustment",
    "undeliverableShippingAddress", "wrongProductShipped",
})  # fmt: skip
SHIPPING_REFUND_REASON = "shippingCostAdjustment"

DEFAULT_RETURN_REASONS: tuple[tuple[str, str], ...] = (
    ("damaged", "productArrivedDamaged"),
    ("defective", "productArrivedDamaged"),
    ("broken", "productArrivedDamaged"),
    ("wrong", "wrongProductShipped"),
    ("not as described", "productNotAsDescribed"),
    ("quality", "qualityNotAsExpected"),
    ("late", "deliveredTooLate"),
    ("expired", "expiredItem"),
    ("cancel", "customerInitiatedMerchantCancel"),
    ("return", "customerDiscretionaryReturn"),
)
DEFAULT_REFUND_REASONS: tuple[tuple[str, str], ...] = (
    ("damaged", "productArrivedDamaged"),
    ("price", "priceError"),
    ("cancel", "customerCanceled"),
    ("late", "lateShipmentCredit"),
    ("tax", "taxAdjustment"),
)

OWN_REFUND_MARK = re.compile(r"\[ordersync (osr:[a-z2-7]{40})\]")
SQUARE_REASON_MAX = 192  # RefundPayment.reason
GOOGLE_REASON_TEXT_MAX = 255  # no limit is documented; kept short enough for any UI
SQUARE_REFUND_TEXT = "Square refund "  # how a Google mutation reporting a Square refund starts


class RefundRulesError(ValueError):
    """A refund setting that names no Google reason (says which and what is allowed)."""


@dataclass(frozen=True, slots=True)
class RefundRules:
    shipping_words: tuple[str, ...] = ("shipping",)
    return_reasons: tuple[tuple[str, str], ...] = DEFAULT_RETURN_REASONS
    refund_reasons: tuple[tuple[str, str], ...] = DEFAULT_REFUND_REASONS
    default_return_reason: str = "other"
    default_refund_reason: str = "courtesyAdjustment"
    # A custom amount is tax-inclusive money back: split it into amountPretax + amountTax in the
    # order's own tax ratio (so Google refunds exactly that amount), or send it all as pre-tax.
    split_custom_amount_tax: bool = True

    def __post_init__(self) -> None:
        for keyword, reason in self.return_reasons:
            _check(reason, GOOGLE_RETURN_REASONS, f"return reason for {keyword!r}")
        for keyword, reason in self.refund_reasons:
            _check(reason, GOOGLE_REFUND_REASONS, f"refund reason for {keyword!r}")
        _check(self.default_return_reason, GOOGLE_RETURN_REASONS, "default_return_reason")
        _check(self.default_refund_reason, GOOGLE_REFUND_REASONS, "default_refund_reason")
        if not all(word.strip() for word in self.shipping_words):
            raise RefundRulesError("shipping_words must not contain empty words")

    @classmethod
    def from_maps(
        cls,
        *,
        return_reasons: Mapping[str, str] | None = None,
        refund_reasons: Mapping[str, str] | None = None,
        shipping_words: Iterable[str] | None = None,
        default_return_reason: str = "other",
        default_refund_reason: str = "courtesyAdjustment",
        split_custom_amount_tax: bool = True,
    ) -> RefundRules:
        """Rules from settings-shaped values (keyword -> reason maps keep their written order;
        a map given replaces the built-in one)."""
        returns = DEFAULT_RETURN_REASONS if return_reasons is None else tuple(return_reasons.items())
        refunds = DEFAULT_REFUND_REASONS if refund_reasons is None else tuple(refund_reasons.items())
        return cls(
            shipping_words=("shipping",) if shipping_words is None else tuple(shipping_words),
            return_reasons=returns,
            refund_reasons=refunds,
            default_return_reason=default_return_reason,
            default_refund_reason=default_refund_reason,
            split_custom_amount_tax=split_custom_amount_tax,
        )

    def return_reason(self, square_reason: str | None) -> str:
        """The Google return reason (returnRefundLineItem) for Square's refund reason."""
        return _lookup(square_reason, self.return_reasons) or self.default_return_reason

    def refund_reason(self, square_reason: str | None, *, shipping: bool) -> str:
        """The Google refund reason (orders.refund) for a custom amount."""
        if shipping:
            return SHIPPING_REFUND_REASON
        return _lookup(square_reason, self.refund_reasons) or self.default_refund_reason

    def is_shipping(self, *texts: str | None) -> bool:
        words = [w.casefold() for w in self.shipping_words]
        return any(word in (text or "").casefold() for text in texts for word in words)


def _check(reason: str, allowed: frozenset[str], what: str) -> None:
    if reason not in allowed:
        raise RefundRulesError(
            f"{what}: {reason!r} is not a Google reason (one of {', '.join(sorted(allowed))})"
        )


def _lookup(text: str | None, table: tuple[tuple[str, str], ...]) -> str | None:
    # A keyword matches at the start of a word: "return" finds "Returned goods", "late" does not
    # find "chocolate".
    folded = (text or "").casefold()
    return next(
        (reason for keyword, reason in table if re.search(r"\b" + re.escape(keyword.casefold()), folded)),
        None,
    )


# ------------------------------------------------------------------------------- our own marks
def own_refund_reason(summary: str, key: str) -> str:
    """The ``reason`` of a RefundPayment ordersync makes: the summary people read, then the mark."""
    mark = f" [ordersync {key}]"
    if not OWN_REFUND_MARK.fullmatch(mark.strip()):
        raise ValueError(f"{key!r} is not an ordersync refund key")
    room = SQUARE_REASON_MAX - len(mark)
    text = summary if len(summary) <= room else summary[: room - 1] + "…"
    return text + mark


def own_refund_key(reason: str | None) -> str | None:
    """The idempotency key in an ordersync mark, or None: not one of ours."""
    match = OWN_REFUND_MARK.search(reason or "")
    return match.group(1) if match else None


def google_reason_text(square_refund_id: str, square_reason: str | None) -> str:
    """The ``reasonText`` of a Google mutation reporting a Square refund: names the refund."""
    text = f"{SQUARE_REFUND_TEXT}{square_refund_id}" + (f": {square_reason}" if square_reason else "")
    return text if len(text) <= GOOGLE_REASON_TEXT_MAX else text[: GOOGLE_REASON_TEXT_MAX - 1] + "…"
