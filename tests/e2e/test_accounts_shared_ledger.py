"""Many accounts in ONE ledger (SQLite file): its rows are per account, so two [[accounts]] without
their own [accounts.ledger] share the top-level one end to end — each account's orders, intents,
shipments, feed rejects, runs and cursors stay its own, and the cycles of two accounts may run at
the same time (each account has its own cycle lock)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from .conftest import Workspace
from .test_accounts_cli import make_orders

pytestmark = pytest.mark.timeout(240)

ACCOUNTS = {"shop-a": "7200001", "shop-b": "7200002"}


def shared_ledger_config(ws: Workspace) -> None:
    entries = "".join(
        f'[[accounts]]\nname = "{name}"\n[accounts.google]\nmerchant_id = "{merchant}"\n'
        f'[accounts.shipments]\nfeeds = ["feeds/{name}/*.csv"]\n'
        for name, merchant in ACCOUNTS.items()
    )
    ws.config.write_text(
        f"""[google]
sandbox = true
endpoint = "{ws.sandbox.url}/"
max_backoff_seconds = 0.5
[ledger]
url = "sqlite:///state/shared.db"
[reports]
dir = "reports"
{entries}""",
        encoding="utf-8",
    )


def feed_rows(ws: Workspace, merchant: str, ids: list[str]) -> list[dict[str, str]]:
    rows = []
    for i, order_id in enumerate(ids):
        for line in ws.sandbox.google.get_order(merchant, order_id)["lineItems"]:
            rows.append({"order_id": order_id, "line_item_id": line["id"],
                         "quantity": str(line["quantityOrdered"]), "carrier": "UPS",
                         "tracking_id": f"1ZS{merchant}{i:04d}",
                         "shipped_at": "2026-11-20T10:00:00Z"})  # fmt: skip
    return rows


def test_two_accounts_share_one_ledger_end_to_end(workspace: Workspace) -> None:
    ws = workspace
    shared_ledger_config(ws)
    orders = {name: make_orders(ws, merchant, 2) for name, merchant in ACCOUNTS.items()}
    for name, merchant in ACCOUNTS.items():
        (ws.root / "feeds" / name).mkdir(parents=True)
        ws.write_feed(f"{name}/parcels.csv", feed_rows(ws, merchant, orders[name]))
    # shop-a's export also names one of shop-b's orders: in shop-a's rows that order does not
    # exist, so the row is rejected there (waiting for an order of that id), never shipped.
    stray = feed_rows(ws, ACCOUNTS["shop-b"], orders["shop-b"][:1])
    ws.write_feed("shop-a/stray.csv", stray)

    # Both accounts' cycles at once, on the one ledger file: neither holds the other up.
    procs = {name: ws.popen("run", "--account", name) for name in ACCOUNTS}
    outputs = {name: proc.communicate(timeout=180) for name, proc in procs.items()}
    codes = {name: proc.returncode for name, proc in procs.items()}
    assert codes == {"shop-a": 1, "shop-b": 0}, outputs  # 1: shop-a's stray row, newly rejected
    assert "seen=2 acknowledged=2" in outputs["shop-a"][0] and "seen=2 acknowledged=2" in outputs["shop-b"][0]

    google = ws.sandbox.google
    for name, merchant in ACCOUNTS.items():
        for order_id in orders[name]:
            order = google.get_order(merchant, order_id)
            assert order["acknowledged"] and order["status"] == "shipped", (name, order_id, order["status"])
    mutations = ws.stats()["mutations"]
    assert mutations["content.orders.acknowledge"] == 4 and mutations["content.orders.shiplineitems"] == 4

    # One file holds both accounts, each row under its own account; one lock file per account.
    state = ws.root / "state"
    assert sorted(p.name for p in state.iterdir() if p.suffix == ".db") == ["shared.db"]
    assert all((state / f"shared.db.cycle-{name}.lock").exists() for name in ACCOUNTS)
    with sqlite3.connect(state / "shared.db") as raw:
        by_account = dict(raw.execute("SELECT account, COUNT(*) FROM orders GROUP BY account").fetchall())
        rejects = raw.execute("SELECT account, order_ref, state FROM feed_rejects").fetchall()
        runs = raw.execute("SELECT account, outcome FROM runs ORDER BY account").fetchall()
    assert by_account == {"shop-a": 2, "shop-b": 2}
    assert rejects == [("shop-a", orders["shop-b"][0], "open")] * len(stray)  # one per line item
    assert [account for account, _ in runs] == ["shop-a", "shop-b"]

    status = json.loads(ws.ordersync("status", "--json", check=True).stdout)
    by_name = {a["account"]: a for a in status["accounts"]}
    assert (by_name["shop-a"]["orders_total"], by_name["shop-b"]["orders_total"]) == (2, 2)
    assert by_name["shop-b"]["state"] == "ok" and by_name["shop-a"]["last_outcome"] is not None
    assert sorted(r["account"] for r in status["runs"]) == ["shop-a", "shop-b"]

    # A rerun of the fleet sends nothing again on either side: each account finds its own intents.
    again = ws.ordersync("run")
    assert again.returncode in (0, 1), again.stdout + again.stderr
    mutations = ws.stats()["mutations"]
    assert mutations["content.orders.acknowledge"] == 4 and mutations["content.orders.shiplineitems"] == 4
    with sqlite3.connect(state / "shared.db") as raw:
        assert raw.execute("SELECT COUNT(*) FROM runs").fetchone() == (4,)


def test_a_one_account_ledger_grown_into_accounts_is_adopted_before_its_entry_runs(
    workspace: Workspace,
) -> None:
    ws = workspace
    merchant = ACCOUNTS["shop-a"]
    ws.config.write_text(
        f'[google]\nsandbox = true\nendpoint = "{ws.sandbox.url}/"\nmerchant_id = "{merchant}"\n'
        'max_backoff_seconds = 0.5\n[ledger]\nurl = "sqlite:///state/shared.db"\n'
        '[reports]\ndir = "reports"\n',
        encoding="utf-8",
    )
    first = make_orders(ws, merchant, 2)
    ws.ordersync("run", "--no-report", check=True)  # one account: its rows are 'default''s
    shared_ledger_config(ws)  # the same ledger, now with two [[accounts]] (shop-a is the old one)
    later = make_orders(ws, merchant, 1)

    refused = ws.ordersync("run", "--account", "shop-a", "--no-report")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "ordersync adopt --account NAME" in refused.stderr
    doctor = ws.ordersync("doctor")
    assert doctor.returncode == 2 and "-> fix: ordersync adopt --account NAME" in doctor.stdout, doctor.stdout
    adopted = ws.ordersync("adopt", "--account", "shop-a", check=True)
    assert "shop-a: adopted the ledger rows of 'default' (2 orders" in adopted.stdout
    again = ws.ordersync("adopt", "--account", "shop-a")
    assert again.returncode == 2 and "holds no rows of account 'default'" in again.stderr

    ran = ws.ordersync("run", "--no-report")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "shop-a: run 2: seen=1 acknowledged=1" in ran.stdout  # its history went on: run 2, 1 new order
    assert ws.stats()["mutations"]["content.orders.acknowledge"] == len(first) + len(later)  # none twice
    with sqlite3.connect(ws.root / "state" / "shared.db") as raw:
        by_account = dict(raw.execute("SELECT account, COUNT(*) FROM orders GROUP BY account").fetchall())
    assert by_account == {"shop-a": 3}
