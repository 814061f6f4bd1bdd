"""Intents as the steps build them from the domain's request entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync.domain.intents import Intent, Target


def google_intent(order_id: str, entry: Mapping[str, Any]) -> Intent:
    """A custombatch entry as an intent: its method is the kind, its operationId the key."""
    return Intent(order_id, Target.GOOGLE, str(entry["method"]), str(entry["operationId"]), entry)


def square_intent(order_id: str, kind: str, key: str, payload: Mapping[str, Any]) -> Intent:
    return Intent(order_id, Target.SQUARE, kind, key, {"method": kind, "operationId": key, **payload})
