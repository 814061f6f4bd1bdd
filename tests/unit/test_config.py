"""sync.config: TOML + ORDERSYNC_<SECTION>__<KEY> overrides, strict validation, clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import DEFAULT_CONFIG_PATH, INTERNAL_FIELDS, ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no config/ordersync.toml exists, so `path=None` means the embedded defaults."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "ordersync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(
    path: Path | None, environ: dict[str, str] | None = None, *, required: bool | None = None
) -> str:
    """The ConfigError message; without a file given, by default the environment's own errors."""
    environ = environ or {}
    if required is None:
        required = path is not None or "ORDERSYNC_CONFIG" in environ
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ=environ, required=required)
    return str(err.value)


# ------------------------------------------------------------------------------------ sources
def test_defaults_without_a_file_only_when_asked_for() -> None:
    settings = load_settings(environ={}, required=False)
    assert settings.source == "<defaults>"
    assert settings.google.merchant_id == "1234567" and settings.google.batch_size == 1000
    assert settings.schedule.interval_minutes == 10
    assert settings.ledger.url == "sqlite:///state/ordersync.db"


def test_the_packaged_example_is_valid_and_documents_every_key() -> None:
    example = REPO / "sync" / "resources" / "ordersync.example.toml"
    settings = load_settings(example, environ={})
    assert settings.source == str(example)
    text = example.read_text(encoding="utf-8")
    for section, model in Settings.model_fields.items():
        if section in INTERNAL_FIELDS:
            continue
        assert f"[{section}]" in text
        for key in model.annotation.model_fields:  # type: ignore[union-attr]
            assert key in text, f"[{section}] {key} is not documented in the example"


def test_config_env_var_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[google]\nmerchant_id = "42"\n')
    assert load_settings(environ={"ORDERSYNC_CONFIG": str(path)}).google.merchant_id == "42"


def test_a_missing_file_is_an_error_naming_the_path_tried(tmp_path: Path) -> None:
    """Issue 12.8: no file found never means "run on the defaults" (only the demo does)."""
    missing = tmp_path / "nope.toml"
    assert f"{missing}: configuration file not found (tried {missing}" in error_of(missing)
    assert "configuration file not found" in error_of(None, {"ORDERSYNC_CONFIG": str(missing)})
    assert not DEFAULT_CONFIG_PATH.exists()
    default = error_of(None, required=True)
    assert f"tried {DEFAULT_CONFIG_PATH.absolute()}, the default" in default
    assert "--config" in default and "ORDERSYNC_CONFIG" in default
    assert load_settings(environ={}, required=False).source == "<defaults>"


def test_unquoted_numeric_merchant_id_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "[google]\nmerchant_id = 7654321\n")
    assert load_settings(path, environ={}).google.merchant_id == "7654321"
    for bad in ("-5", "true", "12.5"):
        message = error_of(write(tmp_path, f"[google]\nmerchant_id = {bad}\n"))
        assert "[google] merchant_id" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[ledger]\nurll = 'x'\n", "[ledger] urll: unknown key; did you mean 'url'?"),
        ("[google]\nmerchantid = '1'\n", "[google] merchantid: unknown key; did you mean 'merchant_id'?"),
        ("[shipment]\nfeeds = []\n", "did you mean 'shipments'?"),
    ],
)
def test_unknown_keys_get_a_did_you_mean(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, text))


