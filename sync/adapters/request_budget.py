"""One merchant account's request budget for one API, shared by every thread of its gateway.

Two rules, both per account (each account's cycle builds its own gateways, so one account's
budget never slows another's):

- a rate: at most ``per_second`` requests a second, a token bucket holding up to one second's
  worth (so a cycle that was idle may send that many at once, never more); 0 means no limit;
- a pause: when the API answers 429 (or 403 rateLimitExceeded), ``pause(seconds)`` holds back
  *every* request of this account until then, not only the thread that was refused, so its
  concurrent custombatch or Square calls do not keep hitting a quota that is already spent. The
  thread that was refused waits out its own retry backoff (the gateway's tenacity wait), so the
  pause it set does not hold it back a second time.

Hand-written rather than a rate-limit library: a token bucket under one lock is a dozen lines,
and the shared pause (the part that matters for 429s) is not what those libraries offer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class RequestBudget:
    def __init__(
        self,
        per_second: float = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second < 0:
            raise ValueError("per_second must be 0 (no limit) or positive")
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._capacity = max(1.0, per_second)
        self._tokens = self._capacity
        self._refilled_at = clock()
        self._paused_until = 0.0
        self._own = threading.local()  # the pause this thread set (and waits out by itself)
        self.waited_seconds = 0.0  # total time requests were held back (for logs and tests)

    def take(self) -> None:
        """Wait until this account may send one more request, then count it."""
        while True:
            with self._lock:
                delay = self._delay_locked()
                if delay <= 0:
                    if self.per_second:
                        self._tokens -= 1
                    return
                self.waited_seconds += delay
            self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Hold back every request of this account for ``seconds`` (a 429's Retry-After or backoff)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if until > self._paused_until:
                self._paused_until = until
                self._own.until = until

    def delay(self) -> float:
        """Seconds a request from this thread would wait now (0: it may go)."""
        with self._lock:
            return max(0.0, self._delay_locked())

    def _delay_locked(self) -> float:
        now = self._clock()
        if now < self._paused_until and getattr(self._own, "until", None) != self._paused_until:
            return self._paused_until - now
        if not self.per_second:
            return 0.0
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self.per_second)
        self._refilled_at = now
        if self._tokens >= 1 - _EPSILON:  # float refills land a hair short of a whole token
            return 0.0
        return (1 - self._tokens) / self.per_second
