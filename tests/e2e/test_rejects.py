"""Rejected feed rows tell the truth (issue 12.4).

They never count as what the OMS shipped; each open one is a rejected_feed_row break (high; file,
line, reason) in breaks.csv, summary.csv and index.html; the rejects file keeps the row in the
feed's own columns plus reject_file, reject_line, reject_reason, so it can be corrected and dropped
back into the feed folder; the same bad row next cycle is not a new rejection (exit 0, no new
file); an unknown-order row keeps its raw row and is applied once the order is known, even after
its export was archived; carrier hints never suggest a wrong carrier.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from .conftest import MERCHANT_ID, Workspace

pytestmark = pytest.mark.timeout(300)

QUICK = 60


def _field(proc: Any, name: str) -> str:
    return next(p for p in proc.stdout.split() if p.startswith(f"{name}="))[len(name) + 1 :]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _line(ws: Workspace, order_id: str, n: int = 0) -> dict[str, Any]:
    return ws.google.get_order(order_id)["lineItems"][n]


def _shipped(ws: Workspace, order_id: str) -> int:
    return sum(int(li.get("quantityShipped", 0)) for li in ws.google.get_order(order_id)["lineItems"])


def test_a_rejected_row_is_reported_truthfully_once_and_can_be_corrected_and_dropped_back(
    workspace: Workspace,
) -> None:
    ws = workspace
    a, b = ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    pigeon = {"order_id": a, "line_item_id": _line(ws, a)["id"], "quantity": "1", "carrier": "Carrier Pigeon",
              "tracking_id": "1ZPIGEON1", "shipped_at": "2026-11-20T10:00:00Z"}
    good = {"order_id": b, "line_item_id": _line(ws, b)["id"], "quantity": "1", "carrier": "UPS",
            "tracking_id": "1ZGOOD1", "shipped_at": "2026-11-20T10:00:00Z"}
    ws.write_feed("shipments-1.csv", [pigeon, good])

    first = ws.ordersync("run", timeout=QUICK)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "shipped=1" in first.stdout and "rejected_rows=1 new_rejects=1" in first.stdout
    assert _shipped(ws, a) == 0 and _shipped(ws, b) == 1

    # The rejects file: the row in the feed's own columns, then where it was and why.
    rejects_path = ws.root / _field(first, "rejects")
    [row] = _csv(rejects_path)
    header = list(row)
    assert header[-3:] == ["reject_file", "reject_line", "reject_reason"]
    assert {k: row[k] for k in pigeon} == pigeon  # the original values, not "k=v,..." text
    assert row["reject_file"] == "feeds/shipments-1.csv" and row["reject_line"] == "2"
    reason = row["reject_reason"]
    assert "unknown carrier 'Carrier Pigeon'" in reason
    # The hint names no carrier the row might wrongly be mapped to.
    assert '= "ups"' not in reason and "= 'ups'" not in reason

    # The report: one rejected_feed_row break (high, file, line, reason); no break blaming Google,
    # and the rejected row is not something the OMS shipped.
    report = ws.root / _field(first, "report")
    breaks = _csv(report / "breaks.csv")
    rejected = [x for x in breaks if x["category"] == "rejected_feed_row"]
    assert [(x["google_order_id"], x["severity"]) for x in rejected] == [(a, "high")]
    assert "feeds/shipments-1.csv line 2: carrier: unknown carrier 'Carrier Pigeon'" in rejected[0]["detail"]
    assert str(rejects_path.relative_to(ws.root)) in rejected[0]["detail"]
    assert not [x for x in breaks if x["google_order_id"] == a and x["category"] != "rejected_feed_row"]
    assert "updateShipment" not in (report / "breaks.csv").read_text(encoding="utf-8")
    summary = _csv(report / "summary.csv")
    assert [x["count"] for x in summary if x["key"] == "rejected_feed_row"] == ["1"]
    html = (report / "index.html").read_text(encoding="utf-8")
    assert "Rejected feed rows (1)" in html and "unknown carrier &#x27;Carrier Pigeon&#x27;" in html
    saved = ws.ordersync("report", "--save-inputs", check=True, timeout=QUICK)
    oms_file = ws.root / saved.stdout.split("report written to ", 1)[1].split(" (", 1)[0] / "oms.parquet"
    oms = pd.read_parquet(oms_file)
    assert a not in set(oms["order_ref"]) and b in set(oms["order_ref"])  # only what was used

    # The same export next cycle: still rejected, nothing new: exit 0, no second rejects file.
    second = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "rejected_rows=1 new_rejects=0" in second.stdout
    assert sorted(p.name for p in rejects_path.parent.glob("rejects-*.csv")) == [rejects_path.name]

    # Correct the row in the rejects file and drop the file into the feed folder as it is. The
    # warehouse keeps exporting the wrong row, but it is superseded: the parcel has shipped.
    text = rejects_path.read_text(encoding="utf-8").replace("Carrier Pigeon", "UPS")
    (ws.root / "feeds" / "shipments-corrected.csv").write_text(text, encoding="utf-8")
    third = ws.ordersync("run", timeout=QUICK)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "shipped=1" in third.stdout and "rejected_rows" not in third.stdout
    assert _shipped(ws, a) == 1
    after = _csv(ws.root / _field(third, "report") / "breaks.csv")
    assert [x for x in after if x["category"] == "rejected_feed_row"] == []


def _hide_from_polls(ws: Workspace, order_id: str) -> Callable[[], None]:
    """Make the emulator's list calls leave one order out (as if it were placed after the poll);
    returns the undo."""
    inner = ws.sandbox._google_app

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        is_list = environ["REQUEST_METHOD"] == "GET" and path.endswith(f"{MERCHANT_ID}/orders")
        if not is_list:
            return inner(environ, start_response)
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = json.loads(b"".join(inner(environ, keep)))
        body["resources"] = [o for o in body.get("resources", []) if o.get("id") != order_id]
        data = json.dumps(body).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(data)))])
        return [data]

    ws.sandbox._google_app = app  # type: ignore[method-assign]

    def undo() -> None:
        ws.sandbox._google_app = inner  # type: ignore[method-assign]

    return undo


def test_an_unknown_order_row_is_kept_and_applied_once_the_order_is_polled_even_after_archiving(
    workspace: Workspace,
) -> None:
    ws = workspace
    (late,) = ws.create_orders(1)
    undo = _hide_from_polls(ws, late)
    row = {"order_id": late, "line_item_id": _line(ws, late)["id"], "quantity": "1", "carrier": "FedEx",
           "tracking_id": "1ZEARLY1", "shipped_at": "2026-11-20T10:00:00Z"}
    export = ws.write_feed("shipments-early.csv", [row])
    first = ws.ordersync("run", timeout=QUICK)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "rejected_rows=1 new_rejects=1" in first.stdout
    [kept] = _csv(ws.root / _field(first, "rejects"))
    assert {k: kept[k] for k in row} == row  # the raw row, not an empty cell
    assert kept["reject_reason"].startswith(f"unknown order '{late}'")
    [brk] = [x for x in _csv(ws.root / _field(first, "report") / "breaks.csv")
             if x["category"] == "rejected_feed_row"]
    assert "retried every cycle" in brk["detail"]

    # The warehouse archives the export before ordersync ever sees the order.
    archive = ws.root / "archive"
    archive.mkdir()
    export.rename(archive / export.name)
    undo()
    second = ws.ordersync("run", timeout=QUICK)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "acknowledged=1" in second.stdout and "shipped=1" in second.stdout
    assert _shipped(ws, late) == 1
    breaks = _csv(ws.root / _field(second, "report") / "breaks.csv")
    assert [x for x in breaks if x["category"] == "rejected_feed_row"] == []
