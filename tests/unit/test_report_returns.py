"""Open customer returns in the report (issue 15 item 3): which units are still waiting for money
(``refunds.returns.followed_returns``), returns.csv and its summary rows
(``reconcile.returns``), orders.csv ``qty_return_open``, the SLA break's clock, the page section
and the files a run writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.domain.reconcile.returns import (
    RETURN_COLUMNS,
    oldest_waiting,
    open_units_by_line,
    returns_frame,
    returns_summary,
)
from sync.domain.refunds.records import google_return
from sync.domain.refunds.returns import FollowedReturn, FollowStatus, SquareReturnedUnits, followed_returns
from sync.service.reconciliation import (
    SnapshotFiles,
    frames_from_google_orders,
    write_report,
    write_snapshot_report,
)
from sync.service.report_files import run_folders
from sync.service.report_returns import returns_section
from tests.unit.refund_fixtures import delivered_order, google_return_raw, order_of
from tests.unit.test_reconcile import NOW, SLAS, base_case, found, iso

ORDER = "TEST-1000-20-3000"


def _row(
    order_id: str, return_id: str, line: str, units: int, hours_ago: float, by: str = ""
) -> FollowedReturn:
    return FollowedReturn(order_id, return_id, line, units, iso(hours_ago), "new", "", "changedMind", by)


# ---- which units are waiting -------------------------------------------------------------------


def test_followed_returns_are_the_open_units_not_refunded_grouped_per_return_line_and_pairing() -> None:
    order = order_of(delivered_order())
    raw = google_return_raw("R-1", [("sku-a", "new"), ("sku-a", "new"), ("sku-b", "refunded")])
    raw["returnShipments"] = [{"shipmentId": "SH-1", "state": "shipped"}]
    raw["returnItems"][0]["returnShipmentIds"] = ["SH-1"]
    later = google_return_raw("R-2", [("sku-b", "rejected")], created="2026-11-25T00:00:00Z")
    returns = [google_return(raw), google_return(later)]
    rows = followed_returns(order, returns, [])
    assert [(r.return_id, r.line_item_id, r.units, r.shipment_state, r.status) for r in rows] == [
        ("R-1", "LI-A", 1, "shipped", FollowStatus.OPEN),
        ("R-1", "LI-A", 1, "", FollowStatus.OPEN),
    ]  # the refunded and rejected units are not waiting; the two units differ in shipment
    assert rows[0].reason == "changedMind" and rows[0].created == "2026-11-24T09:00:00Z"
    # The store's Square return takes one unit: matched until its Google refund is through.
    square = [SquareReturnedUnits("SQ-R1", "LI-A", 1, "2026-11-26T00:00:00Z")]
    matched = followed_returns(order, returns, square)
    assert [(r.status, r.square_refund_id) for r in matched] == [
        (FollowStatus.MATCHED, "SQ-R1"),
        (FollowStatus.OPEN, ""),
    ]
    assert [r.status for r in followed_returns(order, returns, square, refunded={"SQ-R1"})] == ["open"]


def test_a_return_whose_product_is_on_no_line_is_listed_never_dropped() -> None:
    order = order_of(delivered_order())
    stray = google_return(google_return_raw("R-9", [("sku-z", "new"), ("sku-a", "received")]))
    rows = followed_returns(order, [stray], [SquareReturnedUnits("SQ-1", "", 1, "2026-11-30T00:00:00Z")])
    assert sorted((r.line_item_id, r.state, r.status) for r in rows) == [
        ("", "new", FollowStatus.OPEN),  # nothing can pair with it, not even a Square "" line
        ("LI-A", "received", FollowStatus.OPEN),
    ]


# ---- returns.csv, the summary, the per-line counts ---------------------------------------------


def test_returns_frame_lists_oldest_first_with_age_and_the_sla_flag_of_the_break() -> None:
    rows = [
        _row("G1", "R-2", "L1", 1, 10),
        _row("G2", "R-1", "L1", 2, 400, by="SQ-R"),
        FollowedReturn("G1", "R-3", "L2", 1, "", "new", "", "other"),  # Google gave no time
    ]
    now = pd.Timestamp(NOW)
    table = returns_frame(rows, now=now, return_hours=336)
    assert list(table.columns) == list(RETURN_COLUMNS)
    assert list(table["return_id"]) == ["R-1", "R-2", "R-3"]
    first = table.iloc[0]
    assert (first["status"], first["matched"], first["square_refund_id"]) == ("matched", "yes", "SQ-R")
    assert (first["age_hours"], first["past_sla"], first["quantity"]) == (400.0, "yes", 2)
    assert first["created_at"] == (NOW - pd.Timedelta(hours=400)).strftime("%Y-%m-%d %H:%M:%S")
    assert pd.isna(table.iloc[2]["age_hours"]) and table.iloc[2]["created_at"] == ""
    # With the report's breaks: past the SLA only where the order has the SLA break (it is that break).
    breaks = pd.DataFrame({"google_order_id": ["G1"], "category": ["return_not_refunded_past_sla"]})
    assert list(returns_frame(rows, now=now, return_hours=336, breaks=breaks)["past_sla"]) == ["no"] * 3
    breaks["google_order_id"] = ["G2"]
    assert list(returns_frame(rows, now=now, return_hours=336, breaks=breaks)["past_sla"]) == [
        "yes",
        "no",
        "no",
    ]
    summary = returns_summary(table).set_index("key")["count"].to_dict()
    assert summary == {"open": 2, "matched": 2, "past_sla": 2}
    empty = returns_frame([], now=now, return_hours=336)
    assert list(empty.columns) == list(RETURN_COLUMNS) and empty.empty
    assert returns_summary(empty)["count"].tolist() == [0, 0, 0]
    assert open_units_by_line(rows) == {("G1", "L1"): 1, ("G2", "L1"): 2, ("G1", "L2"): 1}
    assert oldest_waiting(rows) == {"G1": iso(10), "G2": iso(400)}


def test_qty_return_open_per_order_and_old_snapshots_read_as_not_known() -> None:
    google, _square, _ledger = base_case()
    rows = [_row("G1", "R-1", "L1", 1, 5), _row("G1", "R-2", "", 1, 5)]  # "" : on no known line
    frame = frames_from_google_orders(google, returns=rows)
    rec = rules.reconcile(frame, None, None, slas=SLAS, now=pd.Timestamp(NOW))
    table = rules.orders_table(rec.orders).set_index("google_order_id")
    assert list(table["qty_return_open"]) == [2, 0, 0]  # followed: 0 where nothing is waiting
    old = frame.drop(columns=["qty_return_open", "return_waiting_since"])
    rec = rules.reconcile(old, None, None, slas=SLAS, now=pd.Timestamp(NOW))
    assert rules.orders_table(rec.orders)["qty_return_open"].isna().all()  # not known: empty cells
    unfollowed = rules.orders_table(
        rules.reconcile(
            frames_from_google_orders(google), None, None, slas=SLAS, now=pd.Timestamp(NOW)
        ).orders
    )
    assert unfollowed["qty_return_open"].isna().all()


def test_an_open_return_past_the_sla_is_the_break_even_when_a_later_return_is_recent() -> None:
    google, _square, _ = base_case()
    line = google[1]["lineItems"][0]  # G2: 1 x 1500 JPY; give it a second unit
    line.update(
        quantityOrdered=2, quantityShipped=2, quantityDelivered=2, price={"value": "3000", "currency": "JPY"}
    )
    line["quantityReturned"] = 2
    line["returns"] = [
        {"quantity": 1, "creationDate": iso(400), "actor": "customer"},
        {"quantity": 1, "creationDate": iso(10), "actor": "customer"},
    ]
    # Google's order data alone: the latest return is 10 h old, so no break yet.
    plain = rules.reconcile(frames_from_google_orders(google), None, None, slas=SLAS, now=pd.Timestamp(NOW))
    assert found(plain) == set()
    waiting = [_row("G2", "R-1", "L1", 1, 400), _row("G2", "R-2", "L1", 1, 10)]
    rec = rules.reconcile(
        frames_from_google_orders(google, returns=waiting), None, None, slas=SLAS, now=pd.Timestamp(NOW)
    )
    assert found(rec) == {("G2", "return_not_refunded_past_sla")}
    (brk,) = rec.breaks.itertuples(index=False)
    assert brk.age_hours == pytest.approx(400) and "see returns.csv" in brk.detail
    # Refunded on Google since: no break, whatever is still listed.
    google[1]["refunds"] = [{"amount": {"value": "3000", "currency": "JPY"}, "creationDate": iso(1)}]
    rec = rules.reconcile(
        frames_from_google_orders(google, returns=waiting), None, None, slas=SLAS, now=pd.Timestamp(NOW)
    )
    assert found(rec) == set()


# ---- the page section and the run folder -------------------------------------------------------


def test_the_page_section_says_not_known_none_or_lists_oldest_first_escaped() -> None:
    assert "Not known in this report" in returns_section(None, 336)
    assert "(0)</h2><p>None" in returns_section(
        returns_frame([], now=pd.Timestamp(NOW), return_hours=336), 336
    )
    rows = [_row("G<1>", "R-1", "L1", 2, 400), _row("G2", "R-2", "L1", 1, 3, by="SQ-1")]
    html = returns_section(returns_frame(rows, now=pd.Timestamp(NOW), return_hours=336), 336)
    assert 'id="returns"' in html and "(3)</h2>" in html and "G&lt;1&gt;" in html and "G<1>" not in html
    assert html.index("R-1") < html.index("R-2") and '<tr class="sev-high">' in html
    assert "2 open" in html and "1 matched" in html and "2 past the 336 h SLA" in html


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_report_with_followed_returns_writes_returns_csv_summary_and_page(tmp_path: Path) -> None:
    google, _square, ledger = base_case()
    rows = [FollowedReturn("G1", "=HYPERLINK(1)", "L1", 1, iso(5), "new", "", "changedMind")]
    settings = ReportsSettings(dir=str(tmp_path))
    result = write_report(google, ledger, None, settings=settings, now=NOW, out_dir=tmp_path, returns=rows)
    (written,) = _read(result.path / "returns.csv")
    assert list(written) == list(RETURN_COLUMNS)
    assert written["return_id"] == "'=HYPERLINK(1)"  # formulas neutralised like every report file
    assert (written["status"], written["quantity"], written["past_sla"]) == ("open", "1", "no")
    summary = [r for r in _read(result.path / "summary.csv") if r["section"] == "returns"]
    assert [(r["key"], r["count"]) for r in summary] == [("open", "1"), ("matched", "0"), ("past_sla", "0")]
    html = (result.path / "index.html").read_text(encoding="utf-8")
    assert 'href="returns.csv"' in html and 'id="returns"' in html
    orders = {o["google_order_id"]: o for o in _read(result.path / "orders.csv")}
    assert orders["G1"]["qty_return_open"] == "1"
    assert run_folders(tmp_path) == [result.path.name]  # returns.csv is ours: pruning still knows it
    # Not followed (snapshots, no Square): no returns.csv, the page says so, qty_return_open empty.
    other = write_report(google, ledger, None, settings=settings, now=NOW, out_dir=tmp_path)
    assert not (other.path / "returns.csv").exists()
    assert "Not known in this report" in (other.path / "index.html").read_text(encoding="utf-8")
    assert {o["qty_return_open"] for o in _read(other.path / "orders.csv")} == {""}


def test_a_report_from_saved_inputs_keeps_qty_return_open_but_lists_no_returns(tmp_path: Path) -> None:
    google, _square, ledger = base_case()
    rows = [FollowedReturn("G1", "R-1", "L1", 1, iso(5), "new", "", "changedMind")]
    settings = ReportsSettings(dir=str(tmp_path))
    live = write_report(
        google, ledger, None, settings=settings, now=NOW, out_dir=tmp_path, returns=rows, save_inputs=True
    )
    again = write_snapshot_report(
        SnapshotFiles(google=live.path / "google.parquet", ledger=live.path / "ledger.parquet"),
        settings=settings,
        now=NOW,
        out_dir=tmp_path,
    )
    orders = {o["google_order_id"]: o["qty_return_open"] for o in _read(again.path / "orders.csv")}
    assert orders == {"G1": "1", "G2": "0", "G3": "0"}
    assert not (again.path / "returns.csv").exists()
    assert "Not known in this report" in (again.path / "index.html").read_text(encoding="utf-8")
