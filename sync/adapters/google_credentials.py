"""Resolve Google credentials for the Content API: explicit object, GOOGLE_APPLICATION_CREDENTIALS, ADC.

Error messages name the file and what to set, never key material: they are built from field names
and our own wording only, not from exception texts that might quote the file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import google.auth
import google.auth.exceptions
from google.auth.credentials import Credentials
from google.oauth2 import service_account

from sync.adapters.google_errors import GoogleCredentialsError

SCOPES = ["https://www.googleapis.com/auth/content"]
ENV_VAR = "GOOGLE_APPLICATION_CREDENTIALS"
_HINT = (
    f"set {ENV_VAR} to a service-account JSON key file "
    "(for the sandbox: `ordersync sandbox credentials --out FILE --endpoint URL`), "
    "or configure Application Default Credentials (`gcloud auth application-default login`)"
)
_REQUIRED_FIELDS = ("client_email", "token_uri", "private_key")
# Anything long and base64-ish (JWT assertions, tokens) is cut out of token-endpoint messages.
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+/=.]{40,}")


def resolve_credentials(credentials: Credentials | None = None, environ: dict[str, str] | None = None) -> Any:
    """Return credentials scoped for the Content API, or raise GoogleCredentialsError."""
    if credentials is not None:
        return credentials
    env = os.environ if environ is None else environ
    path = env.get(ENV_VAR)
    if path:
        return service_account_from_file(path)
    try:
        creds, _project = google.auth.default(scopes=SCOPES)
    except google.auth.exceptions.DefaultCredentialsError:
        raise GoogleCredentialsError(f"no Google credentials found: {_HINT}") from None
    return creds


def service_account_from_file(path: str | os.PathLike[str]) -> service_account.Credentials:
    p = Path(path)
    where = f"{ENV_VAR}={str(path)!r}"
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise GoogleCredentialsError(f"{where}: file not found; {_HINT}") from None
    except IsADirectoryError:
        raise GoogleCredentialsError(f"{where}: is a directory, expected a JSON key file; {_HINT}") from None
    except PermissionError:
        raise GoogleCredentialsError(f"{where}: cannot read the file (permission denied)") from None
    except OSError as exc:
        raise GoogleCredentialsError(f"{where}: cannot read the file ({exc.strerror})") from None
    try:
        info = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # JSONDecodeError's own message only has a position, never the content.
        pos = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise GoogleCredentialsError(
            f"{where}: not a JSON file{pos}; expected a service-account key file. {_HINT}"
        ) from None
    if not isinstance(info, dict):
        raise GoogleCredentialsError(f"{where}: JSON is not an object; expected a service-account key file")
    kind = info.get("type")
    if kind != "service_account":
        raise GoogleCredentialsError(
            f"{where}: not a service-account key (\"type\" is {kind!r}, expected 'service_account'); {_HINT}"
        )
    missing = [f for f in _REQUIRED_FIELDS if not info.get(f)]
    if missing:
        raise GoogleCredentialsError(f"{where}: service-account key lacks {', '.join(missing)}")
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError):
        raise GoogleCredentialsError(
            f"{where}: the private_key field is not a valid PEM RSA private key (regenerate the key file)"
        ) from None


def describe_refresh_error(exc: google.auth.exceptions.RefreshError, credentials: Any) -> str:
    """A one-line reason for a token refresh failure without secrets (assertion, tokens, key)."""
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(data.get("error") or "")
    desc = str(data.get("error_description") or "")
    if not code and exc.args and isinstance(exc.args[0], str):
        desc = exc.args[0]
    text = _TOKENISH.sub("[redacted]", f"{code}: {desc}".strip(": "))[:200]
    who = getattr(credentials, "service_account_email", None)
    token_uri = getattr(credentials, "_token_uri", None)
    parts = ["Google credentials were rejected by token endpoint"]
    if token_uri:
        parts.append(str(token_uri))
    if who:
        parts.append(f"for {who}")
    msg = " ".join(parts)
    return f"{msg}: {text}" if text else msg
