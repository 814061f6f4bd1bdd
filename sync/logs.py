"""Logging: structlog on top of the standard library, as text for people or JSON for machines.

Secrets never reach a log line: every event passes through ``redact`` which masks values of
secret-looking keys and anything shaped like a bearer token, a Square access token or a PEM key.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

import structlog

LogFormat = Literal["text", "json"]

_SECRET_KEYS = re.compile(r"(token|secret|password|private_key|authorization|assertion|api[_-]?key)", re.I)
_SECRET_VALUES = [
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    # A whole key, or a cut-off one (a message quoting the first bytes of a key file) up to where
    # the base64 body (with real or JSON-escaped newlines) ends.
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?:.*?-----END [A-Z ]*PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)", re.S
    ),
    re.compile(r"\b(EAAA|sq0atp-|sq0csp-)[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bya29\.[A-Za-z0-9._-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys (UCP_API_KEY)
]
# key=value / "key": "value" in free text (a URL's ?access_token=, a form body, JSON in a message):
# the value goes whatever its shape, the key stays so the line still says what was there.
_SECRET_PAIRS = re.compile(
    r"""(?i)\b((?:access|refresh|id)_token|client_secret|assertion|password|api[_-]?key|x-goog-api-key)"""
    r"""(["']?\s*[:=]\s*["']?)([^\s&"',;]+)"""
)
# A URL's ?key=… / &key=… (Google's API-key query parameter).
_KEY_PARAM = re.compile(r"(?i)([?&]key=)([^\s&\"',;#]+)")
MASK = "[redacted]"
_current_format: LogFormat = "text"


def redact_text(text: str) -> str:
    for pattern in _SECRET_VALUES:
        text = pattern.sub(MASK, text)
    text = _KEY_PARAM.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEYS.search(key) and value not in (None, "", 0):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {k: _redact_value(k, v) for k, v in event_dict.items()}


class _RedactingFilter(logging.Filter):
    """Masks secrets in records from third-party libraries that bypass structlog."""

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "_logger") and isinstance(record.msg, dict):
            return True  # a structlog event: already through ``redact``
        try:
            # The rendered message, so a secret inside any argument (a dict of headers, an object
            # whose str() shows a token) is caught, and a lone dict argument is not mangled.
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it as usual
            return True
        record.msg, record.args = redact_text(message), ()
        return True


def json_mode() -> bool:
    """True when ``--log-format json`` is in force: every line the program prints is a JSON object."""
    return _current_format == "json"


def json_line(event: str, *, level: str = "info", logger: str = "ordersync", **fields: Any) -> str:
    """One JSON object in the shape of the JSON log lines (same keys, same redaction), for what a
    command prints on stdout (a run summary, a status) when ``--log-format json`` is in force."""
    record = {"event": event, **fields, "level": level, "logger": logger}
    record["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(redact(None, level, record), default=str, separators=(",", ":"))


def _log_unhandled(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """sys.excepthook in JSON mode: the traceback as a field of one JSON line, not loose text."""
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, exc, tb)
        return
    text = "".join(traceback.format_exception(kind, exc, tb))
    print(json_line("unhandled error", level="critical", error=repr(exc), exception=text), file=sys.stderr)


def configure_logging(fmt: LogFormat = "text", verbosity: int = 0, stream: Any = None) -> None:
    """verbosity: -1 quiet (warnings), 0 info, 1+ debug."""
    global _current_format
    _current_format = fmt
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    stream = stream or sys.stderr
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text *before* redaction (an exception message may quote a token), and
        # so JSON lines carry them instead of a bare `exc_info: true`.
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python warnings (deprecations from libraries, …) become log records: JSON lines in JSON mode.
    logging.captureWarnings(True)
    if fmt == "json":
        sys.excepthook = _log_unhandled
    elif sys.excepthook is _log_unhandled:
        sys.excepthook = sys.__excepthook__
    # Chatty libraries stay at warning unless asked for debug.
    for name in ("googleapiclient", "google.auth", "urllib3", "httpx", "httpcore", "apscheduler", "werkzeug"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
