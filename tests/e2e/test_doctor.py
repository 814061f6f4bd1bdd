"""`ordersync doctor` against the in-process sandbox: one line per check, exit 0, 2 or 69."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox
from tests.e2e.conftest import Workspace, write_config

SQUARE_TOKEN = "sq-doctor-good"


@pytest.fixture
def strict_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A sandbox whose Square side accepts one token only (Google: the tokens its /token issued)."""
    with Sandbox(seed=3, tokens={SQUARE_TOKEN}).start() as sandbox:
        for folder in ("feeds", "config", "state", "reports"):
            (tmp_path / folder).mkdir()
        key_file = tmp_path / "sa.json"
        write_service_account(key_file, sandbox.url)
        config = tmp_path / "config" / "ordersync.toml"
        write_config(config, sandbox.url, square=True)
        (tmp_path / "feeds" / "shipments.csv").write_text(",".join(FEED_COLUMNS) + "\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
        env.update(
            {
                "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
                "ORDERSYNC_CONFIG": str(config),
                "SQUARE_ACCESS_TOKEN": SQUARE_TOKEN,
                "PYTHONPATH": str(Path(__file__).parents[2]),
            }
        )
        yield Workspace(tmp_path, sandbox, config, env, google=None)  # type: ignore[arg-type]


def lines_by_check(stdout: str) -> dict[str, str]:
    checks: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("["):
            name = line[7:27].strip()
            checks.setdefault(name, line)
    return checks


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_all_well_exits_0_with_one_line_per_check(strict_workspace: Workspace) -> None:
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = lines_by_check(proc.stdout)
    assert list(checks) == [
        "config",
        "google credentials",
        "google token",
        "google account",
        "square",
        "ledger",
        "feeds",
        "reports",
        "rejects",
    ]
    assert all(line.startswith("[  ok]") for line in checks.values()), proc.stdout
    assert str(strict_workspace.config) in checks["config"]
    assert "merchant 7654321 answers orders.list" in checks["google account"]
    assert "location" in checks["square"] and "first active" in checks["square"]
    assert "does not exist yet" in checks["ledger"]
    assert not (strict_workspace.root / "state" / "ordersync.db").exists()  # doctor created nothing
    assert "1 readable file" in checks["feeds"]
    assert proc.stdout.rstrip().endswith("doctor: all checks passed (exit 0)")
    # The cheap calls: one orders.list of one order, one ListLocations; no mutation anywhere.
    stats = strict_workspace.stats()
    assert stats["requests"]["content.orders.list"] == 1
    assert stats["requests"]["square.locations.list"] == 1
    assert stats["mutations_total"] == 0

    # Once a cycle has run, the ledger is opened and its schema shown.
    strict_workspace.ordersync("run", "--no-report", check=True)
    checks = lines_by_check(strict_workspace.ordersync("doctor", check=True).stdout)
    assert "reachable, schema" in checks["ledger"]


def test_wrong_square_token_is_a_configuration_problem(strict_workspace: Workspace) -> None:
    strict_workspace.env["SQUARE_ACCESS_TOKEN"] = "sq-wrong"
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 2, proc.stdout
    square = lines_by_check(proc.stdout)["square"]
    assert square.startswith("[FAIL]") and "refused the access token" in square
    assert "fix: set SQUARE_ACCESS_TOKEN" in square
    assert "sq-wrong" not in proc.stdout + proc.stderr


def test_google_key_the_token_endpoint_rejects(strict_workspace: Workspace) -> None:
    key_file = Path(strict_workspace.env["GOOGLE_APPLICATION_CREDENTIALS"])
    info = json.loads(key_file.read_text(encoding="utf-8"))
    info["client_email"] = "nobody@elsewhere.iam.gserviceaccount.com"
    key_file.write_text(json.dumps(info), encoding="utf-8")
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 2, proc.stdout
    checks = lines_by_check(proc.stdout)
    assert (
        checks["google token"].startswith("[FAIL]") and "rejected by token endpoint" in checks["google token"]
    )
    assert checks["google account"].startswith("[skip]")
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr


def test_missing_credentials_file(strict_workspace: Workspace) -> None:
    strict_workspace.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(strict_workspace.root / "nope.json")
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 2, proc.stdout
    line = lines_by_check(proc.stdout)["google credentials"]
    assert line.startswith("[FAIL]") and "nope.json" in line and "file not found" in line and "fix:" in line


def test_unreachable_endpoints_exit_69(strict_workspace: Workspace) -> None:
    port = closed_port()
    strict_workspace.env["ORDERSYNC_GOOGLE__ENDPOINT"] = f"http://127.0.0.1:{port}/"
    strict_workspace.env["ORDERSYNC_SQUARE__ENDPOINT"] = f"http://127.0.0.1:{port}"
    proc = strict_workspace.ordersync("doctor", timeout=120)
    assert proc.returncode == 69, proc.stdout
    checks = lines_by_check(proc.stdout)
    assert checks["google token"].startswith("[  ok]")  # the token endpoint is the sandbox's
    assert checks["google account"].startswith("[FAIL]") and "no HTTP response" in checks["google account"]
    assert checks["square"].startswith("[FAIL]") and "TRANSPORT_ERROR" in checks["square"]
    assert "ORDERSYNC_GOOGLE__ENDPOINT" in checks["config"]  # where the setting came from


def test_unwritable_reports_folder(strict_workspace: Workspace) -> None:
    # Root ignores permission bits, so the folder is made impossible: a file stands in its place.
    (strict_workspace.root / "reports").rmdir()
    (strict_workspace.root / "reports").write_text("a file, not a folder", encoding="utf-8")
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 2, proc.stdout
    line = lines_by_check(proc.stdout)["reports"]
    assert line.startswith("[FAIL]") and "is not a folder" in line and "fix:" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_read_only_reports_folder(strict_workspace: Workspace) -> None:
    os.chmod(strict_workspace.root / "reports", 0o500)
    try:
        proc = strict_workspace.ordersync("doctor")
    finally:
        os.chmod(strict_workspace.root / "reports", 0o755)
    assert proc.returncode == 2
    assert "cannot write" in lines_by_check(proc.stdout)["reports"]


def test_bad_configuration_stops_at_the_first_check(strict_workspace: Workspace) -> None:
    strict_workspace.config.write_text("[google]\nmerchant_idd = '1'\n", encoding="utf-8")
    proc = strict_workspace.ordersync("doctor")
    assert proc.returncode == 2
    assert list(lines_by_check(proc.stdout)) == ["config"]
    assert "merchant_idd: unknown key" in proc.stdout
