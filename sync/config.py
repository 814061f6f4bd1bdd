"""Configuration: a TOML file, overridden key by key from the environment, validated strictly.

Secrets never live here: Google credentials come from GOOGLE_APPLICATION_CREDENTIALS (or ADC) and
the Square token from SQUARE_ACCESS_TOKEN. Any key can be overridden with
``ORDERSYNC_<SECTION>__<KEY>`` (values are read as TOML values, falling back to plain strings).
Unknown keys and wrong types are errors that name the key and where it came from (with a "did
you mean" for a near miss). A missing configuration file is an error naming the path tried: only
``ordersync demo`` runs on embedded defaults, and it builds its settings itself.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_CONFIG_PATH = Path("config/ordersync.toml")
CONFIG_ENV = "ORDERSYNC_CONFIG"
ENV_PREFIX = "ORDERSYNC_"
# The example's merchant id (config/ordersync.example.toml): never a real account to call.
PLACEHOLDER_MERCHANT_ID = "1234567"
GOOGLE_HOST_SUFFIX = ".googleapis.com"

# The Content API caps custombatch at 1,000 entries per request (our emulator enforces the same).
GOOGLE_BATCH_LIMIT = 1000

NumericId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]


class ConfigError(Exception):
    """Bad configuration: the message says what is wrong and where."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class GoogleSettings(_Section):
    merchant_id: NumericId = PLACEHOLDER_MERCHANT_ID
    sandbox: bool = True
    endpoint: str | None = None
    batch_size: int = Field(default=GOOGLE_BATCH_LIMIT, ge=1, le=GOOGLE_BATCH_LIMIT)
    page_size: int = Field(default=250, ge=1, le=250)
    concurrency: int = Field(default=4, ge=1, le=32)
    timeout_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_backoff_seconds: float = Field(default=30.0, gt=0)
    merchant_order_id_template: str = "OS-{google_order_id}"
    # How often open orders are read back from Google to find line items canceled there (whole
    # cancellations are seen every cycle). 0 = every cycle; each check costs one call per 1,000.
    recheck_open_orders_minutes: float = Field(default=60, ge=0)

    @field_validator("merchant_id", mode="before")
    @classmethod
    def _merchant_id_as_text(cls, value: Any) -> Any:
        # `merchant_id = 1234567` (unquoted) is what people write; the id is digits either way.
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        return value

    @property
    def calls_google(self) -> bool:
        """True when the endpoint is Google's own (none set, or a googleapis.com host)."""
        host = urlsplit(self.endpoint).hostname if self.endpoint else None
        return host is None or host == GOOGLE_HOST_SUFFIX[1:] or host.endswith(GOOGLE_HOST_SUFFIX)

    @field_validator("merchant_order_id_template")
    @classmethod
    def _template_has_order_id(cls, value: str) -> str:
        # Without the Google order id in it the template could not be unique in the account.
        if "{google_order_id}" not in value:
            raise ValueError("must contain {google_order_id} so every merchantOrderId is unique")
        return value


class SquareSettings(_Section):
    enabled: bool = False
    endpoint: str | None = None
    location_id: str = ""
    fulfillment_type: Literal["SHIPMENT", "PICKUP"] = "SHIPMENT"
    mark_paid: bool = True
    concurrency: int = Field(default=8, ge=1, le=64)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    sku_map: dict[str, str] = Field(default_factory=dict)
    # offerIds sku_map does not map are looked up as ITEM_VARIATION SKUs (SearchCatalogObjects).
    sku_lookup: bool = True


class ShipmentsSettings(_Section):
    feeds: list[str] = Field(default_factory=list)
    rejects_dir: str = "reports/rejects"
    carrier_aliases: dict[str, str] = Field(default_factory=dict)


class LedgerSettings(_Section):
    url: str = "sqlite:///state/ordersync.db"
    lock_ttl_seconds: int = Field(default=3600, ge=10)


class ScheduleSettings(_Section):
    interval_minutes: float = Field(default=10, gt=0)


