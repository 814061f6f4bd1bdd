"""write_report on disk: file set and columns, CSV safety, PII, BOM, atomic reruns, HTML, snapshots."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sync.config import ReportsSettings
from sync.domain import reconcile as rules
from sync.service import reconciliation as svc
from sync.service import report_writer
from sync.service.reconciliation import (
    frames_from_google_orders,
    frames_from_square_orders,
    load_snapshot,
    neutralise,
    save_snapshot,
    write_report,
)

NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_orders() -> list[dict]:
    return [
        {
            "id": "G1",
            "merchantOrderId": '=HYPERLINK("x")',
            "status": "pendingShipment",
            "acknowledged": True,
            "placedDate": iso(5),
            "customer": {"fullName": "Ann Smith", "email": "ann@example.com"},
            "lineItems": [
                {
                    "id": "L1",
                    "product": {"offerId": "A"},
                    "price": {"value": "10.00", "currency": "USD"},
                    "tax": {"value": "0.80", "currency": "USD"},
                    "quantityOrdered": 1,
                }
            ],
        },
        {
            "id": "G2",
            "merchantOrderId": "SQ2",
            "status": "pendingShipment",
            "acknowledged": False,
            "placedDate": iso(200),
            "customer": {"fullName": "Bob <script>", "email": "bob@example.com"},
            "lineItems": [
                {
                    "id": "L1",
                    "product": {"offerId": "B"},
                    "price": {"value": "5", "currency": "JPY"},
                    "quantityOrdered": 2,
                }
            ],
        },
    ]


def square_orders() -> list[dict]:
    return [
        {
            "id": "SQ1",
            "reference_id": "G1",
            "state": "OPEN",
            "total_money": {"amount": 1580, "currency": "USD"},
            "line_items": [{"uid": "u", "quantity": "1", "metadata": {"google_line_item_id": "L1"}}],
        },
        {
            "id": "SQ2",
            "reference_id": "G2",
            "state": "OPEN",
            "total_money": {"amount": 5, "currency": "JPY"},
            "line_items": [{"uid": "u", "quantity": "2", "metadata": {"google_line_item_id": "L1"}}],
        },
    ]


def report(tmp_path: Path, **kw) -> svc.ReportResult:
    settings = kw.pop("settings", ReportsSettings())
    return write_report(
        google_orders(),
        None,
        frames_from_square_orders(square_orders()),
        settings=settings,
        now=NOW,
        out_dir=tmp_path,
        **kw,
    )


def read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_files_and_columns(tmp_path):
    result = report(tmp_path)
    assert result.path == tmp_path / "20261123T101500Z"
    assert sorted(p.name for p in result.path.iterdir()) == [
        ".ordersync-report",  # the marker pruning looks for
        "breaks.csv",
        "index.html",
        "orders.csv",
        "summary.csv",
    ]
    orders = read(result.path / "orders.csv")
    assert list(orders[0]) == list(rules.ORDER_COLUMNS)
    by_id = {o["google_order_id"]: o for o in orders}
    assert by_id["G1"]["amount_google"] == "10.80" and by_id["G1"]["amount_oms"] == "15.80"
    assert by_id["G2"]["amount_google"] == "5" and by_id["G2"]["currency"] == "JPY"
    # a time a spreadsheet reads as a date (issue 17.10), UTC
    assert by_id["G1"]["placed_at"] == (NOW - timedelta(hours=5)).strftime("%Y-%m-%d %H:%M:%S")
    breaks = read(result.path / "breaks.csv")
    assert list(breaks[0]) == list(rules.BREAK_COLUMNS)
    assert {(b["google_order_id"], b["category"]) for b in breaks} == {
        ("G1", "amount_mismatch"),
        ("G2", "unacknowledged_past_sla"),
    }
    assert breaks[0]["google_order_id"] == "G2"  # oldest first
    summary = read(result.path / "summary.csv")
    assert list(summary[0]) == ["section", "key", "count", "amount", "currency"]
    assert result.orders == 2 and result.breaks == 2 and result.by_category["amount_mismatch"] == 1


def test_formula_cells_neutralised_but_amounts_stay_numbers(tmp_path):
    result = report(tmp_path)
    text = (result.path / "orders.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    # the amount_mismatch detail carries a negative difference: text gets the quote...
    breaks = read(result.path / "breaks.csv")
    assert all(not b["detail"].startswith(("=", "+", "-", "@")) for b in breaks)
    # ...a number we formatted does not
    frame = pd.DataFrame(
        {
            "detail": ["-5.00 is odd", "@x", "\tx", "\rx", "+1", "ok"],
            "amount": ["-5.00", "-5.00", "=1+1", "12", "-0.125", "3"],
            "qty": [-1, 2, 3, 4, 5, 6],
        }
    )
    out = neutralise(frame)
    assert list(out["detail"]) == ["'-5.00 is odd", "'@x", "'\tx", "'\rx", "'+1", "ok"]
    assert list(out["amount"]) == ["-5.00", "-5.00", "'=1+1", "12", "-0.125", "3"]
    assert list(out["qty"]) == [-1, 2, 3, 4, 5, 6]


def test_pii_excluded_by_default_and_included_on_request(tmp_path):
    result = report(tmp_path)
    for name in ("orders.csv", "breaks.csv", "summary.csv", "index.html"):
        text = (result.path / name).read_text(encoding="utf-8")
        assert "Ann Smith" not in text and "ann@example.com" not in text
    result = report(tmp_path / "pii", settings=ReportsSettings(include_pii=True))
    orders = read(result.path / "orders.csv")
    assert list(orders[0])[-2:] == ["customer_name", "customer_email"]
    assert {o["customer_email"] for o in orders} == {"ann@example.com", "bob@example.com"}


def test_bom_optional(tmp_path):
    plain = report(tmp_path / "a")
    assert not (plain.path / "orders.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    bom = report(tmp_path / "b", settings=ReportsSettings(excel_bom=True))
    for name in ("orders.csv", "breaks.csv", "summary.csv"):
        raw = (bom.path / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1


def test_rerun_replaces_whole_and_failed_rerun_keeps_old(tmp_path, monkeypatch):
    first = report(tmp_path, run_id="r1")
    (first.path / "marker").write_text("old run")
    before = (first.path / "orders.csv").read_bytes()

    def boom(**_kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_writer, "render_html", boom)
    with pytest.raises(RuntimeError):
        report(tmp_path, run_id="r1")
    assert (first.path / "marker").exists() and (first.path / "orders.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"]  # no temp dirs left behind
    monkeypatch.undo()
    second = report(tmp_path, run_id="r1")
    assert not (second.path / "marker").exists()  # replaced as a whole, not merged
    assert (second.path / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "r1"]


def test_run_id_cannot_escape_out_dir(tmp_path):
    with pytest.raises(ValueError):
        report(tmp_path, run_id="../evil")


def test_html_is_self_contained_and_escaped(tmp_path):
    google = google_orders()
    google[1]["id"] = "<img src=x onerror=alert(1)>"
    result = write_report(google, None, None, settings=ReportsSettings(), now=NOW, out_dir=tmp_path)
    html = (result.path / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "src=" not in html.replace("src=x", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<svg" in html and "unacknowledged_past_sla" in html


def test_snapshots_round_trip_csv_and_parquet(tmp_path):
    google = frames_from_google_orders(google_orders())
    oms = frames_from_square_orders(square_orders())
    for suffix in (".csv", ".parquet"):
        gpath, opath = (
            save_snapshot(google, tmp_path / f"g{suffix}"),
            save_snapshot(oms, tmp_path / f"o{suffix}"),
        )
        g2, o2 = load_snapshot(gpath), load_snapshot(opath)
        pd.testing.assert_frame_equal(g2, google, check_categorical=False)
        pd.testing.assert_frame_equal(o2, oms, check_categorical=False)
        result = write_report(
            g2, None, o2, settings=ReportsSettings(), now=NOW, out_dir=tmp_path / suffix[1:]
        )
        assert result.breaks == 2


def test_save_inputs_writes_snapshots(tmp_path):
    result = report(tmp_path, save_inputs=True)
    assert (result.path / "google.parquet").exists() and (result.path / "oms.parquet").exists()
    assert "customer_name" not in load_snapshot(result.path / "google.parquet").columns


def test_square_return_orders_are_not_oms_orders() -> None:
    """Square makes a return order for every refund (``returns``, no sale lines): not an order of
    the OMS view, so it is no OMS-only break."""
    return_order = {
        "id": "RET1",
        "state": "COMPLETED",
        "returns": [
            {"uid": "r", "source_order_id": "SQ2", "return_line_items": [{"uid": "x", "quantity": "1"}]}
        ],
        "total_money": {"amount": 0, "currency": "USD"},
    }
    with_return = frames_from_square_orders([*square_orders(), return_order])
    assert "RET1" not in set(with_return["oms_order_id"])
    assert len(with_return) == len(frames_from_square_orders(square_orders()))


# ---- the reports folder: unique run ids, reports/latest, keep_days (issue 17.6) --------------


def test_run_ids_are_unique_within_one_second_and_latest_follows(tmp_path):
    first, second, third = (report(tmp_path) for _ in range(3))  # the same NOW each time
    assert [r.run_id for r in (first, second, third)] == [
        "20261123T101500Z", "20261123T101500Z-2", "20261123T101500Z-3"
    ]
    assert all((r.path / "orders.csv").exists() for r in (first, second, third))
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.resolve() == third.path.resolve()
    html = (third.path / "index.html").read_text(encoding="utf-8")
    assert 'href="../20261123T101500Z-2/index.html"' in html  # the previous report


def test_latest_is_a_small_file_where_symlinks_fail(tmp_path, monkeypatch):
    def no_symlinks(*_args, **_kw):
        raise OSError("symlinks not supported here")

    monkeypatch.setattr("sync.service.report_files.os.symlink", no_symlinks)
    result = report(tmp_path)
    latest = tmp_path / "latest"
    assert latest.is_file() and latest.read_text(encoding="utf-8").strip() == result.run_id


def test_keep_days_prunes_only_old_run_folders_ordersync_wrote(tmp_path):
    def folder(name: str, *files: str) -> Path:
        path = tmp_path / name
        path.mkdir(parents=True)
        for f in files:
            (path / f).write_text("x", encoding="utf-8")
        return path

    ours = ("orders.csv", "breaks.csv", "summary.csv", "index.html")
    old = folder("20261001T000000Z", ".ordersync-report", *ours)
    old_unmarked = folder("20261002T000000Z", *ours)  # written before the marker existed
    recent = folder("20261120T000000Z", ".ordersync-report", *ours)
    with_notes = folder("20261003T000000Z", *ours, "my-notes.txt")  # someone's own file inside
    rejects = folder("rejects", "rejects-20261001T000000Z-run000001.csv")
    lookalike = folder("20261004T000000Z-old", *ours)  # not our name shape
    user = folder("archive", "20261001T000000Z.csv")
    report(tmp_path, settings=ReportsSettings(keep_days=30))
    assert not old.exists() and not old_unmarked.exists()
    for kept in (recent, with_notes, rejects, lookalike, user):
        assert kept.exists(), kept
    report(tmp_path, settings=ReportsSettings(keep_days=0))  # 0: keep everything
    assert recent.exists()


def test_the_text_ordersync_writes_is_plain_ascii(tmp_path):
    """No mojibake in a spreadsheet without a BOM (issue 17.10): every hint is ASCII."""
    result = report(tmp_path)
    for name in ("orders.csv", "breaks.csv", "summary.csv"):
        (result.path / name).read_bytes().decode("ascii")
