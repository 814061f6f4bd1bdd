"""Throughput: ordersync cycles versus the API guide's one-call-per-step workflow, at 50 ms latency.

    python bench/throughput.py                       # N = 1,000 and 10,000, baseline on 200, Square on 1,000
    python bench/throughput.py --orders 1000         # one size (repeatable: --orders 1000 --orders 5000)
    python bench/throughput.py --baseline-orders 100 --square-orders 0 --latency-ms 50 --json out.json

What it does, per order count N (a fresh in-process Sandbox on 127.0.0.1 each time):

* setup (not measured): the emulator's latency is switched off (``configure_faults(latency_ms=0)``)
  and N test orders are created and advanced to pendingShipment through the emulator's backend
  objects directly (``sb.google.create_test_order`` / ``advance_test_order``: no HTTP). A shipments
  feed with one parcel per order, every line at its full quantity, ``delivered_at`` already filled,
  is written up front. Then latency is switched back on (50 ms on every API request; ``/token`` is
  never delayed) for the measured phase.
* baseline: the API guide's workflow done the straightforward way with googleapiclient (service
  account token through the emulator's ``/token``): list ``acknowledged=false`` (all pages), then
  per order ``acknowledge``, ``updatemerchantorderid``, ``shiplineitems``, ``updateshipment``
  (delivered), one call each, sequentially. It runs on ``--baseline-orders`` orders (default 200:
  a full 10,000 would take ~35 minutes) and is reported per order (orders/s), which is what it
  scales by: its cost is 4 round trips per order.
* ordersync: ``python -m sync run --no-report`` subprocesses (exactly what cron runs, config file +
  GOOGLE_APPLICATION_CREDENTIALS) until the emulator says every order is delivered. One cycle does
  it all: the ship is confirmed in the cycle's shiplineitems phase, so the delivery is planned in
  the same cycle. Then one more cycle with nothing to do: the idle cycle. Timed as wall clock of
  the subprocesses (interpreter start and imports included), API calls counted by the emulator
  (``sb.stats``), peak RSS = VmHWM of each child, which it writes at exit.
* Square (``--square-orders``, default 1,000): the same with ``[square] enabled``: every order is
  also created (idempotency key) and paid (EXTERNAL) in the Square emulator, bounded concurrency
  ``[square] concurrency``; its merchantOrderId is the Square order id.

Minimum calls = list pages (ceil(N / 250)) + ceil(mutations / 1000), mutations = 4 N. Exactly-once
is checked from the emulator's applied-mutation counters (each must equal N).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.oauth2 import service_account
from googleapiclient.discovery import build

from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox

MERCHANT_ID = "1234567"
SCOPES = ["https://www.googleapis.com/auth/content"]
TEMPLATES = ("template1", "template2", "template1a", "template1b", "template3")
PAGE = 250
BATCH = 1000
MAX_CYCLES = 6
REPO = Path(__file__).resolve().parents[1]


def minimum_calls(orders: int, mutations_per_order: int = 4) -> int:
    return math.ceil(orders / PAGE) + math.ceil(orders * mutations_per_order / BATCH)


# ---------------------------------------------------------------------- setup (not measured)
def make_orders(sb: Sandbox, count: int, templates: tuple[str, ...] = TEMPLATES) -> list[str]:
    """Create and advance ``count`` test orders through the backend (no HTTP, latency off)."""
    sb.configure_faults(latency_ms=0)
    ids = []
    for i in range(count):
        order_id = sb.google.create_test_order(MERCHANT_ID, template_name=templates[i % len(templates)])
        sb.google.advance_test_order(MERCHANT_ID, order_id)
        ids.append(order_id)
    return ids


def feed_rows(sb: Sandbox, ids: list[str]) -> list[dict[str, str]]:
    """One parcel per order, every line at its full quantity, already delivered."""
    rows = []
    for i, order_id in enumerate(ids):
        order = sb.google.get_order(MERCHANT_ID, order_id)
        for line in order["lineItems"]:
            rows.append({
                "order_id": order_id, "line_item_id": line["id"], "offer_id": "",
                "quantity": str(line["quantityOrdered"]), "carrier": "UPS",
                "tracking_id": f"1ZBENCH{i:08d}", "shipped_at": "2026-11-20T10:00:00Z",
                "delivered_at": "2026-11-22T15:00:00Z", "shipment_id": "",
            })
    return rows


def write_feed(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FEED_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def write_config(path: Path, endpoint: str, *, square: bool, square_concurrency: int = 0) -> None:
    concurrency = f"concurrency = {square_concurrency}\n" if square_concurrency else ""
    path.write_text(
        f"""[google]
