"""End-to-end fixtures: the emulator in-process, `ordersync` run as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account

from sync.adapters.google_gateway import GoogleGateway
from sync.config import GoogleSettings
from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox

MERCHANT_ID = "7654321"
RUN_TIMEOUT = 180


@dataclass
class Workspace:
    root: Path
    sandbox: Sandbox
    config: Path
    env: dict[str, str]
    google: GoogleGateway

    def ordersync(
        self, *args: str, timeout: float = RUN_TIMEOUT, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "sync", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"ordersync {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "sync", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stats(self) -> dict[str, Any]:
        return self.sandbox.stats.snapshot()

    def write_feed(self, name: str, rows: list[dict[str, str]]) -> Path:
        path = self.root / "feeds" / name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, FEED_COLUMNS)
            writer.writeheader()
            for row in rows:
                writer.writerow({column: row.get(column, "") for column in FEED_COLUMNS})
        return path

    def create_orders(self, count: int, template: str = "template1") -> list[str]:
        ids = [self.google.create_test_order(template) for _ in range(count)]
        for order_id in ids:
            self.google.advance_test_order(order_id)
        return ids


def write_config(path: Path, endpoint: str, *, square: bool = False, extra: str = "") -> None:
    path.write_text(
        f"""
[google]
merchant_id = "{MERCHANT_ID}"
sandbox = true
endpoint = "{endpoint}/"
max_backoff_seconds = 0.5
[square]
enabled = {"true" if square else "false"}
endpoint = "{endpoint}"
[shipments]
feeds = ["feeds/*.csv"]
rejects_dir = "reports/rejects"
[ledger]
url = "sqlite:///state/ordersync.db"
[reports]
dir = "reports"
{extra}
""",
        encoding="utf-8",
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    with Sandbox(seed=7).start() as sandbox:
        (tmp_path / "feeds").mkdir()
        (tmp_path / "config").mkdir()
        key_file = tmp_path / "sa.json"
        write_service_account(key_file, sandbox.url)
        config = tmp_path / "config" / "ordersync.toml"
        write_config(config, sandbox.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
        env.update(
            {
                "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
                "ORDERSYNC_CONFIG": str(config),
                "SQUARE_ACCESS_TOKEN": "sandbox-token",
                "PYTHONPATH": str(Path(__file__).parents[2]),
            }
        )
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/content"]
        )
        google = GoogleGateway(
            GoogleSettings(merchant_id=MERCHANT_ID, endpoint=sandbox.url), credentials=credentials
        )
        yield Workspace(tmp_path, sandbox, config, env, google)
