"""Many accounts on the queue: 200 accounts x 50 orders at 50 ms latency, 1, 2 and 4 worker processes.

    python bench/accounts.py --postgres-url postgresql+psycopg://USER:PW@127.0.0.1/DB   # the issue's size
    python bench/accounts.py --accounts 20 --orders 10 --workers 1 --workers 2           # a quick look
    (the URL may also come from ORDERSYNC_TEST_POSTGRES_URL; `bash .ci/postgres.sh` prints one)

What it does, per worker count W (each on a fresh in-process Sandbox on 127.0.0.1 and a fresh
PostgreSQL schema for the queue, dropped afterwards):

* setup (not measured): latency off, ``--accounts`` merchant accounts with ``--orders`` test
  orders each, created and advanced to pendingShipment through the emulator's backend (no HTTP),
  one shipments feed per account (one parcel per order, already delivered), a configuration with
  one [[accounts]] entry each (its own SQLite ledger file, though accounts may share one) and
  queue mode on PostgreSQL. W ``ordersync worker`` processes are started and waited for (their
  start-up, about a second each, is not measured).
* measured: latency on (``--latency-ms``, every API request), ``enqueue`` of every account, then
  until every job is done and the emulator says every order is delivered: wall time. Each
  account's one cycle acknowledges, assigns merchant ids, ships and delivers its orders and writes
  its report (reports/<account>/<run-id>/), exactly as the workers run in production.
* checked: every order delivered, each of acknowledge / updatemerchantorderid / shiplineitems /
  updateshipment applied exactly once per order (the emulator's applied-mutation counters).

Printed per W: wall seconds, accounts/s, and the ratio to 1 worker (the speed-up). ``--repeat N``
runs every W N times and prints the spread (min-max): the machine is shared, so single figures
move with whatever else runs on it.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.adapters.cycle_queue import CycleQueue
from sync.sandbox.server import Sandbox
from tests.fleet_setup import create_schemas, drop_schemas, schema_url, setup_fleet, start_worker

TEMPLATES = ("template1", "template2", "template1a", "template1b", "template3")
METHODS = ("acknowledge", "updatemerchantorderid", "shiplineitems", "updateshipment")


def run_once(pg: str, workers: int, accounts: int, orders: int, latency_ms: float) -> dict[str, Any]:
    schema = f"osbench_{uuid.uuid4().hex[:8]}"
    create_schemas(pg, [schema])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ordersync-bench-") as tmp, Sandbox(seed=3).start() as sb:
            root = Path(tmp)
            sb.configure_faults(latency_ms=0)
            names = {f"shop{a:03d}": str(7200000 + a) for a in range(accounts)}
            fleet = setup_fleet(
                root, sb, pg, queue_url=schema_url(pg, schema, password=False), accounts=names,
                ledger_urls={name: f"sqlite:///state/{name}.db" for name in names}, orders=orders,
                templates=TEMPLATES, tracking="1Z{merchant}{i:05d}", google={},
                queue={"heartbeat_seconds": 2, "stalled_seconds": 30},
            )  # fmt: skip
            made = {name: (names[name], ids) for name, ids in fleet.orders.items()}
            queue = CycleQueue(schema_url(pg, schema, password=True))
            queue.ensure_schema()
            for n in range(workers):
                procs.append(start_worker(fleet, root / f"worker{n}.log", "--log-format", "json"))
            deadline = time.monotonic() + 120
            while not all("Starting worker" in (root / f"worker{n}.log").read_text(errors="replace")
                          for n in range(workers)):  # fmt: skip
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    raise SystemExit(f"workers did not start; see {root}")
                time.sleep(0.1)
            sb.configure_faults(latency_ms=latency_ms)
            started = time.perf_counter()
            queue.enqueue(list(made))
            limit = time.monotonic() + 3600
            while any(j["status"] in ("todo", "doing") for j in queue.jobs()):
                if time.monotonic() > limit or any(p.poll() is not None for p in procs):
                    raise SystemExit(f"the queue did not drain; see {root}")
                time.sleep(0.2)
            wall = time.perf_counter() - started
            failed = [j for j in queue.jobs() if j["status"] != "succeeded"]
            sb.configure_faults(latency_ms=0)
            delivered = all(
                sb.google.get_order(m, o)["status"] == "delivered" for m, ids in made.values() for o in ids
            )
            mutations = sb.stats.snapshot()["mutations"]
            once = all(mutations.get(f"content.orders.{m}") == accounts * orders for m in METHODS)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=120) for proc in procs]
            if failed or not delivered or not once or any(codes):
                raise SystemExit(
                    f"wrong result: failed={failed} delivered={delivered} once={once} exits={codes}"
                )
            return {"workers": workers, "wall": wall}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        drop_schemas(pg, [schema])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", default=os.environ.get("ORDERSYNC_TEST_POSTGRES_URL", ""))
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--orders", type=int, default=50, help="orders per account")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--workers", type=int, action="append", help="worker processes (repeatable; 1 2 4)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if not args.postgres_url:
        parser.error(
            "--postgres-url (or ORDERSYNC_TEST_POSTGRES_URL) is required: the queue lives in PostgreSQL"
        )
    counts = args.workers or [1, 2, 4]
    print(f"{args.accounts} accounts x {args.orders} orders, {args.latency_ms:g} ms latency, "
          f"{os.cpu_count()} CPUs (shared machine: figures move with its load)")  # fmt: skip
    walls: dict[int, list[float]] = {}
    for _ in range(args.repeat):
        for workers in counts:
            result = run_once(args.postgres_url, workers, args.accounts, args.orders, args.latency_ms)
            walls.setdefault(workers, []).append(result["wall"])
            print(f"  workers={workers}: {result['wall']:.1f} s", flush=True)
    base = statistics.median(walls[counts[0]])
    print(f"\n| workers | wall s (median) | spread (min-max) | accounts/s | ratio to {counts[0]} worker(s) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for workers in counts:
        median = statistics.median(walls[workers])
        spread = f"{min(walls[workers]):.1f}-{max(walls[workers]):.1f}"
        print(
            f"| {workers} | {median:.1f} | {spread} | {args.accounts / median:.2f} | {base / median:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
