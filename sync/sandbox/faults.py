"""Fault injection for the emulators: latency, transient errors and lost responses.

* ``fault_rate``: before handling, answer 429 (with ``Retry-After: 1``), 500 or 503 instead.
* ``lost_response_rate``: for a mutating request that succeeded, replace the answer with a 503
  or 500 *after* the change was applied — the client sees a failure although the server acted,
  which is exactly what operationIds / idempotency keys exist for.
* ``version_bump_rate``: before a Square request that names an order's version (UpdateOrder,
  PayOrder), bump that order's version the way Square's own background work does, so the client's
  VERSION_MISMATCH handling runs.
One seeded ``random.Random`` (under a lock, as requests are concurrent) makes a run repeatable
for a given request order. Never applied to ``/_sandbox/*``, ``/token`` or ``/discovery``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

FAULT_STATUSES = (429, 500, 503)
LOST_STATUSES = (503, 500)
RETRY_AFTER_SECONDS = "1"  # Retry-After is an integer number of seconds


def _rate(value: float, name: str) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


class FaultInjector:
    def __init__(
        self,
        *,
        fault_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        latency_ms: float = 0,
        seed: int | None = None,
        version_bump_rate: float = 0.0,
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.fault_rate = _rate(fault_rate, "fault_rate")
        self.lost_response_rate = _rate(lost_response_rate, "lost_response_rate")
        self.version_bump_rate = _rate(version_bump_rate, "version_bump_rate")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.latency_ms = float(latency_ms)

    def configure(
        self,
        *,
        fault_rate: float | None = None,
        lost_response_rate: float | None = None,
        latency_ms: float | None = None,
        seed: int | None = None,
        version_bump_rate: float | None = None,
    ) -> None:
        # Validate everything before changing anything.
        new_fault = _rate(fault_rate, "fault_rate") if fault_rate is not None else None
        new_lost = _rate(lost_response_rate, "lost_response_rate") if lost_response_rate is not None else None
        new_bump = _rate(version_bump_rate, "version_bump_rate") if version_bump_rate is not None else None
        if latency_ms is not None and float(latency_ms) < 0:
            raise ValueError("latency_ms must be >= 0")
        with self._lock:
            if new_fault is not None:
                self.fault_rate = new_fault
            if new_lost is not None:
                self.lost_response_rate = new_lost
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if new_bump is not None:
                self.version_bump_rate = new_bump
            if seed is not None:
                self._rng.seed(seed)

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fault_rate": self.fault_rate,
                "lost_response_rate": self.lost_response_rate,
                "latency_ms": self.latency_ms,
                "version_bump_rate": self.version_bump_rate,
            }

    def before(self) -> int | None:
        """Sleep the configured latency; return an HTTP status to answer instead, or None."""
        with self._lock:
            delay = self.latency_ms
            fault = (
                self._rng.choice(FAULT_STATUSES)
                if self.fault_rate and self._rng.random() < self.fault_rate
                else None
            )
        if delay:
            time.sleep(delay / 1000.0)  # outside the lock: latency must not serialise requests
        return fault

    def lost(self) -> int | None:
        """For an applied mutation: the status replacing its response, or None to deliver it."""
        with self._lock:
            if self.lost_response_rate and self._rng.random() < self.lost_response_rate:
                return self._rng.choice(LOST_STATUSES)
        return None

    def version_bump(self) -> bool:
        """Whether Square bumps the order's version before this request."""
        with self._lock:
            return bool(self.version_bump_rate) and self._rng.random() < self.version_bump_rate
