"""`ordersync sandbox serve --version-bump-rate`: the Square version-bump fault from the command line."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from square import Square
from square.core.api_error import ApiError

SERVE = [sys.executable, "-c", "from sync.entrypoints.cli_sandbox import sandbox; sandbox()"]
ROOT = Path(__file__).resolve().parents[2]


def test_serve_with_version_bumps_makes_updates_meet_version_mismatch() -> None:
    proc = subprocess.Popen(
        [*SERVE, "serve", "--port", "0", "--version-bump-rate", "1", "--seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "sandbox serve did not print its address within 30 s"
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        stats = httpx.get(f"{url}/_sandbox/stats", timeout=10).json()
        assert stats["faults_config"]["version_bump_rate"] == 1.0
        sq = Square(token="t", base_url=url)
        order = sq.orders.create(
            order={
                "location_id": "L_SANDBOX_MAIN",
                "line_items": [
                    {"name": "x", "quantity": "1", "base_price_money": {"amount": 1, "currency": "USD"}}
                ],
            }
        ).order
        with pytest.raises(ApiError) as info:
            sq.orders.update(
                order.id,
                order={"location_id": "L_SANDBOX_MAIN", "version": 1, "reference_id": "r"},
                request_options={"max_retries": 0},
            )
        assert info.value.errors[0].code == "VERSION_MISMATCH"
        after = json.loads(httpx.get(f"{url}/_sandbox/stats", timeout=10).text)
        assert after["faults"]["square.version_bump"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
