"""`ordersync sandbox serve|credentials` as a separate process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SERVE = [sys.executable, "-c", "from sync.entrypoints.cli_sandbox import sandbox; sandbox()"]
ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [*SERVE, "serve", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    if not ready:
        proc.kill()
        pytest.fail("sandbox serve did not print its address within 30 s")
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on http://127.0.0.1:"), (
        line,
        proc.stderr.read() if proc.poll() else "",
    )
    return proc, line.removeprefix("listening on ")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_address_and_stops_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    proc, url = _start("--state", str(tmp_path / "s.db"), "--seed", "1", "--token", "tok")
    try:
        req = urllib.request.Request(
            url + "/content/v2sandbox/1234567/testorders",
            method="POST",
            data=b'{"templateName":"template2"}',
            headers={"Authorization": "Bearer tok", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["orderId"].startswith("TEST-")
        assert _get(url + "/_sandbox/stats")["orders"]["google"] == 1

        out = tmp_path / "creds" / "sa.json"
        done = subprocess.run(
            [*SERVE, "credentials", "--out", str(out), "--endpoint", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "PRIVATE KEY" not in done.stdout + done.stderr
        assert oct(os.stat(out).st_mode & 0o777) == "0o600"
        assert json.loads(out.read_text())["token_uri"] == url + "/token"
    finally:
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_serve_refuses_non_loopback_host_without_opt_in() -> None:
    done = subprocess.run(
        [*SERVE, "serve", "--host", "0.0.0.0", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--allow-remote" in done.stderr


def test_credentials_fails_clearly_without_a_sandbox(tmp_path: Path) -> None:
    start = time.monotonic()
    done = subprocess.run(
        [*SERVE, "credentials", "--out", str(tmp_path / "x.json"), "--endpoint", "http://127.0.0.1:9"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot reach the sandbox" in done.stderr
    assert not (tmp_path / "x.json").exists()
    assert time.monotonic() - start < 30


def _status(url: str, token: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + "/content/v2sandbox/1234567/orders", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("args", "made_up", "given"),
    [((), 401, 401), (("--token", "tok"), 401, 200), (("--any-token",), 200, 200)],
)
def test_serve_accepts_issued_and_given_tokens_or_any_with_any_token(
    args: tuple[str, ...], made_up: int, given: int
) -> None:
    proc, url = _start(*args)
    try:
        status, body = _status(url, "made-up")
        assert status == made_up
        if status == 401:
            assert body["error"]["errors"][0]["reason"] == "authError"
        assert _status(url, "tok")[0] == given
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