class ReportsSettings(_Section):
    dir: str = "reports"
    unacknowledged_sla_hours: float = Field(default=24, gt=0)
    ship_sla_hours: float = Field(default=72, gt=0)
    delivery_sla_hours: float = Field(default=240, gt=0)
    # A customer's return (units returned on Google) not refunded this long after it: a break.
    return_sla_hours: float = Field(default=336, gt=0)
    include_pii: bool = False
    # A UTF-8 BOM on every CSV so Excel reads non-ASCII text right. Unset: on with include_pii
    # (names and addresses are where such text comes from); ordersync's own text is plain ASCII.
    excel_bom: bool | None = None
    # Run folders older than this are deleted after each report (0: keep every one). Only
    # folders ordersync wrote are touched: never reports/rejects/ or anything else.
    keep_days: float = Field(default=30, ge=0)
    # Exit 3 when the report has a break at or above this severity ("" = never).
    fail_on_breaks: Literal["", "critical", "high", "medium", "low"] = ""


GOOGLE_UCP_WEBHOOK_URL = (
    "https://shoppingdataintegration.googleapis.com/v1/webhooks/partners/PARTNER_ID/events/order"
)


class PublishedKey(_Section):
    """A further key listed in the profile's ``signing_keys`` (key rotation: the next or previous key)."""

    key_id: str = Field(min_length=1)
    key_file: str = Field(min_length=1)  # PEM, private or public P-256 key


