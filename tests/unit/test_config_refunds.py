"""[refunds]: the refund rules' settings, validated against Google's reason enums."""

from __future__ import annotations

from pathlib import Path

from sync.config import load_settings
from sync.domain.refunds.rules import RefundRules
from tests.unit.test_config import error_of, write


def test_defaults_are_the_rules_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.refunds.rules() == RefundRules()


def test_a_file_and_the_environment_set_the_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[refunds]\nshipping_words = ["versand", "porto"]\ndefault_refund_reason = "adjustment"\n'
        '[refunds.return_reasons]\n"kaputt" = "productArrivedDamaged"\n"falsch" = "wrongProductShipped"\n',
    )
    environ = {"ORDERSYNC_REFUNDS__SPLIT_CUSTOM_AMOUNT_TAX": "false"}
    rules = load_settings(path, environ=environ).refunds.rules()
    assert rules.return_reasons == (("kaputt", "productArrivedDamaged"), ("falsch", "wrongProductShipped"))
    assert rules.return_reason("Ware kaputt") == "productArrivedDamaged"
    assert rules.refund_reason("Kulanz", shipping=False) == "adjustment"
    assert rules.is_shipping("Porto") and not rules.split_custom_amount_tax


def test_a_reason_google_does_not_have_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, '[refunds.refund_reasons]\n"price" = "priceMatch"\n')
    message = error_of(path)
    assert "[refunds]" in message and "'priceMatch' is not a Google reason" in message
    assert "priceError" in message  # the allowed values are listed
    assert "shipping_words" in error_of(write(tmp_path, '[refunds]\nshipping_words = [""]\n'))
