"""Benchmark: `ordersync report` on N synthetic orders from Parquet snapshots, against peers.

    python bench/reconcile.py                      # 1M orders (~1.7M lines); peers: pandas, datacompy
    python bench/reconcile.py --orders 10000000    # the 10M case (peers skipped above 2M: --peers to force)
    python bench/reconcile.py --orders 100000 --orders 1000000 --repeat 3 --json out.json

Set-up, not measured: the GOOGLE / LEDGER / OMS / REJECTS frames (schemas:
``sync.domain.reconcile.schema``) are generated with seeded numpy in chunks of 1M orders (1..3
lines, mean 1.7) and written as Parquet snapshots. A seeded set of orders gets one break each, of
every category the rules know (a category added without an injector here fails the check).

Measured, each in a fresh process, wall time and the process's own peak RSS (``VmHWM``, written
at exit by the child itself):

- **ordersync**: ``ordersync report --google … --ledger … --oms … --rejects … --out DIR``, the
  CLI exactly as a user runs it: imports, snapshot reading, the rules, orders.csv / breaks.csv /
  summary.csv / index.html written atomically. The run passes when breaks.csv holds exactly the
  injected (order, category) pairs and orders.csv one row per order (Google's, plus the stray
  OMS orders Google does not list).
- **pandas** (peer): the reconciliation a team writes with plain pandas: read the Google and OMS
  snapshots, first line per order, an outer merge on the order id, amount / status / tracking /
  per-order quantity comparisons, breaks and orders CSVs (``DataFrame.to_csv``).
- **datacompy** (peer): ``datacompy.Compare`` of the same order-level frames on the order id,
  its report and the mismatching rows written out.

The peers check less (no ledger, no line matching, no SLAs): they are the floor a plain approach
costs, not the same product. Ratios are peer time / ordersync time (higher is better for us).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync.domain import reconcile as rules
from sync.domain.live_breaks import CATEGORIES as LIVE_CATEGORIES

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
CURRENCIES = np.array(["USD", "EUR", "GBP", "JPY", "KWD"])
# Every category the snapshot rules know, so a category added without an injector here fails the
# check. The live channels' categories (domain.live_breaks) come from the live report's ledger
# intents, which snapshots do not carry.
INJECTED = tuple(c for c in rules.CATEGORIES if c not in LIVE_CATEGORIES)
CHUNK = 1_000_000
SOURCES = ("google", "ledger", "oms", "rejects")


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    text = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.large_string()), 9, "0")
    return pc.binary_join_element_wise(
        pa.scalar(prefix, pa.large_string()), text, pa.scalar("", pa.large_string())
    )


def _str(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([arr]).cast(pa.large_string())))


def generate(
    n: int, seed: int, start: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, set[tuple[str, str]]]:
    """Orders ``start .. start+n-1`` (ids G-000000123), each injected category on its own seeded
    set of orders; returns (google, ledger, oms, rejects, expected (order, category) pairs)."""
    rng = np.random.default_rng(seed)
    now = pd.Timestamp(NOW)
    num = np.arange(start, start + n)
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
        g_mid_override[b] = l_mid_override[b] = f"SQ-{start + a:09d}"
    expected |= {(ids_np[i], "duplicate_merchant_order_id") for i in chosen["duplicate_merchant_order_id"]}
    for i in chosen["merchant_order_id_mismatch"]:
        l_mid_override[i] = f"OS-{start + i:09d}"
    oms_amount[chosen["amount_mismatch"]] += 1
    template(chosen["status_mismatch"], "pendingShipment", 10.0)
    oms_status_override[chosen["status_mismatch"]] = "canceled"
    template(chosen["stuck_past_ship_sla"], "pendingShipment", 100.0)
    template(chosen["shipped_not_delivered_past_sla"], "shipped", 300.0, 276.0)
    for i in chosen["tracking_mismatch"]:
        oms_trk_override[i] = f"X{start + i}"
    failed[chosen["failed_operation"]] = 1
    qty_oms, qty_led = chosen["quantity_mismatch"][:half], chosen["quantity_mismatch"][half:]
    # pending_sync: a unit canceled on Google an hour ago, after the ledger's last look (2 h ago).
    lagging = chosen["pending_sync"]
    template(lagging, "pendingShipment", 10.0)
    canceled_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    canceled_at.iloc[lagging] = now - pd.Timedelta(hours=1)
    rejected = chosen["rejected_feed_row"]
    # refund_mismatch: Square recorded a 1.00 refund Google did not make.
    oms_refunded = np.zeros(n, dtype=np.int64)
    oms_refunded[chosen["refund_mismatch"]] = 100
    # return_not_refunded_past_sla: one unit back on Google 400 h ago (> 336), nothing refunded.
    returned_orders = chosen["return_not_refunded_past_sla"]
    returned_at = pd.Series(pd.NaT, index=range(n), dtype="datetime64[us, UTC]")
    returned_at.iloc[returned_orders] = now - pd.Timedelta(hours=400)
    returned_worth = np.zeros(n, dtype=np.int64)
    returned_worth[returned_orders] = 100

    # ---- expand to lines -------------------------------------------------------------------
    k = rng.choice(np.array([1, 2, 3]), n, p=[0.5, 0.3, 0.2])  # 1..3 lines, mean 1.7
    order_of_row = np.repeat(np.arange(n), k)
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
    returned_units = np.zeros(len(order_of_row), dtype=np.int32)
    returned_units[starts[returned_orders]] = 1
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
            "qty_returned": returned_units,
            "last_canceled_at": canceled_at.iloc[order_of_row].to_numpy(),
            "refunded_minor": np.zeros(len(order_of_row), dtype=np.int64),
            "last_refunded_at": np.full(len(order_of_row), np.datetime64("NaT", "us")),
            "returned_amount_minor": returned_worth[order_of_row],
            "last_returned_at": returned_at.iloc[order_of_row].to_numpy(),
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
    google["last_refunded_at"] = google["last_refunded_at"].dt.tz_localize("UTC")
    times = ("placed_at", "open_shipment_since", "last_canceled_at", "last_returned_at", "last_refunded_at")
    for col in times:
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
            "refunded_minor": pd.array(oms_refunded[orow], dtype="Int64"),
        },
        copy=False,
    )
    # Strays (missing_in_google) and duplicate OMS orders go after the real ones: first one wins.
    extra_refs = [f"GX-{start + i:09d}" for i in chosen["missing_in_google"]]
    extra_ids = [f"SQX-{start + i:09d}" for i in chosen["missing_in_google"]]
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
            "line_no": np.arange(2 + start, 2 + start + len(rejected), dtype=np.int32),
            "reason": "carrier: unknown carrier 'Carrier Pigeon'",
            "first_seen_at": now - pd.Timedelta(hours=3),
            "rejects_file": "reports/rejects/rejects-1.csv",
        }
    )
    return google, ledger, oms, rejects, expected


# ---------------------------------------------------------------------------------------------
# Set-up: snapshots on disk


def prepare(folder: Path, n: int, seed: int) -> int:
    """Write the four snapshots and expected.json for ``n`` orders; returns the line count."""
    writers: dict[str, pq.ParquetWriter] = {}
    expected: set[tuple[str, str]] = set()
    lines = 0
    for chunk_no, start in enumerate(range(0, n, CHUNK)):
        size = min(CHUNK, n - start)
        frames = generate(size, seed + chunk_no, start)
        expected |= frames[4]
        lines += len(frames[0])
        for name, frame in zip(SOURCES, frames[:4], strict=True):
            frame = frame if name != "oms" else rules.conform(frame, rules.OMS_SCHEMA, "oms")
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if name not in writers:
                writers[name] = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writers[name].write_table(table.cast(writers[name].schema))
        del frames
    for writer in writers.values():
        writer.close()
    (folder / "expected.json").write_text(json.dumps(sorted(expected)))
    return lines


# ---------------------------------------------------------------------------------------------
# Measured children (each a fresh process; it writes its own VmHWM at exit)


def _record_peak(path: str) -> None:
    def write() -> None:
        status = Path("/proc/self/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
        Path(path).write_text(str(int(hwm.split()[1]) * 1024))

    atexit.register(write)


class _Frozen(datetime):
    """The report's clock stopped at the generator's NOW, so every age is the injected one."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return NOW if tz is None else NOW.astimezone(tz)


