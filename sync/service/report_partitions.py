"""Snapshot reports in partitions: flat memory whatever the number of orders.

A reconciliation needs every view of an order together, but not every order at once. For Parquet
snapshots whose lines are in the usual layout (each order's lines one block, numbered from 0),
the report runs in three passes:

1. **Plan** (key columns only): Google's orders are cut into contiguous ranges of about
   ``ROWS_PER_PARTITION`` lines, so orders.csv keeps Google's order with no merge. Every ledger
   and OMS order is routed to the partition of the Google order it refers to, exactly as the
   rules match them (Google order id, else merchantOrderId for the OMS); orders Google does not
   list go to extra partitions grouped by the order they fold into (a ledger order and the OMS
   orders naming it). Facts about the whole input the rules need (merchant ids on several Google
   orders, whether the OMS is Square, which quantities it tracks) become ``rules.Shared``.
2. **Spill**: each snapshot is read once in record batches and its rows appended to one Arrow
   IPC file per partition (uncompressed, in a hidden folder beside the report, removed after).
3. **Reconcile** each partition (memory-mapped), and hand its orders rows, its collapsed
   breaks and its summary counts to the writer; ``rules.finish`` and ``rules.summary_table``
   merge them into exactly what one whole reconciliation gives.

Anything else (CSV snapshots, a hand-made layout, an input small enough for one partition) is
read whole and reconciled in one go: ``plan`` returns None.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sync.domain import reconcile as rules
from sync.domain.reconcile.columns import index_in, nonempty
from sync.domain.reconcile.schema import lines_contiguous

ROWS_PER_PARTITION = 400_000  # Google line rows per partition
BATCH_ROWS = 131_072  # rows per record batch while spilling
KEY_BATCH_ROWS = 1_048_576  # rows per batch while planning (key columns only)
SOURCES = ("google", "ledger", "oms", "rejects")


@dataclass
class Plan:
    """Where every order of every snapshot goes: ``routes[source]`` is the partition of each
    order (of each row for rejects) in file order."""

    files: dict[str, Path]
    partitions: int
    routes: dict[str, np.ndarray]
    shared: rules.Shared


@dataclass
class Partition:
    google: pd.DataFrame
    ledger: pd.DataFrame | None
    oms: pd.DataFrame | None
    rejects: pd.DataFrame | None


def _parquet(path: Path | None) -> pq.ParquetFile | None:
    if path is None or path.suffix.lower() != ".parquet":
        return None
    return pq.ParquetFile(path)


def _strings(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return pc.fill_null(arr.cast(pa.large_string()), "")


@dataclass
class _FirstRows:
    """Each order's first line (``line_no == 0``) of a snapshot: its key and ``also`` columns."""

    key: pa.Array
    also: dict[str, pa.Array]
    rows: int


def _first_rows(
    pf: pq.ParquetFile, key: str, also: tuple[str, ...] = (), *, distinct: bool = True
) -> _FirstRows | None:
    """Read batch by batch (only the key columns, only each order's first row kept), checking the
    layout as it goes: None when the lines are not blocks numbered from 0 with one id each (then
    the whole input is read at once). ``distinct=False`` (ledger, OMS): an order in two blocks is
    allowed; both are routed by its id to one partition, whose conform() regroups it as a whole
    reconciliation would."""
    names = set(pf.schema_arrow.names)
    if key not in names or "line_no" not in names:
        return None
    present = [c for c in also if c in names]
    keys: list[pa.Array] = []
    extra: dict[str, list[pa.Array]] = {c: [] for c in also}
    last_id, last_no, rows = None, None, 0
    for batch in pf.iter_batches(batch_size=KEY_BATCH_ROWS, columns=[key, "line_no", *present]):
        line_no = batch.column("line_no").to_numpy(zero_copy_only=False)
        ids = _strings(batch.column(key))
        if len(line_no) and line_no[0] != 0:  # an order continued from the previous batch
            if last_id is None or last_no is None or ids[0].as_py() != last_id or line_no[0] != last_no + 1:
                return None
            ids_here, numbers = ids, line_no.copy()
            numbers[0] = 0  # checked against the previous batch above; as a start here
            if not lines_contiguous(ids_here, numbers, distinct=False):
                return None
        elif not lines_contiguous(ids, line_no, distinct=False):
            return None
        starts = pa.array(line_no == 0)
        keys.append(ids.filter(starts))
        for c in also:
            if c in present:
                extra[c].append(_strings(batch.column(c)).filter(starts))
            else:
                extra[c].append(pa.array([""] * int(pc.sum(starts).as_py() or 0), pa.large_string()))
        if len(line_no):
            last_id, last_no = ids[len(ids) - 1].as_py(), int(line_no[-1])
        rows += len(line_no)
    first = _FirstRows(
        key=pa.concat_arrays(keys) if keys else pa.array([], pa.large_string()),
        also={c: pa.concat_arrays(v) if v else pa.array([], pa.large_string()) for c, v in extra.items()},
        rows=rows,
    )
    if distinct and pc.count_distinct(first.key).as_py() != len(first.key):
        return None  # an order in two blocks: conform() regroups the whole input
    return first


