"""[[accounts]]: each entry's effective settings (top-level defaults, its own tables over them key by
key, its own folders), and the strict checks of a fleet (names, merchant ids, ledgers, secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import DEFAULT_ACCOUNT, ConfigError, load_settings

FLEET = """
[google]
endpoint = "http://127.0.0.1:8080/"
max_attempts = 3
[square]
enabled = true
location_id = "MAIN"
[shipments]
feeds = ["feeds/*.csv"]
rejects_dir = "reports/rejects"
[reports]
dir = "out"
fail_on_breaks = "critical"
[metrics]
textfile = "/var/lib/node_exporter/ordersync.prom"

[[accounts]]
name = "shop01"
[accounts.google]
merchant_id = "7000001"
[accounts.ledger]
url = "sqlite:///state/shop01.db"

[[accounts]]
name = "shop.de"
[accounts.google]
merchant_id = 7000002
max_attempts = 7
[accounts.square]
location_id = "BERLIN"
access_token_env = "SHOP_DE_SQUARE_TOKEN"
[accounts.shipments]
feeds = ["feeds/de/*.csv"]
[accounts.reports]
dir = "de-reports"
fail_on_breaks = "high"
[accounts.ledger]
url = "postgresql+psycopg://ordersync@db/ordersync?options=-csearch_path%3Dshop_de"
"""


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "ordersync.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, environ=environ or {})


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, environ)
    return str(caught.value)


def test_a_configuration_without_accounts_is_the_one_default_account(tmp_path: Path) -> None:
    settings = load(tmp_path, '[google]\nmerchant_id = "7000001"\n')
    assert settings.accounts == ()
    assert settings.fleet == (settings,)
    assert settings.account == DEFAULT_ACCOUNT and not settings.in_fleet
    assert settings.reports.dir == "reports" and settings.shipments.rejects_dir == "reports/rejects"


def test_each_account_is_the_defaults_with_its_own_tables_laid_over_them(tmp_path: Path) -> None:
    settings = load(tmp_path, FLEET)
    shop01, shop_de = settings.fleet
    assert [a.account for a in settings.fleet] == ["shop01", "shop.de"] and shop01.in_fleet
    # Inherited from the top level...
    assert shop01.google.endpoint == "http://127.0.0.1:8080/" and shop01.google.max_attempts == 3
    assert shop01.square.location_id == "MAIN" and shop01.square.access_token_env == "SQUARE_ACCESS_TOKEN"
    assert shop01.shipments.feeds == ["feeds/*.csv"] and shop01.reports.fail_on_breaks == "critical"
    # ... or the account's own, key by key.
    assert shop01.google.merchant_id == "7000001" and shop_de.google.merchant_id == "7000002"
    assert shop_de.google.max_attempts == 7 and shop_de.google.endpoint == "http://127.0.0.1:8080/"
    assert shop_de.square.location_id == "BERLIN" and shop_de.square.enabled
    assert shop_de.square.access_token_env == "SHOP_DE_SQUARE_TOKEN"
    assert shop_de.shipments.feeds == ["feeds/de/*.csv"] and shop_de.reports.fail_on_breaks == "high"
    assert shop01.ledger.url == "sqlite:///state/shop01.db" and "search_path%3Dshop_de" in shop_de.ledger.url
    # Per-account folders and metrics file, unless the entry names its own.
    assert shop01.reports.dir == "out/shop01" and shop_de.reports.dir == "de-reports"
    assert shop01.shipments.rejects_dir == "reports/rejects/shop01"
    assert shop01.metrics.textfile == "/var/lib/node_exporter/ordersync.shop01.prom"
    assert shop_de.metrics.textfile == "/var/lib/node_exporter/ordersync.shop.de.prom"
    # The top level stays the defaults, and each account is a plain one-account Settings.
    assert settings.reports.dir == "out" and shop01.accounts == () and shop01.fleet == (shop01,)


def test_environment_overrides_change_the_defaults_not_an_accounts_own_keys(tmp_path: Path) -> None:
    settings = load(tmp_path, FLEET, {"ORDERSYNC_GOOGLE__MAX_ATTEMPTS": "9"})
    shop01, shop_de = settings.fleet
    assert shop01.google.max_attempts == 9 and shop_de.google.max_attempts == 7
    text = problems(tmp_path, FLEET, {"ORDERSYNC_ACCOUNTS__NAME": "x"})
    assert "ORDERSYNC_ACCOUNTS__NAME" in text and "file only" in text


def test_an_unknown_key_in_an_account_names_the_account_and_the_table(tmp_path: Path) -> None:
    text = problems(tmp_path, FLEET.replace("max_attempts = 7", "max_atempts = 7"))
    expected = "'shop.de': [accounts.google] max_atempts: unknown key; did you mean 'max_attempts'?"
    assert expected in text
    text = problems(tmp_path, FLEET.replace('name = "shop01"', 'name = "shop01"\nschedul = 1'))
    assert "[[accounts]] 'shop01': unknown key 'schedul'" in text


def test_wrong_values_in_an_account_are_named_with_the_account(tmp_path: Path) -> None:
    text = problems(tmp_path, FLEET.replace('location_id = "BERLIN"', 'fulfillment_type = "DRONE"'))
    assert "[[accounts]] 'shop.de': [accounts.square] fulfillment_type" in text
    # An environment variable's name, not a token: the file never holds the secret itself.
    spaced = FLEET.replace("SHOP_DE_SQUARE", "SHOP DE")
    assert "[accounts.square] access_token_env" in problems(tmp_path, spaced)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('name = "shop.de"', 'name = "shop01"'), "name 'shop01' is used twice"),
        (("merchant_id = 7000002", 'merchant_id = "7000001"'), "have the same [accounts.google] merchant_id"),
        (('name = "shop.de"', 'name = "../etc"'), "name must be 1-48 letters"),
        (('name = "shop.de"', 'name = "default"'), "'default' names the one account"),
        (("merchant_id = 7000002\n", ""), "[accounts.google] merchant_id is required"),
        (("[accounts.reports]\n", "[accounts.schedule]\ninterval_minutes = 1\n[accounts.reports]\n"),
         "[accounts.schedule] cannot differ per account"),
    ],
)  # fmt: skip
def test_fleet_checks(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in FLEET
    assert expected in problems(tmp_path, FLEET.replace(*change, 1))


def test_accounts_may_share_one_ledger_whose_rows_are_per_account(tmp_path: Path) -> None:
    # The same SQLite file under two spellings, and the top-level ledger that neither overrides.
    shared = FLEET.replace("postgresql+psycopg://ordersync@db/ordersync?options=-csearch_path%3Dshop_de",
                           "sqlite:///state/../state/shop01.db")  # fmt: skip
    fleet = load(tmp_path, shared).fleet
    assert [a.account for a in fleet] == ["shop01", "shop.de"]
    neither = "\n".join(line for line in FLEET.splitlines() if "[accounts.ledger]" not in line
                        and not line.startswith("url = "))  # fmt: skip
    urls = {a.account: a.ledger.url for a in load(tmp_path, neither).fleet}
    assert urls == {"shop01": "sqlite:///state/ordersync.db", "shop.de": "sqlite:///state/ordersync.db"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[square]\naccess_token = "EAAAl-secret"\n', "[square] access_token: secrets never live in the"),
        ('[ucp]\napi_key = "AIza"\n', "UCP_API_KEY"),
        (FLEET.replace('access_token_env = "SHOP_DE_SQUARE_TOKEN"', 'access_token = "EAAA"'),
         "[accounts.square] access_token: secrets never live"),
        (FLEET.replace("ordersync@db", "ordersync:hunter2@db"), "holds a password"),
        ('[queue]\nurl = "postgresql+psycopg://u:pw@db/q"\n', "[queue] url: holds a password"),
    ],
)  # fmt: skip
def test_a_secret_in_the_file_is_refused_saying_where(tmp_path: Path, text: str, expected: str) -> None:
    message = problems(tmp_path, text)
    assert expected in message
    assert "hunter2" not in message and "EAAA" not in message and "AIza" not in message
    assert "unknown key" not in message  # said once, as a secret


def test_internal_fields_are_not_settable_from_the_file(tmp_path: Path) -> None:
    assert "[account]: unknown section" in problems(tmp_path, '[account]\nname = "x"\n')


def test_queue_mode_needs_postgresql(tmp_path: Path) -> None:
    assert "[queue] enabled needs PostgreSQL" in problems(tmp_path, "[queue]\nenabled = true\n")
    settings = load(tmp_path, '[queue]\nenabled = true\n[ledger]\nurl = "postgresql+psycopg://o@db/o"\n')
    assert settings.queue.enabled and settings.queue.name == "ordersync"
    queue_own = load(tmp_path, '[queue]\nenabled = true\nurl = "postgresql+psycopg://o@db/q"\n')
    assert queue_own.queue.url.endswith("/q")
    too_soon = "[queue]\nheartbeat_seconds = 10\nstalled_seconds = 15\n"
    assert "twice heartbeat_seconds" in problems(tmp_path, too_soon)
