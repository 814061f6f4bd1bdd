"""Machine-readable output as a log shipper and a monitor meet it.

With --log-format json every line on stdout and on stderr parses as one JSON object (run summary,
status, doctor, Click's own errors, library warnings, tracebacks); `status` says when the job last
succeeded and why the last run ended as it did, and `status --json` carries the same as fields.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Workspace

REPO = Path(__file__).resolve().parents[2]
# A feed row naming an order Google does not have: rejected, so the run ends with exit 1.
UNKNOWN_ORDER_ROW = {
    "order_id": "no-such-order",
    "line_item_id": "x",
    "quantity": "1",
    "carrier": "UPS",
    "tracking_id": "1Z1",
    "shipped_at": "2026-11-20",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object; fails on the first line that is not one."""
    objects = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from exc
        assert isinstance(value, dict), f"line {number} is not a JSON object: {line!r}"
        objects.append(value)
    return objects


def all_json(proc: subprocess.CompletedProcess[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return json_lines(proc.stdout), json_lines(proc.stderr)


def test_every_line_of_a_run_and_its_status_is_json(workspace: Workspace) -> None:
    ws = workspace
    ws.create_orders(3)
    ws.write_feed("shipments.csv", [UNKNOWN_ORDER_ROW])
    proc = ws.ordersync("--log-format", "json", "run")
    assert proc.returncode == 1, proc.stderr  # a rejected feed row
    out, err = all_json(proc)
    (summary,) = out
    assert summary["event"] == "run finished" and summary["level"] == "info"
    assert summary["orders_seen"] == 3 and summary["acknowledged"] == 3 and summary["rejects"] == 1
    assert summary["exit_code"] == 1 and summary["report"] and summary["breaks"] is not None
    assert summary["rejects_file"].endswith(".csv")
    assert any(line["event"].startswith("feed rows rejected") for line in err)
    assert all({"timestamp", "level", "event"} <= set(line) for line in out + err)

    status = ws.ordersync("--log-format", "json", "status", check=True)
    (doc,) = json_lines(status.stdout)
    assert doc["event"] == "status" and doc["orders_total"] == 3
    assert doc["last_success"] is None and doc["runs"][0]["outcome"] == "failed"
    # --json with JSON logs: still one object per line (compact, not indented).
    (doc2,) = json_lines(ws.ordersync("--log-format", "json", "status", "--json", check=True).stdout)
    assert doc2["runs"] == doc["runs"]


def test_errors_usage_and_doctor_are_json_lines_too(workspace: Workspace) -> None:
    ws = workspace
    usage = ws.ordersync("--log-format", "json", "run", "--no-such-option")
    assert usage.returncode == 2
    out, err = all_json(usage)
    assert out == [] and "no-such-option" in err[0]["event"] and err[0]["exit_code"] == 2

    ws.config.write_text("[google]\nmerchant_idd = '1'\n", encoding="utf-8")
    bad = ws.ordersync("--log-format", "json", "run")
    assert bad.returncode == 2
    out, err = all_json(bad)
    assert out == [] and err[0]["level"] == "error" and "merchant_idd" in err[0]["event"]

    doctor = ws.ordersync("--log-format", "json", "doctor")
    out, err = all_json(doctor)
    assert err == [] and out[0]["check"] == "config" and out[0]["status"] == "fail"
    assert out[-1]["event"] == "doctor finished" and out[-1]["exit_code"] == 2 == doctor.returncode


def test_library_warnings_and_tracebacks_become_json_fields(tmp_path: Path) -> None:
    script = (
        "import warnings, logging\n"
        "from sync.logs import configure_logging\n"
        "configure_logging('json')\n"
        "warnings.warn('a library is deprecated', DeprecationWarning, stacklevel=1)\n"
        "logging.getLogger('somelib').warning('plain %s', 'logging')\n"
        "raise RuntimeError('boom access_token=abc123')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "always"}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    out, err = all_json(proc)
    assert out == []
    warning, plain, crash = err
    assert warning["level"] == "warning" and "a library is deprecated" in warning["event"]
    assert plain["event"] == "plain logging" and plain["logger"] == "somelib"
    assert crash["level"] == "critical" and crash["event"] == "unhandled error"
    assert "Traceback (most recent call last)" in crash["exception"]
    assert "RuntimeError" in crash["exception"] and "abc123" not in proc.stderr


def test_status_says_when_the_job_last_succeeded_and_why_the_last_run_failed(workspace: Workspace) -> None:
    ws = workspace
    ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True)
    text = ws.ordersync("status", check=True).stdout
    assert "last success: less than a minute ago (run #1," in text
    assert "last run: #1 ok, started" in text

    ws.write_feed("shipments.csv", [UNKNOWN_ORDER_ROW])
    assert ws.ordersync("run", "--no-report").returncode == 1
    text = ws.ordersync("status", check=True).stdout
    assert "last success: less than a minute ago (run #1," in text  # not the failed run #2
    assert "last run: #2 failed (1 feed row rejected), started" in text

    doc = json.loads(ws.ordersync("status", "--json", check=True).stdout)
    assert doc["last_success_run_id"] == 1
    assert datetime.fromisoformat(doc["last_success"]) <= datetime.fromisoformat(doc["runs"][0]["started_at"])
    assert [r["run_id"] for r in doc["runs"]] == [2, 1]
    first = doc["runs"][1]
    assert {"account", "run_id", "started_at", "finished_at", "outcome"} <= set(first)
    assert first["account"] == "default" and first["outcome"] == "ok" and first["reason"] == ""
    assert doc["runs"][0]["reason"] == "1 feed row rejected"
