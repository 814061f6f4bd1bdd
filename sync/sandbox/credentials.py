"""Service-account credentials for the sandbox: google-auth's real JWT-bearer flow, locally.

``write_service_account`` makes a fresh RSA key, writes a standard service-account JSON whose
``token_uri`` is the sandbox's ``/token`` (mode 0600, it holds a private key), and registers the
public key with the running sandbox (``POST /_sandbox/keys``), which keeps it in its ``--state``.
The returned summary deliberately omits the private key so callers can print it safely.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
PROJECT_ID = "ordersync-sandbox"


class CredentialsError(Exception):
    """The key could not be registered (sandbox not running, refused, …)."""


def _register(endpoint: str, payload: dict[str, str], timeout: float) -> None:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CredentialsError(f"endpoint must be an http(s) URL, got {endpoint!r}")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        endpoint + "/_sandbox/keys",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            resp.read()
    except urllib.error.HTTPError as exc:
        raise CredentialsError(f"sandbox at {endpoint} refused the key: HTTP {exc.code}") from None
    except OSError as exc:
        raise CredentialsError(f"cannot reach the sandbox at {endpoint}: {exc}") from None


def write_service_account(
    path: str | Path, endpoint: str = DEFAULT_ENDPOINT, *, timeout: float = 10.0
) -> dict[str, Any]:
    """Create, register and write a service account; return a summary without the private key."""
    endpoint = endpoint.rstrip("/")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    kid = secrets.token_hex(20)
    short = secrets.token_hex(3)
    client_email = f"ordersync-{short}@{PROJECT_ID}.iam.gserviceaccount.com"
    token_uri = endpoint + "/token"
    info = {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": kid,
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**20)).rjust(21, "1"),
        "auth_uri": endpoint + "/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": endpoint + "/oauth2/v1/certs",
        "client_x509_cert_url": f"{endpoint}/robot/v1/metadata/x509/{client_email}",
        "universe_domain": "googleapis.com",
    }
    # Register first: a file whose key the sandbox does not know would only fail later.
    _register(
        endpoint,
        {"kid": kid, "client_email": client_email, "public_key_pem": public_pem, "token_uri": token_uri},
        timeout,
    )
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
        os.chmod(tmp, 0o600)  # umask-proof
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"path": str(target), "client_email": client_email, "private_key_id": kid, "token_uri": token_uri}
