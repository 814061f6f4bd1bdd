"""[ucp] and [order_tracking] settings: defaults, validation with the key named, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_defaults_are_off_and_point_at_google() -> None:
    settings = load_settings(required=False, environ={})
    assert not settings.ucp.enabled and not settings.order_tracking.enabled
    assert settings.ucp.webhook_url.startswith("https://shoppingdataintegration.googleapis.com/v1/webhooks/")
    assert settings.ucp.checkout_id_metadata_key == "ucp_checkout_id"
    assert settings.ucp.timestamp_format == "rfc3339"
    assert settings.order_tracking.endpoint == ""


def test_enabling_ucp_without_a_partner_id_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="PARTNER_ID placeholder"):
        load_settings(required=False, environ={"ORDERSYNC_UCP__ENABLED": "true"})
    ok = load_settings(
        required=False,
        environ={
            "ORDERSYNC_UCP__ENABLED": "true",
            "ORDERSYNC_UCP__WEBHOOK_URL": "https://shoppingdataintegration.googleapis.com/v1/webhooks/partners/42/events/order",
        }
    )
    assert ok.ucp.enabled


def test_bad_values_are_errors_that_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[ucp]\npermalink_template = "https://shop/orders"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[ucp\] permalink_template"):
        load_settings(path, environ={})
    path.write_text('[ucp]\ntimestamp_format = "iso"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[ucp\] timestamp_format"):
        load_settings(path, environ={})
    path.write_text('[ucp]\npublished_keys = [{key_id = "k2"}]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="key_file"):
        load_settings(path, environ={})


def test_order_tracking_needs_an_account_and_an_origin_when_enabled(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="account_id"):
        load_settings(required=False, environ={"ORDERSYNC_ORDER_TRACKING__ENABLED": "true"})
    with pytest.raises(ConfigError, match="origin_postal_code"):
        load_settings(
            required=False,
            environ={
                "ORDERSYNC_ORDER_TRACKING__ENABLED": "true",
                "ORDERSYNC_ORDER_TRACKING__ACCOUNT_ID": "7000001",
            }
        )
    settings = load_settings(
        required=False,
        environ={
            "ORDERSYNC_ORDER_TRACKING__ENABLED": "true",
            "ORDERSYNC_ORDER_TRACKING__ACCOUNT_ID": "7000001",  # stays text, not a TOML number
            "ORDERSYNC_ORDER_TRACKING__ORIGIN_POSTAL_CODE": "94043",
            "ORDERSYNC_ORDER_TRACKING__ORIGIN_REGION_CODE": "US",
        }
    )
    assert settings.order_tracking.account_id == "7000001"
