"""Square objects as records the service layer works with (the gateway builds them). Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SquarePayment:
    """A Square Payment: what was paid, on which order, and what was refunded of it."""

    payment_id: str
    order_id: str | None
    status: str  # APPROVED, PENDING, COMPLETED, CANCELED, FAILED
    source_type: str  # EXTERNAL, CASH, CARD, …
    amount_minor: int
    currency: str
    refunded_minor: int = 0
    refund_ids: tuple[str, ...] = ()
    version_token: str | None = None

    @property
    def refundable_minor(self) -> int:
        """What RefundPayment may still take. Square allows ``total_money`` minus *completed*
        refunds, but ``refunded_money`` counts pending ones too (and a pending refund blocks the
        next one anyway): using it never asks for more than Square will give."""
        return max(0, self.amount_minor - self.refunded_minor)


@dataclass(frozen=True)
class SquareRefund:
    """A Square PaymentRefund. ``order_id`` is the return order Square made for it."""

    refund_id: str
    payment_id: str | None
    order_id: str | None
    status: str  # PENDING, COMPLETED, REJECTED, FAILED
    amount_minor: int
    currency: str
    reason: str | None
    created_at: str | None
    updated_at: str | None
    destination_type: str | None = None

    @property
    def final(self) -> bool:
        return self.status in ("COMPLETED", "REJECTED", "FAILED")


@dataclass(frozen=True)
class CatalogVariationRef:
    """A Square ITEM_VARIATION found by SKU: the id a catalog line item uses."""

    variation_id: str
    sku: str
    item_id: str | None
    name: str | None
    version: int | None = None