def child_ordersync(folder: Path, out: Path) -> None:
    from sync.entrypoints.cli import main
    from sync.service import reconciliation

    reconciliation.datetime = _Frozen  # type: ignore[misc]

    config = out / "ordersync.toml"
    config.write_text(f'[reports]\ndir = "{out}"\n', encoding="utf-8")
    sys.argv = [
        "ordersync", "--config", str(config), "report",
        "--google", str(folder / "google.parquet"), "--ledger", str(folder / "ledger.parquet"),
        "--oms", str(folder / "oms.parquet"), "--rejects", str(folder / "rejects.parquet"),
        "--out", str(out),
    ]
    main()


def _order_level(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    qty = [c for c in ("qty_ordered", "qty_shipped", "qty_delivered", "qty_canceled") if c in frame]
    firsts = frame.groupby(key, sort=False).first()
    sums = frame.groupby(key, sort=False)[qty].sum()
    return firsts.drop(columns=qty).join(sums)


def child_pandas(folder: Path, out: Path) -> None:
    google = pd.read_parquet(folder / "google.parquet")
    oms = pd.read_parquet(folder / "oms.parquet")
    g = _order_level(google, "google_order_id")
    o = _order_level(oms.drop(columns=["oms_order_id"]).drop_duplicates(), "order_ref")
    m = g.join(o, how="outer", lsuffix="_g", rsuffix="_o", sort=False)
    breaks = []
    def add(mask: pd.Series, category: str) -> None:
        found = m.index[mask.fillna(False).to_numpy()]
        breaks.append(pd.DataFrame({"google_order_id": found, "category": category}))
    add(m["status"].isna(), "missing_in_google")
    add(m["oms_status"].isna() & (m["status"] != "canceled"), "missing_in_oms")
    amounts = m["amount_minor_g"].notna() & m["amount_minor_o"].notna()
    add(amounts & (m["amount_minor_g"] != m["amount_minor_o"]), "amount_mismatch")
    add((m["status"] == "canceled") != (m["oms_status"] == "canceled"), "status_mismatch")
    both = (m["tracking_ids_g"] != "") & (m["tracking_ids_o"] != "")
    add(both & (m["tracking_ids_g"] != m["tracking_ids_o"]), "tracking_mismatch")
    for q in ("qty_ordered", "qty_shipped"):
        add(m[f"{q}_o"].notna() & (m[f"{q}_g"] != m[f"{q}_o"]), "quantity_mismatch")
    pd.concat(breaks).to_csv(out / "breaks.csv", index=False)
    m.reset_index().to_csv(out / "orders.csv", index=False)


def child_datacompy(folder: Path, out: Path) -> None:
    import datacompy

    google = pd.read_parquet(folder / "google.parquet")
    oms = pd.read_parquet(folder / "oms.parquet")
    columns = ["amount_minor", "status", "tracking_ids", "qty_ordered", "qty_shipped"]
    g = _order_level(google, "google_order_id")[columns]
    o = _order_level(oms.drop(columns=["oms_order_id"]).drop_duplicates(), "order_ref")
    o = o[["amount_minor", "oms_status", "tracking_ids", "qty_ordered", "qty_shipped"]].rename(
        columns={"oms_status": "status"}
    )
    o["amount_minor"] = o["amount_minor"].astype("float64")
    o["status"] = o["status"].astype(str).replace({"completed": "delivered", "open": "pendingShipment"})
    g.index.name = o.index.name = "google_order_id"
    cmp = datacompy.PandasCompare(g.reset_index(), o.reset_index(), join_columns="google_order_id")
    (out / "report.txt").write_text(cmp.report(), encoding="utf-8")
    cmp.all_mismatch().to_csv(out / "mismatch.csv", index=False)
    cmp.df1_unq_rows.to_csv(out / "only_google.csv", index=False)
    cmp.df2_unq_rows.to_csv(out / "only_oms.csv", index=False)


CHILDREN = {"ordersync": child_ordersync, "pandas": child_pandas, "datacompy": child_datacompy}


# ---------------------------------------------------------------------------------------------
# The parent


def _measure(kind: str, folder: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    peak_file = out / "peak.txt"
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder), str(out), str(peak_file)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{kind} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mb": round(int(peak_file.read_text()) / 2**20),
    }


