"""Request and mutation counters behind ``GET /_sandbox/stats`` (not part of either API).

Tests and benchmarks read them to prove exactly-once behaviour: ``mutations`` counts only changes
actually applied (a duplicate operationId or a replayed idempotency key does not count).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.mutations: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def request(self, method: str) -> None:
        """A call reached the API method ``method`` (e.g. ``content.orders.acknowledge``)."""
        with self._lock:
            self.requests[method] += 1

    def mutation(self, method: str, count: int = 1) -> None:
        """``method`` changed state ``count`` times (custombatch counts each applied entry)."""
        with self._lock:
            self.mutations[method] += count

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.mutations.clear()
            self.faults.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "mutations": dict(self.mutations),
                "mutations_total": sum(self.mutations.values()),
                "faults": dict(self.faults),
                "faults_total": sum(self.faults.values()),
            }
