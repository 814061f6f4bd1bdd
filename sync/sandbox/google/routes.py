"""HTTP face of the Content API emulator: routing from the discovery docs, auth, JSON in/out.

Mount points (one table per document version, derived from the discovery document so paths are
exactly the client's):
  /content/v2/…, /content/v2sandbox/…        v2 (test-order methods only under v2sandbox)
  /content/v2.1/…, /content/v2.1sandbox/…    v2.1 ``orders`` (no custombatch)
  /…  (e.g. /123/orders, /orders/batch)       v2sandbox, for clients whose api_endpoint is the
                                              bare emulator root (design §4)
  /token                                      OAuth2 JWT-bearer grant
  /discovery/v1/apis/content/{label}/rest     discovery documents pointing at this emulator
Paths are matched on the raw (still percent-encoded) URI split at ``/`` and then decoded per
segment, so ids containing ``%2F`` work and empty segments (``//``) are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from sync.sandbox.google import discovery
from sync.sandbox.google.auth import KeyRegistry, OAuthError, bearer_token, token_accepted
from sync.sandbox.google.models import GoogleBackend, GoogleError, validate_merchant_id
from sync.sandbox.google.templates import V2_TEMPLATE_NAMES
from sync.sandbox.stats import Stats

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
SANDBOX_ONLY = {
    "createtestorder",
    "advancetestorder",
    "canceltestorderbycustomer",
    "createtestreturn",
    "gettestordertemplate",
}
MUTATIONS = {
    "acknowledge",
    "cancel",
    "cancellineitem",
    "instorerefundlineitem",
    "refund",
    "rejectreturnlineitem",
    "returnlineitem",
    "returnrefundlineitem",
    "setlineitemmetadata",
    "shiplineitems",
    "updatelineitemshippingdetails",
    "updatemerchantorderid",
    "updateshipment",
    "refunditem",
    "refundorder",
    "captureorder",
}
JSON_TYPE = "application/json; charset=UTF-8"


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(obj, separators=(",", ":")), status=status, headers=headers, content_type=JSON_TYPE
    )


def error_response(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """Google's JSON error body (spec §5): googleapiclient maps it onto HttpError."""
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
            "status": RPC_STATUS.get(status, "UNKNOWN"),
        }
    }
    return json_response(body, status, headers)


