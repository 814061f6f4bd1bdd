"""Security (issue 7, part 4): secrets stay out of every output, the sandbox stays on loopback
unless asked, and the ledger is owner-only.

Secrets tracked: the service-account private key, every JWT assertion google-auth sent to the
emulator's /token, every access token the emulator issued (captured by wrapping its key registry
in the test), and the Square access token. Outputs searched: stdout/stderr of `--log-format json
-vv` runs (success, rejects, refused credentials, refused Square token), every file under reports/
(reconciliation and rejects), and the ledger database itself.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.adapters.ledger import Ledger
from sync.sandbox.players import Warehouse
from sync.sandbox.server import Sandbox, is_loopback

from .conftest import Workspace, write_config

pytestmark = pytest.mark.timeout(90)

SQUARE_TOKEN = "EAAAl0ngSecretSquareAccessToken_0123456789abcdef"


class Secrets:
    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, value: str) -> None:
        if value:
            self.values.add(value)

    def add_pem(self, pem: str) -> None:
        self.add(pem)
        for line in pem.splitlines():
            if line and not line.startswith("-----"):
                self.add(line)  # any one line of the key body is enough to count as a leak

    def leaks(self, text: str) -> list[str]:
        return sorted(v[:12] + "…" for v in self.values if v in text)


@pytest.fixture
def secrets(workspace: Workspace) -> Iterator[Secrets]:
    """Record every assertion sent to and token issued by the emulator's /token."""
    found = Secrets()
    info = json.loads(Path(workspace.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text(encoding="utf-8"))
    found.add_pem(info["private_key"])
    found.add(SQUARE_TOKEN)
    keys = workspace.sandbox.keys
    exchange = keys.exchange

    def recording_exchange(form: dict[str, str], host: str) -> dict[str, Any]:
        found.add(form.get("assertion", ""))
        answer = exchange(form, host)
        found.add(answer.get("access_token", ""))
        return answer

    keys.exchange = recording_exchange  # type: ignore[method-assign]
    workspace.env["SQUARE_ACCESS_TOKEN"] = SQUARE_TOKEN
    yield found
    keys.exchange = exchange  # type: ignore[method-assign]


def _all_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path


def test_no_secret_in_logs_reports_rejects_or_errors(workspace: Workspace, secrets: Secrets) -> None:
    ws = workspace
    write_config(ws.config, ws.sandbox.url, square=True)
    ids = ws.create_orders(4)
    outputs: list[str] = []

    first = ws.ordersync("--log-format", "json", "-vv", "run")
    assert first.returncode == 0, first.stderr
    outputs += [first.stdout, first.stderr]
    # A second run with a feed that has a good and a bad row: shipping, rejects file, report.
    orders = [ws.google.get_order(i) for i in ids]
    Warehouse(ws.root / "feeds").advance(orders[:2], "2026-11-20T10:00:00Z")
    (ws.root / "feeds" / "bad.csv").write_text(
        "order_id,line_item_id,quantity,carrier,tracking_id,shipped_at\n"
        f"{ids[3]},NOPE,1,UPS,1Z999,2026-11-20\n",
        encoding="utf-8",
    )
    second = ws.ordersync("--log-format", "json", "-vv", "run")
    assert second.returncode == 1, second.stderr  # the bad row
    outputs += [second.stdout, second.stderr]
    assert json.loads(second.stdout)["rejects_file"]  # JSON logs: the run summary as fields
    # Refused: a private key the emulator does not know for this account (a token-endpoint error).
    info = json.loads(Path(ws.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text(encoding="utf-8"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    secrets.add_pem(info["private_key"])
    unknown = ws.root / "unknown-key.json"
    unknown.write_text(json.dumps(info), encoding="utf-8")
    env_google = ws.env["GOOGLE_APPLICATION_CREDENTIALS"]
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(unknown)
    refused = ws.ordersync("--log-format", "json", "-vv", "run")
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = env_google
    outputs += [refused.stdout, refused.stderr]
    assert refused.returncode == 2 and "rejected by token endpoint" in refused.stderr

    assert len(secrets.values) > 4, "the fixture saw no token exchange"
    # JSON logs at -vv include library debug lines; every line is valid JSON and none holds a secret.
    for text in (first.stderr, second.stderr):
        for line in text.splitlines():
            if line.strip():
                json.loads(line)
    for text in outputs:
        assert secrets.leaks(text) == [], text[-2000:]
    scanned = 0
    for path in _all_files(ws.root / "reports"):
        scanned += 1
        assert secrets.leaks(path.read_text(encoding="utf-8", errors="replace")) == [], path
    assert scanned >= 4  # orders.csv, breaks.csv, summary.csv, index.html, rejects
    ledger_bytes = (ws.root / "state" / "ordersync.db").read_bytes().decode("latin-1")
    assert secrets.leaks(ledger_bytes) == []


def test_square_token_never_in_error_text(workspace: Workspace) -> None:
    with Sandbox(seed=5, tokens={"EAAAtheOnlyGoodToken_000000000000"}).start() as sandbox:
        from sync.sandbox.credentials import write_service_account

        key = workspace.root / "sa2.json"
        write_service_account(key, sandbox.url)
        write_config(workspace.config, sandbox.url, square=True)
        workspace.env.update(GOOGLE_APPLICATION_CREDENTIALS=str(key), SQUARE_ACCESS_TOKEN=SQUARE_TOKEN)
        proc = workspace.ordersync("--log-format", "json", "-vv", "run")
    assert proc.returncode == 2, proc.stderr
    assert "SQUARE_ACCESS_TOKEN" in proc.stderr
    assert SQUARE_TOKEN not in proc.stdout + proc.stderr
    assert SQUARE_TOKEN[4:20] not in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- sandbox binding
def test_sandbox_library_refuses_non_loopback_hosts() -> None:
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", ""):
        with pytest.raises(ValueError, match="refusing to listen on non-loopback host"):
            Sandbox(host=host)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    Sandbox(host="0.0.0.0", allow_remote=True).store.close()  # explicit opt-in is accepted (not started)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_sandbox_serve_refuses_non_loopback_host_without_opt_in(host: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sync", "sandbox", "serve", "--host", host, "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"--host {host} is not a loopback address" in proc.stderr and "--allow-remote" in proc.stderr
    assert "listening" not in proc.stdout


def test_sandbox_serve_defaults_to_loopback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "sandbox", "serve", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


# ------------------------------------------------------------------------- file permissions
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ledger_and_its_companions_are_owner_only(workspace: Workspace) -> None:
    ws = workspace
    # A permissive umask (as under many cron setups) must not widen the ledger's permissions.
    proc = subprocess.run(
        ["/bin/sh", "-c", f"umask 002 && exec {sys.executable} -m sync run --no-report"],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    ledger = ws.root / "state" / "ordersync.db"
    assert _mode(ledger) == 0o600
    assert _mode(Path(f"{ledger}.lock")) == 0o600
    assert _mode(Path(ws.env["GOOGLE_APPLICATION_CREDENTIALS"])) == 0o600  # `sandbox credentials` output
    # While open, SQLite's WAL and shared-memory files inherit the database's mode.
    old = os.umask(0o002)
    try:
        led = Ledger(ledger)
        led.upsert_orders([])
        led.start_run()
        for suffix in ("-wal", "-shm"):
            companion = Path(f"{ledger}{suffix}")
            if companion.exists():
                assert _mode(companion) == 0o600, suffix
        led.close()
        fresh = ws.root / "state" / "fresh.db"
        Ledger(fresh).close()
        assert _mode(fresh) == 0o600
    finally:
        os.umask(old)