def plan(files: dict[str, Path | None], rows_per_partition: int = ROWS_PER_PARTITION) -> Plan | None:
    """Pass 1 (see the module docstring); None when the input is read whole instead."""
    pfs = {name: _parquet(path) for name, path in files.items()}
    gpf = pfs.get("google")
    if gpf is None or any(files.get(n) is not None and pfs.get(n) is None for n in SOURCES):
        return None
    rows = gpf.metadata.num_rows
    google_parts = max(1, math.ceil(rows / rows_per_partition))
    if google_parts == 1:
        return None
    g = _first_rows(gpf, "google_order_id", ("merchant_order_id",))
    if g is None:
        return None
    g_ids, g_mids = g.key, g.also["merchant_order_id"]
    del g
    n = len(g_ids)
    order_part = ((np.arange(n, dtype=np.int64) * google_parts) // max(n, 1)).astype(np.int32)
    counts = pc.value_counts(pc.filter(g_mids, pc.greater(pc.binary_length(g_mids), 0)))
    several = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    routes: dict[str, np.ndarray] = {"google": order_part}

    # Ledger orders: by Google order id; the others keyed by their own id (and merchant id).
    lo_ids = pa.array([], pa.large_string())
    lo_mids = pa.array([], pa.large_string())
    ledger_to_g = np.zeros(0, dtype=np.int32)
    lpf = pfs.get("ledger")
    if lpf is not None:
        led = _first_rows(lpf, "google_order_id", ("merchant_order_id",), distinct=False)
        if led is None:
            return None
        l_ids, l_mids = led.key, led.also["merchant_order_id"]
        del led
        ledger_to_g = index_in(l_ids, g_ids)
        elsewhere = np.flatnonzero((ledger_to_g < 0) & nonempty(l_ids))
        lo_ids, lo_mids = l_ids.take(pa.array(elsewhere)), l_mids.take(pa.array(elsewhere))
        del l_mids

    # OMS orders: by Google order id, else Google merchant id; strays fold into a ledger order
    # Google lacks (by its id, else its merchant id) or stand alone.
    oms_to_g = np.zeros(0, dtype=np.int32)
    stray_rows = np.zeros(0, dtype=np.int64)
    stray_keys = pa.array([], pa.large_string())
    opf = pfs.get("oms")
    oms_complete: bool | None = None
    tracks: tuple[str, ...] | None = None
    if opf is not None:
        om = _first_rows(opf, "oms_order_id", ("order_ref",), distinct=False)
        if om is None:
            return None
        refs = om.also["order_ref"]
        del om
        oms_to_g = index_in(refs, g_ids)
        todo = np.flatnonzero(oms_to_g < 0)
        by_mid = index_in(refs.take(pa.array(todo)), g_mids)
        by_mid[~nonempty(refs.take(pa.array(todo)))] = -1
        oms_to_g[todo] = by_mid
        stray_rows = np.flatnonzero((oms_to_g < 0) & nonempty(refs))
        strays = refs.take(pa.array(stray_rows))
        to_lo = index_in(strays, lo_ids)
        rest = np.flatnonzero(to_lo < 0)
        to_lo[rest] = index_in(strays.take(pa.array(rest)), lo_mids)
        if len(lo_ids):
            folded = lo_ids.take(pa.array(np.maximum(to_lo, 0)))
            stray_keys = pc.if_else(pa.array(to_lo >= 0), folded, strays)
        else:
            stray_keys = strays
        source = _strings(opf.read(columns=["source"]).column("source"))
        oms_complete = bool(pc.any(pc.equal(source, "square")).as_py())
        names = set(opf.schema_arrow.names)
        tracks = tuple(
            q
            for q in ("qty_ordered", "qty_shipped", "qty_delivered")
            if q in names and opf.read(columns=[q]).column(q).null_count < opf.metadata.num_rows
        )

    # Orders Google does not list: extra partitions after Google's, by the order they fold into.
    groups = pc.unique(pa.concat_arrays([lo_ids, stray_keys.cast(pa.large_string())]))
    extra = math.ceil(len(groups) * 2 / rows_per_partition) if len(groups) else 0

    def elsewhere_part(keys: pa.Array) -> np.ndarray:
        pos = index_in(keys, groups).astype(np.int64)
        part = google_parts + (np.maximum(pos, 0) * max(extra, 1)) // max(len(groups), 1)
        return np.where(pos >= 0, part, 0).astype(np.int32)

    if lpf is not None:
        part = np.zeros(len(ledger_to_g), dtype=np.int32)  # an order without an id: partition 0
        known = ledger_to_g >= 0
        part[known] = order_part[ledger_to_g[known]]
        unknown = np.flatnonzero(~known)
        if len(unknown):
            part[unknown] = elsewhere_part(l_ids.take(pa.array(unknown)))
        routes["ledger"] = part
    if opf is not None:
        part = np.zeros(len(oms_to_g), dtype=np.int32)  # an order naming no order of ours: 0
        known = oms_to_g >= 0
        part[known] = order_part[oms_to_g[known]]
        part[stray_rows] = elsewhere_part(stray_keys)
        routes["oms"] = part
    rpf = pfs.get("rejects")
    if rpf is not None:
        ids = _strings(rpf.read(columns=["google_order_id"]).column("google_order_id"))
        to_g = index_in(ids, g_ids)
        part = elsewhere_part(ids)
        part[to_g >= 0] = order_part[to_g[to_g >= 0]]
        routes["rejects"] = part
    shared = rules.Shared(
        merchant_ids_on_several=several, oms_complete=oms_complete, oms_tracks=tracks, google_contiguous=True
    )
    present = {name: path for name, path in files.items() if path is not None}
    return Plan(files=present, partitions=google_parts + extra, routes=routes, shared=shared)


def spill(p: Plan, folder: Path) -> None:
    """Pass 2: every snapshot read once in batches, its rows appended to their partition's file."""
    for name, path in p.files.items():
        pf = pq.ParquetFile(path)
        route = p.routes[name]
        writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
        orders_before = 0
        try:
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                if name == "rejects":  # one row per reject, not lines of orders
                    rows = route[orders_before : orders_before + batch.num_rows]
                    orders_before += batch.num_rows
                else:
                    starts = batch.column("line_no").to_numpy(zero_copy_only=False) == 0
                    order_of_row = np.cumsum(starts, dtype=np.int64) - 1 + orders_before
                    orders_before += int(starts.sum())
                    rows = route[np.maximum(order_of_row, 0)]
                by_part = np.argsort(rows, kind="stable")
                sorted_parts = rows[by_part]
                cuts = np.flatnonzero(np.diff(sorted_parts)) + 1
                taken = batch.take(pa.array(by_part))
                for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(rows)], strict=True):
                    k = int(sorted_parts[start])
                    if k not in writers:
                        sink = pa.OSFile(str(folder / f"{name}-{k}.arrow"), "wb")
                        writers[k] = pa.ipc.new_stream(sink, batch.schema)
                    writers[k].write_batch(taken.slice(start, end - start))
        finally:
            for writer in writers.values():
                writer.close()


def _read(folder: Path, name: str, k: int, schema: pa.Schema) -> pd.DataFrame:
    path = folder / f"{name}-{k}.arrow"
    if not path.exists():
        table = schema.empty_table()
    else:
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_stream(source).read_all()
    frame: pd.DataFrame = table.to_pandas()  # pyarrow has no types: Any to mypy
    return frame


def partitions(p: Plan, folder: Path) -> Iterator[Partition]:
    """Pass 3's inputs: each partition's frames, in partition order."""
    schemas = {name: pq.ParquetFile(path).schema_arrow for name, path in p.files.items()}
    for k in range(p.partitions):
        frames = {name: _read(folder, name, k, schemas[name]) for name in p.files}
        yield Partition(frames["google"], frames.get("ledger"), frames.get("oms"), frames.get("rejects"))
        for name in p.files:
            (folder / f"{name}-{k}.arrow").unlink(missing_ok=True)
