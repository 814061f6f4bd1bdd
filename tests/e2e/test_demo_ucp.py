"""`ordersync demo --channel ucp`: the live channels end to end on the embedded sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_ucp_pushes_every_event_once_and_sends_one_signal(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "UCP_API_KEY": "AIza-the-merchants-real-key"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync",
            "demo",
            "--channel",
            "ucp",
            "--orders",
            "2",
            "--dir",
            str(tmp_path / "d"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "accepted 6 pushes (6 stored); order tracking signals: 1 for 1 web-shop orders" in done.stdout
    assert "cycle 4 (idle: nothing to push)" in done.stdout and " ucp=" not in done.stdout.split("cycle 4")[1]
    assert "AIza-the-merchants-real-key" not in done.stdout + done.stderr
    assert (tmp_path / "d" / ".ordersync-demo").is_file()
