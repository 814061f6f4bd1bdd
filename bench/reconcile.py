"""Benchmark: reconcile N synthetic orders (~2.5 lines each) and check every injected break is found.

    python bench/reconcile.py                 # 10k, 100k, 1M, each in its own process
    python bench/reconcile.py --orders 250000 --orders 2000000 --seed 7

Frames are generated directly with seeded numpy (not through the dict builders), in the
GOOGLE / LEDGER / OMS schemas of ``sync.domain.reconcile.schema``. A seeded set of orders gets one
break each, of every category; the run passes when breaks.csv-equivalent output holds exactly
the injected (order, category) pairs and orders.csv has one row per order (Google's, plus the
stray OMS orders Google does not list). The measured figure is ``write_report`` on the frames —
rules, summary, orders.csv / breaks.csv / summary.csv / index.html written atomically —
excluding generation (reported separately). Peak RSS is sampled while the reconciliation runs
(psutil, every 10 ms) and the child's lifetime peak (getrusage) is shown too.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.service.reconciliation import write_report

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
CURRENCIES = np.array(["USD", "EUR", "GBP", "JPY", "KWD"])
# Every category the rules know, so a category added without an injector here fails the check.
INJECTED = rules.CATEGORIES


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    text = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.large_string()), 9, "0")
    return pc.binary_join_element_wise(
        pa.scalar(prefix, pa.large_string()), text, pa.scalar("", pa.large_string())
    )


def _str(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr]).cast(pa.large_string())))


def generate(
    n: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, set[tuple[str, str]]]:
    rng = np.random.default_rng(seed)
    now = pd.Timestamp(NOW)
    num = np.arange(n)
    g_id = _ids("G-", num)

    # ---- clean order-level state ------------------------------------------------------------
    age = rng.uniform(0.1, 720, n)
    r = rng.random(n)
    status = np.where(
        age < 72,
        np.where(r < 0.4, "pendingShipment", np.where(r < 0.7, "shipped", "delivered")),
        np.where(r < 0.05, "canceled", np.where((r < 0.15) & (age < 250), "shipped", "delivered")),
    ).astype(object)
    ship_age = np.where(age < 72, age / 2, age - 24)
    acked = np.ones(n, dtype=bool)
    amount = rng.integers(100, 500_000, n)
    currency = CURRENCIES[rng.integers(0, len(CURRENCIES), n)]
    l_mid_override: dict[int, str] = {}
    g_mid_override: dict[int, str] = {}
    oms_status_override = np.full(n, None, dtype=object)
    oms_amount = amount.copy()
    oms_trk_override: dict[int, str] = {}
    oms_keep = np.ones(n, dtype=bool)
    failed = np.zeros(n, dtype=np.int32)
    expected: set[tuple[str, str]] = set()

    # ---- injections: disjoint seeded order sets, one break each ---------------------------------
    per = max(2, n // 1000)
    picks = rng.permutation(n)[: per * len(INJECTED)].reshape(len(INJECTED), per)
    chosen = dict(zip(INJECTED, picks, strict=True))
    ids_np = g_id.to_numpy(zero_copy_only=False)

    def template(idx: np.ndarray, st: str, hours: float, since: float = np.nan) -> None:
        status[idx], age[idx], ship_age[idx] = st, hours, since

    for cat, idx in chosen.items():
        template(idx, "delivered", 100.0, 90.0)
        if cat != "missing_in_google" and cat != "duplicate_merchant_order_id":
            expected |= {(ids_np[i], cat) for i in idx}
    template(chosen["missing_in_oms"], "pendingShipment", 10.0)
    oms_keep[chosen["missing_in_oms"]] = False
    template(chosen["unacknowledged_past_sla"], "pendingShipment", 48.0)
    acked[chosen["unacknowledged_past_sla"]] = False
    for i in chosen["no_merchant_order_id"]:
        g_mid_override[i] = ""
    half = per // 2
    a_set, b_set = (
        chosen["duplicate_merchant_order_id"][:half],
        chosen["duplicate_merchant_order_id"][half : 2 * half],
    )
    c_set = chosen["duplicate_merchant_order_id"][2 * half :]
    for a, b in zip(a_set, b_set, strict=True):
        g_mid_override[b] = l_mid_override[b] = f"SQ-{a:09d}"
    expected |= {(ids_np[i], "duplicate_merchant_order_id") for i in chosen["duplicate_merchant_order_id"]}
    for i in chosen["merchant_order_id_mismatch"]:
        l_mid_override[i] = f"OS-{i:09d}"
    oms_amount[chosen["amount_mismatch"]] += 1
    template(chosen["status_mismatch"], "pendingShipment", 10.0)
    oms_status_override[chosen["status_mismatch"]] = "canceled"
    template(chosen["stuck_past_ship_sla"], "pendingShipment", 100.0)
    template(chosen["shipped_not_delivered_past_sla"], "shipped", 300.0, 276.0)
    for i in chosen["tracking_mismatch"]:
        oms_trk_override[i] = f"X{i}"
    failed[chosen["failed_operation"]] = 1
    qty_oms, qty_led = chosen["quantity_mismatch"][:half], chosen["quantity_mismatch"][half:]
    # pending_sync: a unit canceled on Google an hour ago, after the ledger's last look (2 h ago).
    lagging = chosen["pending_sync"]
    template(lagging, "pendingShipment", 10.0)
    canceled_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    canceled_at.iloc[lagging] = now - pd.Timedelta(hours=1)
    rejected = chosen["rejected_feed_row"]

    # ---- expand to lines -------------------------------------------------------------------
    k = rng.integers(1, 5, n)  # 1..4 lines, mean 2.5
    order_of_row = np.repeat(num, k)
    starts = np.cumsum(k) - k
    line_no = (np.arange(len(order_of_row)) - starts[order_of_row]).astype(np.int32)
    st_row = status[order_of_row]
    ordered = rng.integers(1, 4, len(order_of_row)).astype(np.int32)
    shipped = np.where(np.isin(st_row, ["shipped", "delivered"]), ordered, 0).astype(np.int32)
    delivered = np.where(st_row == "delivered", ordered, 0).astype(np.int32)
    canceled = np.where(st_row == "canceled", ordered, 0).astype(np.int32)
    l_canceled = canceled.copy()
    canceled[starts[lagging]] = 1  # Google's count; the ledger's stays 0
    take = pa.array(order_of_row)
    line_id = _ids("L", line_no.astype(np.int64))
    placed = now - pd.to_timedelta(age, unit="h")
    open_since = now - pd.to_timedelta(ship_age, unit="h")
    has_ship = np.isin(status, ["shipped", "delivered"])
    open_since = open_since.where(status == "shipped", pd.NaT)
    trk = pc.if_else(pa.array(has_ship), _ids("T", num), pa.scalar("", pa.large_string()))
    mid = _ids("SQ-", num).to_numpy(zero_copy_only=False)
    gm, lm = mid.copy(), mid.copy()
    for i, v in g_mid_override.items():
        gm[i] = v
    for i, v in l_mid_override.items():
        lm[i] = v
    gm_a, lm_a = pa.array(gm, pa.large_string()), pa.array(lm, pa.large_string())

    google = pd.DataFrame(
        {
            "google_order_id": _str(g_id.take(take)),
            "merchant_order_id": _str(gm_a.take(take)),
            "status": pd.Categorical(status[order_of_row], categories=rules.GOOGLE_STATUSES),
            "acknowledged": acked[order_of_row],
            "placed_at": pd.Series(placed).iloc[order_of_row].to_numpy(),
            "currency": pd.Categorical(currency[order_of_row]),
            "amount_minor": amount[order_of_row],
            "tracking_ids": _str(trk.take(take)),
            "open_shipment_since": pd.Series(open_since).iloc[order_of_row].to_numpy(),
            "line_no": line_no,
            "line_item_id": _str(line_id),
            "offer_id": _str(line_id),
            "qty_ordered": ordered,
            "qty_shipped": shipped,
            "qty_delivered": delivered,
            "qty_canceled": canceled,
            "qty_returned": np.zeros(len(order_of_row), dtype=np.int32),
            "last_canceled_at": canceled_at.iloc[order_of_row].to_numpy(),
        },
        copy=False,
    )

    l_ship, l_del = shipped.copy(), delivered.copy()
    first_line = starts  # row of each order's first line
    l_del[first_line[qty_led]] -= 1
    ledger = pd.DataFrame(
        {
            "google_order_id": google["google_order_id"],
            "merchant_order_id": _str(lm_a.take(take)),
            "square_order_id": _str(pa.array(mid, pa.large_string()).take(take)),
            "stage": pd.Categorical(np.full(len(order_of_row), "synced")),
            "acknowledged": pd.array(np.ones(len(order_of_row), dtype=bool), dtype="boolean"),
            "last_synced_at": np.full(len(order_of_row), (now - pd.Timedelta(hours=1)).to_datetime64()),
            "failed_ops": failed[order_of_row],
            "failed_detail": _str(
                pc.if_else(
                    pa.array(failed[order_of_row] > 0),
                    pa.scalar("shipLineItems: carrier rejected", pa.large_string()),
                    pa.scalar("", pa.large_string()),
                )
            ),
            "line_no": line_no,
            "line_item_id": google["line_item_id"],
            "qty_ordered": pd.array(ordered, dtype="Int32"),
            "qty_shipped": pd.array(l_ship, dtype="Int32"),
            "qty_delivered": pd.array(l_del, dtype="Int32"),
            "qty_canceled": pd.array(l_canceled, dtype="Int32"),
            "last_seen_at": np.full(len(order_of_row), (now - pd.Timedelta(hours=2)).to_datetime64()),
        },
        copy=False,
    )
    ledger["last_synced_at"] = ledger["last_synced_at"].dt.tz_localize("UTC")
    ledger["last_seen_at"] = ledger["last_seen_at"].dt.tz_localize("UTC")
    # The GOOGLE schema's datetimes are microsecond UTC (what frames_from_google_orders and
    # snapshots produce); nanosecond columns would make conform() convert a copy of each.
    for col in ("placed_at", "open_shipment_since", "last_canceled_at"):
        google[col] = google[col].astype("datetime64[us, UTC]")

    o_status = np.where(
        status == "canceled", "canceled", np.where(status == "pendingShipment", "open", "completed")
    )
    o_status = np.where(oms_status_override != None, oms_status_override, o_status)  # noqa: E711
    o_trk = trk.to_numpy(zero_copy_only=False).copy()
    for i, v in oms_trk_override.items():
        o_trk[i] = v
    o_ship = shipped.copy()
    o_ship[first_line[qty_oms]] += 1
    rows = np.flatnonzero(oms_keep[order_of_row])
    orow = order_of_row[rows]
    oms = pd.DataFrame(
        {
            "source": pd.Categorical(np.full(len(rows), "square"), categories=rules.OMS_SOURCES),
            "oms_order_id": _str(pa.array(mid, pa.large_string()).take(pa.array(orow))),
            "order_ref": _str(g_id.take(pa.array(orow))),
            "oms_status": pd.Categorical(o_status[orow], categories=rules.OMS_STATUSES),
            "currency": pd.Categorical(currency[orow]),
            "amount_minor": pd.array(oms_amount[orow], dtype="Int64"),
            "tracking_ids": _str(pa.array(o_trk, pa.large_string()).take(pa.array(orow))),
            "line_no": line_no[rows],
            "line_item_id": _str(line_id.take(pa.array(rows))),
            "offer_id": _str(line_id.take(pa.array(rows))),
            "qty_ordered": pd.array(ordered[rows], dtype="Int32"),
            "qty_shipped": pd.array(o_ship[rows], dtype="Int32"),
            "qty_delivered": pd.array([pd.NA] * len(rows), dtype="Int32"),
        },
        copy=False,
    )
    # Strays (missing_in_google) and duplicate OMS orders go after the real ones: first one wins.
    extra_refs = [f"GX-{i:09d}" for i in chosen["missing_in_google"]]
    extra_ids = [f"SQX-{i:09d}" for i in chosen["missing_in_google"]]
    expected |= {(r_, "missing_in_google") for r_ in extra_refs}
    dup_src = oms[oms["order_ref"].isin(ids_np[c_set])]
    dup = dup_src.assign(oms_order_id="SQ-DUP-" + dup_src["oms_order_id"])
    strays = pd.DataFrame(
        {
            "source": "square",
            "oms_order_id": extra_ids,
            "order_ref": extra_refs,
            "oms_status": "open",
            "currency": "USD",
            "amount_minor": 100,
            "tracking_ids": "",
            "line_no": 0,
            "line_item_id": "L1",
            "offer_id": "",
            "qty_ordered": 1,
            "qty_shipped": 0,
        }
    )
    oms = pd.concat([oms, dup, rules.conform(strays, rules.OMS_SCHEMA, "oms")], ignore_index=True)
    rejects = pd.DataFrame(
        {
            "google_order_id": ids_np[rejected],
            "source": "feeds/shipments-1.csv",
            "line_no": np.arange(2, 2 + len(rejected), dtype=np.int32),
            "reason": "carrier: unknown carrier 'Carrier Pigeon'",
            "first_seen_at": now - pd.Timedelta(hours=3),
            "rejects_file": "reports/rejects/rejects-1.csv",
        }
    )
    return google, ledger, oms, rejects, expected


class _Sampler:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> _Sampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def child(n: int, seed: int) -> dict:
    t0 = time.perf_counter()
    google, ledger, oms, rejects, expected = generate(n, seed)
    gen_s = time.perf_counter() - t0
    # Hand the generator's garbage back so the RSS figures are about the reconciliation.
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    rss_before = psutil.Process().memory_info().rss
    settings = ReportsSettings()
    with tempfile.TemporaryDirectory() as tmp, _Sampler() as sampler:
        freshness = rules.Freshness(pd.Timestamp(NOW) - pd.Timedelta(hours=1), recheck_minutes=60)
        t1 = time.perf_counter()
        result = write_report(
            google, ledger, oms, settings=settings, now=NOW, out_dir=Path(tmp), rejects=rejects,
            freshness=freshness,
        )
        run_s = time.perf_counter() - t1
        breaks = pd.read_csv(result.path / "breaks.csv", dtype="str", keep_default_na=False)
        with open(result.path / "orders.csv", encoding="utf-8") as fh:
            lines = sum(1 for _ in fh) - 1
    got = set(zip(breaks["google_order_id"], breaks["category"], strict=True))
    # orders.csv: every Google order plus one row per stray OMS order (the only missing_in_google
    # injection; the ledger lists exactly Google's orders).
    orders_expected = n + sum(1 for _, cat in expected if cat == "missing_in_google")
    return {
        "orders": n,
        "lines": len(google),
        "generate_s": round(gen_s, 2),
        "reconcile_s": round(run_s, 2),
        "orders_per_s": round(n / run_s),
        "rss_before_mb": round(rss_before / 2**20),
        "peak_rss_during_mb": round(sampler.peak / 2**20),
        "peak_rss_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "orders_csv_rows": lines,
        "orders_csv_expected": orders_expected,
        "breaks_expected": len(expected),
        "breaks_found": len(got),
        "missed": sorted(expected - got)[:5],
        "unexpected": sorted(got - expected)[:5],
        "exact": got == expected and lines == orders_expected,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, action="append", help="order count (repeatable)")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seed)))
        return 0
    ok = True
    print(
        f"{'orders':>9} {'lines':>9} {'gen s':>7} {'recon s':>8} {'orders/s':>9} {'RSS MB before':>13} "
        f"{'peak MB':>8} {'breaks':>7} {'csv rows':>9}  exact"
    )
    for n in args.orders or [10_000, 100_000, 1_000_000]:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        ok &= r["exact"]
        print(
            f"{r['orders']:>9} {r['lines']:>9} {r['generate_s']:>7} {r['reconcile_s']:>8} "
            f"{r['orders_per_s']:>9} "
            f"{r['rss_before_mb']:>13} {r['peak_rss_during_mb']:>8} {r['breaks_found']:>7} "
            f"{r['orders_csv_rows']:>9}  {r['exact']}"
        )
        if not r["exact"]:
            print(
                f"   missed {r['missed']} unexpected {r['unexpected']} "
                f"orders.csv rows {r['orders_csv_rows']} (expected {r['orders_csv_expected']})"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
