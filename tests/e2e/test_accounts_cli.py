"""Many accounts without a queue (SQLite, one process): `ordersync run` runs every [[accounts]] entry
in turn, one report each under reports/<account>/<run-id>/, one account failing never stops the
others and the exit code is the worst; `status --json` sums up the fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Workspace

pytestmark = pytest.mark.timeout(240)

ACCOUNTS = {"shop-a": "7100001", "shop-b": "7100002"}


def fleet_config(ws: Workspace) -> None:
    ws.config.write_text(
        f"""[google]
sandbox = true
endpoint = "{ws.sandbox.url}/"
max_backoff_seconds = 0.5
[square]
endpoint = "{ws.sandbox.url}"
[reports]
dir = "reports"
[[accounts]]
name = "shop-a"
[accounts.google]
merchant_id = "{ACCOUNTS["shop-a"]}"
[accounts.ledger]
url = "sqlite:///state/shop-a.db"
[[accounts]]
name = "shop-b"
[accounts.google]
merchant_id = "{ACCOUNTS["shop-b"]}"
[accounts.square]
enabled = true
access_token_env = "SHOP_B_SQUARE_TOKEN"
[accounts.ledger]
url = "sqlite:///state/shop-b.db"
""",
        encoding="utf-8",
    )


def make_orders(ws: Workspace, merchant: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        order_id = ws.sandbox.google.create_test_order(merchant, template_name="template1")
        ws.sandbox.google.advance_test_order(merchant, order_id)
        ids.append(order_id)
    return ids


def test_run_syncs_every_account_in_turn_and_one_failing_stops_no_other(workspace: Workspace) -> None:
    ws = workspace
    fleet_config(ws)
    orders = {name: make_orders(ws, merchant, 2) for name, merchant in ACCOUNTS.items()}
    ws.env.pop("SHOP_B_SQUARE_TOKEN", None)

    first = ws.ordersync("run")
    # shop-b cannot start (its Square token is not set): exit 2, the worst; shop-a ran regardless.
    assert first.returncode == 2, first.stdout + first.stderr
    assert "shop-a: run 1: seen=2 acknowledged=2" in first.stdout
    assert "shop-b: SHOP_B_SQUARE_TOKEN is not set" in first.stderr
    assert "2 account(s): 1 clean, not clean: shop-b (exit 2)" in first.stdout
    google = ws.sandbox.google
    assert all(google.get_order(ACCOUNTS["shop-a"], o)["acknowledged"] for o in orders["shop-a"])
    assert not any(google.get_order(ACCOUNTS["shop-b"], o)["acknowledged"] for o in orders["shop-b"])
    (report,) = [p for p in (ws.root / "reports" / "shop-a").iterdir() if p.name != "latest"]
    assert (report / "orders.csv").exists()  # reports/<account>/<run-id>/

    status = json.loads(ws.ordersync("status", "--json", check=True).stdout)
    by_name = {a["account"]: a for a in status["accounts"]}
    assert by_name["shop-a"]["state"] == "ok" and by_name["shop-b"]["state"] == "never_run"
    assert status["last_success"] is None  # shop-b has never succeeded: the fleet is not all well
    assert [r["account"] for r in status["runs"]] == ["shop-a"]
    assert set(status["runs"][0]) >= {"account", "run_id", "started_at", "finished_at", "outcome"}

    ws.env["SHOP_B_SQUARE_TOKEN"] = "sandbox-token"
    only_b = ws.ordersync("run", "--account", "shop-b")
    assert only_b.returncode == 0, only_b.stdout + only_b.stderr
    assert "shop-b: run 1: seen=2 acknowledged=2 square=2" in only_b.stdout and "shop-a:" not in only_b.stdout
    assert all(google.get_order(ACCOUNTS["shop-b"], o)["acknowledged"] for o in orders["shop-b"])
    assert ws.stats()["mutations"]["content.orders.acknowledge"] == 4  # each order once
    assert (ws.root / "reports" / "shop-b").is_dir()

    status = json.loads(ws.ordersync("status", "--json", check=True).stdout)
    assert status["accounts_failing"] == [] and status["accounts_total"] == 2
    assert set(status["breaks_by_account"]) == {"shop-a", "shop-b"}
    assert all(isinstance(n, int) for n in status["breaks_by_account"].values())
    assert status["last_success"] is not None
    text = ws.ordersync("status", check=True).stdout
    assert "2 accounts, 0 failing" in text and "shop-a" in text and "shop-b" in text
    report = ws.ordersync("report", "--account", "shop-a", check=True)
    assert f"report written to {Path('reports') / 'shop-a'}" in report.stdout


def test_an_unknown_account_and_queue_commands_without_a_queue_are_usage_errors(workspace: Workspace) -> None:
    ws = workspace
    fleet_config(ws)
    unknown = ws.ordersync("run", "--account", "shop-z")
    assert unknown.returncode == 2 and "no account named 'shop-z'" in unknown.stderr
    for command in (("enqueue", "--all"), ("worker",)):
        proc = ws.ordersync(*command)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "queue mode is off" in proc.stderr and "Traceback" not in proc.stderr
    which = ws.ordersync("report")
    assert which.returncode == 2 and "name one with --account NAME" in which.stderr
    both = ws.ordersync("enqueue", "--all", "--account", "shop-a")
    assert both.returncode == 2 and "give --all or --account NAME" in both.stderr
    assert not (ws.root / "state").exists()  # nothing ran
