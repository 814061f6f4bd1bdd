"""The report page at 3 a.m. (issue 17 items 3, 5, 6), rendered in headless Chromium.

A user runs ``ordersync run --json`` and then ``ordersync report --json`` twice; each prints one
JSON document on stdout. The newest ``index.html`` (reached through ``reports/latest``) is loaded in
Debian's Chromium (``--dump-dom`` gives the DOM as the browser built it, ``--screenshot`` keeps
what it showed): the verdict comes first, the account is labelled SANDBOX, the links to the CSVs
and the previous report resolve to files that exist, and the trend (``id="trend"``) has one
column per report, drawn from the run history kept in the ledger.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .conftest import Workspace

pytestmark = pytest.mark.timeout(300)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90, check=True,
    )


class _Dom(HTMLParser):
    """What the test reads from the rendered DOM: the elements' order, links, the trend's runs."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.trend_runs: list[str] = []
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(str(a["id"]))
            self._open.append(str(a["id"]))
            self.text.setdefault(str(a["id"]), "")
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
        if "trend-run" in (a.get("class") or ""):
            self.trend_runs.append(str(a.get("data-run")))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "section", "nav") and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element in self._open:
            self.text[element] += data


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_page_renders_verdict_links_and_trend_in_chromium(
    workspace: Workspace, tmp_path: Path
) -> None:
    ws = workspace
    ws.create_orders(2, "template1")
    run = ws.ordersync("run", "--json", check=True)
    doc = json.loads(run.stdout)  # one document: the whole stdout
    assert doc["exit_code"] == 0 and doc["orders_seen"] == 2 and doc["reconciliation"]["orders"] == 2
    first = doc["reconciliation"]["run_id"]
    ws.ordersync("report", "--json", check=True)
    last = json.loads(ws.ordersync("report", "--json", check=True).stdout)
    assert last["exit_code"] == 0 and last["breaks"] == 0 and last["by_severity"] == {}

    reports = ws.root / "reports"
    latest = reports / "latest"
    assert latest.resolve() == (ws.root / last["report"]).resolve()
    page = latest / "index.html"
    profile = tmp_path / "chromium-profile"
    dom_text = _chromium(profile, "--dump-dom", page.as_uri()).stdout
    dom = _Dom()
    dom.feed(dom_text)

    assert dom.ids[0] == "verdict", dom.ids  # the verdict comes first
    assert dom.text["verdict"].strip().startswith("All clear")
    assert "SANDBOX" in dom_text and "7654321" in dom_text
    assert {"orders.csv", "breaks.csv", "summary.csv"} <= set(dom.links)
    previous = [link for link in dom.links if link.startswith("../")]
    assert len(previous) == 1 and (page.parent / previous[0]).resolve().is_file()
    assert all((page.parent / link).exists() for link in dom.links), dom.links
    assert "trend" in dom.ids
    assert len(dom.trend_runs) == 3 and dom.trend_runs[0] == first  # oldest first, from the ledger
    assert re.search(r'id="health"', dom_text) and "ok" in dom.text["health"]

    shot = tmp_path / "report.png"
    _chromium(profile, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri())
    assert shot.stat().st_size > 10_000
    print(f"report screenshot: {shot}")
