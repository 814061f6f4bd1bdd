"""The sync cycle through the CLI, as cron runs it, against the Google emulator."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sync.sandbox.players import Warehouse

from .conftest import Workspace

pytestmark = pytest.mark.timeout(600)


def _statuses(ws: Workspace, ids: list[str]) -> dict[str, str]:
    return {order_id: ws.google.get_order(order_id)["status"] for order_id in ids}


def _mutations(ws: Workspace, method: str) -> int:
    return ws.stats()["mutations"].get(f"content.orders.{method}", 0)


def test_fifty_orders_from_creation_to_delivered_with_partial_shipments(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(50, "template1")

    first = ws.ordersync("run", "--no-report", check=True)
    assert "acknowledged=50" in first.stdout
    orders = [ws.google.get_order(i) for i in ids]
    assert all(o["acknowledged"] and o["merchantOrderId"] == f"OS-{o['id']}" for o in orders)

    warehouse = Warehouse(ws.root / "feeds")
    warehouse.advance(orders, "2026-11-20T10:00:00Z")  # one unit of every line: partial shipments
    ws.ordersync("run", "--no-report", check=True)
    statuses = _statuses(ws, ids)
    assert set(statuses.values()) == {"partiallyShipped"}, statuses

    for round_no in range(2, 5):
        orders = [ws.google.get_order(i) for i in ids]
        warehouse.advance(orders, f"2026-11-2{round_no}T10:00:00Z")
        ws.ordersync("run", "--no-report", check=True)
    statuses = _statuses(ws, ids)
    assert set(statuses.values()) == {"delivered"}, statuses

    shipments = sum(len(ws.google.get_order(i)["shipments"]) for i in ids)
    assert _mutations(ws, "acknowledge") == 50
    assert _mutations(ws, "updatemerchantorderid") == 50
    assert _mutations(ws, "shiplineitems") == shipments
    assert _mutations(ws, "updateshipment") == shipments

    # Nothing new: the next cycle applies no mutation and costs at most two calls.
    before = ws.stats()
    idle = ws.ordersync("run", "--no-report", check=True)
    after = ws.stats()
    assert after["mutations_total"] == before["mutations_total"], idle.stdout
    assert after["requests_total"] - before["requests_total"] <= 2 + 1  # + the token fetch of a new process
    status = ws.ordersync("status", check=True)
    assert "delivered" in status.stdout


def test_status_before_the_first_cycle_says_so_and_creates_nothing(workspace: Workspace) -> None:
    ws = workspace
    status = ws.ordersync("status", check=True)
    assert "no ledger yet at state/ordersync.db" in status.stdout
    assert not (ws.root / "state").exists()
    as_json = ws.ordersync("status", "--json", check=True)
    assert '"ledger_missing": "state/ordersync.db"' in as_json.stdout


def test_overlapping_runs_one_exits_75_and_changes_nothing(workspace: Workspace) -> None:
    ws = workspace
    ws.create_orders(20, "template2")
    ws.sandbox.configure_faults(latency_ms=1500)  # the first run lasts several seconds
    first = ws.popen("run", "--no-report")
    try:
        deadline = time.monotonic() + 30
        while ws.stats()["requests"].get("content.orders.list", 0) == 0:
            assert time.monotonic() < deadline, "first run never reached Google"
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        before = ws.stats()["mutations_total"]
        second = ws.ordersync("run", "--no-report")
        assert second.returncode == 75, (second.stdout, second.stderr)
        assert "lock" in second.stderr
        # the refused run sent nothing itself: any mutation since came from the first run
        assert ws.stats()["requests"].get("content.orders.list", 0) >= 1
        assert before <= ws.stats()["mutations_total"]
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, (out, err)
    assert _mutations(ws, "acknowledge") == 20


def test_kill_9_mid_cycle_then_rerun_applies_everything_exactly_once(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(30, "template1")
    ws.ordersync("run", "--no-report", check=True)
    orders = [ws.google.get_order(i) for i in ids]
    warehouse = Warehouse(ws.root / "feeds")
    warehouse.advance(orders, "2026-11-20T10:00:00Z")
    more = ws.create_orders(30, "template2")

    # Slow every call down so the kill lands inside the cycle, after some batches were sent.
    ws.sandbox.configure_faults(latency_ms=300)
    victim = ws.popen("run", "--no-report")
    deadline = time.monotonic() + 60
    while ws.stats()["requests"].get("content.orders.custombatch", 0) < 1:
        assert time.monotonic() < deadline, "the run never sent a batch"
        assert victim.poll() is None, victim.communicate()
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL

    ws.sandbox.configure_faults(latency_ms=0)
    for _ in range(3):
        ws.ordersync("run", "--no-report", check=True)
    all_ids = ids + more
    orders = [ws.google.get_order(i) for i in all_ids]
    assert all(o["acknowledged"] for o in orders)
    assert _mutations(ws, "acknowledge") == len(all_ids)
    assert _mutations(ws, "updatemerchantorderid") == len(all_ids)
    shipped = sum(len(o.get("shipments", [])) for o in orders)
    assert shipped == len(ids)  # round 1 packs one unit of every line into one parcel per order
    assert _mutations(ws, "shiplineitems") == shipped
    for order in orders[: len(ids)]:
        for line in order["lineItems"]:
            assert line["quantityShipped"] == 1
