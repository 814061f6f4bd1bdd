"""Progress bars appear for a person at a terminal, and never in pipes, files or JSON logs."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.e2e.conftest import Workspace


def run_with_terminal_stderr(ws: Workspace, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """Run ordersync with stderr on a pseudo-terminal and stdout on a pipe, as in
    `ordersync testorders create | tee ids.txt` typed at a terminal."""
    master, slave = pty.openpty()
    env = {**ws.env, "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", *args],
        cwd=ws.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    os.close(slave)
    terminal = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            terminal += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else ""
    code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    return code, stdout, terminal.decode("utf-8", "replace")


def test_testorders_create_shows_progress_on_a_terminal_and_ids_stay_on_stdout(workspace: Workspace) -> None:
    code, stdout, terminal = run_with_terminal_stderr(workspace, "testorders", "create", "--count", "3")
    assert code == 0, terminal
    ids = stdout.split()
    assert len(ids) == 3 and all(i.startswith("TEST-") for i in ids), stdout
    assert "creating test orders" in terminal and "3 orders" in terminal


def test_no_progress_into_pipes_or_json_logs(workspace: Workspace) -> None:
    piped = workspace.ordersync("testorders", "create", "--count", "2", check=True)
    assert piped.stderr == "" and len(piped.stdout.split()) == 2
    code, stdout, terminal = run_with_terminal_stderr(
        workspace, "--log-format", "json", "testorders", "create", "--count", "2"
    )
    assert code == 0 and len(stdout.split()) == 2
    assert "creating test orders" not in terminal


def test_report_and_run_show_progress_on_a_terminal(workspace: Workspace) -> None:
    workspace.create_orders(2)
    code, stdout, terminal = run_with_terminal_stderr(workspace, "run", "--no-report")
    assert code == 0, terminal
    assert stdout.startswith("run 1:") and "poll" in terminal and "2 orders" in terminal
    code, stdout, terminal = run_with_terminal_stderr(workspace, "report")
    assert code == 0, terminal
    assert "report written to" in stdout and "reading Google orders" in terminal


def test_demo_shows_progress_on_a_terminal(workspace: Workspace) -> None:
    code, stdout, terminal = run_with_terminal_stderr(
        workspace, "demo", "--orders", "2", "--no-square", "--dir", str(workspace.root / "demo")
    )
    assert code == 0, stdout + terminal
    assert "creating test orders" in terminal and "advancing test orders" in terminal
    assert "report:" in stdout  # the story itself stays on stdout
