"""HTTP face of the Content API emulator: routing from the discovery docs, auth, JSON in/out.

Mount points (one table per document version, derived from the discovery document so paths are
exactly the client's):
  /content/v2sandbox/…, /content/v2.1sandbox/…   the sandbox environment (test-order methods)
  /content/v2/…, /content/v2.1/…                 production: its own (empty) orders; test-order
                                                 methods answer 403
  /…  (e.g. /123/orders, /orders/batch)          v2sandbox, for clients whose api_endpoint is the
                                                 bare emulator root (design §4)
  /token                                         OAuth2 JWT-bearer grant
  /discovery/v1/apis/content/{label}/rest        discovery documents pointing at this emulator
Paths are matched on the raw (still percent-encoded) URI split at ``/`` and then decoded per
segment, so ids containing ``%2F`` work and empty segments (``//``) are ignored. Anything the
emulator does not serve (another path, or another HTTP method on a served path) is a 404 in
Google's error shape; HEAD is answered as GET without a body (RFC 9110).

Bearer tokens: by default only tokens issued at ``/token`` and the ``tokens`` given at start
(``--token``) are accepted; ``any_token`` (``--any-token``) accepts any non-empty token. A missing
or unknown token is a 401 in Google's shape (reason ``required`` / ``authError``).
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
from sync.sandbox.google.models import GoogleBackend, GoogleBackends, GoogleError, validate_merchant_id
from sync.sandbox.google.templates import V2_TEMPLATE_NAMES
from sync.sandbox.stats import Stats

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
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
    "createchargeinvoice",
    "createrefundinvoice",
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
# Google's own wording for a missing / an unusable access token.
_AUTH_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
MISSING_CREDENTIALS = f"Request is missing required authentication credential. {_AUTH_HINT}"
INVALID_CREDENTIALS = f"Request had invalid authentication credentials. {_AUTH_HINT}"


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(obj, separators=(",", ":")), status=status, headers=headers, content_type=JSON_TYPE
    )


def error_response(
    status: int,
    reason: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    detail: dict[str, str] | None = None,
) -> Response:
    """Google's JSON error body (spec §5): googleapiclient maps it onto HttpError.

    ``detail`` overrides or adds fields of the ``errors[0]`` entry (e.g. ``location``).
    """
    item = {"domain": "global", "reason": reason, "message": message, **(detail or {})}
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [item],
            "status": RPC_STATUS.get(status, "UNKNOWN"),
        }
    }
    return json_response(body, status, headers)


def unauthenticated(missing: bool) -> Response:
    """The 401 Google answers without (``required``) or with an unusable (``authError``) token."""
    realm = 'Bearer realm="https://accounts.google.com/"'
    if missing:
        return error_response(
            401,
            "required",
            MISSING_CREDENTIALS,
            {"WWW-Authenticate": realm},
            detail={"message": "Login Required.", "location": "Authorization", "locationType": "header"},
        )
    return error_response(
        401,
        "authError",
        INVALID_CREDENTIALS,
        {"WWW-Authenticate": realm + ', error="invalid_token"'},
        detail={"message": "Invalid Credentials", "location": "Authorization", "locationType": "header"},
    )


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
    backend: GoogleBackend
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
        self,
        backends: GoogleBackends,
        stats: Stats,
        tokens: set[str] | None,
        keys: KeyRegistry,
        *,
        any_token: bool = False,
    ) -> None:
        self.backends = backends
        self.stats = stats
        self.tokens = frozenset(tokens or ())
        self.any_token = any_token
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
        token = bearer_token(request)
        if not self.authorized(token):
            self.stats.request("content.unauthenticated")
            return unauthenticated(missing=not token)
        if len(segs) >= 2 and segs[0] == "content" and segs[1] in discovery.LABELS:
            label, rest = segs[1], segs[2:]
        elif segs[:1] == ["content"]:
            raise GoogleError(404, "notFound", f"Unknown API version {'/'.join(segs[:2])}.")
        else:
            label, rest = "v2sandbox", segs
        version, sandbox = discovery.LABELS[label]
        # HEAD is GET without a body (the server drops it); no other method is served twice.
        found = discovery.match(version, "GET" if request.method == "HEAD" else request.method, rest)
        if found is None:
            raise GoogleError(
                404,
                "notFound",
                f"Not Found: the Content API {label} has no method {request.method} /{'/'.join(rest)}",
            )
        route, params = found
        self.stats.request(route.method_id)
        backend = self.backends.of("sandbox" if sandbox else "production")
        ctx = Ctx(request, route, params, version, sandbox, label, backend)
        if route.method in SANDBOX_ONLY and not sandbox and route.resource == "orders":
            raise GoogleError(
                403,
                "forbidden",
                f"{route.method_id} is a sandbox-only method; call it under /content/{version}sandbox/.",
            )
        if "merchantId" in params:
            params["merchantId"] = backend.ensure_account(params["merchantId"])
        handler = getattr(self, f"h_{route.resource}_{route.method}", None)
        if handler is None and route.method in MUTATIONS:
            return self.mutation(ctx)
        if handler is None:  # a method of the document this emulator does not serve
            raise GoogleError(404, "notFound", f"Not Found: {route.method_id} is not emulated.")
        return handler(ctx)

    def authorized(self, token: str) -> bool:
        return token_accepted(token, self.tokens, self.keys, any_token=self.any_token)

    # ------------------------------------------------------------------ token & discovery
    def token(self, request: Request) -> Response:
        self.stats.request("oauth2.token")
        if request.method != "POST":  # the token endpoint serves POST only; anything else is unserved
            return error_response(404, "notFound", f"Not Found: {request.method} /token")
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
        text = ctx.backend.get_order_json(p["merchantId"], p["orderId"], version=ctx.version)
        return Response(text, content_type=JSON_TYPE)

    def h_orders_getbymerchantorderid(self, ctx: Ctx) -> Response:
        p = ctx.params
        order = ctx.backend.get_by_merchant_order_id(
            p["merchantId"], p["merchantOrderId"], version=ctx.version
        )
        return json_response({"kind": "content#ordersGetByMerchantOrderIdResponse", "order": order})

    def h_orders_list(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        ack = args.get("acknowledged")
        if ack not in (None, "", "true", "false", "True", "False", "1", "0"):
            raise GoogleError(400, "invalid", f"Invalid value for acknowledged: {ack!r}")
        statuses = [s.strip() for v in args.getlist("statuses") for s in v.split(",") if s.strip()]
        orders, token = ctx.backend.list_orders(
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
        status = ctx.backend.mutate(
            p["merchantId"], p["orderId"], ctx.route.method, ctx.body(), version=ctx.version
        )
        return json_response(_kinded(ctx.route, {"executionStatus": status}))

    def h_orders_custombatch(self, ctx: Ctx) -> Response:
        entries = ctx.backend.custombatch(ctx.body().get("entries"), version=ctx.version)
        return json_response({"kind": "content#ordersCustomBatchResponse", "entries": entries})

    # ------------------------------------------------------------------ orders: sandbox
    def h_orders_createtestorder(self, ctx: Ctx) -> Response:
        body = ctx.body()
        name = body.get("templateName")
        if name and ctx.version == "v2" and name not in V2_TEMPLATE_NAMES:
            raise GoogleError(400, "invalid", f"Invalid value for templateName: {name!r}")
        order_id = ctx.backend.create_test_order(
            ctx.params["merchantId"],
            template_name=name,
            test_order=body.get("testOrder"),
            country=body.get("country"),
        )
        return json_response(_kinded(ctx.route, {"orderId": order_id}))

    def h_orders_advancetestorder(self, ctx: Ctx) -> Response:
        ctx.backend.advance_test_order(ctx.params["merchantId"], ctx.params["orderId"])
        return json_response(_kinded(ctx.route, {}))

    def h_orders_canceltestorderbycustomer(self, ctx: Ctx) -> Response:
        ctx.backend.cancel_test_order_by_customer(
            ctx.params["merchantId"], ctx.params["orderId"], ctx.body().get("reason")
        )
        return json_response(_kinded(ctx.route, {}))

    def h_orders_createtestreturn(self, ctx: Ctx) -> Response:
        return_id = ctx.backend.create_test_return(
            ctx.params["merchantId"], ctx.params["orderId"], ctx.body().get("items")
        )
        return json_response(_kinded(ctx.route, {"returnId": return_id}))

    def h_orders_gettestordertemplate(self, ctx: Ctx) -> Response:
        name = ctx.params["templateName"]
        if ctx.version == "v2" and name.lower() not in V2_TEMPLATE_NAMES:
            raise GoogleError(400, "invalid", f"Invalid value for templateName: {name!r}")
        template = ctx.backend.get_test_order_template(name, ctx.request.args.get("country") or "US")
        return json_response(_kinded(ctx.route, {"template": template}))

    # ------------------------------------------------------------------ orderreturns, accounts
    def h_orderreturns_get(self, ctx: Ctx) -> Response:
        return json_response(ctx.backend.get_return(ctx.params["merchantId"], ctx.params["returnId"]))

    def h_orderreturns_list(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        returns, token = ctx.backend.list_returns(
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

    # ------------------------------------------------------------------ orderreports
    def h_orderreports_listdisbursements(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        rows, token = ctx.backend.list_disbursements(
            ctx.params["merchantId"],
            start=args.get("disbursementStartDate") or None,
            end=args.get("disbursementEndDate") or None,
            max_results=ctx.int_arg("maxResults"),
            page_token=args.get("pageToken") or None,
        )
        return json_response(_kinded(ctx.route, _paged({"disbursements": rows}, token)))

    def h_orderreports_listtransactions(self, ctx: Ctx) -> Response:
        args = ctx.request.args
        rows, token = ctx.backend.list_transactions(
            ctx.params["merchantId"],
            ctx.params["disbursementId"],
            start=args.get("transactionStartDate") or None,
            end=args.get("transactionEndDate") or None,
            max_results=ctx.int_arg("maxResults"),
            page_token=args.get("pageToken") or None,
        )
        return json_response(_kinded(ctx.route, _paged({"transactions": rows}, token)))

    def h_accounts_authinfo(self, ctx: Ctx) -> Response:
        ids = ctx.backend.account_ids()
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
    # Every Orders*/Orderinvoices*/Orderreports* response schema has a kind field.
    if ref.startswith(("Orders", "Orderinvoices", "Orderreports")):
        body = {"kind": "content#" + ref[0].lower() + ref[1:], **body}
    return body


def _paged(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    return {**body, "nextPageToken": token} if token else body



def make_app(
    backends: GoogleBackends,
    stats: Stats,
    tokens: set[str] | None,
    keys: KeyRegistry,
    *,
    any_token: bool = False,
) -> GoogleApp:
    return GoogleApp(backends, stats, tokens, keys, any_token=any_token)
