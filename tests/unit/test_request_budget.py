"""Per-account request budgets: a rate across an account's threads, and a 429 that pauses every
thread of that account (and no other account)."""

from __future__ import annotations

import threading

from google.auth.credentials import AnonymousCredentials
from googleapiclient.http import HttpMockSequence

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.request_budget import RequestBudget
from sync.config import GoogleSettings
from tests.unit.test_google_gateway import OK_ACK, google_error


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def in_other_thread(fn):  # type: ignore[no-untyped-def]
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join(timeout=10)
    return out[0]


def test_no_budget_never_waits() -> None:
    time = FakeTime()
    budget = RequestBudget(0, clock=time.clock, sleep=time.sleep)
    for _ in range(1000):
        budget.take()
    assert time.slept == [] and budget.waited_seconds == 0


def test_a_rate_spreads_requests_after_one_seconds_burst() -> None:
    time = FakeTime()
    budget = RequestBudget(5, clock=time.clock, sleep=time.sleep)
    for _ in range(15):
        budget.take()
    # 5 at once (the bucket is full), then one every 0.2 s: 10 more take 2 s.
    assert abs((time.now - 100.0) - 2.0) < 1e-9
    assert all(abs(s - 0.2) < 1e-9 for s in time.slept)


def test_a_pause_holds_other_threads_not_the_one_that_waits_out_its_own_backoff() -> None:
    time = FakeTime()
    budget = RequestBudget(0, clock=time.clock, sleep=time.sleep)
    budget.pause(3)
    assert budget.delay() == 0  # this thread backs off by itself (the gateway's retry wait)
    assert in_other_thread(budget.delay) == 3
    in_other_thread(budget.take)
    assert time.slept == [3] and time.now == 103
    budget.pause(0)
    assert in_other_thread(budget.delay) == 0


def settings(merchant_id: str) -> GoogleSettings:
    return GoogleSettings(merchant_id=merchant_id, endpoint="http://127.0.0.1:9/", max_attempts=3)


def test_a_google_429_pauses_that_accounts_gateway_only() -> None:
    refused = ({"status": "429", "retry-after": "30"}, google_error(429, "rateLimitExceeded", "slow down"))
    throttled = HttpMockSequence([refused, OK_ACK])
    sleeps: list[float] = []
    account_a = GoogleGateway(settings("111"), credentials=AnonymousCredentials(),
                              http_factory=lambda: throttled, sleep=sleeps.append)  # fmt: skip
    calm = HttpMockSequence([OK_ACK])
    account_b = GoogleGateway(settings("222"), credentials=AnonymousCredentials(),
                              http_factory=lambda: calm, sleep=sleeps.append)  # fmt: skip
    assert account_a.acknowledge("TEST-1", "op-1") == "executed"
    assert sleeps == [30.0]  # the refused request waited out Retry-After itself...
    assert 25 < in_other_thread(account_a.budget.delay) <= 30  # ...and holds back its account's others
    assert in_other_thread(account_b.budget.delay) == 0  # another account is not slowed
    assert account_b.acknowledge("TEST-2", "op-2") == "executed"


def test_a_google_5xx_is_no_reason_to_pause_the_account() -> None:
    busy = HttpMockSequence([({"status": "503"}, google_error(503, "backendError", "busy")), OK_ACK])
    gateway = GoogleGateway(settings("111"), credentials=AnonymousCredentials(),
                            http_factory=lambda: busy, sleep=lambda _s: None)  # fmt: skip
    gateway.acknowledge("TEST-1", "op-1")
    assert in_other_thread(gateway.budget.delay) == 0


def test_the_configured_rate_is_the_gateways_budget() -> None:
    gateway = GoogleGateway(
        GoogleSettings(merchant_id="1", endpoint="http://127.0.0.1:9/", requests_per_second=4),
        credentials=AnonymousCredentials(),
        http_factory=lambda: HttpMockSequence([]),
    )
    assert gateway.budget.per_second == 4
