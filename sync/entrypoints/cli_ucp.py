"""`ordersync ucp keys|profile`: the signing key for UCP webhooks and the profile that publishes it.

``keys --out FILE [--kid KID]`` writes a new P-256 private key (PEM, mode 0600) and prints its
public JWK; it never overwrites an existing file. ``profile --out FILE`` writes the
``/.well-known/ucp`` document with ``signing_keys`` for every configured key ([ucp]
signing_key_file + key_id, then each of published_keys), to be served over HTTPS at profile_url.
Exit codes: 0 done, 2 usage/configuration (the message says what to fix).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from sync.config import ConfigError, Settings, load_settings
from sync.domain.ucp import http_signatures
from sync.domain.ucp.profile import is_profile_document, profile_document
from sync.entrypoints.options import config_option, fail
from sync.exit_codes import ExitCode


def _fail(message: str) -> None:
    fail(message, ExitCode.USAGE)


def _settings(obj: Any) -> Settings:
    if obj is not None and getattr(obj, "settings", None) is not None:
        return obj.settings  # type: ignore[no-any-return]
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError("unreachable") from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a file that must not exist yet, atomically (temp file + link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if the path exists: never an overwrite, even in a race
    finally:
        os.unlink(tmp)


def _write_replacing(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # the profile is public by design
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _public_key(path: str, what: str) -> Any:
    try:
        return http_signatures.public_key_from_pem(Path(path).read_bytes())
    except FileNotFoundError:
        _fail(f"{what} {path!r} not found (create it with `ordersync ucp keys --out {path}`)")
    except OSError as exc:
        _fail(f"{what} {path!r}: cannot read it ({exc.strerror})")
    except ValueError:
        _fail(f"{what} {path!r} is not a P-256 key in PEM form")
    raise AssertionError("unreachable")


@click.group("ucp")
@config_option
def ucp() -> None:
    """UCP order webhooks: the signing key and the merchant profile that publishes it."""


@ucp.command("keys")
@config_option
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Private key file to create."
)
@click.option("--kid", default=None, help="Key id for the JWK (default: [ucp] key_id).")
@click.pass_obj
def keys(obj: Any, out: str, kid: str | None) -> None:
    """Write a new P-256 signing key (mode 0600) and print its public JWK."""
    key_id = kid or _settings(obj).ucp.key_id
    path = Path(out)
    if path.exists() or path.is_symlink():
        _fail(f"{out} already exists; refusing to overwrite a key (choose another --out)")
    key = http_signatures.new_private_key()
    try:
        _write_new(path, http_signatures.private_key_pem(key), 0o600)
    except FileExistsError:
        _fail(f"{out} already exists; refusing to overwrite a key (choose another --out)")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror}")
    click.echo(json.dumps(http_signatures.public_jwk(key, key_id), indent=2))
    click.echo(
        f"wrote {out} (mode 0600); set [ucp] signing_key_file = {str(path)!r} and key_id = {key_id!r}, "
        "then publish it with `ordersync ucp profile`",
        err=True,
    )


@ucp.command("profile")
@config_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Profile JSON to write.")
@click.pass_obj
def profile(obj: Any, out: str) -> None:
    """Write the /.well-known/ucp profile with signing_keys for every configured key."""
    settings = _settings(obj).ucp
    jwks = [
        http_signatures.public_jwk(
            _public_key(settings.signing_key_file, "[ucp] signing_key_file"), settings.key_id
        )
    ]
    for extra in settings.published_keys:
        jwks.append(
            http_signatures.public_jwk(
                _public_key(extra.key_file, "[ucp] published_keys key_file"), extra.key_id
            )
        )
    try:
        document = profile_document(
            jwks, profile_url=settings.profile_url, service_endpoint=settings.service_endpoint
        )
    except ValueError as exc:
        _fail(f"[ucp]: {exc}")
    path = Path(out)
    if path.exists():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = None
        if not is_profile_document(current):
            _fail(f"{out} exists and is not a UCP profile this command wrote; refusing to overwrite it")
    _write_replacing(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    kids = ", ".join(k["kid"] for k in jwks)
    click.echo(f"wrote {out} with signing_keys {kids}; serve it at {settings.profile_url}")
