"""Feed files as warehouses and spreadsheets really write them (issue 12.2, issue 17.11).

A UTF-16 export (Excel's "Unicode text", tab-separated) is read and applied; a semicolon-separated
export (European Excel) too; a file that cannot be decoded is one reject for the whole file; a
header in a foreign separator is one reject with a hint about it, not three confusing ones.
Nothing in a feed can crash the cycle or stop the report, and the rejects file is written whole.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from sync.domain.feed import COLUMNS

from .conftest import Workspace

pytestmark = pytest.mark.timeout(240)

QUICK = 60


def _rows(ws: Workspace, order_ids: list[str], tracking: str) -> list[dict[str, str]]:
    rows = []
    for n, order_id in enumerate(order_ids):
        order = ws.google.get_order(order_id)
        line = order["lineItems"][0]
        rows.append({
            "order_id": order_id, "line_item_id": line["id"], "offer_id": "", "quantity": "1",
            "carrier": "UPS", "tracking_id": f"{tracking}{n}", "shipped_at": "2026-11-20T10:00:00Z",
            "delivered_at": "", "shipment_id": "",
        })
    return rows


def _text(rows: list[dict[str, str]], delimiter: str, header: tuple[str, ...] = COLUMNS) -> str:
    lines = [delimiter.join(header)]
    lines += [delimiter.join(row.get(c, "") for c in COLUMNS) for row in rows]
    return "\r\n".join(lines) + "\r\n"


def _shipped(ws: Workspace, order_id: str) -> int:
    return sum(int(li.get("quantityShipped", 0)) for li in ws.google.get_order(order_id)["lineItems"])


def _rejects_file(ws: Workspace, proc: Any) -> list[dict[str, str]]:
    name = next(p for p in proc.stdout.split() if p.startswith("rejects="))[len("rejects="):]
    with (ws.root / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_utf16_unicode_text_export_is_read_and_applied(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    # Excel's "Save as Unicode text": UTF-16 LE with a byte-order mark, tab-separated, CRLF.
    unicode_text = _text(_rows(ws, ids[:1], "1ZU16-"), "\t")
    (ws.root / "feeds" / "unicode.csv").write_bytes(unicode_text.encode("utf-16"))
    # And big-endian with a BOM, comma-separated.
    big = _text(_rows(ws, ids[1:], "1ZBE-"), ",")
    (ws.root / "feeds" / "big-endian.csv").write_bytes(b"\xfe\xff" + big.encode("utf-16-be"))
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shipped=2" in proc.stdout and "report=" in proc.stdout and "rejected_rows" not in proc.stdout
    assert [_shipped(ws, i) for i in ids] == [1, 1]


def test_a_semicolon_export_is_read_and_a_foreign_header_is_one_reject_with_a_hint(
    workspace: Workspace,
) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    (ws.root / "feeds" / "eu.csv").write_bytes(
        b"\xef\xbb\xbf" + _text(_rows(ws, ids[:1], "1ZEU-"), ";").encode("utf-8")
    )
    german = "Bestellung;Position;Menge;Versender;Sendungsnummer;Versanddatum\r\nX;Y;1;DHL;T;20.11.2026\r\n"
    (ws.root / "feeds" / "de.csv").write_text(german, encoding="utf-8")
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one new reject: the German file
    assert "shipped=1" in proc.stdout and "rejected_rows=1 new_rejects=1" in proc.stdout
    assert _shipped(ws, ids[0]) == 1
    [reject] = _rejects_file(ws, proc)
    assert reject["reject_file"] == "feeds/de.csv" and reject["reject_line"] == "1"
    reason = reject["reject_reason"]
    assert reason.startswith("whole file not read: missing required column(s)")
    assert "the header is one column holding semicolons" in reason and "name the columns order_id" in reason


def test_a_file_that_cannot_be_decoded_is_one_reject_and_nothing_stops_the_cycle_or_the_report(
    workspace: Workspace,
) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    ws.write_feed("good.csv", _rows(ws, ids[:1], "1ZGOOD-"))
    broken = _text(_rows(ws, ids[1:], "1ZBROKEN-"), "\t").encode("utf-16") + b"\x00\xd8\x41\x00"
    (ws.root / "feeds" / "broken-utf16.csv").write_bytes(broken)  # a lone surrogate inside
    no_bom = _text(_rows(ws, ids[1:], "1ZNUL-"), ",").encode("utf-16-le")
    (ws.root / "feeds" / "no-bom.csv").write_bytes(no_bom)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "shipped=1" in proc.stdout and "rejected_rows=2 new_rejects=2" in proc.stdout
    report = Path(ws.root / next(p for p in proc.stdout.split() if p.startswith("report="))[len("report="):])
    assert (report / "index.html").is_file() and (report / "breaks.csv").is_file()
    by_file = {r["reject_file"]: r["reject_reason"] for r in _rejects_file(ws, proc)}
    assert "not valid UTF-16 text" in by_file["feeds/broken-utf16.csv"]
    assert "NUL bytes" in by_file["feeds/no-bom.csv"]
    # The rejects file was written whole: nothing half-written or temporary beside it.
    rejects_dir = ws.root / "reports" / "rejects"
    assert [p.name for p in rejects_dir.iterdir() if p.name.startswith(".")] == []
    # The same files next cycle: still rejected, but nothing new (exit 0) and no new rejects file.
    again = ws.ordersync("run", timeout=QUICK)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "rejected_rows=2 new_rejects=0" in again.stdout
    assert len(list(rejects_dir.glob("rejects-*.csv"))) == 1
