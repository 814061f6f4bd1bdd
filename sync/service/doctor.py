"""`ordersync doctor`: check everything a cycle needs, without running one and without changing data.

One check per concern, in the order a cycle meets them: configuration, Google credentials, a
Google token, the merchant account (one ``orders.list`` of one order, which the v2 API and our
emulator both serve), Square (token and location), the ledger, the feeds, the folders written to.
Each result says what was found and, for a failure, the fix. A failure is either the operator's
to fix (``Cause.CONFIG``) or a service that does not answer (``Cause.UNAVAILABLE``); checks that
depend on a failed one are skipped. Nothing is created: a ledger that does not exist yet is not
created, and folders are probed with a temporary file that is removed at once.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google_auth_httplib2
import httplib2
from sqlalchemy.exc import ArgumentError, OperationalError

from sync.adapters.google_credentials import ENV_VAR as GOOGLE_CREDENTIALS_ENV
from sync.adapters.google_credentials import describe_refresh_error, resolve_credentials
from sync.adapters.google_errors import GoogleApiError, GoogleCredentialsError
from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.ledger import Ledger, LedgerError
from sync.adapters.square_errors import SquareApiError, SquareCredentialsError
from sync.adapters.square_gateway import SquareGateway
from sync.config import (
    DEFAULT_ACCOUNT,
    ENV_PREFIX,
    LIVE_WITHOUT_SQUARE_FIX,
    ConfigError,
    Settings,
    enabled_live_channels,
    live_channels_without_square,
    load_settings,
)
from sync.service.status import missing_sqlite_ledger

# Doctor answers in seconds: two tries per call, short waits, no minute-long timeouts.
PROBE_ATTEMPTS = 2
PROBE_TIMEOUT_SECONDS = 15.0
PROBE_BACKOFF_SECONDS = 1.0


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but probably not what was meant (no config file, no feed file yet)
    FAIL = "fail"
    SKIP = "skip"  # not applicable, or not checked because an earlier check failed


class Cause(StrEnum):
    CONFIG = "config"  # the operator fixes configuration, credentials or files
    UNAVAILABLE = "unavailable"  # a service did not answer or refused to serve


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    cause: Cause | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
            "cause": str(self.cause) if self.cause else None,
        }


def _ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def _fail(name: str, cause: Cause, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix, cause)


def _skip(name: str, detail: str) -> Check:
    return Check(name, Status.SKIP, detail)


def run_checks(config_path: str | None, environ: Mapping[str, str] | None = None) -> Iterator[Check]:
    """Every check in order; a caller printing as they come shows progress on a slow network."""
    env = dict(os.environ if environ is None else environ)
    try:
        settings = load_settings(config_path, environ=env)
    except ConfigError as exc:
        yield _fail("config", Cause.CONFIG, str(exc), "correct the file or variable named above")
        return
    yield _config_check(settings, env)
    yield from _google_checks(settings, env)
    yield _square_check(settings, env)
    yield from _live_checks(settings)
    yield _ledger_check(settings)
    yield from _feed_checks(settings)
    yield from _folder_checks(settings)


def _config_check(settings: Settings, env: Mapping[str, str]) -> Check:
    overrides = sorted(name for name in env if name.startswith(ENV_PREFIX) and "__" in name)
    shown = f"; overridden by {', '.join(overrides)}" if overrides else ""
    if settings.source == "<defaults>":
        return Check(
            "config",
            Status.WARN,
            f"no configuration file: embedded defaults{shown}",
            "`ordersync init` writes config/ordersync.toml, or set ORDERSYNC_CONFIG",
        )
    return _ok("config", f"loaded {settings.source}{shown}")


# ----------------------------------------------------------------------------------- Google
def _google_checks(settings: Settings, env: Mapping[str, str]) -> Iterator[Check]:
    where = (
        f"{GOOGLE_CREDENTIALS_ENV}={env[GOOGLE_CREDENTIALS_ENV]}"
        if env.get(GOOGLE_CREDENTIALS_ENV)
        else "ADC"
    )
    try:
        credentials = resolve_credentials(environ=dict(env))
    except GoogleCredentialsError as exc:
        yield _fail(
            "google credentials",
            Cause.CONFIG,
            str(exc),
            f"set {GOOGLE_CREDENTIALS_ENV} to a readable key file",
        )
        yield _skip("google token", "no credentials")
        yield _skip("google account", "no credentials")
        return
    who = getattr(credentials, "service_account_email", None) or type(credentials).__name__
    yield _ok("google credentials", f"{who} ({where})")

    token = _token_check(credentials)
    yield token
    if token.status is Status.FAIL:
        yield _skip("google account", "no token")
        return
    yield _account_check(settings, credentials)


def _token_check(credentials: Any) -> Check:
    token_uri = getattr(credentials, "_token_uri", None) or "Google's token endpoint"
    try:
        credentials.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=PROBE_TIMEOUT_SECONDS)))
    except google.auth.exceptions.RefreshError as exc:
        return _fail(
            "google token",
            Cause.CONFIG,
            describe_refresh_error(exc, credentials),
            "use a current key of a service account that exists (rotate the key in Cloud IAM)",
        )
    except (google.auth.exceptions.TransportError, OSError, httplib2.HttpLib2Error) as exc:
        return _fail(
            "google token",
            Cause.UNAVAILABLE,
            f"token endpoint {token_uri} did not answer ({type(exc).__name__})",
            "check the network path to the token endpoint (proxy, firewall, DNS)",
        )
    return _ok("google token", f"obtained from {token_uri}")


def _account_check(settings: Settings, credentials: Any) -> Check:
    probe = settings.google.model_copy(
        update={
            "max_attempts": PROBE_ATTEMPTS,
            "timeout_seconds": min(settings.google.timeout_seconds, PROBE_TIMEOUT_SECONDS),
            "max_backoff_seconds": PROBE_BACKOFF_SECONDS,
        }
    )
    merchant = settings.google.merchant_id
    try:
        with GoogleGateway(probe, credentials=credentials) as gateway:
            next(gateway.iter_order_pages(page_size=1), [])
            base_url = gateway.base_url
    except GoogleCredentialsError as exc:
        return _fail("google account", Cause.CONFIG, str(exc), "check the key file and its token_uri")
    except GoogleApiError as exc:
        if exc.status in (0, 429) or exc.status >= 500:
            return _fail(
                "google account",
                Cause.UNAVAILABLE,
                f"merchant {merchant}: {exc}",
                "check [google] endpoint and the network; retry later if Google is throttling or down",
            )
        return _fail(
            "google account",
            Cause.CONFIG,
            f"merchant {merchant}: {exc}",
            "check [google] merchant_id and that the service account is a user of that Merchant Center "
            "account with order management",
        )
    mode = "sandbox (v2sandbox)" if settings.google.sandbox else "live (v2)"
    return _ok("google account", f"merchant {merchant} answers orders.list at {base_url} [{mode}]")


# ----------------------------------------------------------------------------------- Square
def _live_checks(settings: Settings) -> Iterator[Check]:
    """Google's live channels read Square: enabled without it, they would do nothing silently.
    (No line when both are off.)"""
    on = enabled_live_channels(settings)
    if not on:
        return
    idle = live_channels_without_square(settings)
    if idle:
        yield Check("live channels", Status.WARN, idle, LIVE_WITHOUT_SQUARE_FIX)
    else:
        yield _ok("live channels", f"{' and '.join(on)} on, reading Square's orders")


def _square_check(settings: Settings, env: Mapping[str, str]) -> Check:
    if not settings.square.enabled:
        return _skip("square", "disabled ([square] enabled = false)")
    probe = settings.square.model_copy(
        update={
            "max_attempts": PROBE_ATTEMPTS,
            "timeout_seconds": min(settings.square.timeout_seconds, PROBE_TIMEOUT_SECONDS),
        }
    )
    try:
        gateway = SquareGateway(
            probe,
            token=env.get(settings.square.access_token_env) or "",
            max_backoff_seconds=PROBE_BACKOFF_SECONDS,
        )
        locations = gateway.locations()
    except SquareCredentialsError as exc:
        return _fail("square", Cause.CONFIG, str(exc), f"export {settings.square.access_token_env}")
    except SquareApiError as exc:
        if exc.is_auth:
            return _fail(
                "square",
                Cause.CONFIG,
                f"Square refused the access token ({exc.code})",
                f"set {settings.square.access_token_env} to a valid token of the seller account "
                "(sandbox tokens differ)",
            )
        if exc.status is None or exc.status == 429 or exc.status >= 500:
            return _fail(
                "square",
                Cause.UNAVAILABLE,
                str(exc),
                "check [square] endpoint and the network; retry later if Square is down",
            )
        return _fail("square", Cause.CONFIG, str(exc), "check the [square] settings")
    wanted = settings.square.location_id
    active = [loc for loc in locations if loc.get("status") == "ACTIVE"]
    if wanted:
        match = next((loc for loc in locations if loc.get("id") == wanted), None)
        known = ", ".join(str(loc.get("id")) for loc in locations) or "none"
        if match is None:
            return _fail(
                "square",
                Cause.CONFIG,
                f"location {wanted} is not a location of this account (its locations: {known})",
                "set [square] location_id to one of them, or empty for the first active one",
            )
        if match.get("status") != "ACTIVE":
            return _fail(
                "square",
                Cause.CONFIG,
                f"location {wanted} is {match.get('status')}",
                "reactivate it in the Square Dashboard or choose another [square] location_id",
            )
        chosen = match
    elif active:
        chosen = active[0]
    else:
        return _fail(
            "square",
            Cause.CONFIG,
            "the account has no ACTIVE location",
            "activate a location in the Square Dashboard or set [square] location_id",
        )
    how = "configured" if wanted else "first active"
    return _ok("square", f"token accepted; location {chosen.get('id')} {chosen.get('name', '')!r} ({how})")


# ----------------------------------------------------------------------------------- ledger
def _ledger_check(settings: Settings) -> Check:
    url = settings.ledger.url
    missing = missing_sqlite_ledger(url)
    if missing is not None:
        problem = _unwritable(missing.parent)
        if problem:
            return _fail(
                "ledger", Cause.CONFIG, f"{missing} cannot be created: {problem}", _folder_fix(missing.parent)
            )
        return _ok("ledger", f"{missing} does not exist yet; the first run creates it")
    try:
        ledger = Ledger(url, account=settings.account)
    except ModuleNotFoundError as exc:
        return _fail(
            "ledger",
            Cause.CONFIG,
            f"no database driver for {url.split(':', 1)[0]} ({exc.name})",
            "pip install 'ordersync[postgres]' for PostgreSQL",
        )
    except ArgumentError as exc:
        return _fail(
            "ledger", Cause.CONFIG, f"[ledger] url is not a database URL ({exc})", "see the example config"
        )
    except LedgerError as exc:
        if isinstance(exc.__cause__, OperationalError) and not url.startswith("sqlite"):
            return _fail(
                "ledger", Cause.UNAVAILABLE, str(exc), "start the database server or check [ledger] url"
            )
        return _fail(
            "ledger", Cause.CONFIG, str(exc), "see the message; the ledger file is never changed by doctor"
        )
    except OperationalError as exc:
        return _fail(
            "ledger", Cause.UNAVAILABLE, str(exc.orig), "start the database server or check [ledger] url"
        )
    try:
        shared = any(account.ledger.url == url for account in settings.accounts)
        if shared and ledger.holds_rows_of(DEFAULT_ACCOUNT):
            return _fail(
                "ledger",
                Cause.CONFIG,
                f"{ledger.where} holds the history of this configuration from before [[accounts]] "
                f"(account {DEFAULT_ACCOUNT!r}); its entries refuse to run until it has an owner",
                "ordersync adopt --account NAME (the entry it belongs to)",
            )
        return _ok("ledger", f"{ledger.where} reachable, schema {ledger.schema_revision}")
    finally:
        ledger.close()


# ------------------------------------------------------------------------------ files, folders
def _feed_checks(settings: Settings) -> Iterator[Check]:
    patterns = settings.shipments.feeds
    if not patterns:
        yield _skip("feeds", "no [shipments] feeds configured")
        return
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        files = [Path(m) for m in matches if Path(m).is_file()]
        if not files:
            yield Check(
                "feeds",
                Status.WARN,
                f"{pattern}: no file matches yet (relative to {Path.cwd()})",
                "point [shipments] feeds at the warehouse's exports, or ignore this until the first export",
            )
            continue
        unreadable = [path for path in files if not _readable(path)]
        if unreadable:
            shown = ", ".join(str(p) for p in unreadable[:3])
            yield _fail(
                "feeds",
                Cause.CONFIG,
                f"{pattern}: cannot read {shown}",
                "give the ordersync user read access",
            )
            continue
        yield _ok("feeds", f"{pattern}: {len(files)} readable file{'s' if len(files) != 1 else ''}")


def _folder_checks(settings: Settings) -> Iterator[Check]:
    folders = {"reports": settings.reports.dir, "rejects": settings.shipments.rejects_dir}
    for name, folder in folders.items():
        problem = _unwritable(Path(folder))
        if problem:
            yield _fail(name, Cause.CONFIG, f"{folder}: {problem}", _folder_fix(Path(folder)))
        else:
            yield _ok(name, f"{folder} is writable")


def _readable(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError:
        return False
    return True


def _unwritable(folder: Path) -> str:
    """Why files cannot be written in ``folder`` (or in the folder that would hold it), or ""."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    try:
        # A real write: permission bits lie for root, read-only mounts and ACLs.
        with tempfile.TemporaryFile(dir=probe, prefix=".ordersync-doctor-"):
            pass
    except OSError as exc:
        return f"cannot write in {probe} ({exc.strerror or exc})"
    return ""


def _folder_fix(folder: Path) -> str:
    return f"create {folder} writable by the user ordersync runs as, or point the setting elsewhere"
