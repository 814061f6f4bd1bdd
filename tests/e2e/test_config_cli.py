"""Configuration as a new user meets it (issue 12.8).

No configuration file means "say which path was tried and stop" (exit 2), never a silent run on
defaults against Google's production host; the example's placeholder merchant id is refused
there; `--config` is accepted in the same places by every command; `merchant_id = 1234567`
(unquoted) is fine; an unknown key gets a "did you mean".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from sync.entrypoints.cli import cli

from .conftest import MERCHANT_ID, Workspace, write_config

pytestmark = pytest.mark.timeout(240)

QUICK = 60


def _no_config_env(ws: Workspace) -> None:
    ws.env.pop("ORDERSYNC_CONFIG", None)
    ws.config.unlink()  # config/ordersync.toml, the default path, is gone too


@pytest.mark.parametrize(
    "command",
    [
        ("run",),
        ("run", "--no-report"),
        ("report",),
        ("status",),
        ("schedule",),
        ("testorders", "create"),
        ("testorders", "advance", "--all"),
    ],
)
def test_without_a_configuration_file_every_command_says_where_it_looked_and_exits_2(
    workspace: Workspace, command: tuple[str, ...]
) -> None:
    ws = workspace
    _no_config_env(ws)
    before = ws.stats()["requests_total"]
    proc = ws.ordersync(*command, timeout=QUICK)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    tried = ws.root / "config" / "ordersync.toml"
    assert f"configuration file not found (tried {tried}, the default" in proc.stderr
    assert "--config" in proc.stderr and "ORDERSYNC_CONFIG" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert ws.stats()["requests_total"] == before  # nothing called, not even the emulator
    assert not (ws.root / "state").exists()


def test_the_placeholder_merchant_id_is_refused_against_googles_own_endpoint(workspace: Workspace) -> None:
    ws = workspace
    ws.config.write_text(
        '[google]\nmerchant_id = "1234567"\nsandbox = true\n[ledger]\nurl = "sqlite:///state/o.db"\n',
        encoding="utf-8",
    )
    for command in (("testorders", "create"), ("run",), ("report",)):
        proc = ws.ordersync(*command, timeout=QUICK)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert "[google] merchant_id is 1234567, the example's placeholder" in proc.stderr
        assert "Google's own" in proc.stderr and "Traceback" not in proc.stderr
    # Against the emulator the same id is fine (that is what the demo and the README use).
    write_config(ws.config, ws.sandbox.url)
    text = ws.config.read_text(encoding="utf-8").replace(f'"{MERCHANT_ID}"', '"1234567"')
    ws.config.write_text(text, encoding="utf-8")
    assert ws.ordersync("testorders", "create", timeout=QUICK).returncode == 0


def _commands(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, ctx, (*path, name))
    return found


def test_every_command_and_group_accepts_config() -> None:
    ctx = click.Context(cli)
    commands = _commands(cli, ctx)
    assert ("testorders", "create") in commands and ("sandbox", "serve") in commands
    for path in commands:
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, name)  # type: ignore[assignment]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--config" in options, f"`ordersync {' '.join(path)}` does not accept --config"


def test_config_is_taken_in_every_place_by_the_test_order_commands(workspace: Workspace) -> None:
    ws = workspace
    ws.env.pop("ORDERSYNC_CONFIG")
    elsewhere = ws.root / "elsewhere.toml"
    ws.config.rename(elsewhere)
    made = []
    for args in (
        ("--config", str(elsewhere), "testorders", "create"),
        ("testorders", "--config", str(elsewhere), "create"),
        ("testorders", "create", "--config", str(elsewhere)),
    ):
        proc = ws.ordersync(*args, timeout=QUICK)
        assert proc.returncode == 0, (args, proc.stderr)
        made += proc.stdout.split()
    assert len(made) == 3 and all(ws.google.get_order(i)["id"] == i for i in made)
    advanced = ws.ordersync("testorders", "advance", "--all", "--config", str(elsewhere), timeout=QUICK)
    assert advanced.returncode == 0 and sorted(advanced.stdout.split()) == sorted(made)
    # The innermost --config wins.
    wrong = ws.root / "nope.toml"
    proc = ws.ordersync("--config", str(elsewhere), "testorders", "create", "--config", str(wrong))
    assert proc.returncode == 2 and f"{wrong}: configuration file not found" in proc.stderr
    # The sandbox commands read no configuration, but take the option like every command.
    key = ws.root / "other-sa.json"
    proc = ws.ordersync(
        "sandbox", "credentials", "--config", str(elsewhere), "--out", str(key), "--endpoint", ws.sandbox.url
    )
    assert proc.returncode == 0, proc.stderr
    assert key.is_file()
    # run / status / report after the command, as before.
    for command in ("run", "status", "report"):
        assert ws.ordersync(command, "--config", str(elsewhere), timeout=QUICK).returncode == 0, command


def test_an_unquoted_numeric_merchant_id_is_accepted(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(1)
    quoted, bare = f'merchant_id = "{MERCHANT_ID}"', f"merchant_id = {MERCHANT_ID}"
    text = ws.config.read_text(encoding="utf-8").replace(quoted, bare)
    ws.config.write_text(text, encoding="utf-8")
    proc = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert proc.returncode == 0, proc.stderr
    assert ws.google.get_order(ids[0])["acknowledged"]


def test_an_unknown_key_gets_a_did_you_mean(workspace: Workspace) -> None:
    ws = workspace
    text = ws.config.read_text(encoding="utf-8").replace("rejects_dir =", "reject_dir =")
    ws.config.write_text(text, encoding="utf-8")
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 2
    assert f"{ws.config}: [shipments] reject_dir: unknown key; did you mean 'rejects_dir'?" in proc.stderr


def test_the_demo_needs_no_configuration_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    proc = subprocess.run(
        [sys.executable, "-m", "sync", "demo", "--orders", "1", "--no-square"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "config").exists()
