"""Locations API: ListLocations and RetrieveLocation over the sandbox's one fixed location."""

from __future__ import annotations

import copy
from typing import Any

from sync.sandbox.square.errors import bad, not_found

LOCATIONS: list[dict[str, Any]] = [
    {
        "id": "L_SANDBOX_MAIN",
        "name": "Sandbox Main Store",
        "business_name": "ordersync sandbox",
        "status": "ACTIVE",
        "type": "PHYSICAL",
        "country": "US",
        "currency": "USD",
        "language_code": "en-US",
        "timezone": "UTC",
        "capabilities": ["CREDIT_CARD_PROCESSING"],
        "created_at": "2024-01-01T00:00:00.000Z",
        "merchant_id": "M_SANDBOX",
    }
]
MAIN_LOCATION_ID = LOCATIONS[0]["id"]


def location(location_id: Any, field: str) -> dict[str, Any]:
    """The location, or MISSING_REQUIRED_PARAMETER / NOT_FOUND naming ``field``."""
    if not location_id:
        raise bad("MISSING_REQUIRED_PARAMETER", f"Missing required parameter {field}.", field)
    for loc in LOCATIONS:
        if loc["id"] == location_id:
            return loc
    raise not_found(f"Location `{location_id}` not found.", field)


class LocationsModel:
    def list(self) -> dict[str, Any]:
        return {"locations": copy.deepcopy(LOCATIONS)}

    def get(self, location_id: str) -> dict[str, Any]:
        """RetrieveLocation; ``main`` names the main location (Square's alias)."""
        wanted = MAIN_LOCATION_ID if location_id == "main" else location_id
        return {"location": copy.deepcopy(location(wanted, "location_id"))}
