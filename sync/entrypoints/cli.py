"""`ordersync` command line (click). Thin: parse, wire adapters, call the service, map exit codes.

Exit codes (sync/exit_codes.py, README "Exit codes"): 0 done; 1 done, but orders failed or feed
rows were newly rejected; 2 usage or configuration error; 3 done, but the report has breaks at or
above --fail-on-breaks; 69 a required service unreachable or refusing us after retries; 70
internal error (traceback in the log, work already recorded is kept); 75 another cycle holds the
lock (nothing done).
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import click

from sync.config import ConfigError
from sync.entrypoints.options import AppContext, config_option, fail, say, warn
from sync.exit_codes import ExitCode
from sync.logs import configure_logging, get_logger, json_line, json_mode, redact_text
from sync.progress import progress_wanted

log = get_logger("ordersync")

FAIL_ON_BREAKS = click.Choice(["critical", "high", "medium", "low", "off"], case_sensitive=False)


class _LazyGroup(click.Group):
    """Sub-commands (groups or plain commands) are imported when named (or listed by --help), so
    `ordersync run`, which cron starts every few minutes, does not pay for importing the emulators
    (werkzeug and both sandboxes' models) or the doctor's probes on every start."""

    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {
        "adopt": ("sync.entrypoints.cli_ops", "adopt"),
        "doctor": ("sync.entrypoints.cli_ops", "doctor"),
        # Queue mode (procrastinate on PostgreSQL): never imported by `run`.
        "enqueue": ("sync.entrypoints.cli_queue", "enqueue"),
        "init": ("sync.entrypoints.cli_ops", "init"),
        "sandbox": ("sync.entrypoints.cli_sandbox", "sandbox"),
        # The group of cli_testorders with the read-only `show`/`list` commands added.
        "testorders": ("sync.entrypoints.cli_testorders_view", "testorders"),
        "ucp": ("sync.entrypoints.cli_ucp", "ucp"),
        "worker": ("sync.entrypoints.cli_queue", "worker"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module, attribute = self.lazy_commands[cmd_name]
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="ORDERSYNC_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML configuration (default config/ordersync.toml; env ORDERSYNC_CONFIG).",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", count=True, help="More detail (-vv includes library debug logs).")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
@click.version_option(package_name="ordersync")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_format: str, verbose: int, quiet: bool) -> None:
    """Keep Google marketplace orders and your order system in step, and prove it with reports."""
    verbosity = -1 if quiet else verbose
    configure_logging(log_format, verbosity)  # type: ignore[arg-type]
    ctx.obj = AppContext(config_path, log_format, verbosity)


def _fail_on_breaks_option(func: Any) -> Any:
    return click.option(
        "--fail-on-breaks",
        "fail_on_breaks",
        type=FAIL_ON_BREAKS,
        default=None,
        metavar="SEVERITY",
        help="Exit 3 when the report has a break at or above SEVERITY (critical, high, medium, low; "
        "off: never). Default: [reports] fail_on_breaks.",
    )(func)


def _threshold(option: str | None) -> str | None:
    """--fail-on-breaks as the runner takes it: None = the configured one, "" = off."""
    if option is None:
        return None
    return "" if option.lower() == "off" else option.lower()


def _account_option(func: Any) -> Any:
    return click.option(
        "--account",
        "account_names",
        multiple=True,
        metavar="NAME",
        help="Only this [[accounts]] entry (repeatable); default: every account.",
    )(func)


def _breaks_line(count: int, threshold: str, path: Path) -> str:
    return (
        f"{count} break(s) at or above {threshold} in the report (--fail-on-breaks {threshold}): "
        f"see {path / 'breaks.csv'}"
    )


def _json_option(func: Any) -> Any:
    return click.option(
        "--json", "as_json", is_flag=True, help="One JSON document on stdout (logs stay on stderr)."
    )(func)


def _document(event: str, payload: dict[str, Any]) -> None:
    """``--json``: one JSON document on stdout; one line of it under --log-format json."""
    if json_mode():
        click.echo(json_line(event, **payload))
    else:
        click.echo(json.dumps(payload, indent=2, default=str))


@cli.command()
@config_option
@click.option("--no-report", is_flag=True, help="Skip the reconciliation report after the cycle.")
@_fail_on_breaks_option
@_account_option
@_json_option
@click.pass_obj
def run(
    app: AppContext,
    no_report: bool,
    fail_on_breaks: str | None,
    account_names: tuple[str, ...],
    as_json: bool,
) -> None:
    """One sync cycle (for cron), then a reconciliation report; with [[accounts]], one per account
    in turn (one account failing never stops the others; the exit code is the worst of them)."""
    from sync.service.fleet import select_accounts
    from sync.service.runner import CycleLocked, Unavailable, run_once

    try:
        accounts = select_accounts(app.settings, account_names)
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    if app.settings.accounts:
        _run_fleet(accounts, report=not no_report, fail_on_breaks=_threshold(fail_on_breaks), as_json=as_json)
    try:
        outcome = run_once(
            app.settings,
            report=not no_report,
            interactive=progress_wanted(),
            fail_on_breaks=_threshold(fail_on_breaks),
        )
    except CycleLocked as exc:
        fail(str(exc), ExitCode.LOCKED)
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    except Unavailable as exc:
        # One clear line instead of a traceback; everything recorded is resent next cycle.
        fail(f"cycle stopped: {exc}", ExitCode.UNAVAILABLE)
    if as_json:
        _document("run finished", _run_document(outcome))
    else:
        say(outcome.line(), "run finished", **outcome.fields())
    for outage in outcome.outages:
        warn(outage.message(), service=outage.service)
    if outcome.breaks_over_threshold and outcome.report is not None:
        warn(_breaks_line(outcome.breaks_over_threshold, outcome.fail_on_breaks, outcome.report.path))
    sys.exit(int(outcome.exit_code))


def _run_fleet(accounts: list[Any], *, report: bool, fail_on_breaks: str | None, as_json: bool) -> None:
    """`run` over [[accounts]]: a line per account as it finishes, then the fleet's line (with
    ``--json`` one document with every account's summary instead); exits with the worst code."""
    from sync.exit_codes import worst
    from sync.service.fleet import AccountRun, run_accounts

    def show(done: AccountRun) -> None:
        name, outcome = done.account, done.outcome
        if outcome is None:
            warn(f"{name}: {done.error}", account=name, exit_code=int(done.code))
            return
        if not as_json:
            say(f"{name}: {outcome.line()}", "run finished", account=name, **outcome.fields())
        for outage in outcome.outages:
            warn(f"{name}: {outage.message()}", account=name, service=outage.service)
        if outcome.breaks_over_threshold and outcome.report is not None:
            line = _breaks_line(outcome.breaks_over_threshold, outcome.fail_on_breaks, outcome.report.path)
            warn(f"{name}: {line}", account=name)

    runs = run_accounts(
        accounts, report=report, interactive=progress_wanted(), fail_on_breaks=fail_on_breaks, on_done=show
    )
    code = worst(r.code for r in runs)
    not_clean = [r.account for r in runs if r.code != ExitCode.OK]
    if as_json:
        _document(
            "fleet run finished", {"accounts": [_account_document(r) for r in runs], "exit_code": int(code)}
        )
        sys.exit(int(code))
    say(
        f"{len(runs)} account(s): {len(runs) - len(not_clean)} clean"
        + (f", not clean: {', '.join(not_clean)}" if not_clean else "")
        + f" (exit {int(code)})",
        "fleet run finished",
        accounts=len(runs),
        exit_codes={r.account: int(r.code) for r in runs},
        exit_code=int(code),
    )
    sys.exit(int(code))


def _account_document(done: Any) -> dict[str, Any]:
    """One account of `run --json` over [[accounts]]: its summary and report, or why it did not run."""
    outcome = done.outcome
    if outcome is None:
        return {"account": done.account, "exit_code": int(done.code), "error": done.error}
    return {"account": done.account, **_run_document(outcome)}


def _run_document(outcome: Any) -> dict[str, Any]:
    """`run --json`: the run summary's fields and its reconciliation report (None without one)."""
    report = outcome.report.to_json() if outcome.report is not None else None
    return {**outcome.fields(), "reconciliation": report}


@cli.command()
@config_option
@click.pass_obj
def schedule(app: AppContext) -> None:
    """Run a cycle of every account each [schedule] interval_minutes until SIGTERM/SIGINT; in queue
    mode ([queue] enabled) queue them instead, for `ordersync worker` processes to run."""
    import threading

    from sync.entrypoints.scheduler import run_schedule
    from sync.service.runner import scheduled_cycle

    settings = app.settings
    if settings.queue.enabled:
        from sync.entrypoints.cli_queue import scheduled_enqueue

        job = scheduled_enqueue(settings)
        sys.exit(run_schedule(job, settings.schedule.interval_minutes, what="enqueue"))
    # One event for both: a stop signal also lets the cycle in progress end between its steps.
    stop = threading.Event()
    code = run_schedule(scheduled_cycle(settings, stop), settings.schedule.interval_minutes, stop_event=stop)
    sys.exit(code)


@cli.command()
@config_option
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Reports folder (default [reports] dir)."
)
@click.option(
    "--google",
    "google_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Reconcile an exported Google snapshot (CSV or Parquet) instead of calling the API.",
)
@click.option(
    "--oms",
    "oms_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Reconcile an exported OMS snapshot (CSV or Parquet).",
)
@click.option(
    "--ledger",
    "ledger_file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --google: the ledger's view as a snapshot (what --save-inputs wrote).",
)
@click.option(
    "--rejects",
    "rejects_file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --google: open feed rejects as a snapshot (what --save-inputs wrote).",
)
@click.option("--save-inputs", is_flag=True, help="Also save the live inputs as snapshot files.")
@click.option("--include-pii", is_flag=True, help="Include customer names and contacts in the reports.")
@_fail_on_breaks_option
@_account_option
@_json_option
@click.pass_obj
def report(
    app: AppContext,
    out_dir: str | None,
    google_file: str | None,
    oms_file: str | None,
    ledger_file: str | None,
    rejects_file: str | None,
    save_inputs: bool,
    include_pii: bool,
    fail_on_breaks: str | None,
    account_names: tuple[str, ...],
    as_json: bool,
) -> None:
    """Reconciliation only: write reports/<run-id>/ (with [[accounts]]: of --account NAME)."""
    from sync.domain.severity import breaks_at_or_above
    from sync.service.fleet import select_accounts

    if (oms_file or ledger_file or rejects_file) and not google_file:
        fail(
            "--oms, --ledger and --rejects need --google (a snapshot reconciliation compares exports)",
            ExitCode.USAGE,
        )
    settings = app.settings
    if settings.accounts or account_names:
        try:
            chosen = select_accounts(settings, account_names)
        except ConfigError as exc:
            fail(str(exc), ExitCode.USAGE)
        if len(chosen) != 1:
            fail("this configuration has [[accounts]]: name one with --account NAME", ExitCode.USAGE)
        settings = chosen[0]
    threshold = _threshold(fail_on_breaks)
    if threshold is None:
        threshold = settings.reports.fail_on_breaks
    if google_file:  # exported files: no credentials, no ledger, not even their modules imported
        from sync.service.reconciliation import report_from_snapshots

        try:
            result = report_from_snapshots(
                settings,
                google_file,
                oms_file,
                out_dir=out_dir,
                include_pii=include_pii,
                ledger_file=ledger_file,
                rejects_file=rejects_file,
            )
        except ConfigError as exc:
            fail(str(exc), ExitCode.USAGE)
    else:
        from sync.service.runner import Unavailable, report_only

        try:
            result = report_only(
                settings,
                out_dir=out_dir,
                save_inputs=save_inputs,
                include_pii=include_pii,
                interactive=progress_wanted(),
            )
        except ConfigError as exc:
            fail(str(exc), ExitCode.USAGE)
        except Unavailable as exc:
            fail(f"report not written: {exc}", ExitCode.UNAVAILABLE)
    over = breaks_at_or_above(result.by_severity, threshold)
    if as_json:
        code = ExitCode.BREAKS if over else ExitCode.OK
        _document("report written", {**result.to_json(), "exit_code": int(code)})
    else:
        say(
            f"report written to {result.path} ({result.breaks} breaks)",
            "report written",
            report=str(result.path),
            breaks=result.breaks,
        )
    if over:
        fail(_breaks_line(over, threshold, result.path), ExitCode.BREAKS)


