"""The ledger repository against real SQLite files (sync/adapters/ledger)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event
from sqlalchemy.exc import StatementError

from sync.adapters.ledger import (
    Intent,
    IntentResult,
    Ledger,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    LedgerSchemaError,
    OrderChanges,
    OrderSnapshot,
    StoredShipment,
)
from sync.adapters.ledger.models import Base
from sync.domain.feed import FeedReject
from sync.domain.orders import ShipmentLine
from sync.domain.progress import LineCounts
from tests.integration.conftest import schema_head

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock, so timestamps in assertions are exact."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def order(gid: str, **fields: object) -> OrderSnapshot:
    row: dict[str, object] = {
        "google_order_id": gid,
        "merchant_id": "1234567",
        "status": "pendingShipment",
        "acknowledged": False,
        "placed_at": T0 - timedelta(hours=1),
        "currency": "USD",
        "total_minor": 12345,
        "line_items": (LineCounts(f"{gid}-L1", "sku-1", 2, price_minor=5000, tax_minor=400),),
        "order_json": {"id": gid, "status": "pendingShipment"},
    }
    row.update(fields)
    return OrderSnapshot(**row)  # type: ignore[arg-type]


def store(ledger: Ledger, *orders: OrderSnapshot, **stages: str) -> None:
    """Upsert snapshots, then set the given orders' stages ({google_order_id: stage})."""
    ledger.upsert_orders(orders)
    ledger.update_orders({gid: OrderChanges(stage=stage) for gid, stage in stages.items()})  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


# A PostgreSQL database to run the repository tests on too, e.g.
# postgresql+psycopg://ordersync:ordersync@127.0.0.1/ordersync_test (its public schema is
# dropped before each test). Unset: those cases are skipped; SQLite is always tested.
POSTGRES_URL = os.environ.get("ORDERSYNC_TEST_POSTGRES_URL", "")