merchant_id = "{MERCHANT_ID}"
sandbox = true
endpoint = "{endpoint}/"
[square]
enabled = {"true" if square else "false"}
endpoint = "{endpoint}"
{concurrency}[shipments]
feeds = ["feeds/*.csv"]
rejects_dir = "reports/rejects"
[ledger]
url = "sqlite:///state/ordersync.db"
[reports]
dir = "reports"
""",
        encoding="utf-8",
    )


def all_delivered(sb: Sandbox, ids: list[str]) -> bool:
    return all(sb.google.get_order(MERCHANT_ID, oid)["status"] == "delivered" for oid in ids)


# ---------------------------------------------------------------------- baseline
@dataclass
class Baseline:
    orders: int
    seconds: float
    calls: int

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds


def run_baseline(sb: Sandbox, count: int, key_file: Path, latency_ms: float,
                 templates: tuple[str, ...] = TEMPLATES) -> Baseline:
    ids = make_orders(sb, count, templates)
    rows = {r["order_id"]: r for r in feed_rows(sb, ids)}  # only for carrier/tracking per order
    credentials = service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)
    service = build("content", "v2", credentials=credentials, static_discovery=True, cache_discovery=False,
                    client_options={"api_endpoint": f"{sb.url}/content/v2sandbox/"})
    orders = service.orders()
    sb.configure_faults(latency_ms=latency_ms)
    before = sb.stats.snapshot()["requests_total"]
    started = time.perf_counter()
    todo: list[dict[str, Any]] = []
    token = None
    while True:
        resp = orders.list(merchantId=MERCHANT_ID, acknowledged=False, maxResults=PAGE,
                           pageToken=token).execute()
        todo += resp.get("resources", [])
        token = resp.get("nextPageToken")
        if not token:
            break
    for order in todo:
        oid = order["id"]
        orders.acknowledge(merchantId=MERCHANT_ID, orderId=oid, body={"operationId": f"ack-{oid}"}).execute()
        orders.updatemerchantorderid(merchantId=MERCHANT_ID, orderId=oid, body={
            "operationId": f"mid-{oid}", "merchantOrderId": f"OS-{oid}"}).execute()
        shipment_id = f"ship-{oid}"
        orders.shiplineitems(merchantId=MERCHANT_ID, orderId=oid, body={
            "operationId": f"ship-{oid}",
            "lineItems": [{"lineItemId": li["id"], "quantity": li["quantityOrdered"]}
                          for li in order["lineItems"]],
            "shipmentInfos": [{"shipmentId": shipment_id, "carrier": "ups",
                               "trackingId": rows[oid]["tracking_id"]}],
        }).execute()
        orders.updateshipment(merchantId=MERCHANT_ID, orderId=oid, body={
            "operationId": f"deliver-{oid}", "shipmentId": shipment_id, "status": "delivered",
            "deliveryDate": "2026-11-22"}).execute()
    seconds = time.perf_counter() - started
    calls = sb.stats.snapshot()["requests_total"] - before
    if len(todo) != count or not all_delivered(sb, ids):
        raise SystemExit(f"baseline did not deliver all {count} orders")
    return Baseline(count, seconds, calls)


# ---------------------------------------------------------------------- ordersync
@dataclass
class Cycle:
    wall: float
    cpu: float  # user + system CPU seconds of the ordersync child (steadier than wall on a shared machine)
    cycle_seconds: float
    calls: int
    calls_by_method: dict[str, int]
    token_requests: int
    maxrss_mb: float
    line: str


@dataclass
class OrdersyncRun:
    orders: int
    square: bool
    cycles: list[Cycle] = field(default_factory=list)
    idle: Cycle | None = None
    mutations: dict[str, int] = field(default_factory=dict)
    setup_seconds: float = 0.0
    square_concurrency: int = 0  # 0: the config's default

    @property
    def seconds(self) -> float:
        return sum(c.wall for c in self.cycles)

    @property
    def orders_per_s(self) -> float:
        return self.orders / self.seconds

    @property
    def cpu_seconds(self) -> float:
        return sum(c.cpu for c in self.cycles)

    @property
    def calls(self) -> int:
        return sum(c.calls for c in self.cycles)

    @property
    def google_calls(self) -> int:
        return sum(n for c in self.cycles for m, n in c.calls_by_method.items() if m.startswith("content."))

    @property
    def peak_rss_mb(self) -> float:
        return max(c.maxrss_mb for c in [*self.cycles, *([self.idle] if self.idle else [])])


# `python -m sync run --no-report`, reporting the process's own peak RSS (VmHWM of its address
# space) at exit. Not ru_maxrss: Linux carries the parent's high-water mark across fork/exec, and
# the parent here holds the emulator with every order in it.
CHILD = """
import atexit, os, runpy, sys
def _hwm():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(os.environ["BENCH_RSS_FILE"], "w") as out:
        out.write(str(kb))
