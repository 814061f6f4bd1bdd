"""Prometheus metrics of `ordersync run`: a node_exporter textfile and a Pushgateway push, and the
last success carried over by a failed run so a staleness alert fires."""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Workspace, write_config
from tests.e2e.test_machine_output import UNKNOWN_ORDER_ROW


@dataclass
class Push:
    method: str
    path: str
    body: str


@dataclass
class RecordingPushgateway:
    url: str
    pushes: list[Push] = field(default_factory=list)


@pytest.fixture
def pushgateway() -> Iterator[RecordingPushgateway]:
    """A tiny HTTP server that records what is pushed to it, as a Pushgateway would accept it."""
    recorder = RecordingPushgateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            recorder.pushes.append(Push("PUT", self.path, self.rfile.read(length).decode()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(s: dict, name: str, **labels: str) -> float:
    labels.setdefault("account", "default")  # a configuration without [[accounts]]
    return s[(name, tuple(sorted(labels.items())))]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_writes_the_textfile_and_pushes_the_same_series(
    workspace: Workspace, pushgateway: RecordingPushgateway
) -> None:
    ws = workspace
    (ws.root / "metrics").mkdir()
    textfile = ws.root / "metrics" / "ordersync.prom"
    write_config(
        ws.config,
        ws.sandbox.url,
        extra=f'[metrics]\ntextfile = "metrics/ordersync.prom"\npushgateway_url = "{pushgateway.url}"\n',
    )
    ws.create_orders(3)
    before = time.time()
    ws.ordersync("run", check=True)

    s = samples(textfile.read_text(encoding="utf-8"))
    finished = value(s, "ordersync_last_run_timestamp_seconds")
    assert before <= finished <= time.time()
    assert value(s, "ordersync_last_success_timestamp_seconds") == finished  # this run succeeded
    last_run = json.loads(ws.ordersync("status", "--json", check=True).stdout)["runs"][0]
    assert finished == datetime.fromisoformat(last_run["finished_at"]).timestamp()  # as status says
    assert value(s, "ordersync_last_run_success") == 1
    assert 0 < value(s, "ordersync_run_duration_seconds") < 120
    stages = {dict(labels)["stage"]: n for (name, labels), n in s.items() if name == "ordersync_orders"}
    assert stages == json.loads(ws.ordersync("status", "--json", check=True).stdout)["orders_by_stage"]
    assert sum(stages.values()) == 3
    assert value(s, "ordersync_api_calls_total", api="google", method="content.orders.list") >= 1
    assert value(s, "ordersync_api_calls_total", api="google", method="content.orders.custombatch") >= 1
    assert value(s, "ordersync_operations_failed") == 0
    assert value(s, "ordersync_feed_rows_rejected") == 0
    assert sorted(p.name for p in textfile.parent.iterdir()) == ["ordersync.prom"]  # no temp file left

    (push,) = pushgateway.pushes
    assert push.method == "PUT" and push.path == "/metrics/job/ordersync"
    assert samples(push.body) == s


def test_a_failed_run_carries_the_last_success_over(
    workspace: Workspace, pushgateway: RecordingPushgateway
) -> None:
    ws = workspace
    textfile = ws.root / "ordersync.prom"
    write_config(ws.config, ws.sandbox.url, extra='[metrics]\ntextfile = "ordersync.prom"\n')
    ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True)
    first = samples(textfile.read_text(encoding="utf-8"))
    success_at = value(first, "ordersync_last_success_timestamp_seconds")
    assert ("ordersync_breaks", ()) not in first  # --no-report: no break figures to give

    # A rejected feed row: the run finishes, but not successfully.
    ws.write_feed("shipments.csv", [UNKNOWN_ORDER_ROW])
    assert ws.ordersync("run").returncode == 1
    second = samples(textfile.read_text(encoding="utf-8"))
    assert value(second, "ordersync_last_run_success") == 0
    assert value(second, "ordersync_feed_rows_rejected") == 1
    assert value(second, "ordersync_last_success_timestamp_seconds") == success_at
    assert value(second, "ordersync_last_run_timestamp_seconds") > success_at
    # This run wrote a report: its breaks, per category and severity, are the metric's.
    (report_dir,) = [
        d for d in (ws.root / "reports").iterdir() if not d.is_symlink() and (d / "breaks.csv").exists()
    ]
    with (report_dir / "breaks.csv").open(encoding="utf-8") as handle:
        expected = Counter((row["category"], row["severity"]) for row in csv.DictReader(handle))
    got = {
        (dict(lb)["category"], dict(lb)["severity"]): n
        for (name, lb), n in second.items()
        if name == "ordersync_breaks"
    }
    assert expected and got == expected

    # Google unreachable: the cycle stops on an error, the metrics still say so.
    (ws.root / "feeds" / "shipments.csv").unlink()
    ws.env["ORDERSYNC_GOOGLE__ENDPOINT"] = f"http://127.0.0.1:{closed_port()}/"
    assert ws.ordersync("run").returncode != 0
    third = samples(textfile.read_text(encoding="utf-8"))
    assert value(third, "ordersync_last_run_success") == 0
    assert value(third, "ordersync_last_success_timestamp_seconds") == success_at
    assert value(third, "ordersync_last_run_timestamp_seconds") > value(
        second, "ordersync_last_run_timestamp_seconds"
    )
    # api_calls_total is a counter over all runs: this run's failed attempts are added.
    calls = {k: v for k, v in third.items() if k[0] == "ordersync_api_calls_total"}
    earlier = {k: v for k, v in second.items() if k[0] == "ordersync_api_calls_total"}
    assert all(calls[k] >= v for k, v in earlier.items()) and sum(calls.values()) > sum(earlier.values())


def test_an_unreachable_pushgateway_is_a_warning_not_a_failed_run(workspace: Workspace) -> None:
    ws = workspace
    url = f"http://127.0.0.1:{closed_port()}"
    write_config(
        ws.config, ws.sandbox.url, extra=f'[metrics]\npushgateway_url = "{url}"\npush_timeout_seconds = 2\n'
    )
    proc = ws.ordersync("run", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "metrics not pushed" in proc.stderr
