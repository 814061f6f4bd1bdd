"""Configuration: a TOML file, overridden key by key from the environment, validated strictly.

Secrets never live here: Google credentials come from GOOGLE_APPLICATION_CREDENTIALS (or ADC) and
the Square token from SQUARE_ACCESS_TOKEN (or the variable ``[square] access_token_env`` names); a
key that holds a secret, or a password in an account's or the queue's database URL, is refused.
Any key can be overridden with ``ORDERSYNC_<SECTION>__<KEY>`` (values are read as TOML values,
falling back to plain strings).
Unknown keys and wrong types are errors that name the key and where it came from (with a "did
you mean" for a near miss). A missing configuration file is an error naming the path tried: only
``ordersync demo`` runs on embedded defaults, and it builds its settings itself.

Many accounts (``[[accounts]]``): each entry has a ``name`` and tables named after the top-level
sections (``[accounts.google]``, ``[accounts.square]``, ...) whose keys override the top-level
ones, which are the defaults of every account. ``load_settings`` computes each account's
effective ``Settings`` here, in one place (``Settings.accounts``): its reports, rejects and
metrics textfile go to a per-account path unless the entry sets its own. A configuration without
``[[accounts]]`` is one account named ``default`` (``DEFAULT_ACCOUNT``), exactly as before.
"""

from __future__ import annotations

import difflib
import os
import re
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

from sync.domain.refunds.rules import (
    DEFAULT_REFUND_REASONS,
    DEFAULT_RETURN_REASONS,
    RefundRules,
    RefundRulesError,
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
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]

# The one account of a configuration without [[accounts]] (status `runs[].account`, metrics).
DEFAULT_ACCOUNT = "default"
# An account name is a path segment, a metrics label, a lock and a queue key: kept plain.
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")
# Sections an [[accounts]] entry may override; [schedule] and [queue] are the fleet's own.
ACCOUNT_SECTIONS = ("google", "square", "shipments", "reports", "ledger", "ucp", "order_tracking", "metrics")
FLEET_SECTIONS = ("schedule", "queue")
# Keys that would hold a secret: refused anywhere in the file, with where the secret goes instead.
SECRET_KEYS = frozenset({
    "access_token", "token", "api_key", "apikey", "password", "secret", "client_secret", "private_key",
    "credentials", "service_account_key",
})  # fmt: skip


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
    # This account's request budget (0 = none): HTTP requests per second across its threads.
    requests_per_second: float = Field(default=0, ge=0)

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
    # The environment variable holding this seller's access token (one per account in a fleet).
    access_token_env: EnvName = "SQUARE_ACCESS_TOKEN"  # noqa: S105 - a variable name, not a secret
    # This account's request budget (0 = none): calls per second across its concurrent workers.
    requests_per_second: float = Field(default=0, ge=0)


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
    # Google's live channels ([ucp], [order_tracking]): a push or signal not accepted this long
    # after it was recorded, or a Square event with none recorded this long after the sync read
    # it, is a break (the sync sends within the cycle that records, and retries every cycle).
    live_push_sla_hours: float = Field(default=2, gt=0)
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
    concurrency: int = Field(default=4, ge=1, le=32)  # orders pushed at once (each order's in turn)
    # Delivery scans (CSV files/globs in the shipments feed's columns; order_id = the Square order
    # id): Square has no delivered state and refuses updates once an order is COMPLETED.
    deliveries: list[str] = Field(default_factory=list)
    # The first cycle reads Square orders updated this many days back (0: the whole history).
    lookback_days: int = Field(default=30, ge=0)

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
    lookback_days: int = Field(default=30, ge=0)  # the first cycle's reach into Square's history (0: all)
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


class RefundsSettings(_Section):
    """How refunds made in Square are told to Google (sync.domain.refunds.rules; all of it [D])."""

    # Square's free-text refund reason -> Google's enum: the first keyword found at the start of a
    # word wins (returnRefundLineItem takes return reasons, orders.refund refund reasons).
    return_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_RETURN_REASONS))
    refund_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_REFUND_REASONS))
    default_return_reason: str = "other"
    default_refund_reason: str = "courtesyAdjustment"
    # A custom-amount refund whose return line or reason has one of these words is shipping.
    shipping_words: list[str] = Field(default_factory=lambda: ["shipping"])
    # Custom amounts are tax-inclusive: split into amountPretax + amountTax in the order's ratio.
    split_custom_amount_tax: bool = True

    @model_validator(mode="after")
    def _valid_rules(self) -> RefundsSettings:
        self.rules()  # raises RefundRulesError, a ValueError pydantic reports with the key
        return self

    def rules(self) -> RefundRules:
        try:
            return RefundRules.from_maps(
                return_reasons=self.return_reasons,
                refund_reasons=self.refund_reasons,
                default_return_reason=self.default_return_reason,
                default_refund_reason=self.default_refund_reason,
                shipping_words=self.shipping_words,
                split_custom_amount_tax=self.split_custom_amount_tax,
            )
        except RefundRulesError as exc:
            raise ValueError(str(exc)) from None

