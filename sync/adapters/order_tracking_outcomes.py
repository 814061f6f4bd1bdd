"""What sending one order tracking signal came to. Kept apart from the gateway, which loads
Google's generated client (protobuf, api-core): code that only reads outcomes (the senders, the
ports) must not pay for that on every run, with [order_tracking] off."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SignalResult(StrEnum):
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class SignalOutcome:
    result: SignalResult
    status: int | None = None
    reason: str = ""  # Google's status ("INVALID_ARGUMENT", …) or "transport_error"
    detail: str = ""
    signal_id: str = ""
    attempts: int = 1

    @property
    def sent(self) -> bool:
        return self.result in (SignalResult.CREATED, SignalResult.ALREADY_EXISTS)