@cli.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(app: AppContext, as_json: bool) -> None:
    """Ledger summary: orders per stage, pending operations, last runs."""
    from sync.service.fleet import fleet_status
    from sync.service.status import ledger_status

    try:
        summary = fleet_status(app.settings) if app.settings.accounts else ledger_status(app.settings)
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    if json_mode():  # one line, whatever --json says: every line a JSON object
        click.echo(json_line("status", **summary))
        return
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    if "accounts" in summary:
        _show_fleet(summary)
        return
    if "ledger_missing" in summary:
        click.echo(f"no ledger yet at {summary['ledger_missing']}: no cycle has run with this configuration")
        return
    click.echo(_last_success_line(summary))
    runs = summary.get("runs") or []
    if runs:
        last = runs[0]
        reason = f" ({last['reason']})" if last.get("reason") else ""
        click.echo(f"last run: #{last['run_id']} {last['outcome']}{reason}, started {last['started_at']}")
    click.echo(f"ledger: {summary.get('ledger') or '?'}")  # as the ledger shows it: no password
    click.echo("orders by stage:")
    for stage, count in sorted(summary.get("orders_by_stage", {}).items()):
        click.echo(f"  {stage:<20} {count}")
    click.echo("operations:")
    for key, count in sorted(summary.get("operations", {}).items()):
        click.echo(f"  {key:<36} {count}")
    click.echo("last runs:")
    for run_info in summary.get("last_runs", []):
        click.echo(f"  {_run_line(run_info)}")


