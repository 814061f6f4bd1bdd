"""SquareGateway through the real squareup SDK against the Square emulator (with scripted faults)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.serving import make_server

from sync.adapters.square_errors import SquareApiError, SquareCredentialsError
from sync.adapters.square_gateway import SquareGateway, derive_key
from sync.config import SquareSettings
from sync.sandbox.square.models import SquareBackend
from sync.sandbox.square.routes import error_response, make_app
from sync.sandbox.stats import Stats
from sync.sandbox.store import MemoryStore

LOC = "L_SANDBOX_MAIN"
TOKEN = "EAAA-super-secret-token-0123456789"


@dataclass
class Fault:
    method: str
    path_suffix: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    lose_response: bool = False  # apply the request, then answer with the error (a lost response)


class FaultPlan:
    """Scripted failures, consumed in order by the requests they match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: list[Fault] = []

    def add(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self.pending.extend([fault] * times)

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                fault = next(
                    (
                        f
                        for f in self.pending
                        if environ["REQUEST_METHOD"] == f.method
                        and environ["PATH_INFO"].endswith(f.path_suffix)
                    ),
                    None,
                )
                if fault is not None:
                    self.pending.remove(fault)
            if fault is None:
                return app(environ, start_response)
            if fault.lose_response:
                b"".join(app(environ, lambda *a, **k: None))
            category = "RATE_LIMIT_ERROR" if fault.status == 429 else "API_ERROR"
            code = "RATE_LIMITED" if fault.status == 429 else "SERVICE_UNAVAILABLE"
            response = error_response(fault.status, category, code, "injected fault")
            response.headers.extend(fault.headers)
            return response(environ, start_response)

        return middleware


@dataclass
class Env:
    url: str
    backend: SquareBackend
    stats: Stats
    faults: FaultPlan
    sleeps: list[float]

    def gateway(self, **settings: Any) -> SquareGateway:
        base = {"endpoint": self.url, "max_attempts": 4, "timeout_seconds": 5.0}
        return SquareGateway(
            SquareSettings(**{**base, **settings}),
            token=TOKEN,
            max_backoff_seconds=10.0,
            sleep=self.sleeps.append,
        )


def _serve(tokens: set[str] | None = None) -> Iterator[Env]:
    stats = Stats()
    backend = SquareBackend(MemoryStore(), stats)
    faults = FaultPlan()
    server = make_server("127.0.0.1", 0, faults.wrap(make_app(backend, stats, tokens)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Env(f"http://127.0.0.1:{server.server_port}", backend, stats, faults, [])
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def square_server() -> Iterator[Env]:
    yield from _serve()


@pytest.fixture
def gw(square_server: Env) -> SquareGateway:
    return square_server.gateway()


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def new_order(ref: str = "G-1", **extra: Any) -> dict[str, Any]:
    return {
        "reference_id": ref,
        "line_items": [{"name": "Widget", "quantity": "3", "base_price_money": usd(1333)}],
        "taxes": [{"uid": "tax", "name": "Sales tax", "percentage": "8.875", "scope": "ORDER"}],
        "service_charges": [{"uid": "ship", "name": "Shipping", "amount_money": usd(499), "taxable": False}],
        "fulfillments": [{"type": "SHIPMENT", "shipment_details": {"recipient": {"display_name": "Jo"}}}],
        **extra,
    }


# ---- credentials, locations ---------------------------------------------------------------------
def test_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, square_server: Env) -> None:
    monkeypatch.delenv("SQUARE_ACCESS_TOKEN", raising=False)
    with pytest.raises(SquareCredentialsError, match="SQUARE_ACCESS_TOKEN"):
        SquareGateway(SquareSettings(endpoint=square_server.url))
    monkeypatch.setenv("SQUARE_ACCESS_TOKEN", "from-env")
    assert SquareGateway(SquareSettings(endpoint=square_server.url)).location_id() == LOC


def test_location_id_is_discovered_once_or_configured(square_server: Env, gw: SquareGateway) -> None:
    assert gw.location_id() == LOC and gw.location_id() == LOC
    assert gw.calls == 1
    configured = square_server.gateway(location_id="L_CONFIGURED")
    assert configured.location_id() == "L_CONFIGURED" and configured.calls == 0


# ---- orders --------------------------------------------------------------------------------------
def test_create_order_is_idempotent_and_priced(square_server: Env, gw: SquareGateway) -> None:
    """3 x 1333 = 3999; 8.875 % tax = 354.91 -> 355; shipping 499 untaxed; total 4853."""
    key = derive_key("1234567", "G-1")
    order = gw.create_order(new_order(), key)
    assert order["location_id"] == LOC and order["state"] == "OPEN" and order["version"] == 1
    assert order["total_tax_money"] == usd(355) and order["total_service_charge_money"] == usd(499)
    assert order["total_money"] == usd(4853)
    assert gw.calculate_order(new_order())["total_money"] == usd(4853)
    assert gw.create_order(new_order(), key)["id"] == order["id"]
    assert square_server.stats.mutations["square.orders.create"] == 1
    with pytest.raises(SquareApiError) as info:
        gw.create_order(new_order(ref="G-2"), key)
    assert (info.value.status, info.value.code, info.value.retryable) == (
        400,
        "IDEMPOTENCY_KEY_REUSED",
        False,
    )


def test_money_edge_cases_through_the_sdk(gw: SquareGateway) -> None:
    """Two lines 1 x 999 and 7 x 143 = 1001; 15 % ORDER discount then 2.50 ORDER discount;
    10 % INCLUSIVE tax on line 1 only.

    15 %: base 2000 -> 1700 left, 300 split 999:1001 -> 149.85 / 150.15 -> 150 / 150.
    250 fixed: base 849 + 851 = 1700 -> 124.85 / 125.15 -> 125 / 125. Nets 724 and 726.
    Inclusive tax on 724: 724 * 10/110 = 65.82 -> 66, totals unchanged: 724 + 726 = 1450.
    """
    order = gw.calculate_order(
        {
            "line_items": [
                {
                    "name": "a",
                    "quantity": "1",
                    "base_price_money": usd(999),
                    "applied_taxes": [{"tax_uid": "vat"}],
                },
                {"name": "b", "quantity": "7", "base_price_money": usd(143)},
            ],
            "discounts": [
                {"uid": "pct", "name": "15", "percentage": "15", "scope": "ORDER"},
                {"uid": "fix", "name": "2.50", "amount_money": usd(250), "scope": "ORDER"},
            ],
            "taxes": [
                {"uid": "vat", "name": "VAT", "percentage": "10", "type": "INCLUSIVE", "scope": "LINE_ITEM"}
            ],
        }
    )
    a, b = order["line_items"]
    assert [d["applied_money"]["amount"] for d in a["applied_discounts"]] == [150, 125]
    assert [d["applied_money"]["amount"] for d in b["applied_discounts"]] == [150, 125]
    assert a["total_tax_money"] == usd(66) and b["total_tax_money"] == usd(0)
    assert (a["total_money"], b["total_money"], order["total_money"]) == (usd(724), usd(726), usd(1450))


def test_retrieve_orders_in_chunks_of_100(square_server: Env, gw: SquareGateway) -> None:
    ids = [
        square_server.backend.orders.create(
            {
                "order": {
                    "location_id": LOC,
                    "line_items": [{"name": "x", "quantity": "1", "base_price_money": usd(1)}],
                }
            }
        )["order"]["id"]
        for _ in range(105)
    ]
    got = gw.retrieve_orders([*ids, "missing-id"])
    assert sorted(o["id"] for o in got) == sorted(ids)
    assert square_server.stats.requests["square.orders.batch_get"] == 2
    assert gw.retrieve_orders([]) == []


def test_update_order_versions_and_no_retry_on_4xx(square_server: Env, gw: SquareGateway) -> None:
    order = gw.create_order(new_order(), "upd-1")
    uid = order["fulfillments"][0]["uid"]
    updated = gw.update_order(
        order["id"], {"version": 1, "fulfillments": [{"uid": uid, "state": "RESERVED"}]}
    )
    assert updated["version"] == 2 and updated["fulfillments"][0]["state"] == "RESERVED"
    calls = gw.calls
    with pytest.raises(SquareApiError) as info:
        gw.update_order(order["id"], {"version": 1, "reference_id": "stale"})
    assert (info.value.status, info.value.code, info.value.field) == (
        400,
        "VERSION_MISMATCH",
        "order.version",
    )
    assert not info.value.retryable and gw.calls == calls + 1 and square_server.sleeps == []
    cleared = gw.update_order(
        order["id"], {"version": 2}, fields_to_clear=["reference_id"], idempotency_key="clear-1"
    )
    assert cleared["version"] == 3 and "reference_id" not in cleared


def test_lost_update_response_is_retried_safely(square_server: Env, gw: SquareGateway) -> None:
    order = gw.create_order(new_order(), "lost-1")
    square_server.faults.add(Fault("PUT", order["id"], 502, lose_response=True))
    updated = gw.update_order(order["id"], {"version": 1, "reference_id": "G-1-updated"})
    assert updated["version"] == 2 and updated["reference_id"] == "G-1-updated"
    assert square_server.stats.mutations["square.orders.update"] == 1
    assert len(square_server.sleeps) == 1


def test_pay_order_external_is_exactly_once(square_server: Env, gw: SquareGateway) -> None:
    order = gw.create_order(new_order(), "pay-order-1")
    key = derive_key("merchant-1234567", "google-order-" + "9" * 60)  # long: payment key must be hashed
    paid = gw.pay_order_external(order, key)
    assert paid["state"] == "OPEN" and paid["net_amount_due_money"] == usd(0)
    assert [t["amount_money"] for t in paid["tenders"]] == [usd(4853)]
    payment = square_server.backend.payments.get(paid["tenders"][0]["payment_id"])["payment"]
    assert payment["status"] == "COMPLETED" and payment["source_type"] == "EXTERNAL"
    assert payment["external_details"] == {"type": "EXTERNAL", "source": "Google Shopping"}
    mutations = dict(square_server.stats.mutations)
    calls = gw.calls
    assert gw.pay_order_external(paid, key)["version"] == paid["version"]
    assert gw.calls == calls  # known to be paid: nothing sent
    gw.pay_order_external(order, key)  # a stale, unpaid view replays both calls
    assert dict(square_server.stats.mutations) == mutations


def test_pay_order_external_converges_after_a_crash_between_calls(
    square_server: Env, gw: SquareGateway
) -> None:
    order = gw.create_order(new_order(), "pay-crash")
    square_server.faults.add(Fault("POST", "/pay", 503), times=4)
    with pytest.raises(SquareApiError) as info:
        gw.pay_order_external(order, "pay-crash")
    assert info.value.status == 503 and info.value.retryable
    paid = gw.pay_order_external(order, "pay-crash")
    assert paid["net_amount_due_money"] == usd(0) and len(paid["tenders"]) == 1
    assert square_server.stats.mutations["square.payments.create"] == 1
    assert square_server.stats.mutations["square.orders.pay"] == 1


def test_zero_total_order_is_paid_without_a_payment(square_server: Env, gw: SquareGateway) -> None:
    order = gw.create_order(
        {"line_items": [{"name": "free", "quantity": "1", "base_price_money": usd(0)}]}, "z"
    )
    paid = gw.pay_order_external(order, "zero")
    assert paid["tenders"] == [] or "tenders" not in paid
    assert paid["version"] == 2 and square_server.stats.mutations["square.payments.create"] == 0


def test_iter_orders_updated_since_walks_all_pages(square_server: Env, gw: SquareGateway) -> None:
    orders = [gw.create_order(new_order(ref=f"G-{i}"), f"it-{i}") for i in range(7)]
    walked = gw.iter_orders_updated_since(None, limit=3)
    first = [next(walked)["id"] for _ in range(3)]
    assert first == [o["id"] for o in orders[:3]]
    gw.update_order(orders[0]["id"], {"version": 1, "reference_id": "changed"})  # moves to the end
    rest = [o["id"] for o in walked]
    assert rest == [o["id"] for o in orders[3:]] + [orders[0]["id"]]
    assert square_server.stats.requests["square.orders.search"] == 3
    since = orders[5]["updated_at"]
    assert [o["id"] for o in gw.iter_orders_updated_since(since)] == [
        orders[5]["id"],
        orders[6]["id"],
        orders[0]["id"],
    ]
    assert [o["id"] for o in gw.iter_orders_updated_since(since, states=["COMPLETED"])] == []


# ---- retries and secrets ---------------------------------------------------------------------------
def test_5xx_is_retried_with_capped_backoff(square_server: Env, gw: SquareGateway) -> None:
    square_server.faults.add(Fault("GET", "/v2/locations", 503), times=2)
    assert gw.location_id() == LOC
    assert gw.calls == 3 and len(square_server.sleeps) == 2
    assert all(0 <= s <= 10.0 for s in square_server.sleeps)


def test_429_honours_retry_after(square_server: Env, gw: SquareGateway) -> None:
    square_server.faults.add(Fault("POST", "/v2/orders/search", 429, {"Retry-After": "7"}))
    square_server.faults.add(Fault("POST", "/v2/orders/search", 429, {"Retry-After": "120"}))
    assert list(gw.iter_orders_updated_since(None)) == []
    assert square_server.sleeps == [7.0, 10.0]  # the second is capped at max_backoff_seconds


def test_a_429_pauses_that_accounts_other_workers_only(square_server: Env, gw: SquareGateway) -> None:
    other_account = square_server.gateway()
    square_server.faults.add(Fault("POST", "/v2/orders/search", 429, {"Retry-After": "7"}))
    assert list(gw.iter_orders_updated_since(None)) == []
    held: list[float] = []
    for budget in (gw.budget, other_account.budget):
        thread = threading.Thread(target=lambda b=budget: held.append(b.delay()))
        thread.start()
        thread.join(timeout=10)
    assert 5 < held[0] <= 7 and held[1] == 0


def test_retries_stop_at_max_attempts(square_server: Env) -> None:
    gw = square_server.gateway(max_attempts=2)
    square_server.faults.add(Fault("GET", "/v2/locations", 500), times=5)
    with pytest.raises(SquareApiError) as info:
        gw.location_id()
    assert info.value.status == 500 and gw.calls == 2


def test_transport_errors_are_retried_and_mapped(square_server: Env) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: connection refused
    gw = SquareGateway(
        SquareSettings(endpoint=f"http://127.0.0.1:{port}", max_attempts=3),
        token=TOKEN,
        sleep=square_server.sleeps.append,
    )
    with pytest.raises(SquareApiError) as info:
        gw.create_order(new_order(location_id=LOC), "t-1")
    assert info.value.status is None and info.value.code == "TRANSPORT_ERROR" and info.value.retryable
    assert gw.calls == 3
    assert TOKEN not in str(info.value)


def test_token_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gen = _serve(tokens={"the-only-valid-token"})
    env = next(gen)
    try:
        gw = env.gateway()
        env.faults.add(Fault("GET", "/v2/locations", 503))
        with pytest.raises(SquareApiError) as info:
            gw.location_id()
        exc = info.value
        assert (exc.status, exc.code, exc.category, exc.retryable) == (
            401,
            "UNAUTHORIZED",
            "AUTHENTICATION_ERROR",
            False,
        )
        assert exc.__cause__ is None and exc.__suppress_context__
        for text in (str(exc), repr(exc), repr(gw), caplog.text, str(vars(exc))):
            assert TOKEN not in text
        assert "retrying" in caplog.text  # the 503 was logged, without the token
    finally:
        gen.close()


def test_cancel_order(square_server: Env, gw: SquareGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    order = gw.create_order(new_order(), "cancel-1")
    gw.update_order(order["id"], {"version": 1, "reference_id": "bumped"})  # now at version 2
    real_retrieve = gw.retrieve_order
    stale = iter([order])  # the first read is stale (version 1): a VERSION_MISMATCH, then a re-read
    monkeypatch.setattr(gw, "retrieve_order", lambda oid: next(stale, None) or real_retrieve(oid))
    canceled = gw.cancel_order(order["id"])
    assert canceled["state"] == "CANCELED" and canceled["version"] == 3
    assert canceled["fulfillments"][0]["state"] == "CANCELED" and canceled["closed_at"]
    assert gw.cancel_order(order["id"])["version"] == 3
    assert square_server.stats.mutations["square.orders.update"] == 2
    done = gw.create_order(new_order(fulfillments=[]), "cancel-2")
    done = gw.pay_order_external(done, "cancel-2")
    assert done["state"] == "OPEN"  # paying alone does not complete an order
    done = gw.update_order(done["id"], {"version": done["version"], "state": "COMPLETED"})
    assert done["state"] == "COMPLETED" and done["closed_at"]
    with pytest.raises(SquareApiError) as info:
        gw.cancel_order(done["id"])
    assert (info.value.status, info.value.retryable) == (400, False)


# ---- one-call payment, refunds, catalog (issue 14 / 18 groundwork) ---------------------------------
def test_pay_order_with_external_payment_is_one_call_and_exactly_once(
    square_server: Env, gw: SquareGateway
) -> None:
    order = gw.create_order(new_order(), "one-call-1")
    calls = gw.calls
    key = derive_key("merchant-1234567", "google-order-" + "8" * 60)
    square_server.faults.add(Fault("POST", "/v2/payments", 503, lose_response=True))  # applied, answer lost
    payment = gw.pay_order_with_external_payment(order, key)
    assert payment is not None and (payment.status, payment.amount_minor, payment.source_type) == (
        "COMPLETED",
        4853,
        "EXTERNAL",
    )
    assert gw.calls - calls == 2  # the call and its retry: no PayOrder
    paid = gw.retrieve_order(order["id"])
    assert [t["payment_id"] for t in paid["tenders"]] == [payment.payment_id]
    assert paid["net_amount_due_money"] == usd(0)
    assert square_server.stats.mutations["square.payments.create"] == 1
    assert "square.orders.pay" not in square_server.stats.requests
    assert gw.pay_order_with_external_payment(paid, key) is None  # paid: nothing sent
    again = gw.pay_order_with_external_payment(order, key)  # a stale view replays the same payment
    assert again is not None and again.payment_id == payment.payment_id
    assert square_server.stats.mutations["square.payments.create"] == 1


def test_one_call_payment_finishes_an_earlier_two_call_payment(square_server: Env, gw: SquareGateway) -> None:
    """A run of the two-call flow that died after CreatePayment (APPROVED) and before PayOrder: the
    one-call method finishes it instead of paying twice."""
    order = gw.create_order(new_order(), "upgrade-1")
    square_server.faults.add(Fault("POST", "/pay", 503), times=4)
    with pytest.raises(SquareApiError):
        gw.pay_order_external(order, "upgrade-1")
    payment = gw.pay_order_with_external_payment(order, "upgrade-1")
    assert payment is not None and payment.status == "COMPLETED"
    assert len(gw.retrieve_order(order["id"])["tenders"]) == 1
    assert square_server.stats.mutations["square.payments.create"] == 1
    zero = gw.create_order(
        {"line_items": [{"name": "free", "quantity": "1", "base_price_money": usd(0)}]}, "z1"
    )
    assert gw.pay_order_with_external_payment(zero, "zero-1") is None  # a 0 total: PayOrder, no payment
    settled = gw.retrieve_order(zero["id"])
    assert settled["version"] == 2 and settled["net_amount_due_money"] == usd(0)
    assert square_server.stats.mutations["square.orders.pay"] == 2  # the finished two-call one and this


def test_refund_payment_get_and_list(square_server: Env, gw: SquareGateway) -> None:
    order = gw.create_order(new_order(), "refund-order")
    payment = gw.pay_order_with_external_payment(order, "refund-order")
    assert payment is not None
    long_key = "google:" + "r" * 80  # longer than RefundPayment's 45: digested, still deterministic
    square_server.faults.add(Fault("POST", "/v2/refunds", 502, lose_response=True))
    refund = gw.refund_payment(payment.payment_id, 500, "USD", long_key, reason="google:return-1")
    assert (refund.status, refund.amount_minor, refund.reason) == ("COMPLETED", 500, "google:return-1")
    assert refund.final and refund.order_id and refund.payment_id == payment.payment_id
    assert gw.refund_payment(payment.payment_id, 500, "USD", long_key, reason="google:return-1") == refund
    assert square_server.stats.mutations["square.refunds.refund_payment"] == 1
    with pytest.raises(SquareApiError) as info:
        gw.refund_payment(payment.payment_id, 10_000, "USD", "too-much")
    assert (info.value.code, info.value.retryable) == ("REFUND_AMOUNT_INVALID", False)
    assert gw.get_payment_refund(refund.refund_id) == refund
    for n in range(4):
        gw.refund_payment(payment.payment_id, 10 + n, "USD", f"small-{n}")
    square_server.faults.add(Fault("GET", "/v2/refunds", 503))  # the first page is retried
    calls = gw.calls
    listed = list(gw.iter_payment_refunds(limit=2))
    assert [r.amount_minor for r in listed] == [500, 10, 11, 12, 13]
    assert (
        gw.calls - calls == 4 and square_server.stats.requests["square.refunds.list"] == 3
    )  # 3 pages, 1 retry
    since = list(gw.iter_payment_refunds(begin_time=listed[3].created_at))
    assert [r.refund_id for r in since] == [r.refund_id for r in listed[3:]]
    assert gw.get_payment(payment.payment_id).refunded_minor == 546


def test_find_variations_by_sku_batches_and_matches_exactly(square_server: Env, gw: SquareGateway) -> None:
    objects = [
        {
            "type": "ITEM",
            "id": f"#item-{n}",
            "item_data": {
                "name": f"Item {n}",
                "variations": [
                    {
                        "type": "ITEM_VARIATION",
                        "id": f"#var-{n}",
                        "item_variation_data": {
                            "name": "Regular",
                            "price_money": usd(100),
                            "sku": f"SKU-{n}",
                        },
                    }
                ],
            },
        }
        for n in range(300)
    ]
    square_server.backend.catalog.batch_upsert({"idempotency_key": "many", "batches": [{"objects": objects}]})
    asked = [f"sku-{n}" for n in range(0, 300, 1)] + ["NOPE"]
    found = gw.find_variations_by_sku(asked)
    assert len(found) == 300 and "NOPE" not in found
    assert found["sku-7"][0].sku == "SKU-7" and found["sku-7"][0].item_id
    assert square_server.stats.requests["square.catalog.search"] == 2  # 301 SKUs: two set queries
