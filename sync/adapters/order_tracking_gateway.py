"""Merchant API order tracking signals through Google's own client (REST transport).

``create_signal(signal)`` sends one ``CreateOrderTrackingSignalRequest`` and answers with a plain
outcome: ``created`` (with Google's signal id), ``already_exists`` (a 409 ALREADY_EXISTS: an
earlier attempt of ours was applied although its answer was lost — counts as sent), ``retry``
(429/5xx after ``max_attempts``, or no answer at all) or ``rejected`` (any other 4xx, with Google's
status and message).

The API is create-only and takes no request id, so only answers that say the request was not
applied (429/5xx) are retried inside a call; a request that got no answer is *not* resent here
(the outbox decides, next cycle). Credentials: the service account of the rest of ordersync
(``GOOGLE_APPLICATION_CREDENTIALS`` or ADC, scope ``content``), exchanged at its ``token_uri``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import google.api_core.exceptions as core_exceptions
import google.auth.exceptions
import requests
from google.protobuf import duration_pb2
from google.shopping.merchant_ordertracking_v1 import (
    CreateOrderTrackingSignalRequest,
    OrderTrackingSignal,
    OrderTrackingSignalsServiceClient,
)
from google.shopping.merchant_ordertracking_v1.services.order_tracking_signals_service import transports
from google.shopping.type import Price
from google.type import datetime_pb2
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_random_exponential

from sync.adapters.google_credentials import describe_refresh_error, resolve_credentials
from sync.adapters.order_tracking_outcomes import SignalOutcome, SignalResult
from sync.config import OrderTrackingSettings
from sync.domain.order_tracking import ShippingState, TrackingSignal

DEFAULT_HOST = "merchantapi.googleapis.com"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_DETAIL_MAX = 300

log = logging.getLogger(__name__)


def _datetime(moment: datetime) -> datetime_pb2.DateTime:
    moment = moment.astimezone(UTC)
    return datetime_pb2.DateTime(
        year=moment.year,
        month=moment.month,
        day=moment.day,
        hours=moment.hour,
        minutes=moment.minute,
        seconds=moment.second,
        utc_offset=duration_pb2.Duration(seconds=0),
    )


def to_proto(signal: TrackingSignal) -> OrderTrackingSignal:
    """The library's message for a domain signal (field names as the API reference has them)."""
    shipping_info = []
    for s in signal.shipments:
        info = OrderTrackingSignal.ShippingInfo(
            shipment_id=s.shipment_id,
            tracking_id=s.tracking_id,
            carrier=s.carrier,
            shipped_time=_datetime(s.shipped_at),
            shipping_status=OrderTrackingSignal.ShippingInfo.ShippingState[str(s.status)],
            origin_postal_code=s.origin_postal_code,
            origin_region_code=s.origin_region_code,
        )
        if s.status is ShippingState.DELIVERED and s.delivered_at is not None:
            info.actual_delivery_time = _datetime(s.delivered_at)
        shipping_info.append(info)
    lines = []
    for li in signal.lines:
        line = OrderTrackingSignal.LineItemDetails(
            line_item_id=li.line_item_id, product_id=li.product_id, quantity=li.quantity, gtins=list(li.gtins)
        )
        if li.mpn:
            line.mpn = li.mpn
        if li.title:
            line.product_title = li.title
        if li.brand:
            line.brand = li.brand
        lines.append(line)
    message = OrderTrackingSignal(
        order_id=signal.order_id,
        order_created_time=_datetime(signal.order_created_at),
        shipping_info=shipping_info,
        line_items=lines,
        shipment_line_item_mapping=[
            OrderTrackingSignal.ShipmentLineItemMapping(
                shipment_id=m.shipment_id, line_item_id=m.line_item_id, quantity=m.quantity
            )
            for m in signal.shipment_lines
        ],
    )
    if signal.delivery_postal_code:
        message.delivery_postal_code = signal.delivery_postal_code
    if signal.delivery_region_code:
        message.delivery_region_code = signal.delivery_region_code
    if signal.shipping_fee_micros is not None and signal.currency:
        message.customer_shipping_fee = Price(
            amount_micros=signal.shipping_fee_micros, currency_code=signal.currency
        )
    return message


