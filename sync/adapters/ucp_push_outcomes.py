"""What pushing one UCP webhook came to, and the client's set-up error. Kept apart from the
client, which loads httpx and the signing code: the senders, the ports and the composition root
name these on every run, while the client itself loads only with [ucp] on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UcpConfigError(Exception):
    """The client cannot be set up (missing API key, unreadable signing key): says what to fix."""


class PushResult(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class PushOutcome:
    result: PushResult
    status: int | None  # HTTP status of the last attempt; None when no response arrived
    reason: str = ""  # Google's/UCP's error code ("signature_invalid", "INVALID_ARGUMENT", "timeout", …)
    detail: str = ""
    attempts: int = 1

    @property
    def delivered(self) -> bool:
        return self.result is PushResult.DELIVERED