atexit.register(_hwm)
sys.argv = ["ordersync", "run", "--no-report"]
runpy.run_module("sync", run_name="__main__", alter_sys=True)
"""


def run_cycle(sb: Sandbox, work: Path, env: dict[str, str]) -> Cycle:
    before = sb.stats.snapshot()["requests"]
    rss_file = work / "rss.kb"
    rss_file.unlink(missing_ok=True)
    started = time.perf_counter()
    # BENCH_CHILD_PREFIX runs the child under a tool, e.g. "valgrind --tool=callgrind
    # --callgrind-out-file=/tmp/cg.%p" for instruction counts that do not depend on the machine's load.
    prefix = os.environ.get("BENCH_CHILD_PREFIX", "").split()
    # Output to files, not pipes: a cycle may log more than a pipe holds (one warning per order
    # with ad-hoc Square lines), and wait4 (not communicate) gives the exact end and the CPU time.
    with (work / "cycle.out").open("w+") as out_file, (work / "cycle.err").open("w+") as err_file:
        proc = subprocess.Popen([*prefix, sys.executable, "-c", CHILD], cwd=work,
                                env={**env, "BENCH_RSS_FILE": str(rss_file)},
                                stdout=out_file, stderr=err_file, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"ordersync run exited {proc.returncode}\n{out}\n{err[-4000:]}")
    after = sb.stats.snapshot()["requests"]
    by_method = {m: after.get(m, 0) - before.get(m, 0) for m in after if after.get(m, 0) != before.get(m, 0)}
    tokens = by_method.pop("oauth2.token", 0)  # the service-account token exchange is not an API call
    line = out.strip().splitlines()[-1] if out.strip() else ""
    match = re.search(r"seconds=([0-9.]+)", line)
    return Cycle(wall=wall, cpu=usage.ru_utime + usage.ru_stime,
                 cycle_seconds=float(match.group(1)) if match else float("nan"),
                 calls=sum(by_method.values()), calls_by_method=by_method, token_requests=tokens,
                 maxrss_mb=int(rss_file.read_text()) / 1024, line=line)


def run_ordersync(count: int, latency_ms: float, *, square: bool, progress: bool = True,
                  templates: tuple[str, ...] = TEMPLATES, square_concurrency: int = 0) -> OrdersyncRun:
    with tempfile.TemporaryDirectory(prefix="ordersync-bench-") as tmp, \
            Sandbox(latency_ms=latency_ms).start() as sb:
        work = Path(tmp)
        t0 = time.perf_counter()
        ids = make_orders(sb, count, templates)
        write_feed(work / "feeds" / "shipments-0001.csv", feed_rows(sb, ids))
        (work / "config").mkdir()
        (work / "state").mkdir()
        write_config(work / "config" / "ordersync.toml", sb.url, square=square,
                     square_concurrency=square_concurrency)
        key_file = work / "sa.json"
        write_service_account(key_file, sb.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERSYNC_", "GOOGLE_"))}
        env.update({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
                    "ORDERSYNC_CONFIG": str(work / "config" / "ordersync.toml"),
                    "SQUARE_ACCESS_TOKEN": "bench-token", "PYTHONPATH": str(REPO)})
        result = OrdersyncRun(count, square, setup_seconds=time.perf_counter() - t0,
                              square_concurrency=square_concurrency)
        sb.configure_faults(latency_ms=latency_ms)
        mutations_before = sb.stats.snapshot()["mutations"]
        for _ in range(MAX_CYCLES):
            cycle = run_cycle(sb, work, env)
            result.cycles.append(cycle)
            if progress:
                print(f"    cycle {len(result.cycles)}: {cycle.wall:.2f} s wall, {cycle.cpu:.2f} s CPU, "
                      f"{cycle.calls} calls, "
                      f"{cycle.maxrss_mb:.0f} MB | {cycle.line}", flush=True)
            if all_delivered(sb, ids):
                break
        else:
            raise SystemExit(f"not every order delivered after {MAX_CYCLES} cycles")
        mutations_after = sb.stats.snapshot()["mutations"]
        result.mutations = {m: mutations_after.get(m, 0) - mutations_before.get(m, 0) for m in mutations_after
                            if mutations_after.get(m, 0) != mutations_before.get(m, 0)}
        result.idle = run_cycle(sb, work, env)
        if progress:
            idle = result.idle
            print(f"    idle cycle: {idle.wall:.2f} s wall, {idle.cpu:.2f} s CPU, {idle.calls} calls "
                  f"{idle.calls_by_method} | "
                  f"{idle.line}", flush=True)
        return result


def check_exactly_once(run: OrdersyncRun) -> list[str]:
    problems = []
    for method in ("content.orders.acknowledge", "content.orders.updatemerchantorderid",
                   "content.orders.shiplineitems", "content.orders.updateshipment"):
        applied = run.mutations.get(method, 0)
        if applied != run.orders:
            problems.append(f"{method}: {applied} applied, expected {run.orders}")
    if run.square:  # one Square order and one EXTERNAL payment per Google order, nothing else
        for method in ("square.orders.create", "square.payments.create"):
            applied = run.mutations.get(method, 0)
            if applied != run.orders:
                problems.append(f"{method}: {applied} applied, expected {run.orders}")
        extra = {m: n for m, n in run.mutations.items() if m.startswith("square.")
                 and m not in ("square.orders.create", "square.payments.create")}
        if extra:
            problems.append(f"unexpected Square mutations: {extra}")
    return problems


# ---------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, action="append",
                        help="order count (repeatable; default 1000 and 10000; 0: none, e.g. Square only)")
    parser.add_argument("--baseline-orders", type=int, default=200,
                        help="orders for the one-call-per-step baseline")
    parser.add_argument("--square-orders", type=int, default=1000,
                        help="orders for the Square-enabled run (0: skip)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--square-concurrency", type=int, action="append",
                        help="[square] concurrency of the Square run (repeatable; default: the config's)")
    parser.add_argument("--template", choices=["mixed", *TEMPLATES], default="mixed",
                        help="test-order template of every order (default: the five in turn)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    sizes = [n for n in args.orders if n > 0] if args.orders else [1000, 10000]
    templates = TEMPLATES if args.template == "mixed" else (args.template,)

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
          f"emulator latency {args.latency_ms:g} ms per API request, loopback; "
          f"templates {', '.join(templates)}")
    if args.baseline_orders <= 0:
        parser.error("--baseline-orders must be > 0 (the speed-up is measured against it)")
    with tempfile.TemporaryDirectory(prefix="ordersync-bench-") as tmp, \
            Sandbox(latency_ms=args.latency_ms).start() as sb:
        key_file = Path(tmp) / "sa.json"
        write_service_account(key_file, sb.url)
        print(f"baseline: {args.baseline_orders} orders, one call per step, sequential …", flush=True)
        base = run_baseline(sb, args.baseline_orders, key_file, args.latency_ms, templates)
    print(f"  {base.orders} orders in {base.seconds:.1f} s = {base.orders_per_s:.2f} orders/s, "
          f"{base.calls} calls ({base.calls / base.orders:.2f} per order)")

    runs: list[OrdersyncRun] = []
    for n in sizes:
        print(f"ordersync: {n} orders …", flush=True)
        runs.append(run_ordersync(n, args.latency_ms, square=False, templates=templates))
    square_runs: list[OrdersyncRun] = []
    for concurrency in (args.square_concurrency or [0]) if args.square_orders else []:
        print(f"ordersync with [square] enabled: {args.square_orders} orders, concurrency "
              f"{concurrency or 'default'} …", flush=True)
        square_runs.append(run_ordersync(args.square_orders, args.latency_ms, square=True,
                                         templates=templates, square_concurrency=concurrency))

    failures: list[str] = []
    print()
    header = ("| orders | baseline orders/s | ordersync orders/s | speed-up | cycles | calls (google) "
              "| minimum | google calls / min | idle calls | idle cycle s (process s) | peak RSS MB "
              "| child CPU s |")
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    rows = []
    for run in [*runs, *square_runs]:
        assert run.idle is not None
        minimum = minimum_calls(run.orders)
        speedup = run.orders_per_s / base.orders_per_s
        label = f"{run.orders:,}"
        if run.square:
            label += f" (square, concurrency {run.square_concurrency or 'default'})"
        calls = f"{run.calls}" + (f" ({run.google_calls})" if run.square else "")
        print(f"| {label} | {base.orders_per_s:.2f} | {run.orders_per_s:.0f} | {speedup:.0f}x | "
              f"{len(run.cycles)} | {calls} | {minimum} | {run.google_calls / minimum:.2f} | "
              f"{run.idle.calls} | "
              f"{run.idle.cycle_seconds:.2f} ({run.idle.wall:.2f}) | {run.peak_rss_mb:.0f} | "
              f"{run.cpu_seconds:.2f} |")
        problems = check_exactly_once(run)
        failures += [f"{label}: {p}" for p in problems]
        rows.append({"orders": run.orders, "square": run.square, "seconds": run.seconds,
                     "square_concurrency": run.square_concurrency,
                     "orders_per_s": run.orders_per_s, "cpu_seconds": run.cpu_seconds, "speedup": speedup,
                     "calls": run.calls,
                     "google_calls": run.google_calls, "minimum_calls": minimum,
                     "idle_calls": run.idle.calls, "idle_cycle_seconds": run.idle.cycle_seconds,
                     "idle_process_seconds": run.idle.wall, "peak_rss_mb": run.peak_rss_mb,
                     "mutations": run.mutations, "cycles": [asdict(c) for c in run.cycles],
                     "idle": asdict(run.idle)})
        if run.orders >= 10000 and not run.square:
            targets = [
                (speedup >= 100, f"speed-up {speedup:.0f}x < 100x"),
                (run.google_calls <= 1.2 * minimum, f"calls {run.google_calls} > 1.2 x {minimum}"),
                (run.peak_rss_mb <= 300, f"peak RSS {run.peak_rss_mb:.0f} MB > 300 MB"),
                (run.idle.calls <= 2, f"idle cycle made {run.idle.calls} calls > 2"),
                (run.idle.cycle_seconds < 1, f"idle cycle took {run.idle.cycle_seconds:.2f} s >= 1 s"),
            ]
            failures += [f"{label}: target missed: {msg}" for ok, msg in targets if not ok]
    print()
    once = not any("applied" in f for f in failures)
    print("exactly-once: " + ("acknowledge / merchant id / ship / deliver each applied once per order"
                              if once else "PROBLEMS"))
    for failure in failures:
        print(f"  ! {failure}")
    if args.json:
        args.json.write_text(json.dumps({"baseline": asdict(base) | {"orders_per_s": base.orders_per_s},
                                         "runs": rows, "failures": failures}, indent=2), encoding="utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
