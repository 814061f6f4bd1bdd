"""sync.adapters.prometheus_metrics: the series a run publishes, from typed figures."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sync.adapters.prometheus_metrics import RunMetrics, registry_for, write_textfile

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def run(**changes: object) -> RunMetrics:
    base = {
        "finished_at": T0 + timedelta(seconds=42.5),
        "duration_seconds": 42.5,
        "succeeded": True,
        "last_success_at": T0 + timedelta(seconds=42.5),
        "orders_by_stage": {"acknowledged": 3, "delivered": 7},
        "breaks": {("missing_in_oms", "critical"): 2, ("amount_mismatch", "high"): 1},
        "api_calls_total": {("google", "content.orders.list"): 9, ("square", "orders.create"): 4},
        "operations_failed": 1,
        "operations_pending": 2,
        "feed_rows_rejected": 5,
    }
    return RunMetrics(**{**base, **changes})  # type: ignore[arg-type]


def series(metrics: RunMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry_for(metrics)).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_series_of_a_successful_run() -> None:
    s = series(run())
    assert s == {
        ("ordersync_last_run_timestamp_seconds", ()): (T0 + timedelta(seconds=42.5)).timestamp(),
        ("ordersync_last_success_timestamp_seconds", ()): (T0 + timedelta(seconds=42.5)).timestamp(),
        ("ordersync_run_duration_seconds", ()): 42.5,
        ("ordersync_last_run_success", ()): 1.0,
        ("ordersync_orders", (("stage", "acknowledged"),)): 3.0,
        ("ordersync_orders", (("stage", "delivered"),)): 7.0,
        ("ordersync_breaks", (("category", "amount_mismatch"), ("severity", "high"))): 1.0,
        ("ordersync_breaks", (("category", "missing_in_oms"), ("severity", "critical"))): 2.0,
        ("ordersync_api_calls_total", (("api", "google"), ("method", "content.orders.list"))): 9.0,
        ("ordersync_api_calls_total", (("api", "square"), ("method", "orders.create"))): 4.0,
        ("ordersync_operations_failed", ()): 1.0,
        ("ordersync_operations_pending", ()): 2.0,
        ("ordersync_feed_rows_rejected", ()): 5.0,
    }


def test_a_failed_run_before_any_success_and_without_a_report() -> None:
    s = series(run(succeeded=False, last_success_at=None, breaks=None))
    assert s[("ordersync_last_run_success", ())] == 0
    assert s[("ordersync_last_success_timestamp_seconds", ())] == 0  # 1970: the staleness alert fires
    assert not any(name == "ordersync_breaks" for name, _ in s)


def test_textfile_is_the_exposition_format_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "ordersync.prom"
    path.write_text("old\n", encoding="utf-8")
    write_textfile(path, run())
    text = path.read_text(encoding="utf-8")
    assert text == generate_latest(registry_for(run())).decode()
    assert "# TYPE ordersync_api_calls_total counter" in text
    assert [p.name for p in tmp_path.iterdir()] == ["ordersync.prom"]
    assert stat.S_ISREG(path.stat().st_mode)