class QueueSettings(_Section):
    """Queue mode: cycles of every account queued in PostgreSQL (procrastinate), run by workers."""

    enabled: bool = False
    url: str = ""  # the queue's PostgreSQL (SQLAlchemy URL, no password); "" = [ledger] url
    name: str = Field(default="ordersync", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # procrastinate queue
    concurrency: int = Field(default=1, ge=1, le=64)  # `ordersync worker` cycles at once
    heartbeat_seconds: float = Field(default=10, gt=0)
    # A worker silent this long is taken for dead (SIGKILL, a lost machine): its cycle is queued again.
    stalled_seconds: float = Field(default=60, gt=0)
    # SIGTERM: how long the cycle in hand may go on before it stops at its next step boundary.
    stop_grace_seconds: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _stalled_after_heartbeats(self) -> QueueSettings:
        if self.stalled_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("stalled_seconds must be at least twice heartbeat_seconds")
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
    refunds: RefundsSettings = Field(default_factory=RefundsSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    # Set by load_settings, never read from the file (INTERNAL_FIELDS).
    source: str = Field(default="<defaults>", exclude=True)
    account: str = Field(default=DEFAULT_ACCOUNT, exclude=True)  # whose settings these are
    # Top level only: the effective settings of every [[accounts]] entry, in file order.
    accounts: tuple[Settings, ...] = Field(default=(), exclude=True)

    @property
    def fleet(self) -> tuple[Settings, ...]:
        """Every account to sync: the [[accounts]] entries, or these settings as the one account."""
        return self.accounts or (self,)

    @property
    def in_fleet(self) -> bool:
        """True for the settings of an [[accounts]] entry (per-account paths, lock, metrics group)."""
        return self.account != DEFAULT_ACCOUNT


INTERNAL_FIELDS = frozenset({"source", "account", "accounts"})


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


def _problems(
    errors: list[dict[str, Any]],
    source: str,
    env_keys: set[tuple[str, str]],
    file_sections: frozenset[str] = frozenset(),
    *,
    prefix: str = "",
) -> list[str]:
    """One line per validation error: where (file or variable), ``[section] key`` and what is wrong.
    ``prefix``: ``accounts.`` for the tables of an [[accounts]] entry."""
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
            sections = [*(n for n in Settings.model_fields if n not in INTERNAL_FIELDS), "accounts"]
            msg = f"unknown section (known sections: {', '.join(sections)}){_did_you_mean(loc[0], sections)}"
        elif err["type"] == "extra_forbidden":
            msg = f"unknown key{_did_you_mean(loc[-1], _section_keys(loc[0]))}"
        else:
            msg = err["msg"]
            if "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        key = f" {'.'.join(loc[1:])}" if len(loc) > 1 else ""
        lines.append(f"{where}: [{prefix}{loc[0]}]{key}: {msg}")
    return lines


def _describe(
    errors: list[dict[str, Any]],
    source: str,
    env_keys: set[tuple[str, str]],
    file_sections: frozenset[str] = frozenset(),
) -> str:
    return _invalid(_problems(errors, source, env_keys, file_sections))


def _invalid(lines: list[str]) -> str:
    return "invalid configuration:\n  " + "\n  ".join(lines)


_SECRET_HOMES = {
    "google": "Google credentials come from GOOGLE_APPLICATION_CREDENTIALS (a key file path) or ADC",
    "square": "export the token and name its variable with access_token_env (default SQUARE_ACCESS_TOKEN)",
    "ucp": "the UCP API key comes from the environment variable UCP_API_KEY",
}


def _secret_problems(data: dict[str, Any], source: str) -> list[str]:
    """Secrets in the file itself: a key named like one, or a password in a database URL that has
    no environment override (an account's ledger, the queue): say where the secret goes instead."""
    found = []

    def scan(section: str, table: Any, label: str) -> None:
        if not isinstance(table, dict):
            return
        for key in sorted(k for k in table if str(k).lower() in SECRET_KEYS):
            home = _SECRET_HOMES.get(section, "put it in the environment, never in this file")
            found.append(f"{source}: [{label}] {key}: secrets never live in the configuration file; {home}")

    for section, table in data.items():
        if section != "accounts":
            scan(section, table, section)
    queue_url = data.get("queue", {}).get("url") if isinstance(data.get("queue"), dict) else None
    if isinstance(queue_url, str) and urlsplit(queue_url).password:
        found.append(f"{source}: [queue] url: holds a password; {PGPASS_ADVICE}")
    for entry in data.get("accounts") or []:
        if not isinstance(entry, dict):
            continue
        for section, table in entry.items():
            scan(section, table, f"accounts.{section}")
        ledger = entry.get("ledger")
        url = ledger.get("url") if isinstance(ledger, dict) else None
        if isinstance(url, str) and urlsplit(url).password:
            found.append(f"{source}: [accounts.ledger] url of {entry.get('name')!r}: holds a password; "
                         f"{PGPASS_ADVICE}")  # fmt: skip
    return found


def _drop_secret_keys(data: dict[str, Any]) -> None:
    tables = [t for s, t in data.items() if s != "accounts"]
    tables += [t for e in data.get("accounts") or [] if isinstance(e, dict) for t in e.values()]
    for table in tables:
        if isinstance(table, dict):
            for key in [k for k in table if str(k).lower() in SECRET_KEYS]:
                del table[key]


PGPASS_ADVICE = (
    "give it to PostgreSQL from the environment (PGPASSWORD) or a ~/.pgpass file, and leave it out of "
    "the URL"
)


def _textfile_for(path: str, account: str) -> str:
    """``ordersync.prom`` -> ``ordersync.<account>.prom``: node_exporter reads every *.prom file."""
    folder, _, name = path.rpartition("/")
    stem, dot, suffix = name.rpartition(".")
    per_account = f"{stem}.{account}.{suffix}" if dot and stem else f"{name}.{account}"
    return f"{folder}/{per_account}" if folder else per_account


def _account_entry_problems(index: int, entry: Any) -> tuple[str | None, list[str]]:
    """The entry's name (None when unusable) and what is wrong with its shape."""
    if not isinstance(entry, dict):
        return None, [f"[[accounts]] #{index}: must be a table (an [[accounts]] entry with name = ...)"]
    name = entry.get("name")
    if not isinstance(name, str) or not ACCOUNT_NAME.match(name):
        return None, [
            f"[[accounts]] #{index}: name must be 1-48 letters, digits, '.', '_' or '-', starting with a "
            f"letter or digit (got {name!r})"
        ]
    label = f"[[accounts]] {name!r}"
    problems = []
    if name == DEFAULT_ACCOUNT:
        problems.append(f"{label}: {DEFAULT_ACCOUNT!r} names the one account of a configuration without "
                        "[[accounts]]; choose another name")  # fmt: skip
    for key in sorted(set(entry) - {"name", *ACCOUNT_SECTIONS}):
        if key in FLEET_SECTIONS:
            problems.append(f"{label}: [accounts.{key}] cannot differ per account; set [{key}] at the top")
        else:
            known = ["name", *ACCOUNT_SECTIONS]
            problems.append(f"{label}: unknown key {key!r} (an entry has: {', '.join(known)})"
                            f"{_did_you_mean(key, known)}")  # fmt: skip
    for section in ACCOUNT_SECTIONS:
        if section in entry and not isinstance(entry[section], dict):
            problems.append(f"{label}: accounts.{section} must be a table ([accounts.{section}])")
    google = entry.get("google")
    if not isinstance(google, dict) or "merchant_id" not in google:
        problems.append(f"{label}: [accounts.google] merchant_id is required (every account is its own "
                        "Merchant Center account)")  # fmt: skip
    return name, problems


def _account_settings(
    raw: Any, data: dict[str, Any], base: Settings, source: str
) -> tuple[tuple[Settings, ...], list[str]]:
    """Every [[accounts]] entry's effective settings: the top-level sections (file and environment)
    with the entry's tables laid over them key by key, validated as a whole; then the checks that
    span accounts (names, merchant ids). Accounts may share a ledger: its rows are per account."""
    if not isinstance(raw, list):
        return (), [f"{source}: accounts must be an array of tables ([[accounts]] entries)"]
    problems: list[str] = []
    accounts: list[Settings] = []
    for index, entry in enumerate(raw, 1):
        name, shape = _account_entry_problems(index, entry)
        problems += [f"{source}: {line}" for line in shape]
        if name is None or any(not isinstance(entry.get(sec, {}), dict) for sec in ACCOUNT_SECTIONS):
            continue
        merged: dict[str, Any] = {k: v for k, v in data.items() if k != "accounts"}
        for section in ACCOUNT_SECTIONS:
            own = entry.get(section, {})
            merged[section] = {**(data.get(section) or {}), **own}
        # Each account's own folders and metrics file, unless the entry names its own.
        if "dir" not in entry.get("reports", {}):
            merged["reports"]["dir"] = f"{base.reports.dir.rstrip('/')}/{name}"
        if "rejects_dir" not in entry.get("shipments", {}):
            merged["shipments"]["rejects_dir"] = f"{base.shipments.rejects_dir.rstrip('/')}/{name}"
        if base.metrics.textfile and "textfile" not in entry.get("metrics", {}):
            merged["metrics"]["textfile"] = _textfile_for(base.metrics.textfile, name)
        try:
            settings = Settings.model_validate(merged)
        except ValidationError as exc:
            where = f"{source}: [[accounts]] {name!r}"
            problems += _problems(exc.errors(), where, set(), prefix="accounts.")
            continue
        accounts.append(settings.model_copy(update={"source": source, "account": name}))
    problems += _fleet_problems(accounts, source)
    return tuple(accounts), problems


def _fleet_problems(accounts: list[Settings], source: str) -> list[str]:
    problems = []
    seen: dict[str, dict[str, str]] = {"name": {}, "merchant_id": {}}
    for account in accounts:
        keys = {"name": account.account, "merchant_id": account.google.merchant_id}
        for what, key in keys.items():
            other = seen[what].get(key)
            if other is None:
                seen[what][key] = account.account
                continue
            if what == "name":
                problems.append(f"{source}: [[accounts]] name {key!r} is used twice")
            else:
                problems.append(f"{source}: [[accounts]] {other!r} and {account.account!r} have the same "
                                f"[accounts.google] merchant_id {key}")  # fmt: skip
    return problems


def queue_url(settings: Settings) -> str:
    """The queue's database: ``[queue] url``, else the top-level ``[ledger] url``."""
    return settings.queue.url or settings.ledger.url


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

    problems = _secret_problems(data, source)
    _drop_secret_keys(data)  # reported above; not again as unknown keys
    problems += [
        f"{source}: [{name}]: unknown section{_did_you_mean(name, list(Settings.model_fields))}"
        for name in sorted(INTERNAL_FIELDS & set(data) - {"accounts"})
    ]
    overrides = _env_overrides(environ)
    if "accounts" in overrides:
        names = sorted(f"{ENV_PREFIX}ACCOUNTS__{k.upper()}" for k in overrides.pop("accounts"))
        problems.append(f"environment variable {', '.join(names)}: [[accounts]] entries are set in the "
                        "file only (their top-level defaults can be overridden)")  # fmt: skip
    env_keys = {(s, k) for s, keys in overrides.items() for k in keys}
    file_sections = frozenset(data)
    for section, keys in overrides.items():
        current = data.get(section)
        data[section] = {**(current if isinstance(current, dict) else {}), **keys}
    raw_accounts = data.pop("accounts", None)
    try:
        settings = Settings.model_validate({k: v for k, v in data.items() if k not in INTERNAL_FIELDS})
    except ValidationError as exc:
        problems += _problems(exc.errors(), source, env_keys, file_sections)
        raise ConfigError(_invalid(problems)) from None
    settings = settings.model_copy(update={"source": source})
    if raw_accounts is not None:
        accounts, account_problems = _account_settings(raw_accounts, data, settings, source)
        problems += account_problems
        settings = settings.model_copy(update={"accounts": accounts})
    if settings.queue.enabled and not queue_url(settings).startswith("postgresql"):
        problems.append(f"{source}: [queue] enabled needs PostgreSQL: set [queue] url (or the [ledger] url) "
                        f"to a postgresql+psycopg:// URL (got {queue_url(settings)!r})")  # fmt: skip
    if problems:
        raise ConfigError(_invalid(problems))
    return settings


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


def enabled_live_channels(settings: Settings) -> list[str]:
    """The live Google channels switched on, by section name."""
    sections = (("[ucp]", settings.ucp.enabled), ("[order_tracking]", settings.order_tracking.enabled))
    return [name for name, on in sections if on]


def live_lookback_days(settings: Settings) -> int:
    """How far back the live channels' first Square walk reaches: the larger ``lookback_days`` of
    the enabled channels; 0 (the whole history) when one of them says 0, or none is on."""
    reach = [s.lookback_days for s in (settings.ucp, settings.order_tracking) if s.enabled]
    return 0 if not reach or 0 in reach else max(reach)


def live_channels_without_square(settings: Settings) -> str:
    """Why an enabled live Google channel will do nothing ("" when none is): both read Square's
    orders, so without [square] they send nothing and would say nothing (doctor, run start)."""
    on = enabled_live_channels(settings)
    if not on or settings.square.enabled:
        return ""
    sections = " and ".join(on)
    return (
        f"{sections} {'is' if len(on) == 1 else 'are'} enabled but [square] is not: Google's live "
        "channels report Square orders, so nothing is sent to Google"
    )


LIVE_WITHOUT_SQUARE_FIX = (
    "set [square] enabled = true (with SQUARE_ACCESS_TOKEN), or disable [ucp] / [order_tracking]"
)
