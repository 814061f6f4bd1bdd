"""Square gateway: the official ``squareup`` SDK behind a small, retry-safe interface.

Retries are ours, not the SDK's: every call passes ``max_retries: 0`` and tenacity retries 408,
429 (honouring ``Retry-After``), 5xx and transport errors with capped, jittered exponential
backoff, up to ``settings.max_attempts``. That is safe because every mutating call carries an
idempotency key (derived when the caller gives none), so a retried create/update/pay replays
instead of repeating. 4xx validation errors are never retried. Errors surface as
``SquareApiError``; the access token never appears in a log line or an exception message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from square import Square
from square.core.api_error import ApiError
from square.environment import SquareEnvironment
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from sync.adapters import square_type_hints
from sync.adapters.request_budget import RequestBudget
from sync.adapters.square_errors import SquareApiError, SquareCredentialsError
from sync.config import SquareSettings
from sync.domain.refunds.google_to_square import SquareRefundPlan
from sync.domain.refunds.records import tender_payment_ids
from sync.domain.square_records import CatalogVariationRef, SquarePayment, SquareRefund

BATCH_RETRIEVE_CHUNK = 100  # Square's BatchRetrieveOrders limit
PAYMENT_KEY_MAX = 45  # CreatePayment idempotency keys are shorter than the Orders API's 192
REFUND_KEY_MAX = 45  # RefundPayment's limit too
SKU_QUERY_CHUNK = 250  # SearchCatalogObjects set_query: "A maximum of 250 values"
REFUNDS_PAGE_MAX = 100  # ListPaymentRefunds: at most 100 a page
RETRYABLE_STATUSES = frozenset({408, 429})
NO_RETRY: dict[str, Any] = {"max_retries": 0}

log = logging.getLogger(__name__)
T = TypeVar("T")

square_type_hints.install()  # the SDK's serializer re-resolves type hints per request otherwise


def derive_key(*parts: str, max_len: int = 192) -> str:
    """A deterministic idempotency key: the parts themselves when short enough, else a digest."""
    plain = ":".join(parts)
    if len(plain) <= max_len:
        return plain
    return hashlib.sha256(plain.encode()).hexdigest()[:max_len]


def _retry_after(headers: dict[str, str] | None) -> float | None:
    if not headers:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)  # type: ignore[no-any-return]


def _amount(money: Any) -> tuple[int, str]:
    return int(getattr(money, "amount", 0) or 0), str(getattr(money, "currency", "") or "")


def payment_record(payment: Any) -> SquarePayment:
    amount, currency = _amount(payment.total_money or payment.amount_money)
    refunded, _ = _amount(payment.refunded_money)
    return SquarePayment(
        payment_id=str(payment.id),
        order_id=payment.order_id,
        status=str(payment.status or ""),
        source_type=str(payment.source_type or ""),
        amount_minor=amount,
        currency=currency,
        refunded_minor=refunded,
        refund_ids=tuple(payment.refund_ids or ()),
        version_token=payment.version_token,
    )


def refund_record(refund: Any) -> SquareRefund:
    amount, currency = _amount(refund.amount_money)
    return SquareRefund(
        refund_id=str(refund.id),
        payment_id=refund.payment_id,
        order_id=refund.order_id,
        status=str(refund.status or ""),
        amount_minor=amount,
        currency=currency,
        reason=refund.reason,
        created_at=refund.created_at,
        updated_at=refund.updated_at,
        destination_type=refund.destination_type,
    )


def _no_object(method: str, what: str) -> SquareApiError:
    return SquareApiError(
        status=None,
        code="NO_OBJECT",
        category="API_ERROR",
        detail=f"{method} returned no {what}",
        method=method,
    )


class SquareGateway:
    def __init__(
        self,
        settings: SquareSettings,
        token: str | None = None,
        *,
        max_backoff_seconds: float = 30.0,
        backoff_base_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        httpx_client: httpx.Client | None = None,
    ) -> None:
        token_env = settings.access_token_env
        token = token if token is not None else os.environ.get(token_env)
        if not token or not token.strip():
            raise SquareCredentialsError(
                f"{token_env} is not set: export the Square access token for the seller account "
                "(a sandbox token, or any value against the local emulator) before using the Square side."
            )
        self.settings = settings
        self._token = token.strip()
        self._max_backoff = max_backoff_seconds
        self._backoff_base = backoff_base_seconds
        self._sleep = sleep
        self.base_url: str = settings.endpoint or SquareEnvironment.PRODUCTION.value
        self._client = Square(
            token=self._token,
            base_url=self.base_url,
            timeout=settings.timeout_seconds,
            httpx_client=httpx_client,
        )
        self._lock = threading.Lock()
        self._calls = 0
        self._calls_by_method: Counter[str] = Counter()
        self._location_id: str | None = settings.location_id or None
        # This account's budget: its rate, and a 429 pausing all of its workers (not other accounts).
        self.budget = RequestBudget(settings.requests_per_second, sleep=sleep)

    def __repr__(self) -> str:  # never show the token
        return f"SquareGateway(endpoint={self.settings.endpoint!r})"

    @property
    def calls(self) -> int:
        with self._lock:
            return self._calls

    def calls_by_method(self) -> dict[str, int]:
        """HTTP requests per API method (``orders.create``, ``locations.list``, …), retries included."""
        with self._lock:
            return dict(self._calls_by_method)

    # ---- plumbing ------------------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[redacted]") if self._token else text

    def _to_error(self, exc: Exception, method: str) -> SquareApiError:
        if isinstance(exc, ApiError):
            status = exc.status_code
            first = (exc.errors or [None])[0] if getattr(exc, "errors", None) else None
            code = getattr(first, "code", None) or "UNKNOWN"
            category = getattr(first, "category", None) or "API_ERROR"
            detail = getattr(first, "detail", None) or (str(exc.body)[:300] if exc.body else "no detail")
            field = getattr(first, "field", None)
            retryable = status is not None and (status in RETRYABLE_STATUSES or status >= 500)
            return SquareApiError(
                status=status,
                code=str(code),
                category=str(category),
                detail=self._scrub(str(detail)),
                field=field,
                retryable=retryable,
                retry_after=_retry_after(exc.headers) if status == 429 else None,
                method=method,
            )
        code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "TRANSPORT_ERROR"
        return SquareApiError(
            status=None,
            code=code,
            category="API_ERROR",
            detail=self._scrub(f"{type(exc).__name__}: {exc}"),
            retryable=True,
            method=method,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, SquareApiError) and exc.retry_after is not None and exc.retry_after > 0:
            wait = min(exc.retry_after, self._max_backoff)
        else:
            wait = float(wait_random_exponential(multiplier=self._backoff_base, max=self._max_backoff)(state))
        if isinstance(exc, SquareApiError) and exc.status == 429:
            self.budget.pause(wait)
        return wait

    def _call(self, method: str, fn: Callable[[], T]) -> T:
        def attempt() -> T:
            self.budget.take()
            with self._lock:
                self._calls += 1
                self._calls_by_method[method] += 1
            try:
                return fn()
            except (ApiError, httpx.TransportError) as exc:
                # from None: the SDK exception (headers, body) stays out of tracebacks and logs.
                raise self._to_error(exc, method) from None

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, SquareApiError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda s: log.warning(
                "square %s attempt %d failed (%s), retrying",
                method,
                s.attempt_number,
                s.outcome.exception() if s.outcome else "?",
            ),
        )
        return retrying(attempt)

    # ---- API -----------------------------------------------------------------------------------
    def location_id(self) -> str:
        """settings.location_id, else the first ACTIVE location of ListLocations (cached)."""
        if self._location_id:
            return self._location_id
        resp = self._call("locations.list", lambda: self._client.locations.list(request_options=NO_RETRY))
        for loc in resp.locations or []:
            if loc.status == "ACTIVE" and loc.id:
                self._location_id = loc.id
                return loc.id
        raise SquareApiError(
            status=None,
            code="NO_ACTIVE_LOCATION",
            category="INVALID_REQUEST_ERROR",
            detail="the Square account has no ACTIVE location; set square.location_id",
            method="locations.list",
        )

    def locations(self) -> list[dict[str, Any]]:
        """ListLocations: every location of the seller account (id, name, status, …)."""
        resp = self._call("locations.list", lambda: self._client.locations.list(request_options=NO_RETRY))
        return [_dump(loc) for loc in resp.locations or []]

    def create_order(self, order: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        body = {**order, "location_id": order.get("location_id") or self.location_id()}
        resp = self._call(
            "orders.create",
            lambda: self._client.orders.create(
                order=body, idempotency_key=idempotency_key, request_options=NO_RETRY
            ),
        )
        return _dump(resp.order)

    def retrieve_order(self, order_id: str) -> dict[str, Any]:
        resp = self._call("orders.get", lambda: self._client.orders.get(order_id, request_options=NO_RETRY))
        return _dump(resp.order)

    def retrieve_orders(self, order_ids: list[str]) -> list[dict[str, Any]]:
        """BatchRetrieveOrders in chunks of 100; unknown ids are simply absent from the result."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(order_ids), BATCH_RETRIEVE_CHUNK):
            chunk = order_ids[start : start + BATCH_RETRIEVE_CHUNK]
            resp = self._call(
                "orders.batch_get",
                lambda c=chunk: self._client.orders.batch_get(order_ids=c, request_options=NO_RETRY),
            )
            out.extend(_dump(o) for o in resp.orders or [])
        return out

    def update_order(
        self,
        order_id: str,
        order: dict[str, Any],
        *,
        fields_to_clear: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Sparse update; ``order`` must carry the current ``version``.

        Without a key one is derived from the request itself, so a retry after a lost response
        replays instead of failing with VERSION_MISMATCH.
        """
        body = {**order, "location_id": order.get("location_id") or self.location_id()}
        if idempotency_key is None:
            digest = hashlib.sha256(
                json.dumps([order_id, body, fields_to_clear or []], sort_keys=True, default=str).encode()
            ).hexdigest()
            idempotency_key = f"update:{digest}"
        kwargs: dict[str, Any] = {"order": body, "idempotency_key": idempotency_key}
        if fields_to_clear:
            kwargs["fields_to_clear"] = fields_to_clear
        resp = self._call(
            "orders.update", lambda: self._client.orders.update(order_id, request_options=NO_RETRY, **kwargs)
        )
        return _dump(resp.order)

    def cancel_order(self, order_id: str, *, max_conflicts: int = 3) -> dict[str, Any]:
        """Move an order to CANCELED (its open fulfilments follow); a canceled order is left as is.

        Reads the current version first; if the order changes in between (VERSION_MISMATCH) it
        reads again, at most ``max_conflicts`` times. A COMPLETED order cannot be canceled and
        raises SquareApiError (not retryable).
        """
        for attempt in range(max_conflicts + 1):
            order = self.retrieve_order(order_id)
            if order.get("state") == "CANCELED":
                return order
            try:
                return self.update_order(
                    order_id,
                    {"version": order["version"], "state": "CANCELED"},
                    idempotency_key=f"cancel:{order_id}:{order['version']}",
                )
            except SquareApiError as exc:
                if exc.code != "VERSION_MISMATCH" or attempt == max_conflicts:
                    raise
        raise AssertionError("unreachable")  # the loop either returns or raises

    def calculate_order(self, order: dict[str, Any]) -> dict[str, Any]:
        body = {**order, "location_id": order.get("location_id") or self.location_id()}
        resp = self._call(
            "orders.calculate", lambda: self._client.orders.calculate(order=body, request_options=NO_RETRY)
        )
        return _dump(resp.order)

    def pay_order_external(
        self, order: dict[str, Any], idempotency_key: str, source: str = "Google Shopping"
    ) -> dict[str, Any]:
        """Record money taken elsewhere: CreatePayment EXTERNAL for the amount due, then PayOrder.

        Square's multi-step flow: the payment is created with ``autocomplete: false`` (APPROVED)
        and PayOrder completes it and adds the tender. Both calls use keys derived from
        ``idempotency_key``, so a rerun after a crash at any point converges on one payment.
        Returns the paid order.
        """
        order_id = order["id"]
        total = order["total_money"]
        due = (order.get("net_amount_due_money") or {}).get("amount")
        if due is None:
            due = total["amount"] - sum(t["amount_money"]["amount"] for t in order.get("tenders") or [])
        if order.get("tenders") and due <= 0:
            return order  # already paid
        payment_ids: list[str] = []
        if due > 0:
            payment = self._call(
                "payments.create",
                lambda: self._client.payments.create(
                    source_id="EXTERNAL",
                    idempotency_key=derive_key(idempotency_key, "payment", max_len=PAYMENT_KEY_MAX),
                    amount_money={"amount": due, "currency": total["currency"]},
                    order_id=order_id,
                    location_id=order.get("location_id") or self.location_id(),
                    autocomplete=False,
                    external_details={"type": "EXTERNAL", "source": source},
                    request_options=NO_RETRY,
                ),
            ).payment
            if payment is None or not payment.id:
                raise SquareApiError(
                    status=None,
                    code="NO_PAYMENT",
                    category="API_ERROR",
                    detail="CreatePayment returned no payment",
                    method="payments.create",
                )
            payment_ids.append(payment.id)
        resp = self._call(
            "orders.pay",
            lambda: self._client.orders.pay(
                order_id,
                idempotency_key=derive_key(idempotency_key, "pay"),
                payment_ids=payment_ids,
                request_options=NO_RETRY,
            ),
        )
        return _dump(resp.order)

    def pay_order_with_external_payment(
        self, order: dict[str, Any], idempotency_key: str, source: str = "Google Shopping"
    ) -> SquarePayment | None:
        """Record money taken elsewhere in one round trip: CreatePayment EXTERNAL with the order's
        ``order_id``, ``autocomplete`` and exactly what the order still owes.

        Square's "Pay for Orders": "When applications want to pay for an order using a single
        payment, they can use the Payments API (CreatePayment endpoint) ... The payment amount must
        match the order total"; the completed payment is the order's tender, no PayOrder is needed.
        A 0 total is still settled with PayOrder and no payments (CreatePayment needs an amount
        above 0). If Square answers PAYMENT_AMOUNT_MISMATCH because an APPROVED payment of the
        two-call flow (``pay_order_external``, an earlier release) already holds the amount, that
        flow is finished with its own keys instead, so a rerun converges on one payment. Returns the
        payment (None when nothing was owed).
        """
        due = (order.get("net_amount_due_money") or {}).get("amount")
        if due is None:
            due = order["total_money"]["amount"] - sum(
                t["amount_money"]["amount"] for t in order.get("tenders") or []
            )
        if due <= 0:
            if not order.get("tenders"):
                self.pay_order_external(order, idempotency_key, source)  # a 0 total: PayOrder, no payment
            return None
        try:
            resp = self._call(
                "payments.create",
                lambda: self._client.payments.create(
                    source_id="EXTERNAL",
                    idempotency_key=derive_key(idempotency_key, "paid", max_len=PAYMENT_KEY_MAX),
                    amount_money={"amount": due, "currency": order["total_money"]["currency"]},
                    order_id=order["id"],
                    location_id=order.get("location_id") or self.location_id(),
                    autocomplete=True,
                    external_details={"type": "EXTERNAL", "source": source},
                    request_options=NO_RETRY,
                ),
            )
        except SquareApiError as exc:
            if exc.code != "PAYMENT_AMOUNT_MISMATCH":
                raise
            paid = self.pay_order_external(order, idempotency_key, source)
            tenders = paid.get("tenders") or []
            return self.get_payment(tenders[0]["payment_id"]) if tenders else None
        if resp.payment is None:
            raise _no_object("payments.create", "payment")
        return payment_record(resp.payment)

    def get_payment(self, payment_id: str) -> SquarePayment:
        resp = self._call(
            "payments.get", lambda: self._client.payments.get(payment_id, request_options=NO_RETRY)
        )
        if resp.payment is None:
            raise _no_object("payments.get", "payment")
        return payment_record(resp.payment)

    def external_payment(self, square_order: dict[str, Any]) -> SquarePayment | None:
        """The order's EXTERNAL payment (how ordersync recorded Google's money), read fresh for
        its ``refunded_money`` and refundable remainder; None when no tender is one. Tenders say
        only OTHER for it (our emulator; not verified against Square), so OTHER tenders are read
        first and each payment's own ``source_type`` decides."""
        tenders = {t.get("payment_id"): t.get("type") for t in square_order.get("tenders") or []}
        for payment_id in sorted(tender_payment_ids(square_order), key=lambda p: tenders.get(p) != "OTHER"):
            payment = self.get_payment(payment_id)
            if payment.source_type == "EXTERNAL":
                return payment
        return None

    # ---- refunds (RefundPayment, GetPaymentRefund, ListPaymentRefunds) -----------------------------
    def refund_payment(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        reason: str | None = None,
        payment_version_token: str | None = None,
    ) -> SquareRefund:
        """RefundPayment (linked): refund ``amount_minor`` of the payment. The key (at most 45
        characters; a longer one is digested) makes a retry or a rerun replay the same refund.
        For an EXTERNAL payment Square moves no money: the refund is bookkeeping."""
        kwargs: dict[str, Any] = {
            "idempotency_key": derive_key(idempotency_key, max_len=REFUND_KEY_MAX),
            "amount_money": {"amount": amount_minor, "currency": currency},
            "payment_id": payment_id,
        }
        if reason:
            kwargs["reason"] = reason[:192]
        if payment_version_token:
            kwargs["payment_version_token"] = payment_version_token
        resp = self._call(
            "refunds.refund_payment",
            lambda: self._client.refunds.refund_payment(request_options=NO_RETRY, **kwargs),
        )
        if resp.refund is None:
            raise _no_object("refunds.refund_payment", "refund")
        return refund_record(resp.refund)

    def record_refund(self, plan: SquareRefundPlan) -> SquareRefund:
        """RefundPayment for a planned bookkeeping refund (its key and reason as planned)."""
        return self.refund_payment(
            plan.payment_id, plan.amount_minor, plan.currency, plan.idempotency_key, reason=plan.reason
        )

    def get_payment_refund(self, refund_id: str) -> SquareRefund:
        resp = self._call(
            "refunds.get", lambda: self._client.refunds.get(refund_id, request_options=NO_RETRY)
        )
        if resp.refund is None:
            raise _no_object("refunds.get", "refund")
        return refund_record(resp.refund)

    def iter_payment_refunds(
        self,
        *,
        begin_time: str | None = None,
        end_time: str | None = None,
        updated_at_begin_time: str | None = None,
        location_id: str | None = None,
        status: str | None = None,
        source_type: str | None = None,
        sort_field: str = "CREATED_AT",
        sort_order: str = "ASC",
        limit: int = REFUNDS_PAGE_MAX,
    ) -> Iterator[SquareRefund]:
        """ListPaymentRefunds across pages, oldest first by default. ``begin_time`` (on created_at)
        or ``updated_at_begin_time`` is the caller's time cursor (Square's default window is the
        last year). Each page is fetched (and retried) on its own. Square notes the list is
        eventually consistent: a refund may show a few seconds after it was made."""
        params: dict[str, Any] = {
            "begin_time": begin_time,
            "end_time": end_time,
            "updated_at_begin_time": updated_at_begin_time,
            "location_id": location_id,
            "status": status,
            "source_type": source_type,
            "sort_field": sort_field,
            "sort_order": sort_order,
            "limit": min(limit, REFUNDS_PAGE_MAX),
        }
        params = {k: v for k, v in params.items() if v is not None}
        cursor: str | None = None
        while True:
            page = self._call(
                "refunds.list",
                lambda c=cursor: self._client.refunds.list(cursor=c, request_options=NO_RETRY, **params),
            )
            for refund in page.items or []:
                yield refund_record(refund)
            cursor = getattr(page.response, "cursor", None) if page.response is not None else None
            if not cursor:
                return

    # ---- catalog -----------------------------------------------------------------------------------
    def find_variations_by_sku(self, skus: Iterable[str]) -> dict[str, list[CatalogVariationRef]]:
        """SearchCatalogObjects on ITEM_VARIATION ``sku``: an exact, case-insensitive set query of
        up to 250 SKUs per request, every page. Returns each asked SKU's matches (none: no key)."""
        wanted = sorted({s for s in skus if s})
        by_folded: dict[str, list[str]] = {}
        for sku in wanted:
            by_folded.setdefault(sku.casefold(), []).append(sku)
        found: dict[str, list[CatalogVariationRef]] = {}
        for start in range(0, len(wanted), SKU_QUERY_CHUNK):
            chunk = wanted[start : start + SKU_QUERY_CHUNK]
            query = {"set_query": {"attribute_name": "sku", "attribute_values": chunk}}
            cursor: str | None = None
            while True:
                kwargs: dict[str, Any] = {"object_types": ["ITEM_VARIATION"], "query": query, "limit": 1000}
                if cursor:
                    kwargs["cursor"] = cursor
                resp = self._call(
                    "catalog.search",
                    lambda kw=kwargs: self._client.catalog.search(request_options=NO_RETRY, **kw),
                )
                for obj in resp.objects or []:
                    data = getattr(obj, "item_variation_data", None)
                    sku = getattr(data, "sku", None) if data is not None else None
                    if not sku or getattr(obj, "is_deleted", False):
                        continue
                    ref = CatalogVariationRef(
                        variation_id=str(obj.id),
                        sku=str(sku),
                        item_id=getattr(data, "item_id", None),
                        name=getattr(data, "name", None),
                        version=getattr(obj, "version", None),
                    )
                    for asked in by_folded.get(str(sku).casefold(), []):
                        found.setdefault(asked, []).append(ref)
                cursor = resp.cursor
                if not cursor:
                    break
        return found

    def iter_orders_updated_since(
        self,
        since_rfc3339: str | None,
        *,
        location_ids: list[str] | None = None,
        limit: int = 500,
        states: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Orders updated at or after ``since`` (all when None), oldest change first, across pages.

        The date filter on updated_at requires sort_field UPDATED_AT (Square's rule). Each page is
        fetched (and retried) on its own; the cursor keeps the walk stable while orders change.
        """
        query: dict[str, Any] = {"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}
        flt: dict[str, Any] = {}
        if since_rfc3339:
            flt["date_time_filter"] = {"updated_at": {"start_at": since_rfc3339}}
        if states:
            flt["state_filter"] = {"states": states}
        if flt:
            query["filter"] = flt
        kwargs: dict[str, Any] = {
            "location_ids": location_ids or [self.location_id()],
            "query": query,
            "limit": limit,
        }
        while True:
            resp = self._call(
                "orders.search",
                lambda kw=dict(kwargs): self._client.orders.search(request_options=NO_RETRY, **kw),
            )
            for order in resp.orders or []:
                yield _dump(order)
            if not resp.cursor:
                return
            kwargs["cursor"] = resp.cursor