def raw_segments(environ: dict[str, Any]) -> list[str]:
    """Decoded path segments of the raw request URI (keeps ``%2F`` inside a segment)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        if "://" in path[:8]:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
    else:
        path = environ.get("PATH_INFO", "")
    return [unquote(s) for s in path.split("/") if s]


@dataclass
class Ctx:
    request: Request
    route: discovery.Route
    params: dict[str, str]
    version: str
    sandbox: bool
    label: str
    _body: dict[str, Any] | None = field(default=None)

    def body(self) -> dict[str, Any]:
        if self._body is None:
            data = self.request.get_data(cache=True)
            if not data.strip():
                self._body = {}
            else:
                try:
                    parsed = json.loads(data)
                except ValueError as exc:
                    raise GoogleError(
                        400, "parseError", "Parse Error: request body is not valid JSON."
                    ) from exc
                if not isinstance(parsed, dict):
                    raise GoogleError(400, "parseError", "Request body must be a JSON object.")
                self._body = parsed
        return self._body

    def int_arg(self, name: str) -> int | None:
        value = self.request.args.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as exc:
            raise GoogleError(400, "invalid", f"Invalid value for {name}: {value!r}") from exc


class GoogleApp:
    def __init__(
        self, backend: GoogleBackend, stats: Stats, tokens: set[str] | None, keys: KeyRegistry
    ) -> None:
        self.backend = backend
        self.stats = stats
        self.tokens = set(tokens) if tokens else None
        self.keys = keys

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request, raw_segments(environ))
        except GoogleError as err:
            response = error_response(err.status, err.reason, err.message)
        return response(environ, start_response)

    # ------------------------------------------------------------------ dispatch
    def dispatch(self, request: Request, segs: list[str]) -> Response:
        if segs == ["token"]:
            return self.token(request)
        if segs[:1] in (["discovery"], ["$discovery"]):
            return self.discovery(request, segs)
        if not self.authorized(request):
            self.stats.request("content.unauthenticated")
            return error_response(
                401,
                "required" if not bearer_token(request) else "authError",
                "Request is missing required authentication credential. Expected OAuth 2 access token."
                if not bearer_token(request)
                else "Request had invalid authentication credentials. Expected OAuth 2 access token.",
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if len(segs) >= 2 and segs[0] == "content" and segs[1] in discovery.LABELS:
            label, rest = segs[1], segs[2:]
        elif segs[:1] == ["content"]:
            raise GoogleError(404, "notFound", f"Unknown API version {'/'.join(segs[:2])}.")
        else:
            label, rest = "v2sandbox", segs
        version, sandbox = discovery.LABELS[label]
        found = discovery.match(version, request.method, rest)
        if found is None:
            if discovery.path_exists(version, rest):
                raise GoogleError(405, "httpMethodNotAllowed", f"Method {request.method} not allowed here.")
            raise GoogleError(
                404, "notFound", f"No such method in the emulated Content API {label}: /{'/'.join(rest)}"
            )
        route, params = found
        self.stats.request(route.method_id)
        ctx = Ctx(request, route, params, version, sandbox, label)
        if route.method in SANDBOX_ONLY and not sandbox and route.resource == "orders":
            raise GoogleError(
                403,
                "forbidden",
                f"{route.method_id} is a sandbox-only method; call it under /content/{version}sandbox/.",
            )
        if "merchantId" in params:
            params["merchantId"] = self.backend.ensure_account(params["merchantId"])
        handler = getattr(self, f"h_{route.resource}_{route.method}", None)
        if handler is None and route.resource == "orders" and route.method in MUTATIONS:
            return self.mutation(ctx)
        if handler is None:
            raise GoogleError(501, "notImplemented", f"{route.method_id} is not emulated.")
        return handler(ctx)

    def authorized(self, request: Request) -> bool:
        return token_accepted(bearer_token(request), self.tokens, self.keys)

    # ------------------------------------------------------------------ token & discovery
    def token(self, request: Request) -> Response:
        self.stats.request("oauth2.token")
        if request.method != "POST":
            return json_response({"error": "invalid_request", "error_description": "POST required."}, 405)
        try:
            return json_response(
                self.keys.exchange(request.form.to_dict(), request.host),
                headers={"Cache-Control": "no-store"},
            )
        except OAuthError as err:
            return json_response({"error": err.code, "error_description": err.description}, err.status)

    def discovery(self, request: Request, segs: list[str]) -> Response:
        self.stats.request("discovery.get")
        if segs[0] == "$discovery":  # googleapiclient's V2 URI: /$discovery/rest?version=v2
            label = request.args.get("version", "")
            ok = segs == ["$discovery", "rest"]
        else:
            label = segs[4] if len(segs) == 6 else ""
            ok = segs[:4] == ["discovery", "v1", "apis", "content"] and segs[5:] == ["rest"]
        if not ok or label not in discovery.LABELS:
            return error_response(404, "notFound", f"Requested entity was not found: {'/'.join(segs)}")
        return Response(discovery.render(label, request.host_url), content_type=JSON_TYPE)

    # ------------------------------------------------------------------ orders: reads
    def h_orders_get(self, ctx: Ctx) -> Response:
        p = ctx.params
        text = self.backend.get_order_json(p["merchantId"], p["orderId"], version=ctx.version)
        return Response(text, content_type=JSON_TYPE)

    def h_orders_getbymerchantorderid(self, ctx: Ctx) -> Response:
        p = ctx.params
        order = self.backend.get_by_merchant_order_id(
            p["merchantId"], p["merchantOrderId"], version=ctx.version
        )
        return json_response({"kind": "content#ordersGetByMerchantOrderIdResponse", "order": order})

    def h_orders_list(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        ack = args.get("acknowledged")
        if ack not in (None, "", "true", "false", "True", "False", "1", "0"):
            raise GoogleError(400, "invalid", f"Invalid value for acknowledged: {ack!r}")
        statuses = [s.strip() for v in args.getlist("statuses") for s in v.split(",") if s.strip()]
        orders, token = self.backend.list_orders(
            ctx.params["merchantId"],
            acknowledged=None if ack in (None, "") else ack in ("true", "True", "1"),
            statuses=statuses or None,
            placed_date_start=args.get("placedDateStart") or None,
            placed_date_end=args.get("placedDateEnd") or None,
            order_by=args.get("orderBy") or None,
            max_results=ctx.int_arg("maxResults"),
            page_token=args.get("pageToken") or None,
            version=ctx.version,
            as_json=True,
        )
        # Splice the cached order JSON rather than re-encoding every order.
        text = '{"kind":"content#ordersListResponse","resources":[' + ",".join(orders) + "]"
        if token:
            text += ',"nextPageToken":' + json.dumps(token)
        return Response(text + "}", content_type=JSON_TYPE)

    # ------------------------------------------------------------------ orders: mutations
    def mutation(self, ctx: Ctx) -> Response:
        p = ctx.params
        status = self.backend.mutate(
            p["merchantId"], p["orderId"], ctx.route.method, ctx.body(), version=ctx.version
        )
        return json_response(_kinded(ctx.route, {"executionStatus": status}))

    def h_orders_custombatch(self, ctx: Ctx) -> Response:
        entries = self.backend.custombatch(ctx.body().get("entries"), version=ctx.version)
        return json_response({"kind": "content#ordersCustomBatchResponse", "entries": entries})

    # ------------------------------------------------------------------ orders: sandbox
    def h_orders_createtestorder(self, ctx: Ctx) -> Response:
        body = ctx.body()
        name = body.get("templateName")
        if name and ctx.version == "v2" and name not in V2_TEMPLATE_NAMES:
            raise GoogleError(400, "invalid", f"Invalid value for templateName: {name!r}")
        order_id = self.backend.create_test_order(
            ctx.params["merchantId"],
            template_name=name,
            test_order=body.get("testOrder"),
            country=body.get("country"),
        )
        return json_response(_kinded(ctx.route, {"orderId": order_id}))

    def h_orders_advancetestorder(self, ctx: Ctx) -> Response:
        self.backend.advance_test_order(ctx.params["merchantId"], ctx.params["orderId"])
        return json_response(_kinded(ctx.route, {}))

    def h_orders_canceltestorderbycustomer(self, ctx: Ctx) -> Response:
        self.backend.cancel_test_order_by_customer(
            ctx.params["merchantId"], ctx.params["orderId"], ctx.body().get("reason")
        )
        return json_response(_kinded(ctx.route, {}))

    def h_orders_createtestreturn(self, ctx: Ctx) -> Response:
        return_id = self.backend.create_test_return(
            ctx.params["merchantId"], ctx.params["orderId"], ctx.body().get("items")
        )
        return json_response(_kinded(ctx.route, {"returnId": return_id}))

    def h_orders_gettestordertemplate(self, ctx: Ctx) -> Response:
        name = ctx.params["templateName"]
        if ctx.version == "v2" and name.lower() not in V2_TEMPLATE_NAMES:
            raise GoogleError(400, "invalid", f"Invalid value for templateName: {name!r}")
        template = self.backend.get_test_order_template(name, ctx.request.args.get("country") or "US")
        return json_response(_kinded(ctx.route, {"template": template}))

    # ------------------------------------------------------------------ orderreturns, accounts
    def h_orderreturns_get(self, ctx: Ctx) -> Response:
        return json_response(self.backend.get_return(ctx.params["merchantId"], ctx.params["returnId"]))

    def h_orderreturns_list(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        returns, token = self.backend.list_returns(
            ctx.params["merchantId"],
            created_start=args.get("createdStartDate") or None,
            created_end=args.get("createdEndDate") or None,
            order_by=args.get("orderBy") or None,
            max_results=ctx.int_arg("maxResults"),
            page_token=args.get("pageToken") or None,
        )
        body: dict[str, Any] = {"kind": "content#orderreturnsListResponse", "resources": returns}
        if token:
            body["nextPageToken"] = token
        return json_response(body)

    def h_accounts_authinfo(self, ctx: Ctx) -> Response:
        ids = self.backend.account_ids()
        return json_response(
            {
                "kind": "content#accountsAuthInfoResponse",
                "accountIdentifiers": [{"merchantId": mid} for mid in ids],
            }
        )

    def h_accounts_get(self, ctx: Ctx) -> Response:
        merchant_id = ctx.params["merchantId"]
        account_id = validate_merchant_id(ctx.params["accountId"])
        if account_id != merchant_id:
            raise GoogleError(403, "forbidden", f"User cannot access account {account_id} via {merchant_id}.")
        return json_response(
            {
                "kind": "content#account",
                "id": account_id,
                "name": f"Sandbox merchant {account_id}",
                "websiteUrl": f"https://merchant-{account_id}.example.com",
                "adultContent": False,
                "users": [{"emailAddress": "sandbox-admin@example.com", "admin": True, "orderManager": True}],
            }
        )


def _kinded(route: discovery.Route, body: dict[str, Any]) -> dict[str, Any]:
    ref = route.response_ref or ""
    if ref.startswith("Orders"):  # every v2/v2.1 Orders*Response schema has a kind field
        body = {"kind": "content#" + ref[0].lower() + ref[1:], **body}
    return body


def make_app(backend: GoogleBackend, stats: Stats, tokens: set[str] | None, keys: KeyRegistry) -> GoogleApp:
    return GoogleApp(backend, stats, tokens, keys)
