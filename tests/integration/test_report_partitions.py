"""Snapshot reports in partitions (issue 18): the same files as one whole reconciliation.

Each case is written as Parquet snapshots and reported twice: read whole, and cut into as many
partitions as it has lines (so every order sits alone and every cross-order rule — merchant ids on
two Google orders, OMS orders claiming one order, orders only the ledger or the OMS know, rejects
— has to work across partitions). Every file must be byte-identical.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from sync.config import ReportsSettings
from sync.service import report_partitions
from sync.service.reconciliation import (
    SnapshotFiles,
    frames_from_google_orders,
    frames_from_ledger,
    frames_from_rejects,
    frames_from_square_orders,
    save_snapshot,
    write_snapshot_report,
)
from tests.unit.test_reconcile import base_case, iso, not_in_google_case

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _rejects() -> list[dict]:
    base = {
        "source": "feeds/shipments-3.csv",
        "retryable": False,
        "reason": "carrier: unknown carrier 'Carrier Pigeon'",
        "first_seen_at": iso(5),
        "rejects_file": "reports/rejects/rejects-1.csv",
    }
    return [
        {**base, "order_ref": "G2", "line_no": 7},
        {**base, "order_ref": "G2", "line_no": 8},
        {**base, "order_ref": "G-UNKNOWN", "line_no": 9},
        {**base, "order_ref": "", "line_no": 1, "reason": "whole file not read: missing column(s)"},
    ]


def _cases() -> dict[str, tuple[list, list, list, list]]:
    google, square, ledger = not_in_google_case()
    dup_mid = copy.deepcopy(base_case())
    dup_mid[0][2]["merchantOrderId"] = "SQ1"  # G1 and G3 share a merchantOrderId
    dup_mid[2][2]["merchant_order_id"] = "SQ1"
    dup_oms = copy.deepcopy(base_case())
    dup_oms[1].append({**copy.deepcopy(dup_oms[1][2]), "id": "SQ3b"})  # two OMS orders claim G3
    by_mid = copy.deepcopy(base_case())
    by_mid[1][1]["reference_id"] = "SQ2"  # an OMS order naming the merchant id, not Google's id
    return {
        "not_in_google": (google, square, ledger, _rejects()),
        "duplicate_merchant_id": (*dup_mid, []),
        "duplicate_oms_order": (*dup_oms, []),
        "oms_by_merchant_id": (*by_mid, _rejects()),
    }


def _files(folder: Path, google, square, ledger, rejects) -> SnapshotFiles:
    folder.mkdir(parents=True)
    files = SnapshotFiles(
        google=save_snapshot(frames_from_google_orders(google), folder / "google.parquet"),
        ledger=save_snapshot(frames_from_ledger(ledger), folder / "ledger.parquet"),
        oms=save_snapshot(frames_from_square_orders(square), folder / "oms.parquet"),
        rejects=save_snapshot(frames_from_rejects(rejects), folder / "rejects.parquet") if rejects else None,
    )
    return files


@pytest.mark.parametrize("case", sorted(_cases()))
def test_partitioned_report_is_the_whole_report(tmp_path: Path, case: str, monkeypatch) -> None:
    # Tiny batches, so orders straddle batch boundaries while planning and spilling.
    monkeypatch.setattr(report_partitions, "KEY_BATCH_ROWS", 2)
    monkeypatch.setattr(report_partitions, "BATCH_ROWS", 3)
    files = _files(tmp_path / "in", *_cases()[case])
    whole = write_snapshot_report(
        files, settings=ReportsSettings(), now=NOW, out_dir=tmp_path / "whole", run_id="r",
        rows_per_partition=10**9,
    )
    lines = len(pd.read_parquet(files.google))
    plan = report_partitions.plan(
        {"google": files.google, "ledger": files.ledger, "oms": files.oms, "rejects": files.rejects}, 1
    )
    assert plan is not None and plan.partitions >= lines  # every order in a partition of its own
    parts = write_snapshot_report(
        files, settings=ReportsSettings(), now=NOW, out_dir=tmp_path / "parts", run_id="r",
        rows_per_partition=1,
    )
    assert (whole.orders, whole.breaks, whole.by_category) == (parts.orders, parts.breaks, parts.by_category)
    for name in ("orders.csv", "breaks.csv", "summary.csv", "index.html"):
        assert (whole.path / name).read_bytes() == (parts.path / name).read_bytes(), name
    assert whole.breaks > 0
    # nothing of the partitions is left beside the report
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["latest", "r"]


def test_csv_snapshots_and_unusual_layouts_are_read_whole(tmp_path: Path) -> None:
    frame = frames_from_google_orders(base_case()[0])
    csv = save_snapshot(frame, tmp_path / "g.csv")
    assert report_partitions.plan({"google": csv}, 1) is None
    shuffled = save_snapshot(frame.sample(frac=1, random_state=3), tmp_path / "g.parquet")
    assert report_partitions.plan({"google": shuffled}, 1) is None
    result = write_snapshot_report(
        SnapshotFiles(google=shuffled), settings=ReportsSettings(), now=NOW, out_dir=tmp_path / "r",
        rows_per_partition=1,
    )
    assert result.orders == 3
