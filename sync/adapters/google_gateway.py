"""Google Content API v2 `orders` gateway: googleapiclient, custombatch chunks, tenacity retries.

Threading: googleapiclient request objects are cheap and independent, but httplib2.Http is not
thread-safe, so the (discovery-built) service is shared while every thread executes its requests
on its own AuthorizedHttp(Http(timeout)) held in a threading.local.

Retries (one policy for every call, custombatch chunks included): HTTP 429/500/502/503/504, 403
rate-limit reasons, and transport failures (connection refused/reset, timeouts, broken responses)
are retried up to ``settings.max_attempts`` attempts in total. The wait is the server's Retry-After
when present, else jittered exponential backoff (0.2 s x 2^n, drawn from [d/2, d]); both capped at
``settings.max_backoff_seconds``. Mutations carry operationIds, so resending one whose response
was lost is answered ``duplicate`` rather than applied twice.
"""

from __future__ import annotations

import errno
import http.client
import itertools
import logging
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
import tenacity
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from sync.adapters.google_credentials import SCOPES, describe_refresh_error, resolve_credentials
from sync.adapters.google_errors import (
    GoogleApiError,
    GoogleCredentialsError,
    entry_error,
    from_http_error,
)
from sync.adapters.request_budget import RequestBudget
from sync.config import GoogleSettings
from sync.domain.refunds.square_to_google import GoogleRefundMutation

__all__ = ["SCOPES", "GoogleApiError", "GoogleCredentialsError", "GoogleGateway", "entry_error"]

# stdlib logging: routed through structlog by sync.logs, and never onto stdout when unconfigured
# (CLI commands print ids there).
log = logging.getLogger(__name__)

GOOGLE_ROOT = "https://shoppingcontent.googleapis.com"
BACKOFF_BASE_SECONDS = 0.2
# Transport-level failures after which the request may simply be sent again. DNS failures
# (httplib2.ServerNotFoundError) are deliberately absent: a wrong host name does not heal.
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    http.client.HTTPException,
    ssl.SSLError,
    google.auth.exceptions.TransportError,
)
# OS-level errnos that mean "the network hiccupped", not "this can never work".
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.ECONNABORTED,
        errno.EADDRNOTAVAIL,
    }
)
TEST_ORDER_TEMPLATES = ("template1", "template1a", "template1b", "template2", "template3")
TEST_ORDER_COUNTRIES = ("US", "FR")  # createtestorder's country values; the first is the default

HttpFactory = Callable[[], Any]


def api_base_url(settings: GoogleSettings) -> str:
    """The api_endpoint for googleapiclient; it replaces rootUrl+servicePath entirely."""
    root = (settings.endpoint or GOOGLE_ROOT).rstrip("/")
    return f"{root}/content/v2sandbox/" if settings.sandbox else f"{root}/content/v2/"


def _status_enum(status: str) -> str:
    """Accept `pendingShipment` as well as `PENDING_SHIPMENT`; the client only sends UPPER_SNAKE."""
    if status.isupper() or "_" in status:
        return status.upper()
    out = "".join(f"_{c}" if c.isupper() else c for c in status)
    return out.upper()


