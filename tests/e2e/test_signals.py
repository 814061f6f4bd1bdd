"""Signals (issue 7, part 3): SIGTERM/SIGINT stop `ordersync schedule` cleanly, mid-cycle or idle.

The stopped cycle either finishes or is abandoned between steps (every intent it sent is in the
ledger); the process exits 0; a normal `ordersync run` afterwards completes everything and the
emulator's mutation counters prove nothing was applied twice.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from sync.sandbox.players import Warehouse

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(60)

STOP_WITHIN = 20  # seconds from the signal to the exit, generous for a slow CI machine


def _wait_for(
    ws: Workspace, proc: subprocess.Popen[str], what: str, predicate: object, limit: float = 20
) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ordersync schedule exited {proc.returncode} before {what}\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"timed out waiting for {what}\n{out}\n{err}")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[str, str, float]:
    started = time.monotonic()
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"ordersync schedule did not stop within {STOP_WITHIN}s of the signal\n{err}"
        ) from None
    return out, err, time.monotonic() - started


def _mutations(ws: Workspace, method: str) -> int:
    return ws.stats()["mutations"].get(f"content.orders.{method}", 0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_cycle_stops_cleanly_and_a_rerun_finishes_exactly_once(
    workspace: Workspace, signum: int
) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, extra="[schedule]\ninterval_minutes = 0.02\n")
    ids = ws.create_orders(12, "template1")
    ws.ordersync("run", "--no-report", check=True)  # acknowledged, merchant ids assigned
    orders = [ws.google.get_order(i) for i in ids]
    Warehouse(ws.root / "feeds").advance(orders, "2026-11-20T10:00:00Z")  # one parcel per order to ship
    more = ws.create_orders(12, "template2")  # and new orders to acknowledge
    base_requests = ws.stats()["requests"].get("content.orders.list", 0)

    ws.sandbox.configure_faults(latency_ms=400)  # every API call is slow: the signal lands mid-cycle
    proc = ws.popen("schedule")
    _wait_for(
        ws,
        proc,
        "the first cycle to reach Google",
        lambda: ws.stats()["requests"].get("content.orders.list", 0) > base_requests,
    )
    _out, err, took = _stop(proc, signum)
    assert proc.returncode == 0, err
    assert "stop requested; finishing the cycle in progress" in err and signal.Signals(signum).name in err
    assert "scheduler stopped" in err
    assert "Traceback" not in err
    assert took < STOP_WITHIN
    # The cycle in progress either finished or was abandoned at a step boundary, and said which.
    assert ("cycle abandoned between steps" in err) or ("cycle finished" in err), err

    ws.sandbox.configure_faults(latency_ms=0)
    before = ws.stats()["mutations_total"]
    ws.ordersync("run", "--no-report", check=True)
    ws.ordersync("run", "--no-report", check=True)  # and an idle one: nothing left to do
    all_ids = ids + more
    final = [ws.google.get_order(i) for i in all_ids]
    assert all(o["acknowledged"] and o["merchantOrderId"] == f"OS-{o['id']}" for o in final)
    assert _mutations(ws, "acknowledge") == len(all_ids)
    assert _mutations(ws, "updatemerchantorderid") == len(all_ids)
    shipped = sum(len(o.get("shipments", [])) for o in final)
    assert shipped == len(ids)
    assert _mutations(ws, "shiplineitems") == shipped
    assert ws.stats()["mutations_total"] >= before
    for order in final[: len(ids)]:
        assert all(line["quantityShipped"] == 1 for line in order["lineItems"])


def test_sigterm_between_cycles_exits_promptly(workspace: Workspace) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, extra="[schedule]\ninterval_minutes = 10\n")
    ws.create_orders(2)
    log = ws.root / "schedule.log"
    with log.open("w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "schedule"],
            cwd=ws.root,
            env=ws.env,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
        )
        _wait_for(
            ws,
            proc,
            "the first cycle to finish",
            lambda: "next cycle scheduled" in log.read_text(encoding="utf-8"),
        )
        _out, _, took = _stop(proc, signal.SIGTERM)
    err = log.read_text(encoding="utf-8")
    assert proc.returncode == 0, err
    assert took < 5, err
    assert _mutations(ws, "acknowledge") == 2
    assert "cycle finished" in err and "scheduler stopped" in err
