"""Throughput of the Content API emulator on loopback.

    python bench/emulator.py [--seconds 3] [--threads 4] [--orders 200]

Measures orders.get through raw http.client keep-alive connections (the server's own cost) and
through googleapiclient (what the product sees, client overhead included), plus a custombatch
of acknowledges, each with N threads against an in-process Sandbox. Prints requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from sync.sandbox.server import Sandbox

MID = "1234567"


def run_threads(
    threads: int, seconds: float, make_worker: Callable[[int], Callable[[], None]]
) -> tuple[int, float]:
    """Run ``threads`` workers for ``seconds``; return (calls, elapsed)."""
    counts = [0] * threads
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def loop(i: int) -> None:
        call = make_worker(i)
        local: list[float] = []
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            call()
            local.append(time.perf_counter() - t0)
            counts[i] += 1
        with lock:
            latencies.extend(local)

    start = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    if latencies:
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"    latency p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return sum(counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--orders", type=int, default=200)
    args = parser.parse_args()

    # "bench" is registered like `ordersync sandbox serve --token bench`: unknown tokens get 401.
    with Sandbox(tokens={"bench"}).start() as sb:
        ids = [sb.google.create_test_order(MID, template_name="template1") for _ in range(args.orders)]
        for oid in ids:
            sb.google.advance_test_order(MID, oid)
        print(
            f"emulator at {sb.url}, {len(ids)} orders, {args.threads} threads, {args.seconds:.0f} s per case"
        )

        def raw_worker(i: int) -> Callable[[], None]:
            conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
            n = [i]

            def call() -> None:
                n[0] += 1
                conn.request(
                    "GET",
                    f"/content/v2sandbox/{MID}/orders/{ids[n[0] % len(ids)]}",
                    headers={"Authorization": "Bearer bench"},
                )
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")

            return call

        def client_worker(i: int) -> Callable[[], None]:
            # One service per thread: httplib2 connections are not thread-safe.
            svc = build(
                "content",
                "v2",
                credentials=Credentials(token="bench"),
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": f"{sb.url}/content/v2sandbox/"},
            )
            n = [i]

            def call() -> None:
                n[0] += 1
                svc.orders().get(merchantId=MID, orderId=ids[n[0] % len(ids)]).execute()

            return call

        def batch_worker(i: int) -> Callable[[], None]:
            svc = build(
                "content",
                "v2",
                credentials=Credentials(token="bench"),
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": f"{sb.url}/content/v2sandbox/"},
            )
            n = [0]

            def call() -> None:
                n[0] += 1
                entries = [
                    {
                        "batchId": j,
                        "merchantId": MID,
                        "orderId": oid,
                        "method": "acknowledge",
                        "operationId": f"bench-{i}-{n[0]}",
                    }
                    for j, oid in enumerate(ids)
                ]
                svc.orders().custombatch(body={"entries": entries}).execute()

            return call

        for label, worker, per_call in (
            ("orders.get, raw http.client keep-alive", raw_worker, 1),
            ("orders.get, googleapiclient", client_worker, 1),
            (f"custombatch of {len(ids)} acknowledges, googleapiclient", batch_worker, len(ids)),
        ):
            print(f"  {label}:")
            calls, elapsed = run_threads(args.threads, args.seconds, worker)
            extra = f" ({calls * per_call / elapsed:,.0f} entries/s)" if per_call > 1 else ""
            print(f"    {calls / elapsed:,.0f} requests/s{extra}")


if __name__ == "__main__":
    main()
