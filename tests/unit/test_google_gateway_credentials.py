"""Credential resolution and token-refresh failures: clear messages that never carry key material."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import google.auth
import google.auth.exceptions
import google_auth_httplib2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient.http import HttpMockSequence

from sync.adapters.google_credentials import ENV_VAR, SCOPES, resolve_credentials
from sync.adapters.google_gateway import GoogleCredentialsError, GoogleGateway
from sync.config import GoogleSettings

SETTINGS = GoogleSettings(merchant_id="123", endpoint="http://127.0.0.1:9/")


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def sa_info(pem: str, **overrides: Any) -> dict[str, Any]:
    info = {
        "type": "service_account",
        "project_id": "ordersync-test",
        "private_key_id": "kid-1",
        "private_key": pem,
        "client_email": "sync@ordersync-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
    }
    info.update(overrides)
    return info


def write(tmp_path: Path, content: str | dict[str, Any]) -> Path:
    path = tmp_path / "key.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def gateway_error(monkeypatch: pytest.MonkeyPatch, path: Path) -> str:
    monkeypatch.setenv(ENV_VAR, str(path))
    with pytest.raises(GoogleCredentialsError) as info:
        GoogleGateway(SETTINGS)
    return str(info.value)


def test_explicit_credentials_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "/nonexistent/key.json")
    sentinel = object()
    assert resolve_credentials(sentinel) is sentinel  # type: ignore[arg-type]


def test_missing_file_names_the_file_and_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    message = gateway_error(monkeypatch, tmp_path / "nope.json")
    assert "nope.json" in message and "file not found" in message and ENV_VAR in message


def test_directory_instead_of_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert "is a directory" in gateway_error(monkeypatch, tmp_path)


def test_not_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_key_pem: str) -> None:
    # A PEM pasted where the JSON should be: the message must not echo it.
    message = gateway_error(monkeypatch, write(tmp_path, private_key_pem))
    assert "not a JSON file" in message and "key.json" in message
    assert "PRIVATE KEY" not in message and private_key_pem.splitlines()[1] not in message


def test_not_a_service_account(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"type": "authorized_user", "client_id": "x", "client_secret": "s3cr3t", "refresh_token": "r"},
    )
    message = gateway_error(monkeypatch, path)
    assert "not a service-account key" in message and "authorized_user" in message
    assert "s3cr3t" not in message


def test_missing_private_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_key_pem: str) -> None:
    info = sa_info(private_key_pem)
    del info["private_key"]
    message = gateway_error(monkeypatch, write(tmp_path, info))
    assert "lacks private_key" in message and "key.json" in message


def test_garbled_private_key_is_reported_without_key_material(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_key_pem: str
) -> None:
    lines = private_key_pem.splitlines()
    garbled = "\n".join([lines[0], lines[1][::-1], *lines[2:]])
    message = gateway_error(monkeypatch, write(tmp_path, sa_info(garbled)))
    assert "not a valid PEM RSA private key" in message
    assert lines[1][::-1] not in message and "BEGIN" not in message


def test_valid_service_account_file_is_scoped_and_keeps_token_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_key_pem: str
) -> None:
    monkeypatch.setenv(ENV_VAR, str(write(tmp_path, sa_info(private_key_pem))))
    creds = resolve_credentials()
    assert creds.service_account_email == "sync@ordersync-test.iam.gserviceaccount.com"
    assert list(creds.scopes) == SCOPES
    assert creds._token_uri == "http://127.0.0.1:9/token"


def test_no_credentials_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)

    def no_adc(**_: Any) -> Any:
        raise google.auth.exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_adc)
    with pytest.raises(GoogleCredentialsError) as info:
        GoogleGateway(SETTINGS)
    assert ENV_VAR in str(info.value) and "ordersync sandbox credentials" in str(info.value)


def test_adc_is_used_when_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    seen: dict[str, Any] = {}
    sentinel = object()

    def adc(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return sentinel, "project"

    monkeypatch.setattr(google.auth, "default", adc)
    assert resolve_credentials() is sentinel
    assert seen == {"scopes": SCOPES}


def test_token_endpoint_rejection_becomes_credentials_error_without_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, private_key_pem: str
) -> None:
    monkeypatch.setenv(ENV_VAR, str(write(tmp_path, sa_info(private_key_pem))))
    creds = resolve_credentials()
    token_http = HttpMockSequence(
        [
            (
                {"status": "400"},
                json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            )
        ]
    )
    gateway = GoogleGateway(
        SETTINGS,
        credentials=creds,
        http_factory=lambda: google_auth_httplib2.AuthorizedHttp(creds, http=token_http),
        sleep=lambda _s: None,
    )
    with pytest.raises(GoogleCredentialsError) as info:
        gateway.get_order("TEST-1")
    message = str(info.value)
    assert "rejected by token endpoint" in message and "http://127.0.0.1:9/token" in message
    assert "invalid_grant" in message and "Invalid JWT Signature" in message
    # The only request went to the token endpoint, carrying a signed assertion that must not leak.
    ((uri, _method, body, _headers),) = token_http.request_sequence
    assert uri == "http://127.0.0.1:9/token"
    assertion = dict(p.split("=", 1) for p in body.decode().split("&"))["assertion"]
    assert assertion not in message and "PRIVATE KEY" not in message
