"""Wiring for the entry points: open the adapters from settings, take the lock, run, report.

Adapter construction problems that an operator fixes in configuration or the environment
(credentials, an unusable ledger file) surface as ``ConfigError`` so the CLI exits 2 with the
message; another cycle holding the lock surfaces as ``CycleLocked`` (exit 75); Google or Square
failing after every retry in a way that stops the job surfaces as ``Unavailable`` (exit 69). A
cycle that finished carries its own outcome (``RunOutcome.exit_code``, sync/exit_codes.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from sync.adapters.google_gateway import GoogleApiError, GoogleCredentialsError
from sync.adapters.ledger import CycleLock, Ledger, LedgerError, LockHeld
from sync.adapters.square_errors import TOKEN_ENV as SQUARE_TOKEN_ENV
from sync.adapters.square_errors import SquareApiError
from sync.config import ConfigError, Settings, refuse_placeholder_merchant
from sync.domain.severity import breaks_at_or_above
from sync.exit_codes import ExitCode, Outage, worst
from sync.logs import get_logger
from sync.progress import terminal_progress
from sync.service.bootstrap import build_cycle, close_live, open_google, open_ledger, open_live, open_square
from sync.service.outages import google_outage, square_outage
from sync.service.results import CycleResult
from sync.service.run_history import remember_last_report
from sync.service.run_metrics import metrics_published

if TYPE_CHECKING:  # pandas & co. are imported only when a report is written, the SDK with Square on
    from sync.adapters.square_gateway import SquareGateway
    from sync.service.reconciliation import ReportResult

log = get_logger(__name__)


class CycleLocked(Exception):
    """Another cycle holds the ledger's lock; this one did nothing."""


class Unavailable(Exception):
    """A required service failed after every retry in a way that stopped the job (exit 69)."""

    def __init__(self, outage: Outage) -> None:
        super().__init__(outage.message())
        self.outage = outage


@dataclass
class RunOutcome:
    cycle: CycleResult
    report: ReportResult | None = None
    report_outage: Outage | None = None  # the report could not be written: a service failed
    fail_on_breaks: str = ""  # severity threshold for exit 3 ("" = off)

    @property
    def report_path(self) -> Path | None:
        return self.report.path if self.report is not None else None

    @property
    def report_breaks(self) -> int | None:
        return self.report.breaks if self.report is not None else None

    @property
    def breaks_over_threshold(self) -> int:
        if self.report is None:
            return 0
        return breaks_at_or_above(self.report.by_severity, self.fail_on_breaks)

    @property
    def outages(self) -> list[Outage]:
        """Each unusable service once: the cycle's first failure, else the report's."""
        found = list(self.cycle.outages)
        if self.report_outage is not None and all(o.service != self.report_outage.service for o in found):
            found.append(self.report_outage)
        return found

    @property
    def exit_code(self) -> ExitCode:
        codes = [self.cycle.exit_code]
        if self.report_outage is not None:
            codes.append(ExitCode.UNAVAILABLE)
        if self.breaks_over_threshold:
            codes.append(ExitCode.BREAKS)
        return worst(codes)

    def fields(self) -> dict[str, Any]:
        """The run summary as fields (``--log-format json``): the cycle's counts, rejects, report,
        and the run's exit code (the cycle's, raised by the report's outage or breaks)."""
        return {
            **self.cycle.as_dict(),
            "exit_code": int(self.exit_code),
            "rejects_file": self.cycle.rejects_file,
            "report": str(self.report_path) if self.report_path is not None else None,
            "breaks": self.report_breaks,
        }

    def line(self) -> str:
        text = self.cycle.line()
        if self.cycle.rejects_file:
            text += f" rejects={self.cycle.rejects_file}"
        if self.report is not None:
            text += f" report={self.report.path} breaks={self.report.breaks}"
        elif self.report_outage is not None:
            text += " report=not-written"
        return text


def cycle_lock_name(settings: Settings) -> str:
    """One lock per account: accounts sharing a PostgreSQL server (advisory locks are per
    database) or, once the ledger scopes rows, one ledger, must not hold each other up."""
    return f"cycle-{settings.account}" if settings.in_fleet else "cycle"


@contextlib.contextmanager
def cycle_lock(ledger: Ledger, settings: Settings) -> Iterator[None]:
    lock = CycleLock(ledger, settings.ledger.lock_ttl_seconds, name=cycle_lock_name(settings))
    try:
        acquired = lock.acquire()
    except LockHeld as exc:
        raise CycleLocked(str(exc)) from exc
    if not acquired:
        raise CycleLocked("another ordersync cycle holds the lock; nothing done")
    try:
        yield
    finally:
        lock.release()