def test_placeholder_merchant_id_is_refused_only_on_googles_own_endpoint(tmp_path: Path) -> None:
    from sync.config import refuse_placeholder_merchant

    with pytest.raises(ConfigError, match="the example's placeholder"):
        refuse_placeholder_merchant(load_settings(write(tmp_path, "[google]\nsandbox = true\n"), environ={}))
    production = write(tmp_path, '[google]\nendpoint = "https://shoppingcontent.googleapis.com/"\n')
    with pytest.raises(ConfigError, match="merchant_id is 1234567"):
        refuse_placeholder_merchant(load_settings(production, environ={}))
    emulator = write(tmp_path, '[google]\nendpoint = "http://127.0.0.1:8080/"\n')
    refuse_placeholder_merchant(load_settings(emulator, environ={}))  # the emulator: fine
    mine = write(tmp_path, '[google]\nmerchant_id = "7654321"\n')
    refuse_placeholder_merchant(load_settings(mine, environ={}))  # a real id: fine


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'[google]\nmerchant_id = "caf\xe9"\n', "not UTF-8 text"),
        (b"[google\n", "not valid TOML"),
        (b"merchant_id = = 1\n", "not valid TOML"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    assert error_of(path).startswith(f"{path}: {expected}")


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf.toml"
    folder.mkdir()
    assert error_of(folder) == f"{folder}: is a directory, expected a TOML file"


# ------------------------------------------------------------------------------ env overrides
def test_env_overrides_win_over_the_file_key_by_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[google]\nmerchant_id = "111"\nbatch_size = 10\n[square]\nenabled = false\n')
    settings = load_settings(
        path,
        environ={
            "ORDERSYNC_GOOGLE__BATCH_SIZE": "20",
            "ORDERSYNC_SQUARE__ENABLED": "true",
            "ORDERSYNC_SHIPMENTS__FEEDS": '["a/*.csv", "b.csv"]',
            "ORDERSYNC_SCHEDULE__INTERVAL_MINUTES": "0.5",
            "ORDERSYNC_SHIPMENTS__CARRIER_ALIASES": '{ "Parcel Force" = "other" }',
        },
    )
    assert settings.google.merchant_id == "111"  # untouched by the override of another key
    assert settings.google.batch_size == 20
    assert settings.square.enabled is True
    assert settings.shipments.feeds == ["a/*.csv", "b.csv"]
    assert settings.schedule.interval_minutes == 0.5
    assert settings.shipments.carrier_aliases == {"Parcel Force": "other"}


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        (
            "ORDERSYNC_GOOGLE__MERCHANT_ID",
            "7654321",
            lambda s: s.google.merchant_id,
        ),  # the example's own advice
        ("ORDERSYNC_SQUARE__LOCATION_ID", "12345", lambda s: s.square.location_id),
        ("ORDERSYNC_REPORTS__DIR", "2026", lambda s: s.reports.dir),
        ("ORDERSYNC_GOOGLE__ENDPOINT", "http://127.0.0.1:8080/", lambda s: s.google.endpoint),
        ("ORDERSYNC_LEDGER__URL", "sqlite:///state/x.db", lambda s: s.ledger.url),
        (
            "ORDERSYNC_GOOGLE__MERCHANT_ORDER_ID_TEMPLATE",
            "SHOP-{google_order_id}",
            lambda s: s.google.merchant_order_id_template,
        ),
    ],
)
def test_string_settings_take_the_env_value_as_written(variable: str, value: str, read: object) -> None:
    settings = load_settings(None, environ={variable: value}, required=False)
    assert read(settings) == value  # type: ignore[operator]


def test_env_names_are_case_insensitive_after_the_prefix_and_need_a_double_underscore() -> None:
    settings = load_settings(
        None, environ={"ORDERSYNC_google__batch_SIZE": "5", "ORDERSYNC_CONFIGX": "ignored"}, required=False
    )
    assert settings.google.batch_size == 5


# --------------------------------------------------------------------------- errors name keys
def test_wrong_type_in_file_names_section_key_value_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[google]\nbatch_size = "many"\n')
    message = error_of(path)
    assert f"{path}: [google] batch_size: " in message and "'many'" in message


def test_wrong_type_from_env_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "[google]\n")
    message = error_of(path, {"ORDERSYNC_GOOGLE__SANDBOX": "maybe"})
    assert "environment variable ORDERSYNC_GOOGLE__SANDBOX: [google] sandbox: " in message
    assert str(path) not in message.split("\n", 1)[1]  # the file is not blamed for the env's value


