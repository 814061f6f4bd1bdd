"""HTTP face of the UCP order-webhook receiver and its ``/_sandbox/ucp/…`` introspection.

POST /ucp/v1/webhooks/partners/{partner}/events/order     the webhook (Google's path under /ucp)
POST /_sandbox/ucp/partners   {partner_id, api_key, profile_url}
POST /_sandbox/ucp/profiles   {profile_url, profile: {…, signing_keys: [JWK…]}} or {profile_url, signing_keys}
GET  /_sandbox/ucp/events[?order_id=…]   every accepted push (Webhook-Id, timestamp, digest), in order
GET  /_sandbox/ucp/orders/{order_id}     its Webhook-Ids and the latest body Google holds
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from sync.sandbox.stats import Stats
from sync.sandbox.ucp.models import Push, UcpError, UcpReceiver

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
WEBHOOK_PREFIX = "/ucp/v1/webhooks/partners/"
WEBHOOK_SUFFIX = "/events/order"
RPC_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "INVALID_ARGUMENT"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, content_type="application/json")


def error_response(status: int, code: str, content: str, *, google: bool = False) -> Response:
    """UCP's REST error ``{"code", "content"}``; Google's front-end shape for API-key errors."""
    if google:
        body = {
            "error": {
                "code": status,
                "message": content,
                "status": RPC_STATUS.get(status, "UNKNOWN"),
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": code,
                        "domain": "googleapis.com",
                    }
                ],
            }
        }
        return _json(body, status)
    return _json({"code": code, "content": content}, status)


def make_app(receiver: UcpReceiver, stats: Stats) -> WSGIApp:
    def dispatch(request: Request) -> Response:
        path = request.path
        if not (path.startswith(WEBHOOK_PREFIX) and path.endswith(WEBHOOK_SUFFIX)):
            return error_response(404, "NOT_FOUND", f"No such UCP endpoint: {path}", google=True)
        partner = path[len(WEBHOOK_PREFIX) : -len(WEBHOOK_SUFFIX)]
        if not partner or "/" in partner:
            return error_response(404, "NOT_FOUND", f"No such UCP endpoint: {path}", google=True)
        stats.request("ucp.webhooks.order")
        if request.method != "POST":
            return error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed", google=True)
        api_key = request.headers.get("X-Goog-Api-Key") or request.args.get("key") or ""
        push = Push(
            partner=partner,
            api_key=api_key,
            method=request.method,
            url=request.url,  # scheme://host[:port]/path?query as the client addressed it
            headers=dict(request.headers),
            body=request.get_data(cache=True),
        )
        try:
            return _json(receiver.receive(push))
        except UcpError as exc:
            return error_response(exc.status, exc.code, exc.content, google=exc.google)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return dispatch(Request(environ))(environ, start_response)

    return app


def introspection(receiver: UcpReceiver, request: Request, action: str) -> Response:
    """``action`` is the path after ``/_sandbox/ucp/``."""
    try:
        if request.method == "POST" and action in ("partners", "profiles"):
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if action == "partners":
                receiver.register_partner(
                    str(body.get("partner_id") or ""),
                    str(body.get("api_key") or ""),
                    str(body.get("profile_url") or ""),
                )
                return _json({"registered": body.get("partner_id")})
            profile = body.get("profile") if isinstance(body.get("profile"), dict) else body
            count = receiver.register_profile(str(body.get("profile_url") or ""), profile)
            return _json({"registered": body.get("profile_url"), "signing_keys": count})
    except (ValueError, TypeError, UcpError) as exc:
        return _json({"error": str(exc)}, 400)
    if request.method == "GET" and action == "events":
        return _json({"events": receiver.events(request.args.get("order_id") or None)})
    if request.method == "GET" and action.startswith("orders/"):
        found = receiver.order(action[len("orders/") :])
        return _json(found) if found else _json({"error": "no accepted push for this order"}, 404)
    return _json({"error": f"unknown introspection route {request.method} /_sandbox/ucp/{action}"}, 404)
