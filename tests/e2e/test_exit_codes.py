"""Every outcome its own exit code (issue 12.3), as cron, systemd or Kubernetes sees it.

0 done; 1 done, but orders failed or feed rows were newly rejected; 2 usage/configuration; 3 done,
but breaks at or above --fail-on-breaks; 69 a required service unreachable or refusing us after
retries (the message names the service, its host:port and what to check, no traceback); 70 an
internal error (traceback in the log, one line on stderr, work already recorded is kept); 75
another cycle holds the lock. Precedence when several apply: 70 > 69 > 1 > 3 > 0.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from sync.exit_codes import PRECEDENCE, ExitCode

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(240)

REPO = Path(__file__).parents[2]
QUICK = 60


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once to pick it, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quick_retries(ws: Workspace) -> None:
    text = ws.config.read_text(encoding="utf-8").replace(
        "max_backoff_seconds = 0.5", "max_backoff_seconds = 0.05\nmax_attempts = 2"
    )
    ws.config.write_text(text, encoding="utf-8")


def _out_of_band_shipment(ws: Workspace) -> str:
    """An order shipped on Google behind ordersync's back: a high quantity_mismatch break."""
    (order_id,) = ws.create_orders(1, "template2")
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    line = ws.google.get_order(order_id)["lineItems"][0]
    ws.google.ship_line_items(
        order_id,
        "out-of-band-1",
        [{"lineItemId": line["id"], "quantity": 1}],
        [{"shipmentId": "manual-1", "carrier": "ups", "trackingId": "1ZMANUAL"}],
    )
    return order_id


def test_unreachable_google_exits_69_naming_the_service_host_and_what_to_check(workspace: Workspace) -> None:
    ws = workspace
    port = _closed_port()
    write_config(ws.config, f"http://127.0.0.1:{port}")
    _quick_retries(ws)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == ExitCode.UNAVAILABLE == 69, proc.stdout + proc.stderr
    assert f"Google Content API unavailable at 127.0.0.1:{port}" in proc.stderr
    assert f"http://127.0.0.1:{port}/content/v2sandbox/" in proc.stderr
    assert "check that this machine reaches it" in proc.stderr and "[google] endpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The same unreachable host for a test-order command: 69 too, not "an order failed".
    created = ws.ordersync("testorders", "create", timeout=QUICK)
    assert created.returncode == 69, created.stderr
    assert f"unavailable at 127.0.0.1:{port}" in created.stderr


def test_square_down_in_a_finished_cycle_is_69_and_the_google_work_is_kept(workspace: Workspace) -> None:
    """Decided: Square is a required service once enabled, so its outage is 69 even though the
    Google steps of the cycle finished (and stay done)."""
    ws = workspace
    ids = ws.create_orders(2)
    port = _closed_port()
    write_config(ws.config, ws.sandbox.url, square=True)
    text = ws.config.read_text(encoding="utf-8").replace(
        f'endpoint = "{ws.sandbox.url}"\n', f'endpoint = "http://127.0.0.1:{port}"\nmax_attempts = 1\n'
    )
    ws.config.write_text(text, encoding="utf-8")
    proc = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert proc.returncode == 69, proc.stdout + proc.stderr
    assert "square=unavailable" in proc.stdout
    assert f"Square unavailable at 127.0.0.1:{port}" in proc.stderr
    assert "Google work is kept" in proc.stderr and "Traceback" not in proc.stderr
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)


def test_fail_on_breaks_exits_3_at_or_above_the_severity(workspace: Workspace) -> None:
    ws = workspace
    _out_of_band_shipment(ws)  # quantity_mismatch and missing_in_oms, both high
    assert ws.ordersync("run", timeout=QUICK).returncode == 0  # off by default
    high = ws.ordersync("run", "--fail-on-breaks", "high", timeout=QUICK)
    assert high.returncode == ExitCode.BREAKS == 3, high.stderr
    assert "break(s) at or above high in the report" in high.stderr and "breaks.csv" in high.stderr
    assert ws.ordersync("run", "--fail-on-breaks", "critical", timeout=QUICK).returncode == 0
    assert ws.ordersync("report", "--fail-on-breaks", "medium", timeout=QUICK).returncode == 3
    assert ws.ordersync("report", "--fail-on-breaks", "critical", timeout=QUICK).returncode == 0
    # The configured threshold, and the flag turning it off for one run.
    write_config(ws.config, ws.sandbox.url, extra='fail_on_breaks = "high"\n')
    assert ws.ordersync("run", timeout=QUICK).returncode == 3
    assert ws.ordersync("report", timeout=QUICK).returncode == 3
    assert ws.ordersync("run", "--fail-on-breaks", "off", timeout=QUICK).returncode == 0
    # Precedence: a newly rejected row (1) wins over breaks (3).
    ws.write_feed("bad.csv", [{"order_id": "NO-SUCH", "line_item_id": "L", "quantity": "1",
                               "carrier": "UPS", "tracking_id": "1ZX", "shipped_at": "2026-11-20"}])
    assert ws.ordersync("run", timeout=QUICK).returncode == 1


