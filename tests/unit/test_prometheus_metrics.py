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


A = ("account", "default")  # every series names its account; a configuration without [[accounts]]: default


def test_every_series_of_a_successful_run() -> None:
    s = series(run())
    assert s == {
        ("ordersync_last_run_timestamp_seconds", (A,)): (T0 + timedelta(seconds=42.5)).timestamp(),
        ("ordersync_last_success_timestamp_seconds", (A,)): (T0 + timedelta(seconds=42.5)).timestamp(),
        ("ordersync_run_duration_seconds", (A,)): 42.5,
        ("ordersync_last_run_success", (A,)): 1.0,
        ("ordersync_orders", (A, ("stage", "acknowledged"),)): 3.0,
        ("ordersync_orders", (A, ("stage", "delivered"),)): 7.0,
        ("ordersync_breaks", (A, ("category", "amount_mismatch"), ("severity", "high"))): 1.0,
        ("ordersync_breaks", (A, ("category", "missing_in_oms"), ("severity", "critical"))): 2.0,
        ("ordersync_api_calls_total", (A, ("api", "google"), ("method", "content.orders.list"))): 9.0,
        ("ordersync_api_calls_total", (A, ("api", "square"), ("method", "orders.create"))): 4.0,
        ("ordersync_operations_failed", (A,)): 1.0,
        ("ordersync_operations_pending", (A,)): 2.0,
        ("ordersync_feed_rows_rejected", (A,)): 5.0,
    }


def test_a_failed_run_before_any_success_and_without_a_report() -> None:
    s = series(run(succeeded=False, last_success_at=None, breaks=None))
    assert s[("ordersync_last_run_success", (A,))] == 0
    assert s[("ordersync_last_success_timestamp_seconds", (A,))] == 0  # 1970: the staleness alert fires
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


def test_an_accounts_series_carry_its_name() -> None:
    s = series(run(account="shop01"))
    assert s[("ordersync_last_run_success", (("account", "shop01"),))] == 1.0
    assert s[("ordersync_orders", (("account", "shop01"), ("stage", "delivered")))] == 7.0
    assert all(dict(labels).get("account") == "shop01" for _name, labels in s)


def test_a_fleet_pushes_one_group_per_account(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sync.adapters import prometheus_metrics

    pushed: list[dict[str, object]] = []
    monkeypatch.setattr(prometheus_metrics, "push_to_gateway", lambda url, **kw: pushed.append(kw))
    prometheus_metrics.push("http://127.0.0.1:9", run(account="shop01"), per_account=True)
    prometheus_metrics.push("http://127.0.0.1:9", run())
    assert pushed[0]["grouping_key"] == {"account": "shop01"} and pushed[0]["job"] == "ordersync"
    assert pushed[1]["grouping_key"] is None  # the group a one-account configuration always had