def _empty_postgres(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["native", "portable", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    """Both write paths on SQLite (INSERT .. ON CONFLICT, and the portable SELECT-then-write one),
    and PostgreSQL's when ORDERSYNC_TEST_POSTGRES_URL names a database."""
    if request.param == "postgresql":
        if not POSTGRES_URL:
            pytest.skip("ORDERSYNC_TEST_POSTGRES_URL is not set")
        led = Ledger(_empty_postgres(POSTGRES_URL), clock=clock)
    else:
        led = Ledger(tmp_path / "state" / "ledger.db", clock=clock)
        led._native_upsert = request.param == "native"
    yield led
    led.close()


# ----------------------------------------------------------------------------- opening / schema
def test_new_ledger_is_owner_only_wal_and_at_head(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "ledger.db"
    with Ledger(f"sqlite:///{path}") as led:
        led.set_value("k", 1)  # a write, so the WAL side files exist
        assert led.schema_revision == schema_head()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(f"{path}-wal").st_mode) == 0o600
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [(schema_head(),)]


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as led, led.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_relative_url_resolved_once_and_cwd_independent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Ledger("sqlite:///state/rel.db") as led:
        led.set_value("cursor", {"page": 3})
        assert led.path == tmp_path / "state" / "rel.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # migrations must not be looked up relative to the cwd
    with Ledger(tmp_path / "state" / "rel.db") as led:
        assert led.get_value("cursor") == {"page": 3}


def test_reopen_keeps_data(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.db") as led:
        led.upsert_orders([order("G1")])
    with Ledger(tmp_path / "l.db") as led:
        assert list(led.get_orders(["G1"])) == ["G1"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Ledger(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0042_future'")
    with pytest.raises(LedgerSchemaError) as err:
        Ledger(path)
    assert str(err.value) == (
        f"ledger {path} was written by a newer ordersync (schema 0042_future); upgrade ordersync"
    )


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    path.write_bytes(b"definitely not a SQLite database\n" * 200)
    with pytest.raises(LedgerCorrupt) as err:
        Ledger(path)
    assert str(path) in str(err.value)
    assert "not a usable SQLite database" in str(err.value)


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(LedgerSchemaError, match=r"not an ordersync ledger.*customers"):
        Ledger(path)


def test_write_lock_held_by_another_process_gives_clear_error_after_timeout(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    led = Ledger(path, busy_timeout=0.3)
    code = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    other = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(LedgerLocked) as err:
            led.upsert_orders([order("G1")])
        waited = time.monotonic() - started
    finally:
        other.kill()
        other.wait(timeout=10)
        other.stdout.close()
    assert 0.25 <= waited < 5
    assert str(path) in str(err.value) and "locked by another process" in str(err.value)
    led.upsert_orders([order("G1")])  # usable again once the other writer is gone
    assert list(led.get_orders(["G1"])) == ["G1"]
    led.close()


def test_exclusive_lock_on_open_gives_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Ledger(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode = DELETE")  # rollback journal: EXCLUSIVE also blocks readers
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(LedgerLocked, match="locked by another process"):
            Ledger(path, busy_timeout=0.2)
    finally:
        other.execute("ROLLBACK")
        other.close()


# ------------------------------------------------------------------------------------- orders
def test_upsert_inserts_then_updates_only_given_fields(ledger: Ledger, clock: Clock) -> None:
    store(ledger, order("G1"), order("G2"), G2="acknowledged")
    first = ledger.get_orders(["G1"])["G1"]
    assert first.first_seen_at == first.last_seen_at == T0
    assert first.stage == "new" and first.acknowledged is False
    assert first.placed_at == T0 - timedelta(hours=1) and first.placed_at.tzinfo is UTC
    assert first.line_items[0].price_minor == 5000

    later = clock.advance(minutes=10)
    ledger.update_orders({"G1": OrderChanges(stage="acknowledged", square_order_id="SQ1")})  # type: ignore[arg-type]
    ledger.upsert_orders([OrderSnapshot("G1", status="shipped", acknowledged=True)])
    rec = ledger.get_orders(["G1"])["G1"]
    assert (rec.status, rec.acknowledged, rec.stage, rec.square_order_id) == (
        "shipped",
        True,
        "acknowledged",
        "SQ1",
    )
    assert rec.total_minor == 12345 and rec.currency == "USD"  # untouched by the partial row
    assert rec.first_seen_at == T0 and rec.last_seen_at == later


def test_upsert_merges_rows_for_the_same_order(ledger: Ledger) -> None:
    ledger.upsert_orders([order("G1"), OrderSnapshot("G1", status="canceled")])
    assert ledger.get_orders(["G1"])["G1"].status == "canceled"


def test_upsert_validates_rows(ledger: Ledger) -> None:
    with pytest.raises(TypeError, match="colour"):  # records: an unknown field cannot be given
        ledger.upsert_orders([order("G1", colour="red")])
    with pytest.raises(ValueError, match="google_order_id"):
        ledger.upsert_orders([OrderSnapshot("", status="x")])
    with pytest.raises(TypeError, match="minor units"):
        ledger.upsert_orders([order("G1", total_minor=123.45)])
    with pytest.raises(StatementError, match="naive datetime"):
        ledger.upsert_orders([order("G1", placed_at=datetime(2025, 1, 1))])
    assert ledger.get_orders(["G1"]) == {}


def test_datetimes_are_normalised_to_utc(ledger: Ledger) -> None:
    plus2 = timezone(timedelta(hours=2))
    ledger.upsert_orders([order("G1", placed_at=datetime(2025, 1, 1, 14, 0, tzinfo=plus2))])
    ledger.upsert_orders([order("G2", placed_at="2025-01-01T12:00:00Z")])
    got = ledger.get_orders(["G1", "G2"])
    assert got["G1"].placed_at == got["G2"].placed_at == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert got["G1"].placed_at.utcoffset() == timedelta(0)


def test_merchant_order_id_unique_when_set(ledger: Ledger) -> None:
    ledger.upsert_orders([order("G1", merchant_order_id="OS-G1"), order("G2"), order("G3")])  # NULLs coexist
    assert ledger.find_by_merchant_order_id("OS-G1").google_order_id == "G1"
    assert ledger.find_by_merchant_order_id("nope") is None
    with pytest.raises(LedgerError, match="merchant_order_id"):
        ledger.upsert_orders([order("G2", merchant_order_id="OS-G1")])
    with pytest.raises(LedgerError, match="merchant_order_id"):
        ledger.update_orders({"G3": OrderChanges(merchant_order_id="OS-G1")})
    assert ledger.get_orders(["G2"])["G2"].merchant_order_id is None


def test_queries_over_orders(ledger: Ledger) -> None:
    stages = ["new", "acknowledged", "shipped", "delivered", "canceled", "returned", "new"]
    store(ledger, *(order(f"G{i:02d}") for i in range(7)), **{f"G{i:02d}": s for i, s in enumerate(stages)})
    assert set(ledger.get_orders(["G00", "G03", "missing"])) == {"G00", "G03"}
    assert [o.google_order_id for o in ledger.iter_orders(batch=3)] == [f"G{i:02d}" for i in range(7)]
    assert [o.google_order_id for o in ledger.open_orders()] == ["G00", "G01", "G02", "G06"]
    assert ledger.count_by_stage() == {
        "acknowledged": 1,
        "canceled": 1,
        "delivered": 1,
        "new": 2,
        "returned": 1,
        "shipped": 1,
    }


def test_queries_the_cycle_and_square_bridge_use(ledger: Ledger, clock: Clock) -> None:
    store(
        ledger,
        order("G1", merchant_order_id="OS-G1", placed_at=T0 - timedelta(days=3)),
        order("G2", merchant_order_id="OS-G2", placed_at=T0 - timedelta(days=2)),
        order("G3", placed_at=T0 - timedelta(days=1)),
        order("G4", placed_at=T0),
        G1="delivered",
        G4="canceled",
    )
    ledger.update_orders({"G3": OrderChanges(square_order_id="SQ3")})
    found = ledger.find_by_merchant_order_ids(["OS-G1", "OS-G2", "OS-nope"])
    assert {k: v.google_order_id for k, v in found.items()} == {"OS-G1": "G1", "OS-G2": "G2"}
    assert [o.google_order_id for o in ledger.orders_missing_square()] == ["G2"]  # open and no Square id
    assert ledger.oldest_open_placed_at() == T0 - timedelta(days=2)

    at = clock.advance(minutes=5)
    assert ledger.record_order_error("G2", "cannot map SKU sku-1") is True
    assert ledger.record_order_error("never-stored", "malformed") is False
    rec = ledger.get_orders(["G2"])["G2"]
    assert (rec.last_error, rec.last_error_at) == ("cannot map SKU sku-1", at)

    ledger.update_orders(
        {"G2": OrderChanges(stage="shipped", square_order_id="SQ2"), "G3": OrderChanges(stage="returned")}  # type: ignore[arg-type]
    )
    assert ledger.orders_missing_square() == []
    assert ledger.oldest_open_placed_at() == T0 - timedelta(days=2)
    ledger.update_orders({"G2": OrderChanges(stage="delivered")})  # type: ignore[arg-type]
    assert ledger.oldest_open_placed_at() is None


def test_update_orders_is_all_or_nothing(ledger: Ledger) -> None:
    ledger.upsert_orders([order("G1"), order("G2")])
    with pytest.raises(LedgerError, match=r"unknown order.*G9"):
        ledger.update_orders({"G1": OrderChanges(stage="shipped"), "G9": OrderChanges(stage="shipped")})  # type: ignore[arg-type]
    assert ledger.get_orders(["G1"])["G1"].stage == "new"
    ledger.update_orders(
        {"G1": OrderChanges(stage="shipped"), "G2": OrderChanges(last_error="boom", stage="new")}  # type: ignore[arg-type]
    )
    got = ledger.get_orders(["G1", "G2"])
    assert (got["G1"].stage, got["G2"].last_error) == ("shipped", "boom")
    with pytest.raises(TypeError, match="first_seen_at"):  # not a field one can set
        ledger.update_orders({"G1": OrderChanges(first_seen_at=T0)})  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------ intents
def intent(
    gid: str, op: str, kind: str = "acknowledge", target: str = "google", **payload: object
) -> Intent:
    return Intent(gid, target, kind, op, dict(payload))  # type: ignore[arg-type]


def test_add_intents_is_idempotent_and_aligned(ledger: Ledger) -> None:
    ledger.upsert_orders([order("G1"), order("G2")])
    first = ledger.add_intents([intent("G1", "G1-ack-1", v=1), intent("G2", "G2-ack-1")])
    assert [r.state for r in first] == ["pending", "pending"]
    assert first[0].payload == {"v": 1} and first[0].attempts == 0

    again = ledger.add_intents(
        [
            intent("G2", "G2-merchantid-1", kind="updatemerchantorderid"),
            intent("G1", "G1-ack-1", v=2),  # same key, different payload: the stored one wins
            intent("G1", "G1-ack-1", target="square", kind="create"),  # other target: a new intent
            intent("G2", "G2-ack-1"),
        ]
    )
    assert again[1] == first[0] and again[3] == first[1]
    assert again[1].payload == {"v": 1}
    assert again[0].kind == "updatemerchantorderid" and again[2].target == "square"
    assert len({r.id for r in again}) == 4
    assert len(ledger.intents_for_order("G1")) == 2


def test_add_intents_duplicates_within_one_call(ledger: Ledger) -> None:
    ledger.upsert_orders([order("G1")])
    recs = ledger.add_intents([intent("G1", "op", v=1), intent("G1", "op", v=2)])
    assert recs[0] == recs[1] and recs[0].payload == {"v": 1}


def test_add_intents_for_unknown_order_or_bad_target(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="orders already in the ledger"):
        ledger.add_intents([intent("nope", "op")])
    with pytest.raises(ValueError, match="target"):
        Intent("G1", "amazon", "x", "op")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key"):  # the operation id
        Intent("G1", "google", "x", "")  # type: ignore[arg-type]


def test_record_results_transitions(ledger: Ledger, clock: Clock) -> None:
    ledger.upsert_orders([order("G1")])
    a, b, c = ledger.add_intents(
        [intent("G1", "a"), intent("G1", "b", "shiplineitems"), intent("G1", "c", "cancel")]
    )
    t1 = clock.advance(minutes=1)
    ledger.record_results(
        [
            IntentResult(a.id, "done", execution_status="executed"),
            IntentResult(b.id, "retry", error="503 backendError", reason="backendError"),
            IntentResult(c.id, "failed", error="order is not cancelable", reason="orderNotCancelable"),
        ]
    )
    got = {r.key: r for r in ledger.intents_for_order("G1")}
    assert (got["a"].state, got["a"].execution_status, got["a"].done_at, got["a"].attempts) == (
        "done",
        "executed",
        t1,
        1,
    )
    assert (got["b"].state, got["b"].attempts, got["b"].error_reason) == ("pending", 1, "backendError")
    assert (got["c"].state, got["c"].last_error, got["c"].error_reason) == (
        "failed",
        "order is not cancelable",
        "orderNotCancelable",
    )

    clock.advance(minutes=1)
    ledger.record_results([IntentResult(b.id, "retry", error="again"), IntentResult(a.id, "retry")])
    ledger.record_results([IntentResult(b.id, "done", execution_status="duplicate")])
    ledger.record_results([IntentResult(b.id, "failed"), IntentResult(c.id, "done")])  # final states stay
    got = {r.key: r for r in ledger.intents_for_order("G1")}
    assert (got["a"].state, got["a"].attempts) == ("done", 1)
    assert (got["b"].state, got["b"].execution_status, got["b"].attempts) == ("done", "duplicate", 3)
    assert got["c"].state == "failed"
    assert ledger.pending_intents() == []
    with pytest.raises(ValueError, match="outcome"):
        IntentResult(1, "maybe")  # type: ignore[arg-type]


def test_pending_and_failed_queries(ledger: Ledger, clock: Clock) -> None:
    ledger.upsert_orders([order("G1"), order("G2")])
    recs = ledger.add_intents(
        [
            intent("G1", "1", "acknowledge"),
            intent("G1", "2", "create", target="square"),
            intent("G2", "3", "acknowledge"),
            intent("G2", "4", "shiplineitems"),
        ]
    )
    assert [r.key for r in ledger.pending_intents()] == ["1", "2", "3", "4"]  # recording order
    assert [r.key for r in ledger.pending_intents(target="square")] == ["2"]
    assert [r.key for r in ledger.pending_intents(kinds=["shiplineitems", "create"])] == ["2", "4"]
    assert [r.key for r in ledger.pending_intents(target="google", limit=2)] == ["1", "3"]

    ledger.record_results([IntentResult(recs[0].id, "failed", error="x")])
    since = clock.advance(hours=1)
    ledger.record_results([IntentResult(recs[3].id, "failed", error="y")])
    assert [r.key for r in ledger.failed_intents()] == ["1", "4"]
    assert [r.key for r in ledger.failed_intents(since=since)] == ["4"]


# ---------------------------------------------------------------------------------- shipments
def test_shipments_upsert_never_regress(ledger: Ledger, clock: Clock) -> None:
    ledger.upsert_orders([order("G1"), order("G2")])
    shipped = T0 - timedelta(hours=3)
    row = StoredShipment(
        "G1", "S1", source="feed", carrier="ups", tracking_id="1Z",  # type: ignore[arg-type]
        lines=(ShipmentLine("G1-L1", 2),), shipped_at=shipped,
    )
    ledger.upsert_shipments([row])
    delivered = clock.advance(days=1)
    ledger.upsert_shipments([replace(row, delivered_at=delivered, state="delivered")])  # type: ignore[arg-type]
    # A later export without delivered_at, claiming an earlier state, must not undo anything.
    ledger.upsert_shipments([replace(row, delivered_at=None, carrier=None, state="planned")])  # type: ignore[arg-type]
    (s1,) = ledger.shipments_for(["G1"])["G1"]
    assert (s1.state, s1.delivered_at, s1.carrier, s1.shipped_at) == ("delivered", delivered, "ups", shipped)
    assert s1.created_at == T0 and s1.updated_at == delivered
    assert s1.lines == (ShipmentLine("G1-L1", 2),)
    with pytest.raises(ValueError, match="lost"):
        ledger.upsert_shipments([replace(row, state="lost")])  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="orders already in the ledger"):
        ledger.upsert_shipments([replace(row, order_id="nope")])


def test_shipment_lookups_and_marking(ledger: Ledger, clock: Clock) -> None:
    ledger.upsert_orders([order("G1"), order("G2")])
    ledger.upsert_shipments(
        [StoredShipment("G1", "S1"), StoredShipment("G1", "S2", source="square")]  # type: ignore[arg-type]
    )
    assert ledger.known_shipment_ids(["G1", "G2"]) == {"G1": {"S1", "S2"}, "G2": set()}
    assert [s.state for s in ledger.shipments_for(["G1"])["G1"]] == ["planned", "planned"]

    t1 = clock.advance(hours=1)
    ledger.mark_shipments([("G1", "S1"), ("G1", "S2")], "shipped")
    t2 = clock.advance(hours=1)
    ledger.mark_shipments([("G1", "S1")], "delivered", at=t2 - timedelta(minutes=5))
    ledger.mark_shipments([("G1", "S1")], "shipped", at=t2)  # late replay: no step back
    s1, s2 = ledger.shipments_for(["G1"])["G1"]
    assert (s1.state, s1.shipped_at, s1.delivered_at) == ("delivered", t1, t2 - timedelta(minutes=5))
    assert (s2.state, s2.shipped_at, s2.delivered_at) == ("shipped", t1, None)


# ------------------------------------------------------------------------------- runs, kv, status
def test_runs(ledger: Ledger, clock: Clock) -> None:
    crashed = ledger.start_run()
    clock.advance(minutes=10)
    run = ledger.start_run()
    clock.advance(minutes=1)
    ledger.finish_run(run, "ok", {"orders": 3, "sent": 5})
    newest, oldest = ledger.last_runs(5)
    assert (newest.id, newest.outcome, newest.summary, newest.finished_at) == (
        run,
        "ok",
        {"orders": 3, "sent": 5},
        T0 + timedelta(minutes=11),
    )
    assert (oldest.id, oldest.outcome, oldest.finished_at) == (crashed, "interrupted", None)
    assert len(ledger.last_runs(1)) == 1
    with pytest.raises(LedgerError, match="no run 999"):
        ledger.finish_run(999, "ok", {})


def test_key_values(ledger: Ledger) -> None:
    assert ledger.get_value("cursor") is None
    assert ledger.get_value("cursor", {"page": 0}) == {"page": 0}
    ledger.set_value("cursor", {"page": 1})
    ledger.set_value("cursor", {"page": 2, "token": "abc"})
    ledger.set_value("count", 7)
    assert (ledger.get_value("cursor"), ledger.get_value("count")) == ({"page": 2, "token": "abc"}, 7)
    # A prefix is matched literally ("_" and "%" are no wildcards), keys in order.
    ledger.set_value("refunds.returns.B", [2])
    ledger.set_value("refunds.returns.A", [1])
    ledger.set_value("refundsXreturnsXC", [3])
    found = ledger.values_with_prefix("refunds.returns.")
    assert found == {"refunds.returns.A": [1], "refunds.returns.B": [2]}
    ledger.set_value("a_b", 1)
    ledger.set_value("axb", 2)
    assert ledger.values_with_prefix("a_") == {"a_b": 1} and ledger.values_with_prefix("%") == {}


def test_status_summary(ledger: Ledger) -> None:
    store(ledger, order("G1"), order("G2"), G2="delivered")
    recs = ledger.add_intents(
        [intent("G1", "1"), intent("G1", "2", "create", target="square"), intent("G2", "3", "cancel")]
    )
    ledger.record_results([IntentResult(recs[2].id, "failed", error="no")])
    ledger.finish_run(ledger.start_run(), "partial", {"failed": 1})
    summary = ledger.status_summary()
    assert (summary["orders_total"], summary["orders_by_stage"]) == (2, {"delivered": 1, "new": 1})
    assert summary["operations"] == {
        "failed google.cancel": 1,
        "pending google.acknowledge": 1,
        "pending square.create": 1,
    }
    assert summary["pending_operations"] == {"google": {"acknowledge": 1}, "square": {"create": 1}}
    assert summary["failed_operations"] == {"google": {"cancel": 1}}
    assert (summary["pending_total"], summary["failed_total"]) == (2, 1)
    assert summary["oldest_pending_at"] == T0.isoformat()
    assert [r["outcome"] for r in summary["last_runs"]] == ["partial"]
    assert summary["schema"] == schema_head()
    if ledger.path is not None:
        assert summary["ledger"] == str(ledger.path)
    else:  # a server URL: shown without its password
        assert "***@" in summary["ledger"] and ":ordersync@" not in summary["ledger"]
    json.dumps(summary)  # `ordersync status --json` prints it as is


# -------------------------------------------------------------------------------- bulk behaviour
def test_bulk_methods_use_a_bounded_number_of_statements(ledger: Ledger) -> None:
    """Statements (an executemany counts once) must not grow with the number of rows."""
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(ledger.engine, "before_cursor_execute", count)
    n = 2000
    ledger.upsert_orders([order(f"G{i:05d}") for i in range(n)])
    ledger.upsert_orders([OrderSnapshot(f"G{i:05d}", status="shipped") for i in range(n)])
    recs = ledger.add_intents([intent(f"G{i:05d}", f"op-{i}-{k}") for i in range(n) for k in range(2)])
    ledger.add_intents([intent(f"G{i:05d}", f"op-{i}-{k}") for i in range(n) for k in range(2)])
    ledger.record_results([IntentResult(r.id, "done") for r in recs])
    ledger.get_orders(f"G{i:05d}" for i in range(n))
    ledger.upsert_shipments([StoredShipment(f"G{i:05d}", "S1") for i in range(n)])
    ledger.known_shipment_ids(f"G{i:05d}" for i in range(n))
    event.remove(ledger.engine, "before_cursor_execute", count)
    # 8 calls over 2,000 orders / 4,000 intents; IN lists go 500 keys at a time.
    assert len(statements) <= 100, len(statements)
    assert ledger.pending_intents() == []


@pytest.mark.slow
def test_ten_thousand_orders_and_twenty_thousand_intents(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "big.db")
    rows = [order(f"TEST-{i:010d}") for i in range(10_000)]
    started = time.perf_counter()
    led.upsert_orders(rows)
    recs = led.add_intents(
        [
            intent(r.google_order_id, f"{r.google_order_id}-{k}", kind=k)
            for r in rows
            for k in ("ack", "mid")
        ]
    )
    elapsed = time.perf_counter() - started
    assert len({r.id for r in recs}) == 20_000
    assert led.count_by_stage() == {"new": 10_000}
    assert elapsed < 30, f"bulk paths regressed: {elapsed:.1f}s (about 1s expected)"
    led.close()


# ------------------------------------------------------------------------------- unit of work
def test_transaction_commits_or_rolls_back_every_write_in_it(ledger: Ledger) -> None:
    store(ledger, order("G1"))
    (rec,) = ledger.add_intents([intent("G1", "op-1")])
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.record_results([IntentResult(rec.id, "done")])
        ledger.update_orders({"G1": OrderChanges(square_order_id="SQ1")})
        assert ledger.get_orders(["G1"])["G1"].square_order_id == "SQ1"  # reads join the transaction
        raise RuntimeError("crash between the two writes")
    assert ledger.get_orders(["G1"])["G1"].square_order_id is None
    assert [r.state for r in ledger.pending_intents()] == ["pending"]
    with ledger.transaction(), ledger.transaction():  # a nested block joins the outer one
        ledger.record_results([IntentResult(rec.id, "done")])
        ledger.update_orders({"G1": OrderChanges(square_order_id="SQ1")})
    assert ledger.get_orders(["G1"])["G1"].square_order_id == "SQ1"
    assert ledger.pending_intents() == []


# ----------------------------------------------------------------------- accounts sharing a ledger
@pytest.fixture
def other_account(ledger: Ledger, clock: Clock) -> Iterator[Ledger]:
    """A second account's ledger on the same database as ``ledger`` (account ``default``)."""
    other = Ledger(ledger.url, account="shop-b", clock=clock)
    other._native_upsert = ledger._native_upsert  # the same write path as the parametrised one
    yield other
    other.close()


def test_accounts_sharing_a_ledger_never_see_each_others_rows(
    ledger: Ledger, other_account: Ledger, clock: Clock
) -> None:
    """The same Google order id, operationIds, shipment ids, feed rows and kv keys in two accounts
    of one database are two sets of rows: every read, write and key lookup stays in its account."""
    a, b = ledger, other_account
    a.upsert_orders([order("G1", merchant_order_id="OS-1"), order("G2")])
    b.upsert_orders([order("G1", merchant_order_id="OS-1", total_minor=999, status="shipped")])
    assert a.get_orders(["G1"])["G1"].total_minor == 12345 and b.get_orders(["G1"])["G1"].total_minor == 999
    assert set(a.get_orders_light(["G1", "G2"])) == {"G1", "G2"}
    assert set(b.get_orders_light(["G1", "G2"])) == {"G1"}
    a.update_orders({"G1": OrderChanges(stage="delivered", square_order_id="SQ-A")})  # type: ignore[arg-type]
    assert (b.get_orders(["G1"])["G1"].stage, b.get_orders(["G1"])["G1"].square_order_id) == ("new", None)
    with pytest.raises(LedgerError, match="unknown order"):
        b.update_orders({"G2": OrderChanges(stage="delivered")})  # type: ignore[arg-type]
    assert a.find_by_merchant_order_id("OS-1").total_minor == 12345  # type: ignore[union-attr]
    assert b.find_by_merchant_order_ids(["OS-1"])["OS-1"].total_minor == 999
    assert [o.google_order_id for o in a.iter_orders(batch=1)] == ["G1", "G2"]
    assert [o.google_order_id for o in b.iter_orders(batch=1)] == ["G1"]
    assert [o.google_order_id for o in a.open_orders()] == ["G2"]
    assert [o.google_order_id for o in b.orders_missing_square()] == ["G1"]
    assert a.count_by_stage() == {"delivered": 1, "new": 1} and b.count_by_stage() == {"new": 1}
    assert not b.record_order_error("G2", "boom") and b.get_orders(["G2"]) == {}
    assert b.record_order_error("G1", "boom") and a.get_orders(["G1"])["G1"].last_error is None

    # Same operationIds: each account commits its own intent, with its own payload and state.
    (ia,) = a.add_intents([intent("G1", "op-1", note="a")])
    (ib,) = b.add_intents([intent("G1", "op-1", note="b")])
    assert ia.id != ib.id and (ia.payload, ib.payload) == ({"note": "a"}, {"note": "b"})
    assert b.add_intents([intent("G1", "op-1", note="again")])[0].id == ib.id  # still idempotent
    a.record_results([IntentResult(ia.id, "done"), IntentResult(ib.id, "failed", error="not a's")])  # type: ignore[arg-type]
    assert [i.state for i in a.intents_for_order("G1")] == ["done"]
    assert [(i.id, i.state) for i in b.pending_intents()] == [(ib.id, "pending")]
    assert a.failed_intents() == [] and b.failed_intents() == []
    with pytest.raises(LedgerError, match="orders already in the ledger"):
        b.add_intents([intent("G2", "op-2")])  # G2 is a's order, not b's

    # Same shipment ids.
    a.upsert_shipments([StoredShipment("G1", "S1", carrier="ups")])
    b.upsert_shipments([StoredShipment("G1", "S1", carrier="dhl")])
    a.mark_shipments([("G1", "S1")], "delivered")
    a.retrack_shipments([("G1", "S1", "fedex", "TRK-A")])
    ((sb,),) = b.shipments_for(["G1"]).values()
    assert (sb.state, sb.carrier, sb.tracking_id) == ("planned", "dhl", None)
    assert [s.carrier for s in a.iter_shipments()] == ["fedex"] and len(list(b.iter_shipments())) == 1
    assert b.known_shipment_ids(["G1", "G2"]) == {"G1": {"S1"}, "G2": set()}
    by_ref = b.shipment_states_by_ref(["G1", "OS-1", "G2"])
    assert by_ref == {"G1": {"S1": "planned"}, "OS-1": {"S1": "planned"}}

    # The same feed row rejected in both accounts; clearing it in one leaves the other open.
    reject = FeedReject("feed.csv", 2, "order not found", {"order_id": "G9", "carrier": "ups"})
    a.record_rejects([reject], run_id=None)
    b.record_rejects([reject], run_id=None)
    a.record_rejects([], run_id=None, cleared={reject.key: "applied"})
    assert a.open_rejects() == {} and list(b.open_rejects()) == [reject.key]

    # Runs: b starting a cycle must not mark a's running one interrupted; kv and report history.
    run_a = a.start_run()
    run_b = b.start_run()
    assert [r.outcome for r in a.last_runs()] == ["running"] and [r.id for r in b.last_runs()] == [run_b]
    with pytest.raises(LedgerError, match=f"no run {run_a}"):
        b.finish_run(run_a, "ok", {})
    a.finish_run(run_a, "ok", {})
    assert a.last_run_with_outcome(["ok"]).id == run_a  # type: ignore[union-attr]
    assert b.last_run_with_outcome(["ok"]) is None
    a.set_value("cursor", {"page": 1})
    b.set_value("cursor", {"page": 2})
    assert (a.get_value("cursor"), b.get_value("cursor")) == ({"page": 1}, {"page": 2})
    assert a.values_with_prefix("cur") == {"cursor": {"page": 1}}
    for n in range(3):
        a.record_report(f"a-{n}", {"breaks": n}, keep=2)
    b.record_report("b-0", {"breaks": 9}, keep=2)
    assert [r.report_id for r in a.report_history()] == ["a-1", "a-2"]
    assert [r.report_id for r in b.report_history()] == ["b-0"]  # not pruned by a's keep

    sa, sb_ = a.status_summary(), b.status_summary()
    assert (sa["orders_total"], sb_["orders_total"]) == (2, 1)
    assert (sa["pending_total"], sb_["pending_total"]) == (0, 1)
    assert (sa["account"], sb_["account"]) == ("default", "shop-b")


def test_an_account_name_is_required_and_bounded(tmp_path: Path) -> None:
    for bad in ("", "x" * 49):
        with pytest.raises(ValueError, match="a ledger account is 1-48 characters"):
            Ledger(tmp_path / "l.db", account=bad)


def test_an_account_adopts_the_rows_of_another_in_one_move(
    ledger: Ledger, other_account: Ledger, clock: Clock
) -> None:
    """A configuration grown into [[accounts]]: the entry takes over the 'default' rows whole,
    the references between them intact; refused while the entry has rows of its own."""
    old, entry = ledger, other_account
    store(old, order("G1", merchant_order_id="OS-1"), order("G2"), G2="delivered")
    (rec,) = old.add_intents([intent("G1", "op-1")])
    old.upsert_shipments([StoredShipment("G1", "S1")])
    old.record_rejects([FeedReject("feed.csv", 2, "order not found", {"order_id": "G9"})], run_id=None)
    old.finish_run(old.start_run(), "ok", {})
    old.set_value("cursor", {"page": 4})
    old.record_report("r-1", {"breaks": 0})
    assert not entry.holds_rows_of("shop-b") and old.holds_rows_of("default")

    moved = entry.adopt_rows("default")
    assert moved == {"orders": 2, "operations": 1, "shipments": 1, "feed_rejects": 1, "runs": 1,
                     "report_history": 1, "kv": 1}  # fmt: skip
    assert old.rows_of("default") == {} and entry.rows_of("shop-b") == moved
    assert entry.get_orders(["G1"])["G1"].merchant_order_id == "OS-1"
    assert entry.count_by_stage() == {"delivered": 1, "new": 1}
    assert entry.add_intents([intent("G1", "op-1")]) == [rec]  # the same intent, not a new one
    assert [s.shipment_id for s in entry.shipments_for(["G1"])["G1"]] == ["S1"]
    assert entry.get_value("cursor") == {"page": 4} and len(entry.open_rejects()) == 1
    old.upsert_orders([order("G3")])
    with pytest.raises(LedgerError, match="'shop-b' already has rows"):
        entry.adopt_rows("default")
    assert list(old.get_orders(["G3"])) == ["G3"]  # nothing moved
    with pytest.raises(ValueError, match="its own rows"):
        entry.adopt_rows("shop-b")
