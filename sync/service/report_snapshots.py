"""Snapshots: the reconciliation's input frames as files (CSV or Parquet), so a report can be
reproduced without credentials. Exact data, not for spreadsheets."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sync.domain import reconcile as rules

SnapshotKind = Literal["google", "ledger", "oms", "rejects"]


def save_snapshot(frame: pd.DataFrame, path: Path | str) -> Path:
    """Write a frame as Parquet or CSV by suffix. Snapshots are exact data, not for spreadsheets:
    no formula neutralisation here (it would change ids); times are ISO 8601 UTC in CSV."""
    path = Path(path)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, path)
    elif path.suffix.lower() == ".csv":
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    else:
        raise ValueError(f"{path}: snapshot must end in .csv or .parquet")
    return path


def _detect_kind(columns: Iterable[str]) -> SnapshotKind:
    cols = set(columns)
    if {"source", "reason", "line_no"} <= cols:
        return "rejects"
    if {"source", "order_ref"} <= cols:
        return "oms"
    if {"status", "acknowledged", "amount_minor"} <= cols:
        return "google"
    if "google_order_id" in cols:
        return "ledger"
    raise rules.SchemaError(f"cannot tell which snapshot this is from its columns: {sorted(cols)}")


def load_snapshot(path: Path | str, kind: SnapshotKind | None = None) -> pd.DataFrame:
    """Read a GOOGLE / LEDGER / OMS snapshot (.csv or .parquet), typed to its schema."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        # Everything as text first: ids such as "00123" must not become numbers.
        frame = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    else:
        raise ValueError(f"{path}: snapshot must end in .csv or .parquet")
    kind = kind or _detect_kind(frame.columns)
    if kind == "rejects":  # one row per rejected feed row, not per line item
        return rules.conform(frame, rules.REJECTS_SCHEMA, f"rejects snapshot {path}", lines=False)
    schema = {"google": rules.GOOGLE_SCHEMA, "ledger": rules.LEDGER_SCHEMA, "oms": rules.OMS_SCHEMA}[kind]
    return rules.conform(frame, schema, f"{kind} snapshot {path}")