def _error_status(exc: core_exceptions.GoogleAPICallError) -> str:
    response: Any = getattr(exc, "response", None)
    try:
        status = (response.json().get("error") or {}).get("status") if response is not None else None
    except ValueError:
        status = None
    return str(status or getattr(exc, "grpc_status_code", None) or type(exc).__name__)


class OrderTrackingGateway:
    def __init__(
        self,
        settings: OrderTrackingSettings,
        credentials: Any = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_seconds: float = 0.5,
    ) -> None:
        self.settings = settings
        self.parent = f"accounts/{settings.account_id}"
        self._sleep = sleep
        self._backoff_base = backoff_base_seconds
        creds = resolve_credentials(credentials)
        endpoint = settings.endpoint.rstrip("/") or DEFAULT_HOST
        # Built by hand for always_use_jwt_access=False: the service account's token_uri (Google's
        # or the emulator's /token) issues the access token, as for the Content API.
        transport = transports.OrderTrackingSignalsServiceRestTransport(
            host=endpoint, credentials=creds, always_use_jwt_access=False
        )
        self._client = OrderTrackingSignalsServiceClient(transport=transport)
        self._credentials = creds
        self.calls = 0

    def __repr__(self) -> str:
        endpoint = self.settings.endpoint or DEFAULT_HOST
        return f"OrderTrackingGateway(parent={self.parent!r}, endpoint={endpoint!r})"

    def close(self) -> None:
        self._client.transport.close()

    def __enter__(self) -> OrderTrackingGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _attempt(self, request: CreateOrderTrackingSignalRequest) -> SignalOutcome:
        self.calls += 1
        try:
            created = self._client.create_order_tracking_signal(
                request=request, retry=None, timeout=self.settings.timeout_seconds
            )
        except core_exceptions.GoogleAPICallError as exc:
            status = int(exc.code) if exc.code is not None else None
            reason = _error_status(exc)
            detail = str(exc.message or "")[:_DETAIL_MAX]
            if status == 409 and reason == "ALREADY_EXISTS":
                return SignalOutcome(SignalResult.ALREADY_EXISTS, status, reason, detail)
            retry = status is None or status in RETRYABLE_STATUSES
            return SignalOutcome(
                SignalResult.RETRY if retry else SignalResult.REJECTED, status, reason, detail
            )
        except google.auth.exceptions.RefreshError as exc:
            detail = describe_refresh_error(exc, self._credentials)
            return SignalOutcome(SignalResult.REJECTED, None, "credentials", detail)
        except (requests.exceptions.RequestException, google.auth.exceptions.TransportError) as exc:
            # No answer: maybe applied, maybe not. Not resent here (create-only, no request id).
            return SignalOutcome(SignalResult.RETRY, None, "transport_error", type(exc).__name__)
        return SignalOutcome(SignalResult.CREATED, 200, signal_id=str(created.order_tracking_signal_id or ""))

    def create_signal(self, signal: TrackingSignal) -> SignalOutcome:
        """Create the order's one signal; 429/5xx answers are retried up to ``max_attempts``."""
        request = CreateOrderTrackingSignalRequest(parent=self.parent, order_tracking_signal=to_proto(signal))
        attempts = 0

        def attempt() -> SignalOutcome:
            nonlocal attempts
            attempts += 1
            return self._attempt(request)

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait_random_exponential(
                multiplier=self._backoff_base, max=self.settings.max_backoff_seconds
            ),
            # Only an HTTP answer saying "not done" (429/5xx) is retried; "no answer" is not.
            retry=retry_if_result(lambda o: o.result is SignalResult.RETRY and o.status is not None),
            sleep=self._sleep,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            before_sleep=lambda s: log.warning(
                "order tracking signal %s attempt %d: %s, retrying",
                signal.order_id,
                s.attempt_number,
                s.outcome.result().status if s.outcome else "?",
            ),
        )
        outcome: SignalOutcome = retrying(attempt)
        return SignalOutcome(
            outcome.result, outcome.status, outcome.reason, outcome.detail, outcome.signal_id, attempts
        )
