"""Schema upgrades go through Alembic: a ledger written at 0001 opens at head with its rows intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from sync.adapters.ledger import Ledger
from sync.adapters.ledger.repository import MIGRATIONS_DIR


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