def run_once(
    settings: Settings,
    *,
    report: bool = True,
    interactive: bool = False,
    google_credentials: Any = None,
    square_token: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    fail_on_breaks: str | None = None,
) -> RunOutcome:
    """One cycle under the lock, then the report. ``fail_on_breaks`` overrides
    ``[reports] fail_on_breaks`` (None: the configured threshold)."""
    threshold = settings.reports.fail_on_breaks if fail_on_breaks is None else fail_on_breaks
    refuse_placeholder_merchant(settings)  # before anything is created or called
    ledger = open_ledger(settings)
    try:
        with cycle_lock(ledger, settings), metrics_published(settings, ledger) as watch:
            google = watch.google = open_google(settings, google_credentials)
            square = watch.square = open_square(settings, square_token)
            live = open_live(settings, square, google_credentials)
            with terminal_progress(interactive) as progress:
                cycle = build_cycle(
                    settings,
                    ledger=ledger,
                    marketplace=google,
                    order_system=square,
                    live=live,
                    progress=progress,
                    should_stop=should_stop,
                )
                try:
                    result = cycle.run()
                except GoogleCredentialsError as exc:
                    raise ConfigError(str(exc)) from exc
                except SquareApiError as exc:
                    raise _square_failure(square, exc) from None
                except GoogleApiError as exc:
                    # The cycle could not go on; what it recorded stays pending (ledger first).
                    raise Unavailable(google_outage(google.base_url, exc, google.merchant_id)) from None
                finally:
                    close_live(live)
            outcome = watch.outcome = RunOutcome(result, fail_on_breaks=threshold)
            if report and not result.abandoned:
                from sync.service.report_live import write_live_report  # pandas: only for a report

                try:
                    outcome.report = write_live_report(settings, ledger, google, square)
                    remember_last_report(ledger, outcome.report, result.run_id)
                except GoogleApiError as exc:
                    outcome.report_outage = google_outage(google.base_url, exc, google.merchant_id)
                    log.error("reconciliation report skipped: Google could not be read", error=str(exc))
                except SquareApiError as exc:
                    failure = _square_failure(square, exc)
                    if not isinstance(failure, Unavailable):
                        raise failure from None  # a refused token: configuration (exit 2)
                    outcome.report_outage = failure.outage
                    log.error("reconciliation report skipped: Square could not be read", error=str(exc))
            return outcome
    except LedgerError as exc:
        # Locked by another process, damaged mid-run, …: the message names the ledger (exit 2).
        raise ConfigError(str(exc)) from exc
    finally:
        ledger.close()


def _square_failure(square: SquareGateway | None, exc: SquareApiError) -> ConfigError | Unavailable:
    """A Square error that reached the runner: a refused token is configuration (exit 2), anything
    else an outage (exit 69). Google work done before is kept either way (ledger first)."""
    if exc.is_auth:
        token_env = square.settings.access_token_env if square is not None else SQUARE_TOKEN_ENV
        return ConfigError(
            f"Square rejected the access token in {token_env} ({exc}); "
            "set it to a valid token for the seller account"
        )
    return Unavailable(square_outage(square.base_url if square is not None else "Square", exc))


def logged_cycle(
    settings: Settings, should_stop: Callable[[], bool] = lambda: False
) -> tuple[RunOutcome | None, ExitCode]:
    """One cycle of one account, logged with the exit code `run` would have given (a held lock
    is a skipped run, an outage or a configuration error one failed cycle): what `schedule` and
    the queue's workers run. The outcome is None when the cycle did not finish."""
    try:
        outcome = run_once(settings, should_stop=should_stop)
    except CycleLocked as exc:
        log.warning("cycle skipped", reason=str(exc), exit_code=int(ExitCode.LOCKED))
        return None, ExitCode.LOCKED
    except Unavailable as exc:
        log.error("cycle stopped", error=str(exc), exit_code=int(ExitCode.UNAVAILABLE))
        return None, ExitCode.UNAVAILABLE
    except ConfigError as exc:
        log.error("cycle could not start", error=str(exc), exit_code=int(ExitCode.USAGE))
        return None, ExitCode.USAGE
    code = outcome.exit_code
    for outage in outcome.outages:
        log.error("service unavailable", error=outage.message(), exit_code=int(ExitCode.UNAVAILABLE))
    (log.info if code == ExitCode.OK else log.warning)(
        "cycle finished", summary=outcome.line(), outcome=code.name.lower(), exit_code=int(code)
    )
    return outcome, code


def scheduled_cycle(settings: Settings, stop: threading.Event | None = None) -> Callable[[], None]:
    """The job `ordersync schedule` runs without a queue: a cycle of every account in turn (one
    account failing never stops the others); a stop signal ends it between accounts."""
    should_stop = stop.is_set if stop else lambda: False

    def job() -> None:
        for account in settings.fleet:
            if should_stop():
                return
            with account_context(account):
                logged_cycle(account, should_stop)

    return job


@contextlib.contextmanager
def account_context(settings: Settings) -> Iterator[None]:
    """Every log line of an [[accounts]] entry's cycle carries ``account`` (nothing for the one
    account of a configuration without [[accounts]], whose lines stay as they were)."""
    if not settings.in_fleet:
        yield
        return
    with structlog.contextvars.bound_contextvars(account=settings.account):
        yield


def report_only(
    settings: Settings,
    *,
    out_dir: str | None,
    save_inputs: bool,
    include_pii: bool,
    interactive: bool = False,
) -> ReportResult:
    """`ordersync report` live: Google, the ledger and the OMS (snapshot files go straight to
    ``reconciliation.report_from_snapshots``, without the runner's imports)."""
    from sync.service.report_live import write_live_report

    refuse_placeholder_merchant(settings)
    ledger = open_ledger(settings)
    try:
        google = open_google(settings)
        square = open_square(settings)
        try:
            with terminal_progress(interactive) as progress:
                return write_live_report(
                    settings,
                    ledger,
                    google,
                    square,
                    out_dir=out_dir,
                    save_inputs=save_inputs,
                    include_pii=include_pii,
                    progress=progress,
                )
        except GoogleApiError as exc:
            raise Unavailable(google_outage(google.base_url, exc, google.merchant_id)) from None
        except SquareApiError as exc:
            raise _square_failure(square, exc) from None
    finally:
        ledger.close()
