"""OAuth2 for the emulator: service-account public keys, the JWT-bearer ``/token`` grant, tokens.

google-auth's service-account flow signs a JWT (RS256, header ``kid`` = private_key_id, claims
iss = client_email, aud = token_uri, scope, iat, exp) and POSTs it to ``token_uri``. We verify it
against public keys registered through ``POST /_sandbox/keys`` and issue an opaque bearer token.
Keys and issued tokens persist in the state store; tokens are stored only as SHA-256 digests so
the state file never holds a usable credential. Nothing here logs a token or a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sync.sandbox.store import StateStore

K_KEY, K_TOKEN = "google.sa_key", "google.token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME = 3600
CLOCK_SKEW = 300
# google-auth always puts Google's own token endpoint in ``aud`` (whatever token_uri says), and
# Google accepts it; so do we, besides this sandbox's own /token URL.
GOOGLE_TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)  # seconds of tolerance on iat/exp, as Google allows


class OAuthError(Exception):
    """RFC 6749 error: rendered as ``{"error": code, "error_description": description}``."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Any) -> str:
    """The OAuth2 access token of a werkzeug request (header, else access_token/oauth_token)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return str(header[7:].strip())
    return str(request.args.get("access_token") or request.args.get("oauth_token") or "")


def token_accepted(
    token: str, tokens: set[str] | None, keys: KeyRegistry, *, any_token: bool = False
) -> bool:
    """A token this sandbox's ``/token`` issued, or one of ``tokens`` (``--token``); any non-empty
    bearer token with ``any_token`` (``--any-token``)."""
    if not token:
        return False
    return any_token or token in (tokens or ()) or keys.token_valid(token)


class KeyRegistry:
    """Service-account public keys (by kid and by client_email) and the tokens issued for them."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._keys: dict[str, dict[str, Any]] = {}
        self._by_email: dict[str, str] = {}
        self._public: dict[str, rsa.RSAPublicKey] = {}
        self._tokens: dict[str, float] = {}  # sha256(token) → expiry epoch
        for kid, rec in store.load(K_KEY):
            self._add(kid, rec)
        now = time.time()
        for digest, rec in store.load(K_TOKEN):
            if rec["expires"] > now:
                self._tokens[digest] = rec["expires"]

    def _add(self, kid: str, rec: dict[str, Any]) -> None:
        key = serialization.load_pem_public_key(rec["public_key_pem"].encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("public_key_pem must be an RSA public key")
        self._keys[kid] = rec
        self._public[kid] = key
        self._by_email[rec["client_email"]] = kid

    def register(
        self, *, kid: str, client_email: str, public_key_pem: str, token_uri: str | None = None
    ) -> None:
        if not kid or not client_email or not public_key_pem:
            raise ValueError("kid, client_email and public_key_pem are required")
        rec = {"client_email": client_email, "public_key_pem": public_key_pem, "token_uri": token_uri or ""}
        with self._lock:
            self._add(kid, rec)
            self.store.put(K_KEY, kid, rec)

    def key_count(self) -> int:
        with self._lock:
            return len(self._keys)

    def persist_all(self) -> None:
        """Write keys and live tokens back (after ``/_sandbox/reset`` cleared the store)."""
        with self._lock:
            for kid, rec in self._keys.items():
                self.store.put(K_KEY, kid, rec)
            for digest, expires in self._tokens.items():
                self.store.put(K_TOKEN, digest, {"expires": expires})

    def token_valid(self, token: str) -> bool:
        digest = _digest(token)
        with self._lock:
            expires = self._tokens.get(digest)
        return expires is not None and expires > time.time()

    def exchange(self, form: dict[str, str], host: str) -> dict[str, Any]:
        """The JWT-bearer grant: verify the assertion, issue a token."""
        if form.get("grant_type") != JWT_BEARER:
            raise OAuthError("unsupported_grant_type", f"Only {JWT_BEARER} is supported by the sandbox.")
        assertion = form.get("assertion") or ""
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_request", "assertion is not a JWT.")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, TypeError) as exc:
            raise OAuthError("invalid_request", "assertion is not a valid JWT.") from exc
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Only RS256-signed assertions are accepted.")
        with self._lock:
            kid = (
                header.get("kid")
                if header.get("kid") in self._keys
                else self._by_email.get(claims.get("iss"))
            )
            public = self._public.get(kid) if kid else None
            rec = self._keys.get(kid) if kid else None
        if public is None or rec is None:
            raise OAuthError("invalid_grant", "Invalid JWT Signature (unknown key).")
        try:
            public.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("iss") != rec["client_email"]:
            raise OAuthError("invalid_grant", "Invalid JWT: iss does not match the key's client_email.")
        aud = str(claims.get("aud") or "")
        parsed = urlsplit(aud)
        ours = aud == rec["token_uri"] or (parsed.path == "/token" and parsed.netloc.lower() == host.lower())
        if not ours and aud not in GOOGLE_TOKEN_AUDIENCES:
            raise OAuthError("invalid_grant", "Invalid JWT: aud must be the token endpoint.")
        now = time.time()
        try:
            iat, exp = float(claims["iat"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise OAuthError("invalid_grant", "Invalid JWT: iat and exp are required.") from exc
        if exp < now - CLOCK_SKEW or iat > now + CLOCK_SKEW:
            raise OAuthError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.",
            )
        if exp - iat > TOKEN_LIFETIME + 60:
            raise OAuthError("invalid_grant", "Invalid JWT: lifetime longer than one hour.")
        if not claims.get("scope") and not claims.get("target_audience"):
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.sandbox." + secrets.token_urlsafe(32)
        expires = now + TOKEN_LIFETIME
        digest = _digest(token)
        with self._lock:
            self._tokens = {d: e for d, e in self._tokens.items() if e > now}  # drop expired ones
            self._tokens[digest] = expires
            self.store.put(K_TOKEN, digest, {"expires": expires})
        return {"access_token": token, "expires_in": TOKEN_LIFETIME - 1, "token_type": "Bearer"}
