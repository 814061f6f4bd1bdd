"""Schema upgrades go through Alembic: a ledger written at 0001 opens at head with its rows intact;
one written before 0006 carries its rows over to the account that opens it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from sync.adapters.ledger import Intent, Ledger, LedgerError, OrderSnapshot
from sync.adapters.ledger.repository import MIGRATIONS_DIR
from sync.domain.intents import Target

from .test_ledger import POSTGRES_URL, _empty_postgres


def _head() -> str:
    """The newest revision (each branch adds its own migration; the merge re-chains them)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def _alembic(path: Path) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{path}")
    return cfg


def test_0001_ledger_upgrades_to_head_and_accepts_failed_shipments(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    command.upgrade(_alembic(path), "0001")
    stamp = "2026-11-20 10:00:00"
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO orders (google_order_id, stage, acknowledged, line_items, order_json, first_seen_at,"
            " last_seen_at) VALUES ('G-1', 'open', 1, '[]', '{}', ?, ?)",
            (stamp, stamp),
        )
        raw.execute(
            "INSERT INTO shipments (google_order_id, shipment_id, source, lines, state, created_at,"
            " updated_at)"
            " VALUES ('G-1', 'S-1', 'feed', '[]', 'planned', ?, ?)",
            (stamp, stamp),
        )
    with Ledger(f"sqlite:///{path}") as ledger:
        assert ledger.schema_revision == _head()
        ledger.mark_shipments([("G-1", "S-1")], state="failed")
        (shipment,) = ledger.shipments_for(["G-1"])["G-1"]
        assert shipment.state == "failed"
        ledger.mark_shipments([("G-1", "S-1")], state="shipped")  # never moves back from a refusal
        assert ledger.shipments_for(["G-1"])["G-1"][0].state == "failed"


def test_0002_ledger_upgrades_to_0003_with_reject_memory_and_orders_intact(tmp_path: Path) -> None:
    path = tmp_path / "at-0002.db"
    cfg = _alembic(path)
    command.upgrade(cfg, "0002")
    stamp = "2026-11-20 10:00:00"
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO orders (google_order_id, merchant_order_id, stage, acknowledged, line_items,"
            " order_json, first_seen_at, last_seen_at)"
            " VALUES ('G-1', 'OS-G-1', 'shipped', 1, '[]', '{}', ?, ?)",
            (stamp, stamp),
        )
    with Ledger(f"sqlite:///{path}") as ledger:
        assert ledger.schema_revision == _head()
        (order,) = ledger.get_orders(["G-1"]).values()
        assert order.merchant_order_id == "OS-G-1" and order.stage == "shipped"
        assert order.square_skip_reason is None
        assert ledger.open_rejects() == {}
    command.downgrade(cfg, "0002")  # and back, for an operator rolling ordersync back
    with sqlite3.connect(path) as raw:
        tables = {name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in raw.execute("PRAGMA table_info(orders)")}
    assert "feed_rejects" not in tables and "square_skip_reason" not in columns


# ------------------------------------------------------------------------ 0006: rows per account
STAMP = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'at-0004.db'}"
    if not POSTGRES_URL:
        pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
    return _empty_postgres(POSTGRES_URL)


