"""GoogleGateway against fake httplib2 objects: URLs, retries, error mapping, custombatch, paging."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import httplib2
import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.http import HttpMockSequence

from sync.adapters.google_errors import parse_retry_after
from sync.adapters.google_gateway import (
    GoogleApiError,
    GoogleGateway,
    api_base_url,
    entry_error,
)
from sync.config import GoogleSettings

ENDPOINT = "http://127.0.0.1:9/"


def make_settings(**overrides: Any) -> GoogleSettings:
    values: dict[str, Any] = {"merchant_id": "123", "endpoint": ENDPOINT, "max_attempts": 4}
    values.update(overrides)
    return GoogleSettings(**values)


def json_body(data: Any) -> str:
    return json.dumps(data)


def google_error(code: int, reason: str, message: str) -> str:
    return json_body(
        {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"domain": "global", "reason": reason, "message": message}],
            }
        }
    )


class Harness:
    """A gateway whose every thread shares one scripted HttpMockSequence; sleeps are recorded."""

    def __init__(self, responses: list[tuple[dict[str, str], str]], **overrides: Any) -> None:
        self.http = HttpMockSequence(responses)
        self.sleeps: list[float] = []
        self.gateway = GoogleGateway(
            make_settings(**overrides),
            credentials=AnonymousCredentials(),
            http_factory=lambda: self.http,
            sleep=self.sleeps.append,
        )

    def uris(self) -> list[str]:
        return [r[0] for r in self.http.request_sequence]


class FakeHttp:
    """httplib2-like object answering through a handler(uri, method, body) -> (status, body, headers)."""

    def __init__(self, handler: Callable[[str, str, Any], tuple[int, str, dict[str, str]]]) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str, Any]] = []

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **_: Any) -> Any:
        self.requests.append((uri, method, body))
        status, content, extra = self.handler(uri, method, body)
        return httplib2.Response({"status": str(status), **extra}), content.encode()


def fake_gateway(
    handler: Callable[..., Any], **overrides: Any
) -> tuple[GoogleGateway, list[FakeHttp], list[float]]:
    https: list[FakeHttp] = []
    lock = threading.Lock()
    sleeps: list[float] = []

    def factory() -> FakeHttp:
        http = FakeHttp(handler)
        with lock:
            https.append(http)
        return http

    gateway = GoogleGateway(
        make_settings(**overrides),
        credentials=AnonymousCredentials(),
        http_factory=factory,
        sleep=sleeps.append,
    )
    return gateway, https, sleeps


OK_ACK = (
    {"status": "200"},
    json_body({"kind": "content#ordersAcknowledgeResponse", "executionStatus": "executed"}),
)


# --------------------------------------------------------------------------- endpoint


def test_base_url_sandbox_production_and_default() -> None:
    assert (
        api_base_url(make_settings(endpoint="http://127.0.0.1:8080/"))
        == "http://127.0.0.1:8080/content/v2sandbox/"
    )
    assert api_base_url(make_settings(endpoint="http://h:1", sandbox=False)) == "http://h:1/content/v2/"
    assert (
        api_base_url(make_settings(endpoint=None))
        == "https://shoppingcontent.googleapis.com/content/v2sandbox/"
    )
    assert api_base_url(make_settings(endpoint=None, sandbox=False)) == (
        "https://shoppingcontent.googleapis.com/content/v2/"
    )


def test_requests_go_to_the_configured_base_and_merchant() -> None:
    h = Harness([OK_ACK])
    assert h.gateway.acknowledge("TEST-1", "op-1") == "executed"
    uri, method, body, _headers = h.http.request_sequence[0]
    assert method == "POST"
    assert uri.startswith("http://127.0.0.1:9/content/v2sandbox/123/orders/TEST-1/acknowledge?")
    assert json.loads(body) == {"operationId": "op-1"}


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_is_retried_after_that_many_seconds() -> None:
    h = Harness(
        [({"status": "429", "retry-after": "3"}, google_error(429, "rateLimitExceeded", "slow down")), OK_ACK]
    )
    assert h.gateway.acknowledge("TEST-1", "op-1") == "executed"
    assert h.sleeps == [3.0]
    assert h.gateway.calls == 2


def test_retry_after_is_capped_by_max_backoff() -> None:
    h = Harness(
        [({"status": "503", "retry-after": "600"}, google_error(503, "backendError", "busy")), OK_ACK],
        max_backoff_seconds=1.5,
    )
    h.gateway.acknowledge("TEST-1", "op-1")
    assert h.sleeps == [1.5]


def test_503_then_success_uses_jittered_backoff() -> None:
    h = Harness([({"status": "503"}, google_error(503, "backendError", "busy")), OK_ACK])
    assert h.gateway.acknowledge("TEST-1", "op-1") == "executed"
    assert len(h.sleeps) == 1 and 0.1 <= h.sleeps[0] <= 0.2
    assert h.gateway.calls == 2


def test_backoff_grows_and_attempts_are_bounded() -> None:
    failing = ({"status": "500"}, google_error(500, "backendError", "boom"))
    h = Harness([failing] * 5, max_attempts=5, max_backoff_seconds=0.5)
    with pytest.raises(GoogleApiError) as info:
        h.gateway.acknowledge("TEST-1", "op-1")
    assert info.value.status == 500 and info.value.retryable and info.value.reason == "backendError"
    assert h.gateway.calls == 5
    assert len(h.sleeps) == 4
    ceilings = [0.2, 0.4, 0.5, 0.5]  # 0.2 * 2^n capped at max_backoff_seconds
    for slept, ceiling in zip(h.sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling


def test_400_is_not_retried_and_is_mapped() -> None:
    h = Harness([({"status": "400"}, google_error(400, "invalid", "Invalid value for quantity")), OK_ACK])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.acknowledge("TEST-1", "op-1")
    err = info.value
    assert (err.status, err.reason, err.message, err.retryable) == (
        400,
        "invalid",
        "Invalid value for quantity",
        False,
    )
    assert err.method == "content.orders.acknowledge"
    assert "HTTP 400 invalid" in str(err) and "content.orders.acknowledge" in str(err)
    assert h.gateway.calls == 1 and h.sleeps == []


def test_403_rate_limit_is_retried_but_plain_403_is_not() -> None:
    h = Harness([({"status": "403"}, google_error(403, "userRateLimitExceeded", "too fast")), OK_ACK])
    assert h.gateway.acknowledge("TEST-1", "op-1") == "executed"
    h = Harness([({"status": "403"}, google_error(403, "forbidden", "no access")), OK_ACK])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.acknowledge("TEST-1", "op-1")
    assert info.value.reason == "forbidden" and not info.value.retryable


@pytest.mark.parametrize(
    "exc",
    [ConnectionRefusedError(111, "Connection refused"), TimeoutError("timed out"), ConnectionResetError()],
)
def test_transport_errors_are_retried(exc: Exception) -> None:
    attempts = {"n": 0}

    def handler(uri: str, method: str, body: Any) -> tuple[int, str, dict[str, str]]:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise exc
        return 200, json_body({"executionStatus": "duplicate"}), {}

    gateway, _https, sleeps = fake_gateway(handler)
    assert gateway.acknowledge("TEST-1", "op-1") == "duplicate"
    assert gateway.calls == 2 and len(sleeps) == 1


def test_transport_errors_exhausted_become_google_api_error() -> None:
    def handler(uri: str, method: str, body: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")

    gateway, _https, _sleeps = fake_gateway(handler, max_attempts=3)
    with pytest.raises(GoogleApiError) as info:
        gateway.get_order("TEST-1")
    assert info.value.status == 0 and info.value.reason == "transportError" and info.value.retryable
    assert "Connection refused" in info.value.message
    assert gateway.calls == 3


def test_dns_failure_is_not_retried() -> None:
    def handler(uri: str, method: str, body: Any) -> Any:
        raise httplib2.ServerNotFoundError("Unable to find the server at nowhere.invalid")

    gateway, _https, sleeps = fake_gateway(handler)
    with pytest.raises(GoogleApiError) as info:
        gateway.get_order("TEST-1")
    assert info.value.reason == "serverNotFound" and not info.value.retryable
    assert gateway.calls == 1 and sleeps == []


# --------------------------------------------------------------------------- error shapes


def test_non_json_error_body_gives_a_clear_error() -> None:
    h = Harness([({"status": "400"}, "<html><body>Bad request from proxy</body></html>")])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.get_order("TEST-1")
    err = info.value
    assert err.status == 400 and err.reason == "" and not err.retryable
    assert "non-Google error body" in err.message and "Bad request from proxy" in err.message


def test_non_json_502_is_retryable_and_clear() -> None:
    h = Harness([({"status": "502"}, "upstream connect error")], max_attempts=1)
    with pytest.raises(GoogleApiError) as info:
        h.gateway.get_order("TEST-1")
    assert info.value.status == 502 and info.value.retryable
    assert "upstream connect error" in info.value.message


def test_error_object_not_a_dict() -> None:
    h = Harness([({"status": "400"}, json_body({"error": "invalid_request"}))])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.get_order("TEST-1")
    assert info.value.status == 400 and info.value.reason == ""
    assert "invalid_request" in info.value.message


def test_reason_taken_from_errors_even_when_details_present() -> None:
    body = json_body(
        {
            "error": {
                "code": 404,
                "message": "Order not found",
                "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest"}],
                "errors": [{"domain": "global", "reason": "notFound", "message": "Order not found"}],
            }
        }
    )
    h = Harness([({"status": "404"}, body)])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.get_order("TEST-1")
    assert (info.value.status, info.value.reason, info.value.message) == (404, "notFound", "Order not found")


def test_success_with_non_json_body_is_invalid_response() -> None:
    h = Harness([({"status": "200"}, "not json at all")])
    with pytest.raises(GoogleApiError) as info:
        h.gateway.get_order("TEST-1")
    assert info.value.reason == "invalidResponse" and info.value.status == 200


def test_mutation_without_execution_status_is_invalid_response() -> None:
    h = Harness([({"status": "200"}, json_body({"kind": "content#ordersAcknowledgeResponse"}))])
    with pytest.raises(GoogleApiError, match="executionStatus"):
        h.gateway.acknowledge("TEST-1", "op-1")


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --------------------------------------------------------------------------- entry_error


def test_entry_error_maps_batch_entry_errors() -> None:
    assert entry_error({"batchId": 0, "executionStatus": "executed"}) is None
    err = entry_error(
        {
            "batchId": 3,
            "errors": {
                "code": 409,
                "message": "Operation ID reused",
                "errors": [{"domain": "global", "reason": "duplicate", "message": "Operation ID reused"}],
            },
        }
    )
    assert err is not None
    assert (err.status, err.reason, err.message, err.retryable) == (
        409,
        "duplicate",
        "Operation ID reused",
        False,
    )
    odd = entry_error({"errors": {"code": "503", "errors": [{"message": "later"}]}})
    assert odd is not None and odd.status == 503 and odd.retryable and odd.message == "later"
    weird = entry_error({"errors": "boom"})
    assert weird is not None and "boom" in weird.message
    assert GoogleGateway.entry_error is entry_error


# --------------------------------------------------------------------------- custombatch


def batch_handler(
    seen: list[list[dict[str, Any]]], lock: threading.Lock, *, fail_first_for: int | None = None
) -> Callable[[str, str, Any], tuple[int, str, dict[str, str]]]:
    failed: set[int] = set()

    def handler(uri: str, method: str, body: Any) -> tuple[int, str, dict[str, str]]:
        assert urlparse(uri).path == "/content/v2sandbox/orders/batch" and method == "POST"
        entries = json.loads(body)["entries"]
        ids = {e["batchId"] for e in entries}
        with lock:
            seen.append(entries)
            if fail_first_for in ids and fail_first_for not in failed:
                failed.add(fail_first_for)
                return 503, google_error(503, "backendError", "try later"), {}
        out = []
        for e in reversed(entries):  # the server may answer in any order: alignment is by batchId
            if e["orderId"] == "BAD":
                out.append(
                    {
                        "batchId": e["batchId"],
                        "errors": {
                            "code": 400,
                            "message": "nope",
                            "errors": [{"domain": "global", "reason": "invalid", "message": "nope"}],
                        },
                    }
                )
            else:
                out.append({"batchId": e["batchId"], "executionStatus": "executed", "echo": e["orderId"]})
        return 200, json_body({"kind": "content#ordersCustomBatchResponse", "entries": out}), {}

    return handler


def test_custombatch_chunks_and_aligns_with_input() -> None:
    seen: list[list[dict[str, Any]]] = []
    gateway, _https, _ = fake_gateway(batch_handler(seen, threading.Lock()), batch_size=2, concurrency=2)
    entries = [{"method": "acknowledge", "orderId": f"O{i}", "operationId": f"op{i}"} for i in range(5)]
    entries[3]["orderId"] = "BAD"
    original = json.loads(json.dumps(entries))
    result = gateway.custombatch(entries)
    assert entries == original  # the caller's dicts are not mutated
    assert [r["batchId"] for r in result] == [0, 1, 2, 3, 4]
    assert [r.get("echo") for r in result] == ["O0", "O1", "O2", None, "O4"]
    assert sorted(len(chunk) for chunk in seen) == [1, 2, 2]
    sent = sorted((e for chunk in seen for e in chunk), key=lambda e: e["batchId"])
    assert all(e["merchantId"] == "123" for e in sent)
    assert [e["orderId"] for e in sent] == ["O0", "O1", "O2", "BAD", "O4"]
    err = entry_error(result[3])
    assert err is not None and err.status == 400 and err.reason == "invalid"
    assert gateway.calls == 3
    assert gateway.custombatch([]) == [] and gateway.calls == 3


def test_custombatch_retries_a_failed_chunk_with_the_same_entries() -> None:
    seen: list[list[dict[str, Any]]] = []
    gateway, _https, sleeps = fake_gateway(
        batch_handler(seen, threading.Lock(), fail_first_for=2), batch_size=2
    )
    entries = [{"method": "acknowledge", "orderId": f"O{i}", "operationId": f"op{i}"} for i in range(4)]
    result = gateway.custombatch(entries)
    assert [r["executionStatus"] for r in result] == ["executed"] * 4
    assert gateway.calls == 3 and len(sleeps) == 1
    chunk_sends = [c for c in seen if c[0]["batchId"] == 2]
    assert len(chunk_sends) == 2 and chunk_sends[0] == chunk_sends[1]


def test_custombatch_chunk_still_failing_raises() -> None:
    def handler(uri: str, method: str, body: Any) -> tuple[int, str, dict[str, str]]:
        entries = json.loads(body)["entries"]
        if entries[0]["batchId"] == 2:
            return 500, google_error(500, "backendError", "down"), {}
        return (
            200,
            json_body(
                {"entries": [{"batchId": e["batchId"], "executionStatus": "executed"} for e in entries]}
            ),
            {},
        )

    gateway, _https, _ = fake_gateway(handler, batch_size=2, max_attempts=2)
    with pytest.raises(GoogleApiError) as info:
        gateway.custombatch([{"method": "get", "orderId": f"O{i}"} for i in range(4)])
    assert info.value.status == 500 and info.value.method == "content.orders.custombatch"
    assert gateway.calls == 3  # chunk 0 once, chunk 1 twice


def test_custombatch_missing_response_entry_is_an_error() -> None:
    def handler(uri: str, method: str, body: Any) -> tuple[int, str, dict[str, str]]:
        entries = json.loads(body)["entries"]
        return (
            200,
            json_body({"entries": [{"batchId": entries[0]["batchId"], "executionStatus": "executed"}]}),
            {},
        )

    gateway, _https, _ = fake_gateway(handler)
    with pytest.raises(GoogleApiError, match="batchId 1"):
        gateway.custombatch([{"method": "get", "orderId": "A"}, {"method": "get", "orderId": "B"}])


def test_custombatch_sends_chunks_concurrently_on_separate_http_objects() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    thread_of_http: dict[int, set[int]] = {}

    def handler(uri: str, method: str, body: Any) -> tuple[int, str, dict[str, str]]:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        entries = json.loads(body)["entries"]
        return (
            200,
            json_body(
                {"entries": [{"batchId": e["batchId"], "executionStatus": "executed"} for e in entries]}
            ),
            {},
        )

    gateway, https, _ = fake_gateway(handler, batch_size=2, concurrency=3)
    original_request = FakeHttp.request

    def tracking_request(self: FakeHttp, *args: Any, **kwargs: Any) -> Any:
        with lock:
            thread_of_http.setdefault(id(self), set()).add(threading.get_ident())
        return original_request(self, *args, **kwargs)

    FakeHttp.request = tracking_request  # type: ignore[method-assign]
    try:
        started = time.monotonic()
        result = gateway.custombatch([{"method": "get", "orderId": f"O{i}"} for i in range(12)])
        elapsed = time.monotonic() - started
    finally:
        FakeHttp.request = original_request  # type: ignore[method-assign]
        gateway.close()
    assert len(result) == 12
    assert peak == 3  # six chunks, three workers
    assert elapsed < 6 * 0.05  # not sequential
    assert 1 < len(https) <= 3
    # No http object is ever used from two threads.
    assert all(len(threads) == 1 for threads in thread_of_http.values())


# --------------------------------------------------------------------------- list


def page(ids: list[str], token: str | None) -> tuple[dict[str, str], str]:
    body: dict[str, Any] = {"kind": "content#ordersListResponse", "resources": [{"id": i} for i in ids]}
    if token:
        body["nextPageToken"] = token
    return {"status": "200"}, json_body(body)


def test_pages_are_streamed_one_request_at_a_time() -> None:
    h = Harness([page(["A", "B"], "t1"), page(["C"], "t2"), page([], None)])
    pages = h.gateway.iter_order_pages(
        acknowledged=False, statuses=["PENDING_SHIPMENT", "inProgress"], page_size=2
    )
    assert next(pages) == [{"id": "A"}, {"id": "B"}]
    assert h.gateway.calls == 1  # the next page is not fetched until asked for
    assert [p for p in pages] == [[{"id": "C"}], []]
    queries = [parse_qs(urlparse(u).query) for u in h.uris()]
    assert urlparse(h.uris()[0]).path == "/content/v2sandbox/123/orders"
    assert queries[0]["statuses"] == ["PENDING_SHIPMENT", "IN_PROGRESS"]
    assert queries[0]["acknowledged"] == ["false"] and queries[0]["maxResults"] == ["2"]
    assert "pageToken" not in queries[0]
    assert queries[1]["pageToken"] == ["t1"] and queries[2]["pageToken"] == ["t2"]


def test_iter_orders_flattens_and_uses_default_page_size() -> None:
    h = Harness([page(["A"], "t1"), page(["B"], None)], page_size=250)
    assert [o["id"] for o in h.gateway.iter_orders(order_by="placedDateAsc")] == ["A", "B"]
    query = parse_qs(urlparse(h.uris()[0]).query)
    assert query["maxResults"] == ["250"] and query["orderBy"] == ["placedDateAsc"]


def test_repeated_page_token_stops_with_an_error() -> None:
    h = Harness([page(["A"], "t1"), page(["B"], "t1")])
    with pytest.raises(GoogleApiError, match="repeated"):
        list(h.gateway.iter_orders())


def test_unknown_status_is_a_value_error_before_any_request() -> None:
    h = Harness([])
    with pytest.raises(ValueError, match="statuses"):
        next(h.gateway.iter_order_pages(statuses=["NOT_A_STATUS"]))
    assert h.gateway.calls == 0


# --------------------------------------------------------------------------- single calls


def recording_gateway(response: dict[str, Any], **overrides: Any) -> tuple[GoogleGateway, list[FakeHttp]]:
    gateway, https, _ = fake_gateway(lambda uri, method, body: (200, json_body(response), {}), **overrides)
    return gateway, https


def last_request(https: list[FakeHttp]) -> tuple[str, str, Any]:
    uri, method, body = https[0].requests[-1]
    return urlparse(uri).path, method, json.loads(body) if body else None


def test_mutations_send_documented_bodies() -> None:
    gateway, https = recording_gateway({"executionStatus": "executed"})
    assert gateway.update_merchant_order_id("G1", "op1", "SQ-1") == "executed"
    assert last_request(https) == (
        "/content/v2sandbox/123/orders/G1/updateMerchantOrderId",
        "POST",
        {"operationId": "op1", "merchantOrderId": "SQ-1"},
    )
    gateway.ship_line_items(
        "G1", "op2", [{"lineItemId": "L1", "quantity": 1}], [{"shipmentId": "S1", "carrier": "ups"}]
    )
    assert last_request(https)[0].endswith("/G1/shipLineItems")
    assert last_request(https)[2]["shipmentInfos"] == [{"shipmentId": "S1", "carrier": "ups"}]
    gateway.update_shipment("G1", "op3", "S1", status="delivered", delivery_date="2024-01-02T00:00:00Z")
    assert last_request(https)[2] == {
        "operationId": "op3",
        "shipmentId": "S1",
        "status": "delivered",
        "deliveryDate": "2024-01-02T00:00:00Z",
    }
    gateway.cancel("G1", "op4", "noInventory")
    assert last_request(https)[2] == {"operationId": "op4", "reason": "noInventory", "reasonText": ""}
    gateway.cancel_line_item("G1", "op5", "L1", 2, "other", "why")
    assert last_request(https)[0].endswith("/G1/cancelLineItem")
    assert last_request(https)[2]["quantity"] == 2


def test_order_ids_are_percent_encoded() -> None:
    gateway, https = recording_gateway({"id": "A/B"})
    assert gateway.get_order("A/B") == {"id": "A/B"}
    assert "/123/orders/A%2FB?" in https[0].requests[-1][0]


def test_get_by_merchant_order_id_unwraps_the_order() -> None:
    gateway, https = recording_gateway(
        {"kind": "content#ordersGetByMerchantOrderIdResponse", "order": {"id": "G"}}
    )
    assert gateway.get_by_merchant_order_id("SQ-9") == {"id": "G"}
    assert last_request(https)[0] == "/content/v2sandbox/123/ordersbymerchantid/SQ-9"


def test_test_order_methods() -> None:
    gateway, https = recording_gateway(
        {"orderId": "TEST-1", "returnId": "R1", "template": {"kind": "content#testOrder"}}
    )
    assert gateway.create_test_order("TEMPLATE2", country="FR") == "TEST-1"
    assert last_request(https) == (
        "/content/v2sandbox/123/testorders",
        "POST",
        {"country": "FR", "templateName": "template2"},
    )
    assert gateway.create_test_order(test_order={"lineItems": []}) == "TEST-1"
    assert last_request(https)[2] == {"country": "US", "testOrder": {"lineItems": []}}
    gateway.advance_test_order("TEST-1")
    assert last_request(https)[:2] == ("/content/v2sandbox/123/testorders/TEST-1/advance", "POST")
    gateway.cancel_test_order_by_customer("TEST-1")
    assert last_request(https)[2] == {"reason": "changedMind"}
    assert gateway.create_test_return("TEST-1", [{"lineItemId": "L", "quantity": 1}]) == "R1"
    assert last_request(https)[0] == "/content/v2sandbox/123/orders/TEST-1/testreturn"
    assert gateway.get_test_order_template("template1") == {"kind": "content#testOrder"}
    assert last_request(https)[0] == "/content/v2sandbox/123/testordertemplates/TEMPLATE1"


def test_test_order_methods_refuse_outside_the_sandbox() -> None:
    gateway, https = recording_gateway({"orderId": "X"}, sandbox=False)
    with pytest.raises(GoogleApiError) as info:
        gateway.create_test_order()
    assert info.value.reason == "sandboxOnly" and "sandbox = true" in info.value.message
    assert https == [] and gateway.calls == 0
