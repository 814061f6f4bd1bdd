"""After a run, gather its figures from the ledger, the gateways and the outcome, and publish them
as Prometheus metrics where ``[metrics]`` says (textfile and/or Pushgateway).

Publishing never changes how the run ends: a metrics target that cannot be written or reached is
a warning in the log. A run that stopped on an error publishes too (that is when the alerts
matter), with the last success carried over from the ledger's run history.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync.adapters.ledger import Ledger, LedgerError
from sync.config import DEFAULT_ACCOUNT, Settings
from sync.logs import get_logger
from sync.service.run_history import SUCCESS_OUTCOMES

if TYPE_CHECKING:
    from sync.adapters.prometheus_metrics import RunMetrics

log = get_logger(__name__)

API_CALLS_KEY = "metrics.api_calls_total"  # ledger key/value: {"api method": calls} over all runs


def wanted(settings: Settings) -> bool:
    return bool(settings.metrics.textfile or settings.metrics.pushgateway_url)


def api_calls_this_run(google: Any, square: Any) -> dict[tuple[str, str], int]:
    """Per (api, method) requests of this run's gateways (either may be None: never opened)."""
    calls: dict[tuple[str, str], int] = {}
    if google is not None:
        calls.update({("google", method): n for method, n in google.calls_by_method().items()})
    if square is not None:
        calls.update({("square", method): n for method, n in square.calls_by_method().items()})
    return calls


def _accumulate(ledger: Ledger, calls: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    stored = ledger.get_value(API_CALLS_KEY) or {}
    totals: dict[tuple[str, str], int] = {
        (key.split(" ", 1)[0], key.split(" ", 1)[1]): int(n) for key, n in stored.items() if " " in key
    }
    for key, n in calls.items():
        totals[key] = totals.get(key, 0) + n
    ledger.set_value(API_CALLS_KEY, {f"{api} {method}": n for (api, method), n in sorted(totals.items())})
    return totals


def gather(
    ledger: Ledger,
    *,
    account: str = DEFAULT_ACCOUNT,
    started_at: datetime,
    now: datetime,
    breaks: Mapping[tuple[str, str], int] | None,
    feed_rows_rejected: int,
    api_calls: Mapping[tuple[str, str], int],
) -> RunMetrics:
    """The run's figures. Its times are the ledger's (as `status` shows them): a success keeps
    the same timestamp when a later failed run carries it over."""
    from sync.adapters.prometheus_metrics import RunMetrics  # prometheus-client: only when publishing

    latest = next(iter(ledger.last_runs(1)), None)
    this_run = latest if latest is not None and latest.started_at >= started_at else None
    last_success = ledger.last_run_with_outcome(SUCCESS_OUTCOMES)
    status = ledger.status_summary(runs=0)
    return RunMetrics(
        finished_at=(this_run.finished_at if this_run else None) or now,
        duration_seconds=(now - started_at).total_seconds(),
        succeeded=this_run is not None and last_success is not None and last_success.id == this_run.id,
        last_success_at=(last_success.finished_at or last_success.started_at) if last_success else None,
        orders_by_stage=status["orders_by_stage"],
        breaks=breaks,
        api_calls_total=_accumulate(ledger, api_calls),
        operations_failed=int(status["failed_total"]),
        operations_pending=int(status["pending_total"]),
        feed_rows_rejected=feed_rows_rejected,
        account=account,
    )


def publish_run_metrics(
    settings: Settings,
    ledger: Ledger,
    *,
    started_at: datetime,
    outcome: Any,
    google: Any,
    square: Any,
) -> None:
    """``outcome``: the runner's RunOutcome, or None when the run stopped on an error."""
    if not wanted(settings):
        return
    report = getattr(outcome, "report", None)
    try:
        run = gather(
            ledger,
            account=settings.account,
            started_at=started_at,
            now=datetime.now(UTC),
            breaks=report.by_category_severity if report is not None else None,
            feed_rows_rejected=outcome.cycle.rejects if outcome is not None else 0,
            api_calls=api_calls_this_run(google, square),
        )
    except LedgerError as exc:
        log.warning("metrics not published: the ledger could not be read", error=str(exc))
        return
    except Exception:  # a defect here must not change how the run ends; it is logged in full
        log.exception("metrics not published")
        return
    from sync.adapters import prometheus_metrics

    target = settings.metrics
    if target.textfile:
        try:
            prometheus_metrics.write_textfile(target.textfile, run)
        except Exception as exc:  # a metrics target never changes how the run ends
            log.warning(
                "metrics textfile not written", path=target.textfile, error=f"{type(exc).__name__}: {exc}"
            )
    if target.pushgateway_url:
        try:
            prometheus_metrics.push(
                target.pushgateway_url,
                run,
                timeout=target.push_timeout_seconds,
                per_account=settings.in_fleet,
            )
        except Exception as exc:  # unreachable, refusing (HTTPError), a malformed URL (ValueError)
            log.warning(
                "metrics not pushed", url=target.pushgateway_url, error=f"{type(exc).__name__}: {exc}"
            )


@dataclass
class RunWatch:
    """What the run opened and produced, filled in as it goes (anything may stay None)."""

    google: Any = None
    square: Any = None
    outcome: Any = None


@contextmanager
def metrics_published(settings: Settings, ledger: Ledger) -> Iterator[RunWatch]:
    """Publish the run's metrics when the block ends, however it ends."""
    watch = RunWatch()
    started_at = datetime.now(UTC)
    try:
        yield watch
    finally:
        publish_run_metrics(
            settings,
            ledger,
            started_at=started_at,
            outcome=watch.outcome,
            google=watch.google,
            square=watch.square,
        )
