"""Prometheus metrics of a batch run (prometheus-client): built from typed figures, then written as a
node_exporter textfile-collector file and/or pushed to a Pushgateway.

Batch-job conventions: gauges describe the last run (when, how long, how it ended, what it left
behind), ``ordersync_last_success_timestamp_seconds`` is the time of the last *successful* run,
carried over unchanged by a failed one (0 before the first success), so
``time() - ordersync_last_success_timestamp_seconds > 3600`` is the one alert that catches every
way the job can stop working. ``ordersync_api_calls_total`` is a real counter: the totals are kept
across runs by the caller, so ``rate()`` works. Every series of a run is published together,
replacing the previous run's (the textfile by an atomic rename, the Pushgateway group by PUT).

Every series carries ``account`` (``default`` for a configuration without [[accounts]]), so a
fleet's files or Pushgateway groups (one per account, grouping key ``account``) sum and alert
per account: ``time() - ordersync_last_success_timestamp_seconds > 3600`` names the account.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

JOB = "ordersync"
PREFIX = "ordersync_"


@dataclass(frozen=True)
class RunMetrics:
    """What one run reports; every mapping is keyed by its labels' values."""

    finished_at: datetime
    duration_seconds: float
    succeeded: bool
    last_success_at: datetime | None  # this run's end when it succeeded, else the previous success
    orders_by_stage: Mapping[str, int] = field(default_factory=dict)
    breaks: Mapping[tuple[str, str], int] | None = None  # (category, severity); None: no report this run
    api_calls_total: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (api, method), all runs
    operations_failed: int = 0
    operations_pending: int = 0
    feed_rows_rejected: int = 0
    account: str = "default"


class _RunCollector(Collector):
    def __init__(self, run: RunMetrics) -> None:
        self.run = run

    def collect(self) -> Iterator[Metric]:
        run = self.run
        account = [run.account]
        yield _gauge(
            "last_run_timestamp_seconds",
            "When the last run finished (Unix time).",
            run.finished_at.timestamp(),
            account,
        )
        yield _gauge(
            "last_success_timestamp_seconds",
            "When the last successful run finished (Unix time; 0 before the first success).",
            run.last_success_at.timestamp() if run.last_success_at else 0.0,
            account,
        )
        yield _gauge(
            "run_duration_seconds",
            "How long the last run took, cycle and report.",
            max(0.0, run.duration_seconds),
            account,
        )
        yield _gauge(
            "last_run_success",
            "1 when the last run succeeded, else 0.",
            1.0 if run.succeeded else 0.0,
            account,
        )
        stages = GaugeMetricFamily(
            f"{PREFIX}orders", "Orders in the ledger per stage.", labels=["account", "stage"]
        )
        for stage, count in sorted(run.orders_by_stage.items()):
            stages.add_metric([*account, stage], count)
        yield stages
        if run.breaks is not None:
            breaks = GaugeMetricFamily(
                f"{PREFIX}breaks", "Breaks in the last report.", labels=["account", "category", "severity"]
            )
            for (category, severity), count in sorted(run.breaks.items()):
                breaks.add_metric([*account, category, severity], count)
            yield breaks
        calls = CounterMetricFamily(
            f"{PREFIX}api_calls",
            "HTTP requests to the APIs, retries included.",
            labels=["account", "api", "method"],
        )
        for (api, method), count in sorted(run.api_calls_total.items()):
            calls.add_metric([*account, api, method], count)
        yield calls
        yield _gauge(
            "operations_failed",
            "Operations the APIs refused for good (reported as failed_operation).",
            run.operations_failed,
            account,
        )
        yield _gauge(
            "operations_pending",
            "Operations recorded and not yet confirmed.",
            run.operations_pending,
            account,
        )
        yield _gauge(
            "feed_rows_rejected",
            "Shipments-feed rows the last run rejected.",
            run.feed_rows_rejected,
            account,
        )


def _gauge(name: str, documentation: str, value: float, account: list[str]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(f"{PREFIX}{name}", documentation, labels=["account"])
    gauge.add_metric(account, value)
    return gauge


def registry_for(run: RunMetrics) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_RunCollector(run))
    return registry


def write_textfile(path: str | Path, run: RunMetrics) -> None:
    """The textfile collector's file, replaced atomically (node_exporter never reads half a file).
    prometheus-client writes a temporary file beside it and renames it over the old one."""
    write_to_textfile(str(path), registry_for(run))


def push(url: str, run: RunMetrics, *, timeout: float = 10.0, per_account: bool = False) -> None:
    """PUT the run's series to the Pushgateway group job="ordersync", replacing the last run's.
    ``per_account`` ([[accounts]]): each account its own group (job, account), so one account's
    run never replaces another's series. A configuration without [[accounts]] keeps the group it
    always had (a new group would leave the old one's last success behind, stale forever)."""
    grouping = {"account": run.account} if per_account else None
    push_to_gateway(url, job=JOB, registry=registry_for(run), timeout=timeout, grouping_key=grouping)