def _populate_0004(url: str) -> None:
    """A ledger at 0004 with a row in every table (one order with its intent and shipment)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        rows = {
            "orders": {"google_order_id": "G-1", "merchant_order_id": "OS-1", "stage": "acknowledged",
                       "acknowledged": True, "line_items": "[]", "order_json": '{"id": "G-1"}',
                       "first_seen_at": STAMP, "last_seen_at": STAMP},
            "operations": {"google_order_id": "G-1", "target": "google", "kind": "shipLineItems",
                           "operation_id": "G-1:ship:S-1", "payload": '{"n": 1}', "state": "pending",
                           "attempts": 1, "created_at": STAMP, "updated_at": STAMP},
            "shipments": {"google_order_id": "G-1", "shipment_id": "S-1", "source": "feed", "lines": "[]",
                          "state": "planned", "created_at": STAMP, "updated_at": STAMP},
            "feed_rejects": {"reject_key": "R-1", "content_key": "C-1", "kind": "row", "source": "feed.csv",
                             "line_no": 2, "reason": "order not found", "row": "[]", "retryable": True,
                             "state": "open", "first_seen_at": STAMP, "last_seen_at": STAMP},
            "runs": {"started_at": STAMP, "finished_at": STAMP, "outcome": "ok", "summary": "{}"},
            "report_history": {"report_id": "20261120T100000Z", "written_at": STAMP,
                               "figures": '{"breaks": 3}'},
            "kv": {"key": "google.cursor", "value": '"2026-11-20"', "updated_at": STAMP},
        }  # fmt: skip
        for table, row in rows.items():
            columns, values = ", ".join(row), ", ".join(f":{c}" for c in row)
            conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)
    engine.dispose()


def test_0004_ledger_carries_every_row_over_to_the_account_that_opens_it(ledger_url: str) -> None:
    _populate_0004(ledger_url)
    with Ledger(ledger_url, account="shop-a") as shop_a:
        assert shop_a.schema_revision == _head()
        (order,) = shop_a.get_orders(["G-1"]).values()
        assert (order.merchant_order_id, order.stage) == ("OS-1", "acknowledged")
        assert order.order_json == {"id": "G-1"}
        (pending,) = shop_a.pending_intents()
        assert (pending.key, pending.attempts, pending.payload) == ("G-1:ship:S-1", 1, {"n": 1})
        same_key = Intent("G-1", Target.GOOGLE, "shipLineItems", "G-1:ship:S-1", {})
        assert shop_a.add_intents([same_key]) == [pending]  # still the one intent for that key
        assert [s.shipment_id for s in shop_a.shipments_for(["G-1"])["G-1"]] == ["S-1"]
        assert list(shop_a.open_rejects()) == ["R-1"]
        assert [(r.outcome, r.finished_at) for r in shop_a.last_runs()] == [("ok", STAMP)]
        assert [r.figures for r in shop_a.report_history()] == [{"breaks": 3}]
        assert shop_a.get_value("google.cursor") == "2026-11-20"
        # The keys are per account now: another account may reuse every id, and sees none of them.
        with Ledger(ledger_url, account="shop-b") as shop_b:
            assert shop_b.get_orders(["G-1"]) == {} and shop_b.pending_intents() == []
            assert shop_b.last_runs() == [] and shop_b.get_value("google.cursor") is None
            shop_b.upsert_orders([OrderSnapshot("G-1", merchant_order_id="OS-1")])
            assert shop_b.add_intents([same_key])[0].id != pending.id
        assert len(shop_a.pending_intents()) == 1
        # The references and checks still hold: an intent needs its order, a state its vocabulary.
        with pytest.raises(LedgerError, match="orders already in the ledger"):
            shop_a.add_intents([Intent("G-2", Target.GOOGLE, "acknowledge", "op", {})])
        with pytest.raises(IntegrityError, match="ck_operations"), shop_a.engine.begin() as conn:
            conn.execute(text("UPDATE operations SET state = 'lost' WHERE account = 'shop-a'"))
    if ledger_url.startswith("sqlite"):
        with sqlite3.connect(ledger_url.removeprefix("sqlite:///")) as raw:
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []


def test_0004_ledger_of_a_single_account_config_opens_unchanged_as_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    _populate_0004(url)
    with Ledger(url) as ledger:  # what open_ledger does for a config without [[accounts]]
        assert ledger.account == "default" and list(ledger.get_orders(["G-1"])) == ["G-1"]
        assert len(ledger.pending_intents()) == 1 and ledger.get_value("google.cursor") == "2026-11-20"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
        for table in ("orders", "operations", "shipments", "feed_rejects", "runs", "report_history", "kv"):
            assert raw.execute(f"SELECT DISTINCT account FROM {table}").fetchall() == [("default",)]


def test_0006_downgrade_refuses_a_ledger_shared_by_two_accounts(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    _populate_0004(f"sqlite:///{path}")
    Ledger(path, account="shop-a").close()
    cfg = _alembic(path)
    command.downgrade(cfg, "0004")  # one account: back to 0004, every row kept
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT google_order_id FROM orders").fetchall() == [("G-1",)]
        assert "account" not in {row[1] for row in raw.execute("PRAGMA table_info(orders)")}
    cfg.attributes["account"] = "shop-a"
    command.upgrade(cfg, "head")
    with Ledger(path, account="shop-b") as shop_b:
        shop_b.set_value("google.cursor", "mine")
    with pytest.raises(RuntimeError, match=r"rows of 2 accounts \(shop-a, shop-b\)"):
        command.downgrade(cfg, "0004")
    with Ledger(path, account="shop-a") as shop_a:
        assert shop_a.schema_revision == _head() and shop_a.get_value("google.cursor") == "2026-11-20"