def test_strict_types_no_silent_coercion(tmp_path: Path) -> None:
    assert "[google] sandbox" in error_of(write(tmp_path, '[google]\nsandbox = "true"\n'))
    # (an unquoted numeric merchant_id is accepted on purpose: test_unquoted_numeric_merchant_id_…)
    assert "[square] enabled" in error_of(write(tmp_path, "[square]\nenabled = 1\n"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[google]\nbatch_size = 1001\n", "[google] batch_size: Input should be less than or equal to 1000"),
        ("[google]\nbatch_size = 0\n", "[google] batch_size: Input should be greater than or equal to 1"),
        ('[google]\nmerchant_id = "12ab"\n', "[google] merchant_id: String should match pattern"),
        (
            '[square]\nfulfillment_type = "DRONE"\n',
            "[square] fulfillment_type: Input should be 'SHIPMENT' or 'PICKUP'",
        ),
        ("[schedule]\ninterval_minutes = 0\n", "[schedule] interval_minutes: Input should be greater than 0"),
        (
            "[ledger]\nlock_ttl_seconds = 1\n",
            "[ledger] lock_ttl_seconds: Input should be greater than or equal to 10",
        ),
    ],
)
def test_ranges_and_enums(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, text))


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[google]\nmerchant_id = "1"\nbatchsize = 5\n')
    assert error_of(path) == (
        f"invalid configuration:\n  {path}: [google] batchsize: unknown key; did you mean 'batch_size'?"
    )


def test_unknown_key_from_env() -> None:
    message = error_of(None, {"ORDERSYNC_GOOGLE__X": "1"})
    assert (
        message
        == "invalid configuration:\n  environment variable ORDERSYNC_GOOGLE__X: [google] x: unknown key"
    )


def test_unknown_section_in_file_and_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[gogle]\nmerchant_id = '1'\n")
    assert f"{path}: [gogle]: unknown section (known sections: google, square" in error_of(path)
    message = error_of(None, {"ORDERSYNC_SQAURE__ENABLED": "true"})
    assert "environment variable ORDERSYNC_SQAURE__ENABLED: [sqaure]: unknown section" in message


def test_section_of_the_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "google = 3\n")
    assert f"{path}: [google]: Input should be a valid dictionary" in error_of(path)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[google]\nbatch_size = "x"\nfoo = 1\n')
    lines = error_of(path, {"ORDERSYNC_REPORTS__INCLUDE_PII": "sure"}).splitlines()
    assert lines[0] == "invalid configuration:"
    assert len(lines) == 4
    assert any("[google] foo: unknown key" in line for line in lines)
    assert any("ORDERSYNC_REPORTS__INCLUDE_PII" in line for line in lines)


# ----------------------------------------------------------------------- template validation
@pytest.mark.parametrize(
    "template", ["OS-{google_order_id}", "{google_order_id}", "shop/{google_order_id}/x"]
)
def test_merchant_order_id_template_accepted(tmp_path: Path, template: str) -> None:
    path = write(tmp_path, f'[google]\nmerchant_order_id_template = "{template}"\n')
    assert load_settings(path, environ={}).google.merchant_order_id_template == template


@pytest.mark.parametrize("template", ["OS-FIXED", "OS-{order_id}", ""])
def test_merchant_order_id_template_must_contain_the_order_id(tmp_path: Path, template: str) -> None:
    path = write(tmp_path, f'[google]\nmerchant_order_id_template = "{template}"\n')
    message = error_of(path)
    assert "[google] merchant_order_id_template" in message and "{google_order_id}" in message


def test_template_error_from_env_names_the_variable() -> None:
    message = error_of(None, {"ORDERSYNC_GOOGLE__MERCHANT_ORDER_ID_TEMPLATE": "STATIC"})
    assert "environment variable ORDERSYNC_GOOGLE__MERCHANT_ORDER_ID_TEMPLATE" in message


def test_settings_are_frozen() -> None:
    settings = load_settings(None, environ={}, required=False)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        settings.google.batch_size = 3  # type: ignore[misc]
