"""One threaded HTTP server hosting both emulators, fault injection and introspection.

Dispatch by path: ``/_sandbox/…`` introspection (never faulted); ``/v2/…`` Square; ``/ucp/…`` the
UCP order-webhook receiver; ``/ordertracking/…`` the Merchant API order tracking signals; ``/token``
and ``/discovery/…`` Google without faults or latency; everything else the Google Content API
(``/content/v2[sandbox]/…``, ``/content/v2.1[sandbox]/…`` and the root-mounted v2sandbox twin).
A leading ``//`` (or any run of slashes) is folded to ``/``.

Introspection:
  GET  /_sandbox/stats   Stats.snapshot() plus {"orders": {"google": n, "square": n}, "faults_config": …}
  POST /_sandbox/reset   clears both backends, the state store and the counters (registered
                         service-account keys and issued tokens are kept: they are credentials,
                         not API state)
  POST /_sandbox/faults  JSON {fault_rate?, lost_response_rate?, latency_ms?, seed?, version_bump_rate?}
  POST /_sandbox/keys    JSON {kid, client_email, public_key_pem, token_uri?} (credentials.py)
  /_sandbox/ucp/…        partners, profiles, accepted events (sync/sandbox/ucp/routes.py)
  /_sandbox/ordertracking/signals   stored order tracking signals (sync/sandbox/ordertracking/routes.py)
  /_sandbox/square/…     the Square emulator's sandbox controls (square/routes.py): POS and
                         Dashboard refunds, refund settling, version bumps, settings
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sync.sandbox.faults import FaultInjector
from sync.sandbox.google import routes as google_routes
from sync.sandbox.google.auth import KeyRegistry
from sync.sandbox.google.models import GoogleBackend, GoogleBackends
from sync.sandbox.ordertracking import routes as ordertracking_routes
from sync.sandbox.ordertracking.models import OrderTrackingBackend
from sync.sandbox.square import routes as square_routes
from sync.sandbox.square.errors import SquareError
from sync.sandbox.square.models import SquareBackend
from sync.sandbox.square.settings import SquareSandboxSettings
from sync.sandbox.stats import Stats
from sync.sandbox.store import open_store
from sync.sandbox.ucp import routes as ucp_routes
from sync.sandbox.ucp.models import UcpReceiver

MAX_BODY = 64 * 1024 * 1024  # a 1,000-entry custombatch is ~1 MB; anything near this is abuse
_SLASHES = re.compile(r"/{2,}")
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Square reads that are POSTs: nothing is applied, so no answer can be "lost" after the fact.
_READ_ONLY_POSTS = re.compile(r"^/v2/(orders|catalog)/(search|batch-retrieve|calculate)/?$")
# Square requests that carry an order's version: UpdateOrder and PayOrder (version-bump faults).
_VERSIONED_ORDER = re.compile(r"^/v2/orders/(?!batch-retrieve$|search$|calculate$|clone$)([^/]+)(/pay)?/?$")


class _Handler(WSGIRequestHandler):
    """werkzeug's handler with real HTTP/1.1 keep-alive and one write per response.

    werkzeug 3.1's own ``run_wsgi`` closes every connection (and then polls the socket for up to
    10 ms); a reconnect per call caps throughput near 1,000 calls/s. Here the request body is
    read completely before the app runs, so the stream stays in sync and the connection can be
    reused; the response is sent with one ``sendall``.
    """

    protocol_version = "HTTP/1.1"
    # Headers and body must not wait on Nagle + delayed ACK.
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are dropped after this many seconds

    def setup(self) -> None:
        super().setup()
        conns = getattr(self.server, "sandbox_connections", None)
        if conns is not None:
            conns.add(self.connection)

    def finish(self) -> None:
        conns = getattr(self.server, "sandbox_connections", None)
        if conns is not None:
            conns.discard(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # No access log: URLs may carry access_token query parameters, and it costs throughput.
        pass

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(
                413 if length > MAX_BODY else 400, [("Content-Type", "text/plain")], b"bad request body"
            )
            self.close_connection = True
            return
        body = (
            environ["wsgi.input"].read() if environ.get("wsgi.input_terminated") else self.rfile.read(length)
        )
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("wsgi.input_terminated", None)
        state: dict[str, Any] = {}
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and state:
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return chunks.append

        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status = state["status"]
            headers = state["headers"]
        except Exception:
            self.server.log("error", "Error on request %s %s", self.command, environ.get("PATH_INFO"))
            status, headers, chunks = (
                "500 INTERNAL SERVER ERROR",
                [("Content-Type", "text/plain")],
                [b"error"],
            )
            self.close_connection = True
        code, _, reason = status.partition(" ")
        self._send(int(code), headers, b"".join(chunks), reason)

    def _send(self, code: int, headers: list[tuple[str, str]], body: bytes, reason: str = "") -> None:
        lines = [f"HTTP/1.1 {code} {reason or self.responses.get(code, ('',))[0]}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in ("content-length", "connection")]
        length = len(body)
        if self.command == "HEAD":  # the length the GET body would have (RFC 9110 §9.3.2)
            length = next((int(v) for k, v in headers if k.lower() == "content-length"), length)
        lines.append(f"Content-Length: {length}")
        lines.append(f"Date: {self.date_time_string()}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + body if self.command != "HEAD" else head)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj, sort_keys=True), status=status, content_type="application/json")


class Sandbox:
    """Both emulators on one port. ``with Sandbox().start() as sb: ... sb.url ...``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state: str | Path | None = None,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        lost_response_rate: float = 0.0,
        seed: int | None = None,
        tokens: Iterable[str] | None = None,
        any_token: bool = False,
        allow_remote: bool = False,
        version_bump_rate: float = 0.0,
        square_settings: SquareSandboxSettings | None = None,
    ) -> None:
        if not is_loopback(host) and not allow_remote:
            raise ValueError(
                f"refusing to listen on non-loopback host {host!r}; pass allow_remote=True "
                "(CLI: --allow-remote) to expose the sandbox beyond this machine"
            )
        self.host = host
        self.port = port
        self.faults = FaultInjector(
            fault_rate=fault_rate,
            lost_response_rate=lost_response_rate,
            latency_ms=latency_ms,
            seed=seed,
            version_bump_rate=version_bump_rate,
        )
        self.store = open_store(state)
        self.stats = Stats()
        # The Content API's two environments; ``google`` is the sandbox (test orders live there).
        self.google = GoogleBackend(self.store, self.stats, seed=seed)
        self.google_production = GoogleBackend(self.store, self.stats, seed=seed, environment="production")
        self._google = GoogleBackends(self.google, self.google_production)
        self.square = SquareBackend(self.store, self.stats, settings=square_settings)
        self.keys = KeyRegistry(self.store)
        self.ucp = UcpReceiver(self.store, self.stats)
        self.ordertracking = OrderTrackingBackend(self.store, self.stats)
        token_set = set(tokens) if tokens else None
        # Google accepts the tokens it issued at /token plus ``tokens``; ``any_token`` any token.
        # One attribute per mounted app (tests swap one for a misbehaving app).
        self._google_app = google_routes.make_app(
            self._google, self.stats, token_set, self.keys, any_token=any_token
        )
        self._square_app = square_routes.make_app(self.square, self.stats, token_set)
        self._ucp_app = ucp_routes.make_app(self.ucp, self.stats)
        self._ordertracking_app = ordertracking_routes.make_app(
            self.ordertracking, self.stats, token_set, self.keys, any_token=any_token
        )
        self._square_sandbox_app = square_routes.make_sandbox_app(self.square)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = make_server(self.host, self.port, self.wsgi, threaded=True, request_handler=_Handler)
        server.daemon_threads = True  # type: ignore[attr-defined]  # don't let idle keep-alives block exit
        server.sandbox_connections = set()  # type: ignore[attr-defined]  # open keep-alive sockets
        self._server = server
        self.port = server.server_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        # A short poll interval makes stop() quick (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            # Idle keep-alive connections would otherwise outlive the server and reach a closed store.
            for conn in list(server.sandbox_connections):  # type: ignore[attr-defined]
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.store.close()

    def serve_forever(self) -> None:
        """Block until ``stop()`` (used by the CLI after start())."""
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Sandbox:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def configure_faults(
        self,
        *,
        fault_rate: float | None = None,
        lost_response_rate: float | None = None,
        latency_ms: float | None = None,
        seed: int | None = None,
        version_bump_rate: float | None = None,
    ) -> None:
        self.faults.configure(
            fault_rate=fault_rate,
            lost_response_rate=lost_response_rate,
            latency_ms=latency_ms,
            seed=seed,
            version_bump_rate=version_bump_rate,
        )

    def reset(self) -> None:
        self.store.clear()
        self._google.reset()
        self.square.reset()
        self.ucp.reset()
        self.ordertracking.reset()
        self.stats.reset()
        self.keys.persist_all()
        self.ucp.persist_registrations()

    def snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        snap["orders"] = {
            "google": self._google.order_count(),
            "square": self.square.order_count(),
            "ucp": self.ucp.counts()["orders"],
            "ordertracking_signals": self.ordertracking.count(),
        }
        snap["faults_config"] = self.faults.settings()
        return snap

    # ------------------------------------------------------------------ WSGI
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Read the body up front: a handler that ignores it must not desync a keep-alive stream.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return google_routes.error_response(413, "requestTooLarge", "Request body too large.")(
                environ, start_response
            )
        if not environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
        path = _SLASHES.sub("/", environ.get("PATH_INFO") or "/")
        environ["PATH_INFO"] = path
        if path.startswith("/_sandbox/square/"):
            return self._square_sandbox_app(environ, start_response)
        if path.startswith("/_sandbox/"):
            return self._introspection(Request(environ), path)(environ, start_response)
        if path == "/token" or path.startswith(("/discovery/", "/$discovery/")):
            return self._google_app(environ, start_response)
        if path == "/v2" or path.startswith("/v2/"):
            api = "square"
        elif path.startswith("/ucp/"):
            api = "ucp"
        elif path.startswith("/ordertracking/"):
            api = "ordertracking"
        else:
            api = "google"
        return self._faulted(environ, start_response, api)

    def _faulted(
        self, environ: dict[str, Any], start_response: Callable[..., Any], api: str
    ) -> Iterable[bytes]:
        fault = self.faults.before()
        if fault is not None:
            self.stats.fault(f"{api}.{fault}")
            return self._fault_response(api, fault)(environ, start_response)
        if api == "square":
            self._maybe_bump_version(environ)
        app = getattr(self, f"_{api}_app")
        if (
            environ.get("REQUEST_METHOD") not in _MUTATING
            or not self.faults.lost_response_rate
            or _READ_ONLY_POSTS.match(environ.get("PATH_INFO") or "")
        ):
            return app(environ, start_response)
        # Run the request to completion, then decide whether its answer gets "lost".
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = int(captured["status"].split(" ", 1)[0])
        lost = self.faults.lost() if 200 <= status < 300 else None
        if lost is not None:
            self.stats.fault(f"{api}.lost.{lost}")
            return self._fault_response(api, lost)(environ, start_response)
        start_response(captured["status"], captured["headers"])
        return [body]

    def _maybe_bump_version(self, environ: dict[str, Any]) -> None:
        """The version-bump fault: Square's own work gives the order a new version first."""
        method = environ.get("REQUEST_METHOD")
        match = _VERSIONED_ORDER.match(environ.get("PATH_INFO") or "")
        if match is None or (method, bool(match.group(2))) not in (("PUT", False), ("POST", True)):
            return
        if self.faults.version_bump():
            try:
                self.square.orders.bump_version(match.group(1))
            except SquareError:
                return  # no such order: the request itself answers NOT_FOUND
            self.stats.fault("square.version_bump")

    @staticmethod
    def _fault_response(api: str, status: int) -> Response:
        headers = {"Retry-After": "1"} if status in (429, 503) else None
        if api == "square":
            category, code, detail = {
                429: ("RATE_LIMIT_ERROR", "RATE_LIMITED", "Rate limit exceeded; retry later."),
                500: ("API_ERROR", "INTERNAL_SERVER_ERROR", "An internal error occurred."),
                503: ("API_ERROR", "SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
            }[status]
            response = square_routes.error_response(status, category, code, detail)
            if headers:
                response.headers.update(headers)
            return response
        reason, message = {
            429: (
                "rateLimitExceeded",
                "Quota exceeded for quota metric 'Queries' (sandbox fault injection).",
            ),
            500: ("backendError", "Backend Error"),
            503: ("backendError", "The service is currently unavailable."),
        }[status]
        return google_routes.error_response(status, reason, message, headers)

    def _introspection(self, request: Request, path: str) -> Response:
        action = path[len("/_sandbox/") :].rstrip("/")
        if action.startswith("ucp/"):
            return ucp_routes.introspection(self.ucp, request, action[len("ucp/") :])
        if action.startswith("ordertracking/"):
            return ordertracking_routes.introspection(
                self.ordertracking, request, action[len("ordertracking/") :]
            )
        if action == "stats" and request.method == "GET":
            return _json(self.snapshot())
        if request.method != "POST" or action not in ("reset", "faults", "keys"):
            return _json({"error": f"unknown introspection route {request.method} {path}"}, 404)
        if action == "reset":
            self.reset()
            return _json({"reset": True})
        try:
            body = json.loads(request.get_data() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            if action == "faults":
                unknown = set(body) - {
                    "fault_rate",
                    "lost_response_rate",
                    "latency_ms",
                    "seed",
                    "version_bump_rate",
                }
                if unknown:
                    raise ValueError(f"unknown fault settings: {sorted(unknown)}")
                self.configure_faults(**body)
                return _json(self.faults.settings())
            self.keys.register(
                kid=str(body.get("kid") or ""),
                client_email=str(body.get("client_email") or ""),
                public_key_pem=str(body.get("public_key_pem") or ""),
                token_uri=body.get("token_uri"),
            )
            return _json({"registered": body.get("kid")})
        except (ValueError, TypeError) as exc:
            return _json({"error": str(exc)}, 400)


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (for callers that need to know the port before starting)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
