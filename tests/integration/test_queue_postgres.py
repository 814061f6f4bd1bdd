"""Queue mode on a real PostgreSQL: several accounts, several `ordersync worker` processes, one
SIGKILLed and one SIGTERMed mid-cycle. Every order is delivered and acknowledged exactly once, and
no two cycles of one account ever overlap (each account's own ledger records every cycle's start
and end). Skipped without ORDERSYNC_TEST_POSTGRES_URL (`bash .ci/postgres.sh` prints one).

Each test works in schemas of its own (the queue's, and one per account through
``[accounts.ledger] url = "…?options=-csearch_path%3D…"``, or one ledger schema all accounts
share), dropped afterwards, so suites running side by side on one database never meet. Kept lean:
a few orders, bounded loops, 60 ms latency.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_URL = os.environ.get("ORDERSYNC_TEST_POSTGRES_URL", "")
pytestmark = [
    pytest.mark.skipif(not PG_URL, reason="ORDERSYNC_TEST_POSTGRES_URL not set (bash .ci/postgres.sh)"),
    pytest.mark.timeout(240),
]
psycopg = pytest.importorskip("psycopg")
pytest.importorskip("procrastinate")

from sync.adapters.cycle_queue import CycleQueue, libpq_url  # noqa: E402
from sync.adapters.ledger import Ledger  # noqa: E402
from sync.config import load_settings  # noqa: E402
from sync.entrypoints.cli_queue import scheduled_enqueue  # noqa: E402
from sync.sandbox.server import Sandbox  # noqa: E402
from tests import fleet_setup  # noqa: E402

ORDERS_PER_ACCOUNT = 3
LATENCY_MS = 60
DEADLINE_S = 120


def schema_url(schema: str, *, password: bool) -> str:
    return fleet_setup.schema_url(PG_URL, schema, password=password)


@dataclass
class Fleet:
    files: fleet_setup.FleetFiles
    sandbox: Sandbox
    queue: CycleQueue
    accounts: dict[str, str]  # name -> merchant id
    schemas: dict[str, str]  # name -> ledger schema
    queue_schema: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.files.root

    @property
    def env(self) -> dict[str, str]:
        return self.files.env

    @property
    def orders(self) -> dict[str, list[str]]:
        return self.files.orders

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = fleet_setup.start_worker(self.files, self.root / f"worker{len(self.workers)}.out")
        self.workers.append(proc)
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        index = self.workers.index(proc)
        return (self.root / f"worker{index}.out").read_text(encoding="utf-8", errors="replace")

    def sql(self, query: str, *args: Any, schema: str = "public") -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(schema_url(schema, password=True)), autocommit=True) as conn:
            cursor = conn.execute(query, args)
            return cursor.fetchall() if cursor.description else []

    def cycle_holder(self) -> tuple[str, int] | None:
        """(account, pid) of a live worker holding an account's cycle lock with intents recorded."""
        live = {p.pid for p in self.workers if p.poll() is None}
        if not live:
            raise AssertionError("every worker exited:\n" + "\n".join(self.log_of(p) for p in self.workers))
        for name, schema in self.schemas.items():
            rows = self.sql(f'SELECT holder FROM "{schema}".locks WHERE name = %s', f"cycle-{name}")
            ops = self.sql(f'SELECT count(*) FROM "{schema}".operations WHERE account = %s', name)[0][0]
            for (holder,) in rows:
                pid = int(json.loads(holder).get("pid", 0))
                if pid in live and ops:
                    return name, pid
        return None

    def delivered(self) -> bool:
        google = self.sandbox.google
        return all(
            google.get_order(self.accounts[name], oid)["status"] == "delivered"
            for name, ids in self.orders.items()
            for oid in ids
        )

    def runs(self, name: str) -> list[Any]:
        ledger = Ledger(schema_url(self.schemas[name], password=True), account=name)
        try:
            return sorted(ledger.last_runs(1000), key=lambda r: r.started_at)
        finally:
            ledger.close()

    def open_jobs(self) -> list[dict[str, Any]]:
        return [j for j in self.queue.jobs() if j["status"] in ("todo", "doing")]


def make_fleet(tmp_path: Path, sandbox: Sandbox, account_count: int, *, shared_ledger: bool) -> Fleet:
    """``shared_ledger``: every account's rows in one ledger schema; else one schema per account."""
    suffix = uuid.uuid4().hex[:8]
    queue_schema = f"osq_{suffix}"
    accounts = {f"acct{i}": str(7100000 + i) for i in range(account_count)}
    schemas = {name: f"osa_{suffix}" if shared_ledger else f"osa_{suffix}_{name}" for name in accounts}
    fleet_setup.create_schemas(PG_URL, {queue_schema, *schemas.values()})
    for schema in set(schemas.values()):
        Ledger(schema_url(schema, password=True)).close()  # the ledger's tables, migrated up front
    files = fleet_setup.setup_fleet(
        tmp_path, sandbox, PG_URL, queue_url=schema_url(queue_schema, password=False), accounts=accounts,
        ledger_urls={name: schema_url(schema, password=False) for name, schema in schemas.items()},
        orders=ORDERS_PER_ACCOUNT, templates=("template1",), tracking="1ZQ{merchant}{i:04d}",
        google={"max_backoff_seconds": 0.5, "recheck_open_orders_minutes": 0},
        queue={"heartbeat_seconds": 0.5, "stalled_seconds": 3},
    )  # fmt: skip
    queue = CycleQueue(schema_url(queue_schema, password=True))
    return Fleet(files, sandbox, queue, accounts, schemas, queue_schema)