class UcpSettings(_Section):
    """UCP order lifecycle webhooks to Google (the API key comes from env UCP_API_KEY)."""

    enabled: bool = False
    webhook_url: str = GOOGLE_UCP_WEBHOOK_URL
    signing_key_file: str = "state/ucp-signing.pem"
    key_id: str = Field(default="shop-2026-12", min_length=1)
    published_keys: list[PublishedKey] = Field(default_factory=list)
    profile_url: str = "https://shop.example.com/.well-known/ucp"
    service_endpoint: str = ""  # the UCP REST endpoint the profile names; "" = <profile origin>/ucp/v1
    permalink_template: str = "https://shop.example.com/orders/{order_id}"
    checkout_id_metadata_key: str = Field(default="ucp_checkout_id", min_length=1)
    # UCP's OpenAPI says unix seconds, Google's 2026-04-08 example shows RFC 3339 (unverified).
    timestamp_format: Literal["rfc3339", "unix"] = "rfc3339"
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=20)
    max_backoff_seconds: float = Field(default=30.0, gt=0)

    @field_validator("permalink_template")
    @classmethod
    def _permalink_has_order_id(cls, value: str) -> str:
        if "{order_id}" not in value:
            raise ValueError("must contain {order_id}")
        return value

    @field_validator("webhook_url", "profile_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _ready_when_enabled(self) -> UcpSettings:
        if self.enabled and "PARTNER_ID" in self.webhook_url:
            raise ValueError("webhook_url still holds the PARTNER_ID placeholder: put the id Google issued")
        return self


class OrderTrackingSettings(_Section):
    """Merchant API order tracking signals for the web shop's own orders."""

    enabled: bool = False
    account_id: str = ""  # Merchant Center account id (digits)
    endpoint: str = ""  # empty: Google's Merchant API (merchantapi.googleapis.com)
    origin_postal_code: str = ""  # where parcels ship from (required by the API)
    origin_region_code: str = ""  # CLDR region code of the origin, e.g. "US"
    product_id_template: str = "online~en~US~{offer_id}"
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_backoff_seconds: float = Field(default=30.0, gt=0)

    @field_validator("product_id_template")
    @classmethod
    def _template_has_offer_id(cls, value: str) -> str:
        if "{offer_id}" not in value:
            raise ValueError("must contain {offer_id}")
        return value

    @model_validator(mode="after")
    def _ready_when_enabled(self) -> OrderTrackingSettings:
        if not self.enabled:
            return self
        if not self.account_id.isdigit():
            raise ValueError("account_id must be the numeric Merchant Center account id when enabled")
        if not self.origin_postal_code or not self.origin_region_code:
            raise ValueError("origin_postal_code and origin_region_code are required when enabled")
        return self


class MetricsSettings(_Section):
    # Prometheus metrics after every run: a node_exporter textfile-collector file (written
    # atomically) and/or a Pushgateway (grouping key job="ordersync"). Empty: not published.
    textfile: str = ""
    pushgateway_url: str = ""
    push_timeout_seconds: float = Field(default=10.0, gt=0)


class Settings(_Section):
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    square: SquareSettings = Field(default_factory=SquareSettings)
    shipments: ShipmentsSettings = Field(default_factory=ShipmentsSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    ucp: UcpSettings = Field(default_factory=UcpSettings)
    order_tracking: OrderTrackingSettings = Field(default_factory=OrderTrackingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    source: str = Field(default="<defaults>", exclude=True)


def _env_value(raw: str) -> Any:
    """Read an environment value as a TOML value (numbers, booleans, arrays), else as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    overrides: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        overrides.setdefault(section, {})[key] = raw if _wants_text(section, key) else _env_value(raw)
    return overrides


def _wants_text(section: str, key: str) -> bool:
    """A plain-string setting takes its environment value as written: a merchant id like 1234567
    or a reports dir like 2026 must not turn into a TOML number (and then fail as a non-string)."""
    model = getattr(Settings.model_fields.get(section), "annotation", None)
    field = (getattr(model, "model_fields", None) or {}).get(key)
    return field is not None and field.annotation in (str, str | None)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _section_keys(section: str) -> list[str]:
    model = getattr(Settings.model_fields.get(section), "annotation", None)
    return list(getattr(model, "model_fields", None) or {})


def _describe(
    errors: list[dict[str, Any]],
    source: str,
    env_keys: set[tuple[str, str]],
    file_sections: frozenset[str] = frozenset(),
) -> str:
    lines = []
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        where = source
        if len(loc) >= 2 and (loc[0], loc[1]) in env_keys:
            where = f"environment variable {ENV_PREFIX}{loc[0].upper()}__{loc[1].upper()}"
        elif len(loc) == 1 and loc[0] not in file_sections:
            names = sorted(f"{ENV_PREFIX}{s.upper()}__{k.upper()}" for s, k in env_keys if s == loc[0])
            if names:
                where = f"environment variable {', '.join(names)}"
        if len(loc) == 1 and err["type"] == "extra_forbidden":
            sections = [n for n in Settings.model_fields if n != "source"]
            msg = f"unknown section (known sections: {', '.join(sections)}){_did_you_mean(loc[0], sections)}"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key{_did_you_mean(loc[-1], _section_keys(loc[0]))}"
        else:
            msg = err["msg"]
            if "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        key = f" {'.'.join(loc[1:])}" if len(loc) > 1 else ""
        lines.append(f"{where}: [{loc[0]}]{key}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(
    path: str | Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    required: bool = True,
) -> Settings:
    """Load settings from ``path`` (or $ORDERSYNC_CONFIG, or the default path) plus env overrides.

    ``required``: a missing file is an error naming the path tried (the default: a command never
    runs silently on built-in defaults); ``required=False`` falls back to the defaults (tests,
    tools that only want the defaults plus the environment).
    """
    environ = dict(os.environ if environ is None else environ)
    explicit = path is not None or bool(environ.get(CONFIG_ENV))
    config_path = Path(path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)

    data: dict[str, Any] = {}
    source = "<defaults>"
    if config_path.exists():
        source = str(config_path)
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except PermissionError as exc:
            raise ConfigError(f"{config_path}: cannot read the configuration file ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{config_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}: not valid TOML: {exc}") from exc
        except IsADirectoryError as exc:
            raise ConfigError(f"{config_path}: is a directory, expected a TOML file") from exc
    elif required:
        how = (
            f"given by --config or {CONFIG_ENV}"
            if explicit
            else f"the default; give another with --config or {CONFIG_ENV}"
        )
        raise ConfigError(
            f"{config_path}: configuration file not found (tried {config_path.absolute()}, {how}); "
            "`ordersync init` writes one from the documented example, or try `ordersync demo`, "
            "which needs none"
        )

    overrides = _env_overrides(environ)
    env_keys = {(s, k) for s, keys in overrides.items() for k in keys}
    file_sections = frozenset(data)
    for section, keys in overrides.items():
        current = data.get(section)
        data[section] = {**(current if isinstance(current, dict) else {}), **keys}
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors(), source, env_keys, file_sections)) from None
    return settings.model_copy(update={"source": source})


def refuse_placeholder_merchant(settings: Settings) -> None:
    """Google's own endpoint with the example's merchant id would call a stranger's account (or
    fail confusingly): refuse before any call, saying what to set."""
    google = settings.google
    if google.merchant_id == PLACEHOLDER_MERCHANT_ID and google.calls_google:
        raise ConfigError(
            f"{settings.source}: [google] merchant_id is {PLACEHOLDER_MERCHANT_ID}, the example's "
            "placeholder, and [google] endpoint is Google's own: set merchant_id to your Merchant "
            "Center id (or ORDERSYNC_GOOGLE__MERCHANT_ID), or point endpoint at the emulator "
            "(`ordersync sandbox serve`, endpoint = \"http://127.0.0.1:8080/\")"
        )
