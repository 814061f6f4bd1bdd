"""The live report covers Google's live channels (issue 16.4): real HTTP to the sandbox's UCP
receiver and Merchant API, a real SQLite ledger, then ``write_live_report`` as ``ordersync run``
and ``report`` call it: live_orders.csv, the live breaks in breaks.csv / summary.csv / index.html."""

from __future__ import annotations

import csv
from pathlib import Path

from sync.service.reconciliation import ReportResult
from sync.service.report_live import write_live_report
from tests.integration import test_cycle_google_live as live_cycle
from tests.integration.test_cycle_google_live import API_KEY, Shop

shop = live_cycle.shop  # the shop of the live-channel cycle tests: sandbox, ledger, both channels


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _report(shop: Shop) -> ReportResult:
    out = str(shop.tmp / "reports")
    return write_live_report(shop.settings, shop.ledger, shop.google, shop.square, out_dir=out)


def test_a_clean_ucp_flow_and_a_web_signal_give_their_rows_and_no_break(shop: Shop) -> None:
    ucp, web = shop.order(), shop.order("web")
    shop.cycle()
    shop.ship(ucp)
    shop.ship(web)
    shop.cycle()
    path = _report(shop).path
    rows = {r["square_order_id"]: r for r in _csv(path / "live_orders.csv")}
    assert set(rows) == {ucp, web}
    assert rows[ucp]["channel"] == "ucp" and rows[web]["channel"] == "web"
    assert rows[ucp]["square_state"] == "COMPLETED" and rows[ucp]["parcels_shipped"] == "1"
    counts = [rows[ucp][f"events_{k}"] for k in ("recorded", "accepted", "pending", "refused")]
    assert counts == ["2", "2", "0", "0"]
    assert rows[ucp]["last_accepted_event"] == "shipped:shipment" and rows[ucp]["last_accepted_at"]
    assert rows[web]["events_accepted"] == "1" and rows[web]["last_accepted_event"] == "signal"
    assert all(r["failure_reason"] == "" and r["missing_events"] == "" for r in rows.values())
    text = (path / "live_orders.csv").read_text(encoding="utf-8")
    assert "Buyer" not in text and "Main St" not in text  # no customer data
    assert _csv(path / "breaks.csv") == []
    summary = {(r["section"], r["key"]): r["count"] for r in _csv(path / "summary.csv")}
    assert summary[("live_channels", "ucp_orders")] == "1" and summary[("live_channels", "web_orders")] == "1"
    assert summary[("breaks_by_category", "live_push_refused")] == "0"
    html = (path / "index.html").read_text(encoding="utf-8")
    assert 'id="live"' in html and "live_orders.csv" in html


def test_a_refused_push_is_a_high_break_with_googles_reason(shop: Shop) -> None:
    order_id = shop.order()
    shop.api_key = "AIza" + "x" * 35  # not the partner's: Google answers 400 API_KEY_INVALID
    shop.cycle()
    shop.api_key = API_KEY
    result = _report(shop)
    (row,) = _csv(result.path / "live_orders.csv")
    assert row["square_order_id"] == order_id and row["events_refused"] == "1"
    assert row["failure_reason"].startswith("API_KEY_INVALID") and row["first_failure_at"]
    (brk,) = _csv(result.path / "breaks.csv")
    assert brk["google_order_id"] == order_id and brk["category"] == "live_push_refused"
    assert brk["severity"] == "high" and "API_KEY_INVALID" in brk["detail"]
    assert result.by_category == {"live_push_refused": 1} and result.by_severity == {"high": 1}
    summary = {(r["section"], r["key"]): r["count"] for r in _csv(result.path / "summary.csv")}
    assert summary[("breaks_by_category", "live_push_refused")] == "1"
    assert summary[("live_channels", "ucp_events_refused")] == "1"
    html = (result.path / "index.html").read_text(encoding="utf-8")
    assert "Refused by Google (UCP / order tracking)" in html
