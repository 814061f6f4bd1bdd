"""HTTP face of the Square emulator: werkzeug routing, bearer auth, JSON in and out, Square's errors.

Every response is JSON (the SDK raises on a 2xx that is not) and every error has Square's shape
``{"errors": [{"category", "code", "detail", "field"}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sync.sandbox.square.models import SquareBackend, SquareError
from sync.sandbox.stats import Stats

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_URLS = Map(
    [
        Rule("/v2/locations", methods=["GET"], endpoint="locations.list"),
        Rule("/v2/orders", methods=["POST"], endpoint="orders.create"),
        Rule("/v2/orders/batch-retrieve", methods=["POST"], endpoint="orders.batch_get"),
        Rule("/v2/orders/search", methods=["POST"], endpoint="orders.search"),
        Rule("/v2/orders/calculate", methods=["POST"], endpoint="orders.calculate"),
        Rule("/v2/orders/clone", methods=["POST"], endpoint="orders.clone"),
        Rule("/v2/orders/<order_id>", methods=["GET"], endpoint="orders.get"),
        Rule("/v2/orders/<order_id>", methods=["PUT"], endpoint="orders.update"),
        Rule("/v2/orders/<order_id>/pay", methods=["POST"], endpoint="orders.pay"),
        Rule("/v2/payments", methods=["POST"], endpoint="payments.create"),
        Rule("/v2/payments/<payment_id>", methods=["GET"], endpoint="payments.get"),
    ],
    strict_slashes=False,
)


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


def error_response(status: int, category: str, code: str, detail: str, field: str | None = None) -> Response:
    error: dict[str, Any] = {"category": category, "code": code, "detail": detail}
    if field:
        error["field"] = field
    return _json(status, {"errors": [error]})


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


def make_app(backend: SquareBackend, stats: Stats, tokens: set[str] | None) -> WSGIApp:
    handlers: dict[str, Callable[[Request, dict[str, str]], dict[str, Any]]] = {
        "locations.list": lambda r, a: backend.list_locations(),
        "orders.create": lambda r, a: backend.create_order(_body(r)),
        "orders.batch_get": lambda r, a: backend.batch_get_orders(_body(r)),
        "orders.search": lambda r, a: backend.search_orders(_body(r)),
        "orders.calculate": lambda r, a: backend.calculate_order(_body(r)),
        "orders.clone": lambda r, a: backend.clone_order(_body(r)),
        "orders.get": lambda r, a: backend.get_order(a["order_id"]),
        "orders.update": lambda r, a: backend.update_order(a["order_id"], _body(r)),
        "orders.pay": lambda r, a: backend.pay_order(a["order_id"], _body(r)),
        "payments.create": lambda r, a: backend.create_payment(_body(r)),
        "payments.get": lambda r, a: backend.get_payment(a["payment_id"]),
    }

    def dispatch(request: Request) -> Response:
        adapter = _URLS.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except MethodNotAllowed:
            return error_response(
                405,
                "INVALID_REQUEST_ERROR",
                "METHOD_NOT_ALLOWED",
                f"{request.method} is not allowed on {request.path}.",
            )
        except NotFound:
            return error_response(
                404,
                "INVALID_REQUEST_ERROR",
                "NOT_FOUND",
                f"API endpoint for URL path `{request.path}` and HTTP method "
                f"`{request.method}` is not found.",
            )
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
