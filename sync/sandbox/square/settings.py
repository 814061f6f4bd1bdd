"""Sandbox settings for the Square behaviours Square's documentation leaves open.

Each default is our best reading of the docs (the note on each field says what is and is not
documented); a test or a user who knows better can change it at run time with
``POST /_sandbox/square/settings`` (JSON with any of these keys) or ``Sandbox(square_settings=…)``.
Settings are configuration, not API state: ``/_sandbox/reset`` keeps them.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DISCOUNT_ORDERS = ("percentage_ascending", "catalog_first", "request")
REFUND_STATUSES = ("PENDING", "COMPLETED")
MISSING_VERSION_CODES = ("MISSING_REQUIRED_PARAMETER", "VERSION_MISMATCH", "INVALID_VALUE")


@dataclass(frozen=True)
class SquareSandboxSettings:
    # Order in which discounts of one phase (e.g. two ORDER-scoped percentages) apply. Documented:
    # only the four phases. Square's CreateOrder reference response applies a 0.5 % catalog
    # discount before a 5 % ad-hoc one listed first, which "percentage_ascending" (smaller rate or
    # amount first) and "catalog_first" both reproduce; "request" is list order.
    same_phase_discount_order: str = "percentage_ascending"
    # Status of a new refund of an EXTERNAL or CASH payment (no money moves; not documented).
    external_refund_status: str = "COMPLETED"
    # Status of a new card refund (documented: PENDING until Square has secured the funds).
    card_refund_status: str = "PENDING"
    # Whether a refund also shows on the sale order (refunds[], return_amounts, net_amounts and a
    # new version); Square documents the separate return order, not this.
    sale_order_shows_refunds: bool = True
    # Whether UpsertCatalogObject of an existing object needs its current version (documented:
    # a supplied version must match; not documented: what a missing one does).
    catalog_update_requires_version: bool = True
    # Error code for an UpdateOrder without order.version (documented only as "an error").
    missing_version_code: str = "MISSING_REQUIRED_PARAMETER"

    def __post_init__(self) -> None:
        checks = (
            ("same_phase_discount_order", DISCOUNT_ORDERS),
            ("external_refund_status", REFUND_STATUSES),
            ("card_refund_status", REFUND_STATUSES),
            ("missing_version_code", MISSING_VERSION_CODES),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        for name in ("sale_order_shows_refunds", "catalog_update_requires_version"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")


class SettingsHolder:
    """The current settings, replaced atomically (requests read them without the state lock)."""

    def __init__(self, settings: SquareSandboxSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings or SquareSandboxSettings()

    @property
    def current(self) -> SquareSandboxSettings:
        with self._lock:
            return self._settings

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        known = {f.name for f in fields(SquareSandboxSettings)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown Square sandbox settings: {sorted(unknown)}")
        with self._lock:
            self._settings = replace(self._settings, **changes)  # validates in __post_init__
            return asdict(self._settings)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.current)
