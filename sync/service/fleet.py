"""Many merchant accounts ([[accounts]]) without a queue, and what `status` says of the fleet.

``run_accounts`` runs one cycle (and report) per account in turn, each under its own lock and
with its own gateways, ledger and report folder; whatever one account meets (a held lock, a
refused token, an outage, even a bug) is that account's outcome and never stops the next one.
The process exits with the worst of their codes (``sync.exit_codes.worst``).

The queue's workers run one account per job through ``run_queued_cycle``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync.config import ConfigError, Settings
from sync.exit_codes import ExitCode
from sync.logs import get_logger
from sync.service.run_history import SUCCESS_OUTCOMES
from sync.service.runner import (
    CycleLocked,
    RunOutcome,
    Unavailable,
    account_context,
    logged_cycle,
    run_once,
)
from sync.service.status import ledger_status

log = get_logger(__name__)


def select_accounts(settings: Settings, names: Iterable[str] = ()) -> list[Settings]:
    """The accounts named (every account when none is), in configuration order."""
    wanted = list(dict.fromkeys(names))
    known = {account.account: account for account in settings.fleet}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ConfigError(
            f"{settings.source}: no account named {', '.join(map(repr, unknown))} "
            f"(accounts: {', '.join(known)})"
        )
    return [known[name] for name in wanted] if wanted else list(settings.fleet)


@dataclass
class AccountRun:
    """How one account's cycle ended: its outcome when it finished, else why not."""

    account: str
    code: ExitCode
    outcome: RunOutcome | None = None
    error: str | None = None


def run_accounts(
    accounts: Sequence[Settings],
    *,
    report: bool = True,
    interactive: bool = False,
    fail_on_breaks: str | None = None,
    on_done: Callable[[AccountRun], None] = lambda _run: None,
) -> list[AccountRun]:
    runs = []
    for account in accounts:
        with account_context(account):
            run = _run_account(account, report=report, interactive=interactive, fail_on_breaks=fail_on_breaks)
        on_done(run)
        runs.append(run)
    return runs


def _run_account(
    account: Settings, *, report: bool, interactive: bool, fail_on_breaks: str | None
) -> AccountRun:
    name = account.account
    try:
        outcome = run_once(account, report=report, interactive=interactive, fail_on_breaks=fail_on_breaks)
    except CycleLocked as exc:
        return AccountRun(name, ExitCode.LOCKED, error=str(exc))
    except ConfigError as exc:
        return AccountRun(name, ExitCode.USAGE, error=str(exc))
    except Unavailable as exc:
        return AccountRun(name, ExitCode.UNAVAILABLE, error=f"cycle stopped: {exc}")
    except Exception as exc:  # a bug met in one account must not stop the others (exit 70 at the end)
        log.exception(
            "internal error: please report it with this traceback", exit_code=int(ExitCode.INTERNAL)
        )
        return AccountRun(
            name, ExitCode.INTERNAL, error=f"internal error ({type(exc).__name__}); see the log"
        )
    return AccountRun(name, outcome.exit_code, outcome=outcome)


@dataclass(frozen=True)
class QueuedCycle:
    """What a worker's job did: the account's exit code as `run` would give it, and whether the
    cycle stopped early for a shutdown (the job is then queued again)."""

    account: str
    exit_code: int
    abandoned: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "exit_code": self.exit_code, "abandoned": self.abandoned}


def run_queued_cycle(settings: Settings, account: str, should_stop: Callable[[], bool]) -> QueuedCycle:
    """One queued cycle of ``account`` (logged like `schedule`'s). An account that is no longer
    configured is a configuration error of that job alone."""
    (chosen,) = select_accounts(settings, [account])
    with account_context(chosen):
        outcome, code = logged_cycle(chosen, should_stop)
    return QueuedCycle(account, int(code), abandoned=outcome is not None and outcome.cycle.abandoned)


# ------------------------------------------------------------------------------------------ status
def fleet_status(settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """`status --json` of a configuration with [[accounts]]: one summary per account, which are
    failing (their last finished run did not end cleanly), breaks per account (the last report),
    every account's recent ``runs`` newest first, and ``last_success``: the oldest of the
    accounts' last successes (None while any account has none), the staleness that matters."""
    now = now or datetime.now(UTC)
    accounts = []
    runs: list[dict[str, Any]] = []
    for account in settings.fleet:
        summary = ledger_status(account, now=now)
        accounts.append(_account_line(account.account, summary))
        runs += summary.get("runs") or []
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    successes = [a["last_success"] for a in accounts]
    oldest = None if not successes or None in successes else min(successes)
    return {
        "accounts": accounts,
        "accounts_total": len(accounts),
        "accounts_failing": [a["account"] for a in accounts if a["failing"]],
        "breaks_by_account": {a["account"]: a["breaks"] for a in accounts},
        "last_success": oldest,
        "runs": runs,
    }


def _account_line(name: str, summary: dict[str, Any]) -> dict[str, Any]:
    if "ledger_missing" in summary:
        return {"account": name, "state": "never_run", "failing": False, "last_success": None,
                "last_outcome": None, "breaks": None, "ledger": summary["ledger_missing"]}  # fmt: skip
    finished = [r for r in summary.get("runs") or [] if r["outcome"] != "running"]
    last = finished[0] if finished else None
    failing = last is not None and last["outcome"] not in SUCCESS_OUTCOMES
    report = summary.get("last_report") or {}
    running = bool(summary.get("runs")) and summary["runs"][0]["outcome"] == "running"
    return {
        "account": name,
        "state": "running" if running else "failing" if failing else "ok" if last else "never_run",
        "failing": failing,
        "last_outcome": last["outcome"] if last else None,
        "last_reason": last["reason"] if last else None,
        "last_success": summary.get("last_success"),
        "last_success_age_seconds": summary.get("last_success_age_seconds"),
        "breaks": report.get("breaks"),
        "report": report.get("path"),
        "orders_total": summary.get("orders_total"),
        "pending_total": summary.get("pending_total"),
        "failed_total": summary.get("failed_total"),
        "ledger": summary.get("ledger"),
    }