SITECUSTOMIZE = """
import os
if os.environ.get("ORDERSYNC_TEST_BUG"):
    from sync.service.steps import google_cancellations

    def _bug(ctx, outbox):
        raise RuntimeError("unexpected state; token ya29.a0SECRETTOKENVALUE leaked into a message")

    google_cancellations.run = _bug  # a step of the cycle (bootstrap.default_steps reads it at run time)
"""


def test_an_internal_error_exits_70_with_the_traceback_in_the_log_and_keeps_the_work(
    workspace: Workspace, tmp_path: Path
) -> None:
    """A bug is simulated from outside (a sitecustomize breaking one cycle step): the steps
    before it are done and recorded; the process says so in one line and exits 70."""
    ws = workspace
    ids = ws.create_orders(2)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    ws.env["PYTHONPATH"] = f"{shim}:{ws.env['PYTHONPATH']}"
    ws.env["ORDERSYNC_TEST_BUG"] = "1"
    proc = ws.ordersync("--log-format", "json", "run", timeout=QUICK)
    assert proc.returncode == ExitCode.INTERNAL == 70, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    # With --log-format json the one line for people is a JSON object too (issue 17.3).
    last = json.loads(lines[-1])
    assert last["event"].startswith("internal error (RuntimeError: unexpected state"), last
    assert "work already recorded is kept" in last["event"] and last["exit_code"] == 70
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    crash = next(e for e in logged if e.get("event", "").startswith("internal error"))
    assert "Traceback (most recent call last)" in crash["exception"]
    assert "sync/service/cycle.py" in crash["exception"] and "in _bug" in crash["exception"]
    assert crash["exit_code"] == 70
    assert "SECRETTOKENVALUE" not in proc.stderr + proc.stdout  # redacted in the log and the line
    assert sum("Traceback" in line for line in lines) <= 1  # only inside the one log event
    # Work done before the bug is kept: both orders acknowledged on Google and in the ledger.
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)
    del ws.env["ORDERSYNC_TEST_BUG"]
    status = json.loads(ws.ordersync("status", "--json", check=True, timeout=QUICK).stdout)
    assert status["orders_total"] == 2 and status["last_runs"][0]["outcome"] == "error"
    again = ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert "acknowledged=0" in again.stdout  # nothing to redo: the first run's work stood


def test_usage_errors_are_2(workspace: Workspace) -> None:
    ws = workspace
    assert ws.ordersync("run", "--no-such-flag", timeout=QUICK).returncode == 2
    assert ws.ordersync("run", "--fail-on-breaks", "sometimes", timeout=QUICK).returncode == 2


def test_readme_and_every_deploy_example_use_the_same_exit_codes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| `(\d+)` \|", table, re.M)}
    assert documented == {int(c) for c in ExitCode}
    assert "70 > 69 > 1 > 3 > 0" in table and [int(c) for c in PRECEDENCE] == [70, 69, 1, 3, 0]

    service = (REPO / "deploy" / "systemd" / "ordersync.service").read_text(encoding="utf-8")
    success = [line for line in service.splitlines() if line.startswith("SuccessExitStatus=")]
    assert success == ["SuccessExitStatus=75"]  # 0 is always success; 1, 2, 3, 69, 70 are failures
    for example in ("crontab", "kubernetes/cronjob.yaml", "systemd/ordersync.service"):
        text = (REPO / "deploy" / example).read_text(encoding="utf-8")
        for code in ExitCode:
            assert re.search(rf"\b{int(code)}\b", text), f"deploy/{example} does not explain exit {int(code)}"
