"""`ordersync init [DIR]`, `ordersync doctor` and `ordersync adopt`: setting up a working directory,
checking it, and handing a one-account ledger's history to an [[accounts]] entry.

Loaded only when named (cli.py's lazy command table), so `ordersync run` never imports the probes.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from sync.config import DEFAULT_ACCOUNT, ConfigError
from sync.entrypoints.options import AppContext, config_option, fail, say
from sync.exit_codes import ExitCode
from sync.logs import json_mode
from sync.resources import example_config_text
from sync.service.adopt import adopt_rows
from sync.service.doctor import Cause, Check, Status, run_checks
from sync.service.runner import CycleLocked
from sync.service.scaffold import CONFIG_FILE, ScaffoldError, scaffold

_MARK = {Status.OK: "ok", Status.WARN: "warn", Status.FAIL: "FAIL", Status.SKIP: "skip"}


@click.command()
@config_option
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Lay out DIR (default: here) for ordersync: config/ordersync.toml from the documented example,
    feeds/, state/ (owner-only) and reports/. Existing files and folders are kept as they are."""
    try:
        steps = scaffold(directory, example_config_text())
    except ScaffoldError as exc:
        fail(str(exc), ExitCode.USAGE)
    for step in steps:
        note = f" ({step.note})" if step.note else ""
        say(
            f"{step.action:<8} {directory / step.path}{note}",
            f"init {step.action}",
            path=str(directory / step.path),
            action=step.action,
            note=step.note,
        )
    cd = "" if directory.resolve() == Path.cwd().resolve() else f"cd {shlex.quote(str(directory))} && "
    config = directory / CONFIG_FILE
    commands = [
        f"$EDITOR {shlex.quote(str(config))}   # [google] merchant_id; then export "
        "GOOGLE_APPLICATION_CREDENTIALS (and SQUARE_ACCESS_TOKEN)",
        f"{cd}ordersync doctor   # checks config, credentials, services, ledger, feeds, folders",
        f"{cd}ordersync run      # one cycle, then a report in reports/",
    ]
    if json_mode():
        say("", "init next", commands=commands)
        return
    click.echo("next:")
    for number, command in enumerate(commands, 1):
        click.echo(f"  {number}. {command}")


@click.command()
@config_option
@click.pass_obj
def doctor(app: AppContext) -> None:
    """Check configuration, credentials, the Google account, Square, the ledger, feeds and folders,
    without running a cycle. Exit 0 when all is well, 2 for something to fix in the configuration
    or credentials, 69 when a service does not answer."""
    causes: set[Cause] = set()
    for check in run_checks(app.config_path):
        _show(check)
        if check.status is Status.FAIL and check.cause is not None:
            causes.add(check.cause)
    # Something to fix by hand outranks a service that may come back by itself.
    code = ExitCode.USAGE if Cause.CONFIG in causes else ExitCode.UNAVAILABLE if causes else ExitCode.OK
    verdict = {
        ExitCode.OK: "all checks passed",
        ExitCode.USAGE: "fix the FAIL lines above",
        ExitCode.UNAVAILABLE: "a service did not answer; retry, then check the network",
    }[code]
    say(f"doctor: {verdict} (exit {code})", "doctor finished", exit_code=code)
    sys.exit(int(code))


def _show(check: Check) -> None:
    fix = f" -> fix: {check.fix}" if check.status in (Status.FAIL, Status.WARN) and check.fix else ""
    say(f"[{_MARK[check.status]:>4}] {check.name:<20} {check.detail}{fix}", "doctor check", **check.as_dict())


@click.command()
@config_option
@click.option("--account", required=True, metavar="NAME", help="The [[accounts]] entry to adopt them.")
@click.option(
    "--from",
    "source",
    default=DEFAULT_ACCOUNT,
    show_default=True,
    metavar="NAME",
    help="Whose rows: by default the one account of the configuration before it had [[accounts]].",
)
@click.pass_obj
def adopt(app: AppContext, account: str, source: str) -> None:
    """Give an [[accounts]] entry the ledger rows of another account name, in one transaction: after
    a one-account configuration grew into [[accounts]], its history (orders, intents, shipments,
    rejects, runs, cursors) goes to the entry it belongs to. Refused while the entry has rows of its
    own (exit 2, nothing changed); exit 75 while a cycle of either account runs."""
    try:
        moved = adopt_rows(app.settings, account, source)
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    except CycleLocked as exc:
        fail(str(exc), ExitCode.LOCKED)
    rows = ", ".join(f"{n} {table}" for table, n in moved.items())
    say(f"{account}: adopted the ledger rows of {source!r} ({rows})", "adopt finished", account=account,
        source=source, rows=moved)  # fmt: skip