@pytest.fixture
def fleet_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Fleet] = []
    with Sandbox(seed=11).start() as sandbox:

        def make(account_count: int, *, shared_ledger: bool = False) -> Fleet:
            fleet = make_fleet(tmp_path, sandbox, account_count, shared_ledger=shared_ledger)
            made.append(fleet)
            sandbox.configure_faults(latency_ms=LATENCY_MS)
            return fleet

        try:
            yield make
        finally:
            for fleet in made:
                for proc in fleet.workers:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(timeout=30)
                fleet_setup.drop_schemas(PG_URL, {*fleet.schemas.values(), fleet.queue_schema})


def wait_for(what: str, condition: Any, timeout: float = DEADLINE_S, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_exactly_once_and_no_overlap(fleet: Fleet, killed_at: float | None = None) -> None:
    total = ORDERS_PER_ACCOUNT * len(fleet.accounts)
    mutations = fleet.sandbox.stats.snapshot()["mutations"]
    for method in ("acknowledge", "updatemerchantorderid", "shiplineitems", "updateshipment"):
        assert mutations.get(f"content.orders.{method}") == total, (method, mutations)
    for name, ids in fleet.orders.items():
        for oid in ids:
            order = fleet.sandbox.google.get_order(fleet.accounts[name], oid)
            assert order["acknowledged"] is True and order["status"] == "delivered"
        runs = fleet.runs(name)
        assert runs, name
        for before, after in itertools.pairwise(runs):
            if before.outcome == "interrupted":  # its worker was killed: it ended before the next began
                assert killed_at is not None and after.started_at.timestamp() >= killed_at, name
                continue
            assert before.finished_at is not None, (name, before)
            assert before.finished_at <= after.started_at, f"cycles of {name} overlap: {before} / {after}"


def test_enqueue_never_queues_an_account_already_queued_or_running(
    fleet_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = fleet_factory(2)
    # `ordersync schedule` in queue mode: each tick queues every account that is not queued yet.
    monkeypatch.setenv("PGPASSWORD", fleet.env["PGPASSWORD"])  # the file's URLs carry none
    tick = scheduled_enqueue(load_settings(fleet.env["ORDERSYNC_CONFIG"], environ=fleet.env))
    tick()
    tick()
    assert sorted(j["account"] for j in fleet.open_jobs()) == ["acct0", "acct1"]
    fleet.sql("DELETE FROM procrastinate_jobs", schema=fleet.queue_schema)
    first = fleet.queue.enqueue(["acct0", "acct1"])
    assert [r.state for r in first] == ["queued", "queued"]
    again = fleet.queue.enqueue(["acct0", "acct1"])
    assert [r.state for r in again] == ["already queued", "already queued"]
    assert [r.job_id for r in again] == [r.job_id for r in first]
    # A worker takes acct0's job: it is running, and still not queued a second time.
    fleet.sql("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", first[0].job_id,
              schema=fleet.queue_schema)  # fmt: skip
    assert [r.state for r in fleet.queue.enqueue(["acct0"])] == ["running"]
    assert len(fleet.open_jobs()) == 2


def test_workers_deliver_every_order_once_through_a_kill_9_on_one_shared_ledger(fleet_factory: Any) -> None:
    # The three accounts share one ledger (its rows are per account): each account's cycle lock
    # is its own advisory lock there, and its runs are its own.
    fleet = fleet_factory(3, shared_ledger=True)
    for _ in range(3):
        fleet.start_worker()
    fleet.queue.enqueue(list(fleet.accounts))
    account, pid = wait_for("a worker in the middle of a cycle", fleet.cycle_holder, timeout=60, every=0.01)
    victim = next(p for p in fleet.workers if p.pid == pid)
    killed_at = time.time()
    victim.kill()  # SIGKILL: no shutdown, no heartbeat, its job stays 'doing'
    victim.wait(timeout=30)
    # Its cycle is taken up again by another worker once the dead one's heartbeat is stale.
    rounds = 0
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if fleet.delivered() and not fleet.open_jobs() and rounds >= 2:
            break
        if not fleet.open_jobs():
            fleet.queue.enqueue(list(fleet.accounts))  # what `ordersync schedule` does each interval
            rounds += 1
        time.sleep(0.2)
    else:
        raise AssertionError(f"not delivered in time; jobs {fleet.queue.jobs()}")
    assert any(r.outcome == "interrupted" for r in fleet.runs(account)), fleet.runs(account)
    assert_exactly_once_and_no_overlap(fleet, killed_at)
    assert all(len(fleet.runs(name)) >= 2 for name in fleet.accounts)
    for proc in fleet.workers[:]:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, fleet.log_of(proc)


def test_sigterm_stops_the_cycle_in_hand_which_is_queued_again(fleet_factory: Any) -> None:
    fleet = fleet_factory(1)
    first = fleet.start_worker()
    fleet.queue.enqueue(["acct0"])
    wait_for("the worker in the middle of a cycle", fleet.cycle_holder, timeout=60, every=0.01)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, fleet.log_of(first)
    (run,) = fleet.runs("acct0")
    assert run.summary.get("abandoned") is True, run  # stopped between two steps
    (job,) = fleet.open_jobs()
    assert job["status"] == "todo" and job["attempts"] == 1  # queued again, at once
    second = fleet.start_worker()
    wait_for("the requeued cycle to finish", lambda: fleet.delivered() and not fleet.open_jobs())
    assert_exactly_once_and_no_overlap(fleet)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0, fleet.log_of(second)