def _check(folder: Path, out: Path) -> dict:
    run = next(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "latest")
    breaks = pd.read_csv(run / "breaks.csv", dtype="str", keep_default_na=False, encoding="utf-8-sig")
    got = set(zip(breaks["google_order_id"], breaks["category"], strict=True))
    expected = {tuple(p) for p in json.loads((folder / "expected.json").read_text())}
    with open(run / "orders.csv", encoding="utf-8-sig") as fh:
        rows = sum(1 for _ in fh) - 1
    google_orders = pq.ParquetFile(folder / "google.parquet")
    n = pc.sum(pc.equal(google_orders.read(columns=["line_no"])["line_no"], 0)).as_py()
    rows_expected = n + sum(1 for _, cat in expected if cat == "missing_in_google")
    return {
        "breaks_expected": len(expected),
        "breaks_found": len(got),
        "missed": sorted(expected - got)[:5],
        "unexpected": sorted(got - expected)[:5],
        "orders_csv_rows": rows,
        "exact": got == expected and rows == rows_expected,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, action="append", help="order count (repeatable); default 1M")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--repeat", type=int, default=1, help="measure each tool this many times (spread)")
    ap.add_argument("--peers", action="store_true", help="run the peers above 2M orders too")
    ap.add_argument("--no-peers", action="store_true", help="ordersync only")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, folder, out, peak = args.child
        _record_peak(peak)
        CHILDREN[kind](Path(folder), Path(out))
        return 0
    ok, results = True, []
    print(f"{'orders':>10} {'lines':>10} {'tool':>10} {'s (min)':>8} {'s (max)':>8} {'cpu s':>7} "
          f"{'peak MB':>8} {'vs ordersync':>12}  exact")
    for n in args.orders or [1_000_000]:
        with tempfile.TemporaryDirectory(prefix="ordersync-bench-") as tmp:
            folder = Path(tmp) / "in"
            folder.mkdir()
            lines = prepare(folder, n, args.seed)
            tools = ["ordersync"]
            if not args.no_peers and (n <= 2_000_000 or args.peers):
                tools += ["pandas", "datacompy"]
            figures: dict[str, dict] = {}
            for tool in tools:
                runs = [_measure(tool, folder, Path(tmp) / f"{tool}-{i}") for i in range(args.repeat)]
                fig = {
                    "seconds_min": min(r["seconds"] for r in runs),
                    "seconds_max": max(r["seconds"] for r in runs),
                    "seconds_median": statistics.median(r["seconds"] for r in runs),
                    "cpu_seconds_median": statistics.median(r["cpu_seconds"] for r in runs),
                    "peak_mb": max(r["peak_mb"] for r in runs),
                }
                if tool == "ordersync":
                    fig |= _check(folder, Path(tmp) / "ordersync-0")
                    ok &= fig["exact"]
                figures[tool] = fig
            base = figures["ordersync"]["seconds_median"]
            for tool, fig in figures.items():
                ratio = "" if tool == "ordersync" else f"{fig['seconds_median'] / base:.1f}x"
                exact = fig.get("exact", "")
                print(f"{n:>10} {lines:>10} {tool:>10} {fig['seconds_min']:>8} {fig['seconds_max']:>8} "
                      f"{fig['cpu_seconds_median']:>7} {fig['peak_mb']:>8} {ratio:>12}  {exact}")
                if fig.get("exact") is False:
                    print(f"   missed {fig['missed']} unexpected {fig['unexpected']}")
                    print(f"   orders.csv rows {fig['orders_csv_rows']}")
            results.append({"orders": n, "lines": lines, "load_avg": os.getloadavg(), **figures})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
