"""GoogleGateway over real sockets (httplib2 + AuthorizedHttp) against a tiny scripted stdlib server.

Covers what fakes cannot: bearer header on the wire, refused connections, read timeouts and a
connection dropped before the response — all retried — plus per-thread connections under load.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.oauth2.credentials import Credentials as BearerCredentials

from sync.adapters.google_gateway import GoogleApiError, GoogleGateway
from sync.config import GoogleSettings

Script = Callable[["Handler", int], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        server: StubServer = self.server  # type: ignore[assignment]
        length = int(self.headers.get("content-length") or 0)
        self.body = self.rfile.read(length) if length else b""
        with server.lock:
            server.count += 1
            n = server.count
            server.seen.append((self.command, self.path, self.headers.get("authorization"), self.body))
        server.script(self, n)

    do_GET = do_POST = _dispatch

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = script
        self.lock = threading.Lock()
        self.count = 0
        self.seen: list[tuple[str, str, str | None, bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


@pytest.fixture
def serve() -> Iterator[Callable[[Script], StubServer]]:
    servers: list[StubServer] = []

    def start(script: Script) -> StubServer:
        server = StubServer(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def gateway(url: str, **overrides: Any) -> GoogleGateway:
    values: dict[str, Any] = {
        "merchant_id": "42",
        "endpoint": url,
        "max_backoff_seconds": 0.05,
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return GoogleGateway(GoogleSettings(**values), credentials=BearerCredentials(token="tok-123"))


ACK = {"kind": "content#ordersAcknowledgeResponse", "executionStatus": "executed"}


def test_bearer_token_and_path_on_the_wire(serve: Callable[[Script], StubServer]) -> None:
    server = serve(lambda h, n: h.reply(200, ACK))
    assert gateway(server.url).acknowledge("G-1", "op-1") == "executed"
    method, path, auth, body = server.seen[0]
    assert (method, auth) == ("POST", "Bearer tok-123")
    assert path == "/content/v2sandbox/42/orders/G-1/acknowledge?alt=json"
    assert json.loads(body) == {"operationId": "op-1"}


def test_503_with_retry_after_then_success(serve: Callable[[Script], StubServer]) -> None:
    def script(h: Handler, n: int) -> None:
        if n == 1:
            h.reply(
                503,
                {"error": {"code": 503, "message": "busy", "errors": [{"reason": "backendError"}]}},
                {"Retry-After": "0"},
            )
        else:
            h.reply(200, ACK)

    server = serve(script)
    gw = gateway(server.url)
    assert gw.acknowledge("G-1", "op-1") == "executed"
    assert gw.calls == 2 and server.count == 2


def test_dropped_connection_is_retried(serve: Callable[[Script], StubServer]) -> None:
    def script(h: Handler, n: int) -> None:
        if n <= 2:  # the request arrived, the response never does (a "lost response")
            h.connection.shutdown(socket.SHUT_RDWR)
            h.close_connection = True
            return
        h.reply(200, {"executionStatus": "duplicate"})

    server = serve(script)
    gw = gateway(server.url, max_attempts=5)
    assert gw.acknowledge("G-1", "op-1") == "duplicate"
    assert server.count >= 3


def test_read_timeout_is_retried(serve: Callable[[Script], StubServer]) -> None:
    release = threading.Event()

    def script(h: Handler, n: int) -> None:
        if n == 1:
            release.wait(2)
            return
        h.reply(200, ACK)

    server = serve(script)
    gw = gateway(server.url, timeout_seconds=0.3)
    try:
        assert gw.acknowledge("G-1", "op-1") == "executed"
    finally:
        release.set()
    assert gw.calls == 2


def test_refused_connection_exhausts_attempts(serve: Callable[[Script], StubServer]) -> None:
    server = serve(lambda h, n: h.reply(200, ACK))
    url = server.url
    server.shutdown()
    server.server_close()
    gw = gateway(url, max_attempts=3)
    with pytest.raises(GoogleApiError) as info:
        gw.get_order("G-1")
    assert info.value.status == 0 and info.value.retryable and gw.calls == 3


def test_concurrent_chunks_over_real_connections(serve: Callable[[Script], StubServer]) -> None:
    def script(h: Handler, n: int) -> None:
        entries = json.loads(h.body)["entries"]
        h.reply(200, {"entries": [{"batchId": e["batchId"], "executionStatus": "executed"} for e in entries]})

    server = serve(script)
    gw = gateway(server.url, batch_size=5, concurrency=4)
    with gw:
        for _round in range(3):
            result = gw.custombatch(
                [{"method": "acknowledge", "orderId": f"G{i}", "operationId": "x"} for i in range(40)]
            )
            assert [r["batchId"] for r in result] == list(range(40))
    assert gw.calls == server.count == 24
    assert all(path == "/content/v2sandbox/orders/batch?alt=json" for _m, path, _a, _b in server.seen)
