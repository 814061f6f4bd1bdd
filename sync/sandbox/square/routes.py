"""HTTP face of the Square emulator: werkzeug routing, bearer auth, JSON in and out, Square's errors.

Every response is JSON (the SDK raises on a 2xx that is not) and every error has Square's shape
``{"errors": [{"category", "code", "detail", "field"}]}``. A path or method the emulator does not
serve answers 404 NOT_FOUND (Square has no 405). Stats name each call ``square.<api>.<method>``
after the SDK's method (``square.orders.create``, ``square.catalog.search``, …).

``make_sandbox_app`` serves the sandbox-only controls under ``/_sandbox/square/`` (not Square's
API; never faulted, no token needed):

  POST /_sandbox/square/orders/{order_id}/pos-refund        {line_uid, quantity, reason?}
  POST /_sandbox/square/orders/{order_id}/dashboard-refund  {amount_money | amount, shipping?, reason?}
  POST /_sandbox/square/orders/{order_id}/bump-version      {}
  POST /_sandbox/square/refunds/{refund_id}/settle          {status: COMPLETED|REJECTED|FAILED}
  GET|POST /_sandbox/square/settings                        {setting: value, …} (settings.py)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sync.sandbox.square.errors import SquareError, error_body
from sync.sandbox.square.models import SquareBackend
from sync.sandbox.square.refunds import amount_minor
from sync.sandbox.square.validate import require_str
from sync.sandbox.stats import Stats

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Handler = Callable[[Request, dict[str, str]], dict[str, Any]]


def _rule(path: str, method: str, endpoint: str) -> Rule:
    return Rule(path, methods=[method], endpoint=endpoint)


_URLS = Map(
    [
        _rule("/v2/locations", "GET", "locations.list"),
        _rule("/v2/locations/<location_id>", "GET", "locations.get"),
        _rule("/v2/orders", "POST", "orders.create"),
        _rule("/v2/orders/batch-retrieve", "POST", "orders.batch_get"),
        _rule("/v2/orders/search", "POST", "orders.search"),
        _rule("/v2/orders/calculate", "POST", "orders.calculate"),
        _rule("/v2/orders/clone", "POST", "orders.clone"),
        _rule("/v2/orders/<order_id>", "GET", "orders.get"),
        _rule("/v2/orders/<order_id>", "PUT", "orders.update"),
        _rule("/v2/orders/<order_id>/pay", "POST", "orders.pay"),
        _rule("/v2/payments", "POST", "payments.create"),
        _rule("/v2/payments", "GET", "payments.list"),
        _rule("/v2/payments/cancel", "POST", "payments.cancel_by_idempotency_key"),
        _rule("/v2/payments/<payment_id>", "GET", "payments.get"),
        _rule("/v2/payments/<payment_id>", "PUT", "payments.update"),
        _rule("/v2/payments/<payment_id>/cancel", "POST", "payments.cancel"),
        _rule("/v2/payments/<payment_id>/complete", "POST", "payments.complete"),
        _rule("/v2/refunds", "POST", "refunds.refund_payment"),
        _rule("/v2/refunds", "GET", "refunds.list"),
        _rule("/v2/refunds/<refund_id>", "GET", "refunds.get"),
        _rule("/v2/catalog/batch-upsert", "POST", "catalog.batch_upsert"),
        _rule("/v2/catalog/batch-retrieve", "POST", "catalog.batch_get"),
        _rule("/v2/catalog/search", "POST", "catalog.search"),
        _rule("/v2/catalog/object", "POST", "catalog.upsert"),
        _rule("/v2/catalog/object/<object_id>", "GET", "catalog.get"),
    ],
    strict_slashes=False,
)


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def error_response(status: int, category: str, code: str, detail: str, field: str | None = None) -> Response:
    return _json(status, error_body(category, code, detail, field))


def _authorized(request: Request, tokens: set[str] | None) -> bool:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return not tokens or token.strip() in tokens


def _body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SquareError(400, "BAD_REQUEST", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SquareError(400, "BAD_REQUEST", "The request body must be a JSON object.")
    return body


def _query(request: Request) -> dict[str, Any]:
    return {key: request.args.get(key) for key in request.args}


def _flag(request: Request, name: str) -> bool:
    return (request.args.get(name) or "").lower() == "true"


def _not_served(request: Request) -> Response:
    return error_response(
        404,
        "INVALID_REQUEST_ERROR",
        "NOT_FOUND",
        f"API endpoint for URL path `{request.path}` and HTTP method `{request.method}` is not found.",
    )


def _handlers(backend: SquareBackend) -> dict[str, Handler]:
    orders, payments, refunds, catalog = backend.orders, backend.payments, backend.refunds, backend.catalog
    return {
        "locations.list": lambda r, a: backend.locations.list(),
        "locations.get": lambda r, a: backend.locations.get(a["location_id"]),
        "orders.create": lambda r, a: orders.create(_body(r)),
        "orders.batch_get": lambda r, a: orders.batch_get(_body(r)),
        "orders.search": lambda r, a: orders.search(_body(r)),
        "orders.calculate": lambda r, a: orders.calculate(_body(r)),
        "orders.clone": lambda r, a: orders.clone(_body(r)),
        "orders.get": lambda r, a: orders.get(a["order_id"]),
        "orders.update": lambda r, a: orders.update(a["order_id"], _body(r)),
        "orders.pay": lambda r, a: payments.pay_order(a["order_id"], _body(r)),
        "payments.create": lambda r, a: payments.create(_body(r)),
        "payments.list": lambda r, a: payments.list(_query(r)),
        "payments.cancel_by_idempotency_key": lambda r, a: payments.cancel_by_idempotency_key(_body(r)),
        "payments.get": lambda r, a: payments.get(a["payment_id"]),
        "payments.update": lambda r, a: payments.update(a["payment_id"], _body(r)),
        "payments.cancel": lambda r, a: payments.cancel(a["payment_id"]),
        "payments.complete": lambda r, a: payments.complete(a["payment_id"], _body(r)),
        "refunds.refund_payment": lambda r, a: refunds.refund_payment(_body(r)),
        "refunds.list": lambda r, a: refunds.list(_query(r)),
        "refunds.get": lambda r, a: refunds.get(a["refund_id"]),
        "catalog.batch_upsert": lambda r, a: catalog.batch_upsert(_body(r)),
        "catalog.batch_get": lambda r, a: catalog.batch_get(_body(r)),
        "catalog.search": lambda r, a: catalog.search(_body(r)),
        "catalog.upsert": lambda r, a: catalog.upsert(_body(r)),
        "catalog.get": lambda r, a: catalog.get(a["object_id"], _flag(r, "include_related_objects")),
    }


def make_app(backend: SquareBackend, stats: Stats, tokens: set[str] | None) -> WSGIApp:
    handlers = _handlers(backend)

    def dispatch(request: Request) -> Response:
        adapter = _URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except (MethodNotAllowed, NotFound):
            return _not_served(request)
        stats.request(f"square.{endpoint}")
        if not _authorized(request, tokens):
            return error_response(
                401, "AUTHENTICATION_ERROR", "UNAUTHORIZED", "This request could not be authorized."
            )
        try:
            return _json(200, handlers[str(endpoint)](request, args))
        except SquareError as exc:
            return error_response(exc.status, exc.category, exc.code, exc.detail, exc.field)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return dispatch(Request(environ))(environ, start_response)

    return app


# ---- /_sandbox/square/… ----------------------------------------------------------------------------
_SANDBOX_URLS = Map(
    [
        _rule("/_sandbox/square/orders/<order_id>/pos-refund", "POST", "pos_refund"),
        _rule("/_sandbox/square/orders/<order_id>/dashboard-refund", "POST", "dashboard_refund"),
        _rule("/_sandbox/square/orders/<order_id>/bump-version", "POST", "bump_version"),
        _rule("/_sandbox/square/refunds/<refund_id>/settle", "POST", "settle"),
        _rule("/_sandbox/square/settings", "GET", "settings"),
        _rule("/_sandbox/square/settings", "POST", "configure"),
    ],
    strict_slashes=False,
)


def _pos_refund(backend: SquareBackend, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
    quantity = body.get("quantity")
    if isinstance(quantity, int) and not isinstance(quantity, bool):
        quantity = str(quantity)
    return backend.refunds.pos_itemized_refund(
        order_id,
        require_str(body, "line_uid", "line_uid"),
        require_str({"quantity": quantity}, "quantity", "quantity"),
        body.get("reason"),
    )


def _dashboard_refund(backend: SquareBackend, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
    currency = backend.orders.get(order_id)["order"]["total_money"]["currency"]
    raw = body.get("amount_money", body.get("amount"))
    return backend.refunds.dashboard_refund(
        order_id,
        amount_minor(raw, "amount_money", currency),
        shipping=bool(body.get("shipping")),
        reason=body.get("reason"),
    )


def make_sandbox_app(backend: SquareBackend) -> WSGIApp:
    def handle(endpoint: str, args: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if endpoint == "pos_refund":
            return _pos_refund(backend, args["order_id"], body)
        if endpoint == "dashboard_refund":
            return _dashboard_refund(backend, args["order_id"], body)
        if endpoint == "bump_version":
            return {"order": backend.orders.bump_version(args["order_id"])}
        if endpoint == "settle":
            return backend.refunds.settle(args["refund_id"], str(body.get("status") or ""))
        if endpoint == "configure":
            try:
                return backend.settings.configure(body)
            except (TypeError, ValueError) as exc:
                raise SquareError(400, "INVALID_VALUE", str(exc)) from None
        return backend.settings.as_dict()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = _SANDBOX_URLS.bind_to_environ(environ).match()
        except (MethodNotAllowed, NotFound):
            return _not_served(request)(environ, start_response)
        try:
            response = _json(200, handle(str(endpoint), args, _body(request)))
        except SquareError as exc:
            response = error_response(exc.status, exc.category, exc.code, exc.detail, exc.field)
        return response(environ, start_response)

    return app