def _iso(value: str | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _transport_error(exc: BaseException, method_id: str, *, retryable: bool) -> GoogleApiError:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return GoogleApiError(0, "transportError", detail, retryable, method_id)


def _check_new_token(token: str, seen: set[str], method_id: str = "content.orders.list") -> None:
    """A server handing out the same page token again would make the listing loop forever."""
    if token in seen:
        raise _invalid(method_id, f"pageToken {token!r} repeated")
    seen.add(token)


def _line_body(operation_id: str, line_item_id: str, quantity: int, reason: str, text: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "lineItemId": line_item_id,
        "quantity": quantity,
        "reason": reason,
        "reasonText": text,
    }


def _invalid(method_id: str, message: str) -> GoogleApiError:
    """A 2xx answer we cannot use (wrong shape); not retried, since resending gets the same."""
    return GoogleApiError(200, "invalidResponse", message, False, method_id)


class _CountingHttp:
    """Wraps an httplib2-compatible object and counts every request that goes through it."""

    def __init__(self, inner: Any, on_request: Callable[[], None]) -> None:
        self._inner = inner
        self._on_request = on_request

    def request(self, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        self._on_request()
        return self._inner.request(uri, method, *args, **kwargs)


class GoogleGateway:
    """The one place that talks to the Content API v2 `orders` resource.

    ``http_factory`` (tests, benchmarks) returns an httplib2-like object per thread instead of
    AuthorizedHttp(credentials, Http(timeout)); ``sleep`` replaces time.sleep for backoff waits.
    """

    def __init__(
        self,
        settings: GoogleSettings,
        credentials: Any = None,
        *,
        http_factory: HttpFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.merchant_id = settings.merchant_id
        self.base_url = api_base_url(settings)
        # This account's budget: its rate, and a 429 pausing all of its threads (not other accounts).
        self.budget = RequestBudget(settings.requests_per_second, sleep=sleep)
        self._credentials = resolve_credentials(credentials)
        self._http_factory = http_factory or self._default_http
        self._sleep = sleep
        self._local = threading.local()
        self._calls = 0
        self._calls_by_method: Counter[str] = Counter()
        self._calls_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        # Static discovery: no network at build time; the service's own http is never used.
        self._service = build(
            "content",
            "v2",
            credentials=self._credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.base_url},
        )
        self._orders_resource = self._service.orders()
        self._returns_resource = self._service.orderreturns()

    # ------------------------------------------------------------------ plumbing
    @property
    def calls(self) -> int:
        """HTTP requests sent to the API (every attempt, retries included; token requests not)."""
        with self._calls_lock:
            return self._calls

    def calls_by_method(self) -> dict[str, int]:
        """HTTP requests per API method id (``content.orders.custombatch``, …), retries included."""
        with self._calls_lock:
            return dict(self._calls_by_method)

    def _count(self) -> None:
        method_id = getattr(self._local, "method_id", "") or "unknown"
        with self._calls_lock:
            self._calls += 1
            self._calls_by_method[method_id] += 1

    def _default_http(self) -> Any:
        return google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=self.settings.timeout_seconds)
        )

    def _thread_http(self) -> _CountingHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = _CountingHttp(self._http_factory(), self._count)
            self._local.http = http
        return http

    def close(self) -> None:
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def __enter__(self) -> GoogleGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _orders(self) -> Any:
        # Resource objects only read shared state when building requests: one serves all threads.
        return self._orders_resource

    def _wait_seconds(self, retry_state: tenacity.RetryCallState) -> float:
        cap = self.settings.max_backoff_seconds
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, GoogleApiError) and exc.retry_after is not None:
            wait = min(exc.retry_after, cap)
        else:
            ceiling = min(cap, BACKOFF_BASE_SECONDS * 2 ** (retry_state.attempt_number - 1))
            wait = random.uniform(ceiling / 2, ceiling)
        if isinstance(exc, GoogleApiError) and exc.throttled:
            self.budget.pause(wait)
        return wait

    def _attempt(self, method_id: str, request: Any) -> Any:
        """One HTTP attempt; every failure comes out as GoogleApiError (or credentials error)."""
        self._local.method_id = method_id  # for calls_by_method (one request at a time per thread)
        self.budget.take()
        try:
            return request.execute(http=self._thread_http())
        except HttpError as exc:
            raise from_http_error(exc, method_id) from None
        except google.auth.exceptions.RefreshError as exc:
            raise GoogleCredentialsError(describe_refresh_error(exc, self._credentials)) from None
        except httplib2.ServerNotFoundError as exc:
            raise GoogleApiError(0, "serverNotFound", str(exc), False, method_id) from None
        except _TRANSPORT_ERRORS as exc:
            raise _transport_error(exc, method_id, retryable=True) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            # e.g. a malformed token response: a credentials problem, not an API answer.
            raise GoogleCredentialsError(
                f"Google credentials could not be used ({type(exc).__name__}); "
                "check the key file and its token_uri"
            ) from None
        except OSError as exc:
            raise _transport_error(exc, method_id, retryable=exc.errno in _TRANSIENT_ERRNOS) from None
        except ValueError as exc:
            # A 2xx whose body is not JSON (googleapiclient's JsonModel raises ValueError).
            raise _invalid(method_id, f"response body is not valid JSON ({exc})") from None

    def _execute(self, method_id: str, make_request: Callable[[Any], Any], resource: Any = None) -> Any:
        try:
            request = make_request(self._orders() if resource is None else resource)
        except TypeError as exc:
            # googleapiclient validates enums/required params before any HTTP.
            raise ValueError(f"{method_id}: {exc}") from None
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.settings.max_attempts),
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, GoogleApiError) and e.retryable),
            wait=self._wait_seconds,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        result = retrying(self._attempt, method_id, request)
        if not isinstance(result, dict):
            raise _invalid(method_id, f"expected a JSON object, got {type(result).__name__}")
        return result

    @staticmethod
    def _log_retry(retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "google retry: %s failed (attempt %d): %s; retrying in %.2fs",
            getattr(exc, "method", "?"),
            retry_state.attempt_number,
            exc,
            retry_state.upcoming_sleep,
        )

    def _mutation(self, method_id: str, make_request: Callable[[Any], Any]) -> str:
        resp = self._execute(method_id, make_request)
        status = resp.get("executionStatus")
        if not isinstance(status, str) or not status:
            raise _invalid(method_id, "response lacks executionStatus")
        return status

    # ------------------------------------------------------------------ list
    def iter_order_pages(
        self,
        *,
        acknowledged: bool | None = None,
        statuses: Sequence[str] | None = None,
        placed_date_start: str | datetime | None = None,
        placed_date_end: str | datetime | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
        prefetch: bool = False,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield one page of orders at a time; the next page is fetched only when asked for.

        ``prefetch``: fetch page n+1 in a background thread while the caller works on page n, so
        the round trip overlaps the caller's processing. It is read-only, and costs no extra call
        unless the caller stops before the last page (the page in flight is then discarded).
        """
        params: dict[str, Any] = {
            "merchantId": self.merchant_id,
            "maxResults": page_size or self.settings.page_size,
        }
        if acknowledged is not None:
            params["acknowledged"] = acknowledged
        if statuses:
            params["statuses"] = [_status_enum(s) for s in statuses]
        if placed_date_start is not None:
            params["placedDateStart"] = _iso(placed_date_start)
        if placed_date_end is not None:
            params["placedDateEnd"] = _iso(placed_date_end)
        if order_by:
            params["orderBy"] = order_by
        if prefetch:
            yield from self._prefetched_pages(params)
            return
        token: str | None = None
        seen: set[str] = set()
        while True:
            resources, token = self._list_page(params, token)
            yield resources
            if not token:
                return
            _check_new_token(token, seen)

    def _list_page(
        self, params: dict[str, Any], token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One orders.list call: the page's orders and the next page's token (None on the last)."""
        page_params = {**params, **({"pageToken": token} if token else {})}
        resp = self._execute("content.orders.list", lambda o: o.list(**page_params))
        resources = resp.get("resources") or []
        if not isinstance(resources, list):
            raise _invalid("content.orders.list", "resources is not a list")
        return resources, resp.get("nextPageToken") or None

    def _prefetched_pages(self, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        # One worker of its own: the custombatch pool may be busy with the caller's dispatches.
        # The worker thread gets its own http object (_thread_http), as every thread does.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="google-list") as fetcher:
            seen: set[str] = set()
            pending = fetcher.submit(self._list_page, params, None)
            while True:
                resources, token = pending.result()  # a failed fetch raises here, as it would inline
                if token and token not in seen:
                    pending = fetcher.submit(self._list_page, params, token)
                yield resources
                if not token:
                    return
                _check_new_token(token, seen)

    def iter_orders(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for page in self.iter_order_pages(**kwargs):
            yield from page

    # ------------------------------------------------------------------ custombatch
    def custombatch(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send entries in chunks of settings.batch_size concurrently; responses aligned with input.

        Per-entry failures stay in the returned entries (see ``entry_error``). A chunk whose HTTP
        call still fails after the retries raises GoogleApiError (after all chunks finished, so
        no request is left running behind the caller's back).
        """
        if not entries:
            return []
        stamped = [
            {**entry, "batchId": index, "merchantId": self.merchant_id} for index, entry in enumerate(entries)
        ]
        size = self.settings.batch_size
        chunks = [stamped[i : i + size] for i in range(0, len(stamped), size)]
        if len(chunks) == 1:
            results = [self._send_chunk(chunks[0])]
        else:
            futures = [self._pool().submit(self._send_chunk, chunk) for chunk in chunks]
            wait(futures)
            for future in futures:
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            results = [future.result() for future in futures]
        return list(itertools.chain.from_iterable(results))

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.concurrency, thread_name_prefix="google-batch"
                )
            return self._executor

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        method = "content.orders.custombatch"
        resp = self._execute(method, lambda o: o.custombatch(body={"entries": chunk}))
        got = resp.get("entries") or []
        by_id: dict[int, dict[str, Any]] = {}
        for entry in got if isinstance(got, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("batchId"), int | str):
                try:
                    by_id[int(entry["batchId"])] = entry
                except ValueError:
                    continue
        missing = [e["batchId"] for e in chunk if e["batchId"] not in by_id]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise _invalid(method, f"custombatch response lacks entries for batchId {shown}")
        return [by_id[e["batchId"]] for e in chunk]

    entry_error = staticmethod(entry_error)

    # ------------------------------------------------------------------ single calls
    def get_order(self, order_id: str) -> dict[str, Any]:
        return self._execute(
            "content.orders.get", lambda o: o.get(merchantId=self.merchant_id, orderId=order_id)
        )

    def get_by_merchant_order_id(self, merchant_order_id: str) -> dict[str, Any]:
        method = "content.orders.getbymerchantorderid"
        resp = self._execute(
            method,
            lambda o: o.getbymerchantorderid(merchantId=self.merchant_id, merchantOrderId=merchant_order_id),
        )
        order = resp.get("order")
        if not isinstance(order, dict):
            raise _invalid(method, "response lacks the order")
        return order

    def acknowledge(self, order_id: str, operation_id: str) -> str:
        body = {"operationId": operation_id}
        return self._mutation(
            "content.orders.acknowledge",
            lambda o: o.acknowledge(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def update_merchant_order_id(self, order_id: str, operation_id: str, merchant_order_id: str) -> str:
        body = {"operationId": operation_id, "merchantOrderId": merchant_order_id}
        return self._mutation(
            "content.orders.updatemerchantorderid",
            lambda o: o.updatemerchantorderid(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def ship_line_items(
        self,
        order_id: str,
        operation_id: str,
        line_items: list[dict[str, Any]],
        shipment_infos: list[dict[str, Any]],
    ) -> str:
        body = {"operationId": operation_id, "lineItems": line_items, "shipmentInfos": shipment_infos}
        return self._mutation(
            "content.orders.shiplineitems",
            lambda o: o.shiplineitems(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def update_shipment(
        self,
        order_id: str,
        operation_id: str,
        shipment_id: str,
        *,
        status: str | None = None,
        carrier: str | None = None,
        tracking_id: str | None = None,
        delivery_date: str | datetime | None = None,
    ) -> str:
        body: dict[str, Any] = {"operationId": operation_id, "shipmentId": shipment_id}
        optional = {
            "status": status,
            "carrier": carrier,
            "trackingId": tracking_id,
            "deliveryDate": _iso(delivery_date),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        return self._mutation(
            "content.orders.updateshipment",
            lambda o: o.updateshipment(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def cancel(self, order_id: str, operation_id: str, reason: str, reason_text: str = "") -> str:
        body = {"operationId": operation_id, "reason": reason, "reasonText": reason_text}
        return self._mutation(
            "content.orders.cancel",
            lambda o: o.cancel(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def cancel_line_item(
        self,
        order_id: str,
        operation_id: str,
        line_item_id: str,
        quantity: int,
        reason: str,
        reason_text: str = "",
    ) -> str:
        body = _line_body(operation_id, line_item_id, quantity, reason, reason_text)
        return self._order_mutation("cancellineitem", order_id, body)

    # ------------------------------------------------------------------ returns and refunds
    # Each body is also the custombatch sub-object of the same name (minus operationId): the
    # outbox sends GoogleRefundMutation.entry() through custombatch, these are the single calls.
    def _order_mutation(self, name: str, order_id: str, body: dict[str, Any]) -> str:
        return self._mutation(
            f"content.orders.{name}",
            lambda o: getattr(o, name)(merchantId=self.merchant_id, orderId=order_id, body=body),
        )

    def refund(
        self,
        order_id: str,
        operation_id: str,
        amount_pretax: dict[str, str],
        amount_tax: dict[str, str],
        reason: str,
        reason_text: str = "",
    ) -> str:
        """orders.refund (deprecated by Google, yet v2's only refund not tied to a line: shipping,
        courtesy amounts). ``amount_tax`` is always sent: absent, Google adds a computed tax."""
        body = {
            "operationId": operation_id,
            "amountPretax": amount_pretax,
            "amountTax": amount_tax,
            "reason": reason,
            "reasonText": reason_text,
        }
        return self._order_mutation("refund", order_id, body)

    def return_refund_line_item(
        self,
        order_id: str,
        operation_id: str,
        line_item_id: str,
        quantity: int,
        reason: str,
        reason_text: str = "",
        *,
        amount_pretax: dict[str, str] | None = None,
        amount_tax: dict[str, str] | None = None,
    ) -> str:
        """orders.returnrefundlineitem: only on fully shipped orders; without amounts a refundless return."""
        body = _line_body(operation_id, line_item_id, quantity, reason, reason_text)
        if amount_pretax is not None:
            body["amountPretax"] = amount_pretax
        if amount_tax is not None:
            body["amountTax"] = amount_tax
        return self._order_mutation("returnrefundlineitem", order_id, body)

    def return_line_item(
        self, order_id: str, operation_id: str, line_item_id: str, quantity: int, reason: str, text: str = ""
    ) -> str:
        body = _line_body(operation_id, line_item_id, quantity, reason, text)
        return self._order_mutation("returnlineitem", order_id, body)

    def send_refund_mutation(self, mutation: GoogleRefundMutation) -> str:
        """One GoogleRefundMutation as a single call; returns executionStatus."""
        return self._order_mutation(str(mutation.method).lower(), mutation.order_id, mutation.request())

    def get_order_return(self, return_id: str) -> dict[str, Any]:
        """orderreturns.get: a MerchantOrderReturn (parse with sync.domain.refunds.records.google_return)."""
        return self._execute(
            "content.orderreturns.get",
            lambda r: r.get(merchantId=self.merchant_id, returnId=return_id),
            self._returns_resource,
        )

    def iter_order_returns(
        self,
        *,
        created_start: str | datetime | None = None,
        created_end: str | datetime | None = None,
        order_by: str = "RETURN_CREATION_TIME_ASC",
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """orderreturns.list across pages: returns created in [start, end] (both inclusive, so a
        time cursor de-duplicates on ``orderReturnId``), oldest first by default."""
        method = "content.orderreturns.list"
        params: dict[str, Any] = {
            "merchantId": self.merchant_id,
            "maxResults": page_size or self.settings.page_size,
            "orderBy": order_by,
        }
        if created_start is not None:
            params["createdStartDate"] = _iso(created_start)
        if created_end is not None:
            params["createdEndDate"] = _iso(created_end)
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = {**params, **({"pageToken": token} if token else {})}
            resp = self._execute(method, lambda r, p=page: r.list(**p), self._returns_resource)
            resources = resp.get("resources") or []
            if not isinstance(resources, list):
                raise _invalid(method, "resources is not a list")
            yield from resources
            token = resp.get("nextPageToken") or None
            if not token:
                return
            _check_new_token(token, seen, method)

    # ------------------------------------------------------------------ sandbox only
    def _require_sandbox(self, method_id: str) -> None:
        if not self.settings.sandbox:
            raise GoogleApiError(
                0,
                "sandboxOnly",
                "test orders exist only in the v2sandbox API; set [google] sandbox = true",
                False,
                method_id,
            )

    def create_test_order(
        self, template: str = "template1", *, test_order: dict[str, Any] | None = None, country: str = "US"
    ) -> str:
        method = "content.orders.createtestorder"
        self._require_sandbox(method)
        body: dict[str, Any] = {"country": country}
        if test_order is not None:
            body["testOrder"] = test_order
        else:
            # The request body takes lowercase names (the template GET path takes UPPER).
            body["templateName"] = template.lower()
        resp = self._execute(method, lambda o: o.createtestorder(merchantId=self.merchant_id, body=body))
        order_id = resp.get("orderId")
        if not isinstance(order_id, str) or not order_id:
            raise _invalid(method, "response lacks orderId")
        return order_id

    def advance_test_order(self, order_id: str) -> None:
        method = "content.orders.advancetestorder"
        self._require_sandbox(method)
        self._execute(method, lambda o: o.advancetestorder(merchantId=self.merchant_id, orderId=order_id))

    def cancel_test_order_by_customer(self, order_id: str, reason: str = "changedMind") -> None:
        method = "content.orders.canceltestorderbycustomer"
        self._require_sandbox(method)
        self._execute(
            method,
            lambda o: o.canceltestorderbycustomer(
                merchantId=self.merchant_id, orderId=order_id, body={"reason": reason}
            ),
        )

    def create_test_return(self, order_id: str, items: list[dict[str, Any]]) -> str:
        method = "content.orders.createtestreturn"
        self._require_sandbox(method)
        resp = self._execute(
            method,
            lambda o: o.createtestreturn(
                merchantId=self.merchant_id, orderId=order_id, body={"items": items}
            ),
        )
        return_id = resp.get("returnId")
        if not isinstance(return_id, str) or not return_id:
            raise _invalid(method, "response lacks returnId")
        return return_id

    def get_test_order_template(self, template_name: str, *, country: str = "US") -> dict[str, Any]:
        """The template's TestOrder (the response's ``template``)."""
        method = "content.orders.gettestordertemplate"
        self._require_sandbox(method)
        resp = self._execute(
            method,
            lambda o: o.gettestordertemplate(
                merchantId=self.merchant_id, templateName=template_name.upper(), country=country
            ),
        )
        template = resp.get("template")
        if not isinstance(template, dict):
            raise _invalid(method, "response lacks template")
        return template
