"""HTTP face of the Merchant API ordertracking emulator, and ``/_sandbox/ordertracking/…``.

  POST /ordertracking/v1/accounts/{account}/orderTrackingSignals   (the client library's path;
       /ordertrackingsignals is accepted too)
  GET  /_sandbox/ordertracking/signals[?account=…&order_id=…]      every stored signal, unhashed

Bearer tokens as the Content API emulator checks them (issued by this sandbox's ``/token``).
Errors in Google's JSON shape ``{"error": {"code", "message", "status", "details"}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from sync.sandbox.google.auth import KeyRegistry, bearer_token, token_accepted
from sync.sandbox.ordertracking.models import OrderTrackingBackend, TrackingError
from sync.sandbox.stats import Stats

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CREATE = re.compile(r"^/ordertracking/v1/accounts/([^/]+)/(orderTrackingSignals|ordertrackingsignals)$")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


def error_response(status: int, rpc_status: str, message: str, field: str = "") -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if field:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ]
    return _json({"error": error}, status)


def make_app(
    backend: OrderTrackingBackend,
    stats: Stats,
    tokens: set[str] | None,
    keys: KeyRegistry,
    *,
    any_token: bool = False,
) -> WSGIApp:
    def dispatch(request: Request) -> Response:
        match = _CREATE.match(request.path)
        if match is None:
            return error_response(404, "NOT_FOUND", f"The requested URL {request.path} was not found.")
        stats.request("merchantapi.ordertracking.orderTrackingSignals.create")
        if request.method != "POST":
            # Google's front end answers a method it does not route as an unknown URL.
            return error_response(404, "NOT_FOUND", f"The requested URL {request.path} was not found.")
        token = bearer_token(request)
        if not token_accepted(token, tokens, keys, any_token=any_token):
            return error_response(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token."
                if not token
                else "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return error_response(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return error_response(
                400, "INVALID_ARGUMENT", "The request body must be an OrderTrackingSignal object."
            )
        try:
            return _json(backend.create(match.group(1), body))
        except TrackingError as exc:
            return error_response(exc.status, exc.rpc_status, exc.message, exc.field)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return dispatch(Request(environ))(environ, start_response)

    return app


def introspection(backend: OrderTrackingBackend, request: Request, action: str) -> Response:
    if request.method == "GET" and action == "signals":
        return _json(
            {
                "signals": backend.signals(
                    request.args.get("account") or None, request.args.get("order_id") or None
                )
            }
        )
    return _json(
        {"error": f"unknown introspection route {request.method} /_sandbox/ordertracking/{action}"}, 404
    )