def _show_fleet(summary: dict[str, Any]) -> None:
    failing = summary["accounts_failing"]
    names = f": {', '.join(failing)}" if failing else ""
    click.echo(f"{summary['accounts_total']} accounts, {len(failing)} failing{names}")
    click.echo(f"  {'account':<20} {'state':<10} {'last run':<14} {'last success':<24} breaks")
    for line in summary["accounts"]:
        age = line.get("last_success_age_seconds")
        success = _age_words(int(age)) if age is not None else "never"
        breaks = "-" if line["breaks"] is None else str(line["breaks"])
        outcome = line["last_outcome"] or "-"
        click.echo(f"  {line['account']:<20} {line['state']:<10} {outcome:<14} {success:<24} {breaks}")


def _last_success_line(summary: dict[str, Any]) -> str:
    if not summary.get("last_success"):
        return "last success: never (no run has finished cleanly yet)"
    age = _age_words(int(summary.get("last_success_age_seconds") or 0))
    return f"last success: {age} (run #{summary.get('last_success_run_id')}, {summary['last_success']})"


def _age_words(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 1:
        return "less than a minute ago"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours ago"
    return f"{minutes // (24 * 60)} days ago"


def _run_line(run_info: dict[str, Any]) -> str:
    """One line per run for people: when, how it ended, what it did."""
    figures = run_info.get("summary") or {}
    shown = (
        "orders_seen",
        "acknowledged",
        "square_orders",
        "square_skipped",
        "shipped",
        "delivered",
        "canceled",
        "lines_canceled",
        "refunds_to_google",
        "refunds_to_square",
        "failed",
        "rejects",
        "new_rejects",
        "exit_code",
        "api_calls",
        "seconds",
    )
    what = " ".join(f"{key}={figures[key]}" for key in shown if figures.get(key))
    outcome = run_info.get("outcome") or "running"
    return f"#{run_info.get('id')} {run_info.get('started_at')} {outcome} {what}".rstrip()


@cli.command()
@config_option
@click.option(
    "--orders",
    "order_count",
    type=click.IntRange(1, 1000),
    default=12,
    show_default=True,
    help="How many test orders to create.",
)
@click.option(
    "--dir",
    "work_dir",
    type=click.Path(file_okay=False),
    default="ordersync-demo",
    show_default=True,
    help="Where the demo keeps its ledger, feed and reports.",
)
@click.option(
    "--square/--no-square", default=True, show_default=True, help="Bridge the orders into Square too."
)
@click.option(
    "--channel",
    type=click.Choice(["google", "ucp"]),
    default="google",
    show_default=True,
    help="google: Content API test orders; ucp: Square orders as UCP webhooks and order tracking signals.",
)
def demo(order_count: int, work_dir: str, square: bool, channel: str) -> None:
    """The whole product on embedded defaults: sandbox, test orders, sync to delivered, report.

    It reads no configuration file (a --config given is not used)."""
    from sync.entrypoints.demo import DemoRefused, run_demo
    from sync.entrypoints.demo_ucp import run_ucp_demo

    try:
        if channel == "ucp":
            code = run_ucp_demo(
                Path(work_dir),
                order_count=order_count,
                echo=lambda line: say(line, line),
                interactive=progress_wanted(),
            )
        else:
            code = run_demo(
                Path(work_dir),
                order_count=order_count,
                square=square,
                echo=lambda line: say(line, line),
                interactive=progress_wanted(),
            )
    except DemoRefused as exc:
        fail(str(exc), ExitCode.USAGE)
    sys.exit(int(code))


def main() -> None:
    """The console entry point. Click's own errors (a bad option, a command's ClickException) are
    printed here, so that with --log-format json they are JSON lines too. A bug anywhere (an
    exception no layer expected) exits 70 with its traceback in the log (structlog, redacted) and
    one line on stderr; whatever the cycle already recorded in the ledger stays there and is
    resumed by the next run."""
    try:
        code = cli.main(prog_name="ordersync", standalone_mode=False)
    except click.ClickException as exc:
        if json_mode():
            click.echo(json_line(exc.format_message(), level="error", exit_code=exc.exit_code), err=True)
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        fail("aborted", ExitCode.FAILED)
    except Exception as exc:
        log.exception("internal error: please report it with this traceback", exit_code=ExitCode.INTERNAL)
        summary = redact_text(f"{type(exc).__name__}: {exc}")
        warn(
            f"internal error ({summary}); the traceback is in the log; "
            "work already recorded is kept and resumed by the next run",
            exit_code=int(ExitCode.INTERNAL),
        )
        sys.exit(int(ExitCode.INTERNAL))
    sys.exit(code if isinstance(code, int) else 0)
