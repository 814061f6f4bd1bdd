"""What a cron run loads: only the libraries of the channels it is configured for (issue 18).

A run with Square and the live channels off must not import the squareup SDK, httpx, ucp-sdk or
Google's order-tracking client, and a run on an up-to-date ledger must not import alembic: each
costs tens of milliseconds of every start. Read from ``python -X importtime`` (no test hook in the
product), which names every module the process imported.
"""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import Workspace

OPTIONAL = ("square", "httpx", "ucp_sdk", "google.shopping", "alembic")


def _imported(ws: Workspace) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sync", "run", "--no-report"],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", proc.stderr, re.MULTILINE))


def test_a_google_only_run_on_a_current_ledger_loads_no_optional_library(workspace: Workspace) -> None:
    ws = workspace
    ws.ordersync("run", "--no-report", check=True)  # the first run creates the ledger (alembic)
    modules = _imported(ws)
    assert "sync.service.cycle" in modules and "googleapiclient" in modules  # the reading works
    loaded = sorted(m for m in modules if any(m == o or m.startswith(o + ".") for o in OPTIONAL))
    assert loaded == []
