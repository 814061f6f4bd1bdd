"""sync.logs: secrets never reach a log line, in text or JSON, from structlog or from libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from sync.logs import MASK, configure_logging, get_logger, redact, redact_text

PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
    "-----END PRIVATE KEY-----\n"
)
BODY_LINE = "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu"
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJhQGIuY29tIn0.c2lnbmF0dXJlLXBhcnQ"
GOOGLE_TOKEN = "ya29.a0AfH6SMBx-sandbox_token.value"
SQUARE_TOKENS = [
    "EAAAEOuLQObrVwJvCvoio3H13ODlFhSd0HBAxnLDp4Ah",
    "sq0atp-1a2B3c4D5e6F7g8H9i0J",
    "sq0csp-ABCDEFGHijklmnop",
]


# ------------------------------------------------------------------------------- redact_text
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {GOOGLE_TOKEN}", GOOGLE_TOKEN),
        ("authorization: bearer opaque-token_value.123", "opaque-token_value.123"),
        (f"calling with {GOOGLE_TOKEN} now", GOOGLE_TOKEN),
        (f"assertion {JWT} rejected", JWT),
        *[(f"square token {t} refused", t) for t in SQUARE_TOKENS],
        (f"key file says {PEM}", BODY_LINE),
        (json.dumps({"private_key": PEM}), BODY_LINE),  # a PEM with JSON-escaped newlines
        ("first bytes: -----BEGIN RSA PRIVATE KEY-----\n" + BODY_LINE[:40] + "…", BODY_LINE[:40]),  # cut off
        ("GET /x?access_token=opaqueValue123&alt=json", "opaqueValue123"),
        ('{"access_token": "opaqueValue456", "expires_in": 3599}', "opaqueValue456"),
        ("grant_type=jwt-bearer&assertion=not.a.real.jwt", "not.a.real.jwt"),
        ("client_secret: s3cr3t-value", "s3cr3t-value"),
        ("password=hunter2;user=bob", "hunter2"),
    ],
)
def test_redact_text_masks_secrets(text: str, secret: str) -> None:
    masked = redact_text(text)
    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize(
    "text",
    [
        "the token endpoint refused the key",
        "pageToken repeated",
        "order TEST-1234-56-7890 acknowledged by EAAA",  # too short to be a Square token
        "basic shipping info",
        "eyJustAWord here",
        "-----BEGIN CERTIFICATE-----",
    ],
)
def test_redact_text_leaves_ordinary_text_alone(text: str) -> None:
    assert redact_text(text) == text


def test_redact_keeps_what_surrounds_a_whole_pem() -> None:
    assert redact_text(f"before\n{PEM}after") == f"before\n{MASK}\nafter"


def test_redact_text_is_idempotent() -> None:
    once = redact_text(f"Bearer {GOOGLE_TOKEN} access_token={GOOGLE_TOKEN} {PEM}")
    assert redact_text(once) == once


# --------------------------------------------------------------------------- event dicts
def test_secret_named_keys_are_masked_at_any_depth() -> None:
    event = {
        "event": "calling",
        "access_token": "abc",
        "Authorization": "Basic dXNlcjpwYXNz",
        "client_secret": "s",
        "api_key": 12345,
        "private_key_pem": PEM,
        "headers": {"Authorization": "whatever", "X-Trace": "t-1"},
        "nested": [{"password": "pw"}, {"refresh_token": "rt"}],
        "assertion": JWT,
    }
    out = redact(None, "info", event)
    for key in ("access_token", "Authorization", "client_secret", "api_key", "private_key_pem", "assertion"):
        assert out[key] == MASK, key
    assert out["headers"] == {"Authorization": MASK, "X-Trace": "t-1"}
    assert out["nested"] == [{"password": MASK}, {"refresh_token": MASK}]
    assert out["event"] == "calling"


def test_empty_secret_values_stay_visible_and_plain_values_pass() -> None:
    out = redact(
        None, "info", {"event": "e", "password": "", "token": None, "tokens": 0, "count": 3, "ids": ["a"]}
    )
    assert out == {"event": "e", "password": "", "token": None, "tokens": 0, "count": 3, "ids": ["a"]}


def test_secret_shaped_values_under_ordinary_keys() -> None:
    out = redact(
        None, "info", {"event": f"sent Bearer {GOOGLE_TOKEN}", "detail": [f"key {SQUARE_TOKENS[0]}"]}
    )
    assert GOOGLE_TOKEN not in json.dumps(out) and SQUARE_TOKENS[0] not in json.dumps(out)


# ----------------------------------------------------------------------- configured logging
LIBRARY_LOGGERS = (
    "google.auth.transport",
    "googleapiclient.http",
    "googleapiclient.discovery",
    "httpx",
    "google.auth",
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo configure_logging afterwards; start from library loggers as a fresh process has them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    # google-auth stops "google" from propagating the first time it checks for debug logging.
    google = logging.getLogger("google")
    propagate, google.propagate = google.propagate, True
    yield
    google.propagate = propagate
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def _emit_everything() -> None:
    log = get_logger("ordersync.test")
    log.info("structlog event", token=GOOGLE_TOKEN, detail=f"Bearer {GOOGLE_TOKEN}")
    logging.getLogger("google.auth.transport").debug("refreshing with assertion=%s", JWT)
    logging.getLogger("googleapiclient.http").debug("headers %s", {"authorization": f"Bearer {GOOGLE_TOKEN}"})
    logging.getLogger("httpx").info("Authorization: Bearer %s", SQUARE_TOKENS[0])
    try:
        raise RuntimeError(f"square said no to {SQUARE_TOKENS[0]} with key {PEM}")
    except RuntimeError:
        log.exception("structlog exception")
    try:
        raise ValueError(f"token endpoint got assertion {JWT}")
    except ValueError:
        logging.getLogger("google.auth").exception("library exception")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_configured_logging_never_prints_a_secret(fmt: str, restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging(fmt, verbosity=2, stream=stream)  # type: ignore[arg-type]
    _emit_everything()
    output = stream.getvalue()
    for secret in (GOOGLE_TOKEN, JWT, SQUARE_TOKENS[0], BODY_LINE, "PRIVATE KEY"):
        assert secret not in output, secret
    # Nothing was swallowed: every message is there, and both tracebacks are shown.
    for text in (
        "structlog event",
        "refreshing with assertion",
        "headers",
        "Authorization",
        "structlog exception",
        "library exception",
        "RuntimeError: square said no",
        "ValueError: token endpoint got assertion",
    ):
        assert text in output, text


def test_json_lines_are_json_and_carry_the_traceback(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", verbosity=2, stream=stream)
    _emit_everything()
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(events) == 6
    by_event = {e["event"]: e for e in events}
    assert "RuntimeError" in by_event["structlog exception"]["exception"]
    assert "ValueError" in by_event["library exception"]["exception"]
    assert by_event["headers {'authorization': '[redacted]'}"]["logger"] == "googleapiclient.http"
    assert by_event["structlog event"]["token"] == MASK


def test_library_debug_stays_quiet_unless_vv(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", verbosity=1, stream=stream)
    logging.getLogger("googleapiclient.discovery").debug("URL being requested")
    get_logger("ordersync").debug("our own debug line")
    output = stream.getvalue()
    assert "URL being requested" not in output and "our own debug line" in output
