"""`ordersync testorders` against a fake gateway: output, usage errors (2), API errors (1)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from sync.adapters.google_gateway import GoogleApiError, GoogleCredentialsError
from sync.config import GoogleSettings, Settings
from sync.entrypoints import cli_testorders


class FakeGateway:
    instances: list[FakeGateway] = []
    orders: dict[str, dict[str, Any]] = {}
    fail: dict[str, GoogleApiError] = {}

    def __init__(self, settings: GoogleSettings, credentials: Any = None) -> None:
        self.settings = settings
        self.merchant_id = settings.merchant_id
        self.base_url = "http://127.0.0.1:9/content/v2sandbox/"
        self.log: list[tuple[Any, ...]] = []
        self.created = 0
        FakeGateway.instances.append(self)

    def __enter__(self) -> FakeGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _maybe_fail(self, key: str) -> None:
        if key in self.fail:
            raise self.fail[key]

    def create_test_order(
        self, template: str = "template1", *, test_order: Any = None, country: str = "US"
    ) -> str:
        self.created += 1
        self._maybe_fail(f"create{self.created}")
        self.log.append(("create", template, country))
        return f"TEST-{self.created}"

    def iter_orders(self, **kwargs: Any) -> Any:
        self.log.append(("list", kwargs))
        return iter(self.orders.values())

    def advance_test_order(self, order_id: str) -> None:
        self._maybe_fail(f"advance:{order_id}")
        self.log.append(("advance", order_id))

    def cancel_test_order_by_customer(self, order_id: str, reason: str = "changedMind") -> None:
        self._maybe_fail(f"cancel:{order_id}")
        self.log.append(("cancel", order_id, reason))

    def get_order(self, order_id: str) -> dict[str, Any]:
        self._maybe_fail(f"get:{order_id}")
        return self.orders[order_id]

    def create_test_return(self, order_id: str, items: list[dict[str, Any]]) -> str:
        self._maybe_fail(f"return:{order_id}")
        self.log.append(("return", order_id, items))
        return "R-1"


@pytest.fixture(autouse=True)
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeGateway]:
    FakeGateway.instances = []
    FakeGateway.orders = {}
    FakeGateway.fail = {}
    monkeypatch.setattr(cli_testorders, "GoogleGateway", FakeGateway)
    return FakeGateway


def run(*args: str, sandbox: bool = True) -> Any:
    # Not the example's placeholder id: against Google's own endpoint that is refused (exit 2).
    obj = SimpleNamespace(settings=Settings(google=GoogleSettings(sandbox=sandbox, merchant_id="7000001")))
    return CliRunner().invoke(cli_testorders.testorders, list(args), obj=obj)


def calls() -> list[tuple[Any, ...]]:
    return [c for g in FakeGateway.instances for c in g.log]


def test_create_prints_one_id_per_line() -> None:
    result = run("create", "--count", "3", "--template", "TEMPLATE2", "--country", "fr")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["TEST-1", "TEST-2", "TEST-3"]
    assert calls() == [("create", "template2", "FR")] * 3


def test_refuses_outside_the_sandbox() -> None:
    result = run("create", sandbox=False)
    assert result.exit_code == 2
    assert "v2sandbox" in result.stderr and "sandbox" in result.stderr
    assert FakeGateway.instances == []


def test_create_failure_keeps_earlier_ids_and_names_reason() -> None:
    FakeGateway.fail["create2"] = GoogleApiError(400, "invalid", "bad template", False, "m")
    result = run("create", "--count", "3")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["TEST-1"]
    assert "invalid" in result.stderr and "2 of 3" in result.stderr


def test_google_still_throttling_after_the_retries_is_exit_69_naming_the_host() -> None:
    FakeGateway.fail["create2"] = GoogleApiError(429, "rateLimitExceeded", "slow down", True, "m")
    result = run("create", "--count", "3")
    assert result.exit_code == 69
    assert result.stdout.splitlines() == ["TEST-1"]
    assert "Google Content API unavailable at 127.0.0.1:9" in result.stderr
    assert "rateLimitExceeded" in result.stderr and "2 of 3" in result.stderr


def test_advance_one_and_usage_errors() -> None:
    assert run("advance", "TEST-9").stdout == "TEST-9\n"
    assert run("advance").exit_code == 2
    both = run("advance", "TEST-9", "--all")
    assert both.exit_code == 2 and "exactly one" in both.stderr


def test_advance_api_error_names_order_and_reason() -> None:
    FakeGateway.fail["advance:TEST-9"] = GoogleApiError(404, "notFound", "Order not found", False, "m")
    result = run("advance", "TEST-9")
    assert result.exit_code == 1
    assert "TEST-9" in result.stderr and "notFound" in result.stderr and "Order not found" in result.stderr


def test_advance_all_only_in_progress_and_reports_failures() -> None:
    FakeGateway.orders = {
        "A": {"id": "A", "status": "inProgress"},
        "B": {"id": "B", "status": "pendingShipment"},
        "C": {"id": "C", "status": "inProgress"},
    }
    FakeGateway.fail["advance:C"] = GoogleApiError(400, "invalid", "cannot advance", False, "m")
    result = run("advance", "--all")
    assert result.exit_code == 1
    assert result.stdout == "A\n"
    assert "order C" in result.stderr and "invalid" in result.stderr and "1 of 2" in result.stderr
    listed = [c for c in calls() if c[0] == "list"]
    assert listed == [("list", {"statuses": ["IN_PROGRESS"]})]


def test_cancel_with_reason() -> None:
    result = run("cancel", "TEST-1", "--reason", "orderedWrongItem")
    assert result.exit_code == 0 and result.stdout == "TEST-1\n"
    assert calls() == [("cancel", "TEST-1", "orderedWrongItem")]
    assert run("cancel", "TEST-1", "--reason", "bored").exit_code == 2


def test_return_defaults_to_every_shipped_item() -> None:
    FakeGateway.orders = {
        "T": {
            "id": "T",
            "lineItems": [
                {"id": "L1", "quantityShipped": 2, "quantityReturned": 1},
                {"id": "L2", "quantityShipped": 0},
                {"id": "L3", "quantityShipped": 3},
            ],
        }
    }
    result = run("return", "T")
    assert result.exit_code == 0, result.output
    assert result.stdout == "R-1\n"
    assert calls() == [
        ("return", "T", [{"lineItemId": "L1", "quantity": 1}, {"lineItemId": "L3", "quantity": 3}])
    ]


def test_return_one_line_item() -> None:
    FakeGateway.orders = {"T": {"id": "T", "lineItems": [{"id": "L1", "quantityShipped": 2}, {"id": "L3"}]}}
    assert run("return", "T", "--line-item", "L1", "--quantity", "1").exit_code == 0
    assert run("return", "T", "--line-item", "L1").exit_code == 0
    assert [c[2] for c in calls()] == [
        [{"lineItemId": "L1", "quantity": 1}],
        [{"lineItemId": "L1", "quantity": 2}],
    ]
    nothing = run("return", "T", "--line-item", "L3")
    assert nothing.exit_code == 1 and "nothing shipped" in nothing.stderr
    assert run("return", "T", "--quantity", "1").exit_code == 2


def test_missing_credentials_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_creds(settings: GoogleSettings, credentials: Any = None) -> Any:
        raise GoogleCredentialsError("no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS")

    monkeypatch.setattr(cli_testorders, "GoogleGateway", no_creds)
    result = run("create")
    assert result.exit_code == 2 and "GOOGLE_APPLICATION_CREDENTIALS" in result.stderr


def test_settings_loaded_when_no_context_object(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    config = tmp_path / "ordersync.toml"
    config.write_text('[google]\nmerchant_id = "7000001"\n', encoding="utf-8")
    monkeypatch.setenv("ORDERSYNC_GOOGLE__SANDBOX", "false")
    monkeypatch.setenv("ORDERSYNC_CONFIG", str(config))
    result = CliRunner().invoke(cli_testorders.testorders, ["create"])
    assert result.exit_code == 2 and "ORDERSYNC_GOOGLE__SANDBOX" in result.stderr


def test_no_configuration_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERSYNC_CONFIG", raising=False)
    monkeypatch.chdir("/")  # no config/ordersync.toml here
    result = CliRunner().invoke(cli_testorders.testorders, ["create"])
    assert result.exit_code == 2
    assert "configuration file not found (tried /config/ordersync.toml" in result.stderr


def test_placeholder_merchant_id_on_googles_endpoint_is_refused_before_any_call() -> None:
    obj = SimpleNamespace(settings=Settings(google=GoogleSettings(sandbox=True)))  # 1234567, no endpoint
    result = CliRunner().invoke(cli_testorders.testorders, ["create"], obj=obj)
    assert result.exit_code == 2 and "the example's placeholder" in result.stderr
    assert FakeGateway.instances == []
