"""`ordersync demo` never destroys what it did not create (issue 12.1).

It marks its folder with a file of its own, refuses a non-empty folder without that marker (exit
2, saying why and what to do, touching nothing), and a rerun keeps the earlier demo's reports.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).parents[2]
MARKER = ".ordersync-demo"


def _demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "sync", "demo", "--orders", "2", "--no-square", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_refuses_a_folder_it_did_not_make_and_changes_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "shop"
    (mine / "reports" / "20261101T080000Z").mkdir(parents=True)
    (mine / "config.toml").write_text('[google]\nmerchant_id = "7654321"\n', encoding="utf-8")
    (mine / "ordersync.db").write_bytes(b"my real ledger")
    (mine / "reports" / "20261101T080000Z" / "breaks.csv").write_text("google_order_id\n", encoding="utf-8")
    before = _tree(mine)

    proc = _demo(tmp_path, "--dir", "shop")

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "shop is not empty and was not made by `ordersync demo`" in proc.stderr
    assert MARKER in proc.stderr and "nothing was changed" in proc.stderr
    assert "Give --dir a new or empty folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _tree(mine) == before  # not a byte changed, nothing added


def test_demo_refuses_a_file_for_a_folder(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("keep me", encoding="utf-8")
    proc = _demo(tmp_path, "--dir", "notes")
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert (tmp_path / "notes").read_text(encoding="utf-8") == "keep me"


def _reads_as_a_story(stdout: str, folder: Path, report: Path) -> None:
    """Issue 17 item 12: one numbering (the ledger's runs), parcels counted as parcels, feed dates
    after the orders were placed, and a folder git ignores."""
    assert "cycle " not in stdout and "run 1: seen=2" in stdout, stdout
    assert re.search(r"the warehouse shipped \d+ parcel\(s\)", stdout), stdout
    assert "written by run" in stdout
    placed = max(row["placed_at"] for row in _csv_rows(report / "orders.csv"))
    shipped = [row["shipped_at"] for f in sorted((folder / "feeds").glob("*.csv")) for row in _csv_rows(f)]
    assert shipped and min(s.replace("T", " ").rstrip("Z") for s in shipped) >= placed
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_each_demo_run_keeps_the_earlier_reports(tmp_path: Path) -> None:
    first = _demo(tmp_path)  # the default --dir, ordersync-demo, created and marked
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "ordersync-demo"
    assert (folder / MARKER).is_file()
    reports = sorted(p.name for p in (folder / "reports").iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(reports) == 1
    first_report = (folder / "reports" / reports[0] / "index.html").read_bytes()
    _reads_as_a_story(first.stdout, folder, folder / "reports" / reports[0])
    # Something of the user's inside the demo's reports folder survives a rerun too.
    (folder / "reports" / "my-notes.txt").write_text("compare the runs", encoding="utf-8")

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "earlier demo reports are kept" in second.stdout
    now = sorted(p.name for p in (folder / "reports").iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(now) == 2 and reports[0] in now
    assert (folder / "reports" / reports[0] / "index.html").read_bytes() == first_report
    assert (folder / "reports" / "my-notes.txt").read_text(encoding="utf-8") == "compare the runs"
    # The rerun started from a fresh ledger (its own state), not the first run's.
    assert "2 of 2 orders delivered" in second.stdout
