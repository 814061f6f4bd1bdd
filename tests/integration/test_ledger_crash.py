"""kill -9 at any point, then a rerun: intents survive as pending with the same ids, none doubled."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sync.adapters.ledger import Intent, IntentResult, Ledger, OrderSnapshot
from tests.integration.conftest import schema_head

REPO = Path(__file__).resolve().parents[2]

# Shared by the child and the test: the same deterministic intents on both sides of the crash.
INTENTS_SRC = textwrap.dedent(
    """
    from sync.adapters.ledger import Intent, OrderSnapshot

    def orders(n):
        return [OrderSnapshot(f"G{i:04d}", merchant_id="1", line_items=()) for i in range(n)]

    def intents(batch, per_batch, n_orders):
        out = []
        for i in range(per_batch):
            gid = f"G{(batch * per_batch + i) % n_orders:04d}"
            out.append(Intent(gid, "google", "acknowledge", f"{gid}-ack-{batch}-{i}", {"batch": batch}))
            out.append(Intent(gid, "square", "create", f"{gid}-sq-{batch}-{i}", {"batch": batch}))
        return out
    """
)
ns: dict[str, object] = {}
exec(compile(INTENTS_SRC, "<intents>", "exec"), ns)
make_orders = ns["orders"]
make_intents = ns["intents"]


def _spawn(body: str) -> subprocess.Popen[str]:
    code = INTENTS_SRC + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as raw:
        return raw.execute("PRAGMA integrity_check").fetchone()[0]


def test_killed_after_commit_before_results_resends_same_ids(tmp_path: Path) -> None:
    db = tmp_path / "state" / "ledger.db"
    proc = _spawn(
        f"""
        import json, time
        from sync.adapters.ledger import IntentResult, Ledger
        led = Ledger({str(db)!r})
        led.upsert_orders(orders(100))
        recs = led.add_intents(intents(0, 100, 100))
        # Half the answers arrive and are recorded; the process then dies before the rest.
        led.record_results([IntentResult(r.id, "done", execution_status="executed") for r in recs[:50]])
        print(json.dumps([r.id for r in recs]), flush=True)
        time.sleep(120)
        """
    )
    assert proc.stdout is not None
    ids = json.loads(proc.stdout.readline())
    _kill(proc)

    assert _integrity(db) == "ok"
    with Ledger(db) as led:
        pending = led.pending_intents()
        assert [r.id for r in pending] == ids[50:]
        assert all(r.attempts == 0 for r in pending)
        again = led.add_intents(make_intents(0, 100, 100))  # the rerun derives the same intents
        assert [r.id for r in again] == ids
        assert [r.state for r in again] == ["done"] * 50 + ["pending"] * 150
        assert sum(len(led.intents_for_order(f"G{i:04d}")) for i in range(100)) == 200
        led.record_results([IntentResult(r.id, "done", execution_status="duplicate") for r in pending])
        assert led.pending_intents() == []


def test_killed_mid_transaction_leaves_whole_batches_and_no_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    per_batch, n_orders = 200, 300  # 400 intents per add_intents call
    proc = _spawn(
        f"""
        from sync.adapters.ledger import IntentResult, Ledger
        led = Ledger({str(db)!r})
        led.upsert_orders(orders({n_orders}))
        batch = 0
        while True:
            recs = led.add_intents(intents(batch, {per_batch}, {n_orders}))
            led.record_results([IntentResult(r.id, "retry", error="503") for r in recs[::2]])
            print(batch, flush=True)
            batch += 1
        """
    )
    assert proc.stdout is not None
    for _ in range(5):
        last = int(proc.stdout.readline())
    time.sleep(0.05)  # land somewhere inside a later transaction
    _kill(proc)

    assert _integrity(db) == "ok"
    with Ledger(db) as led:
        rows = [r for i in range(n_orders) for r in led.intents_for_order(f"G{i:04d}")]
        batches = {r.payload["batch"] for r in rows}
        assert len(rows) == len(batches) * 2 * per_batch  # each add_intents is all or nothing
        assert batches == set(range(len(batches))) and len(batches) > last
        before = {r.identity: r.id for r in rows}
        for batch in range(len(batches) + 1):  # the rerun: one batch more than the crashed run reached
            led.add_intents(make_intents(batch, per_batch, n_orders))
        after = [r for i in range(n_orders) for r in led.intents_for_order(f"G{i:04d}")]
        assert len(after) == (len(batches) + 1) * 2 * per_batch
        assert len({r.identity for r in after}) == len(after)
        assert all(before[r.identity] == r.id for r in after if r.identity in before)


def test_new_intent_helper_matches_the_child() -> None:
    # Guards the test itself: the child and the parent must derive identical intents.
    a, b = make_intents(3, 2, 5), make_intents(3, 2, 5)
    assert a == b and all(isinstance(i, Intent) for i in a)
    assert [i.order_id for i in a] == ["G0001", "G0001", "G0002", "G0002"]
    assert make_orders(2)[1] == OrderSnapshot("G0001", merchant_id="1", line_items=())


def test_processes_opening_a_fresh_ledger_at_once_migrate_it_once(tmp_path: Path) -> None:
    db = tmp_path / "fresh" / "ledger.db"
    procs = [
        _spawn(
            f"""
            from sync.adapters.ledger import Ledger
            led = Ledger({str(db)!r}, busy_timeout=30)
            led.set_value("opened-by-{n}", {n})
            print(led.schema_revision, flush=True)
            """
        )
        for n in range(6)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == [schema_head()] * 6 and all(p.returncode == 0 for p in procs)
    with Ledger(db) as led:
        assert [led.get_value(f"opened-by-{n}") for n in range(6)] == list(range(6))
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT version_num FROM alembic_version").fetchall() == [(schema_head(),)]
