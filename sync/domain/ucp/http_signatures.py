"""RFC 9421 HTTP Message Signatures with ES256 (UCP 2026-04-08 webhooks), signing and verifying.

Pure (no I/O, no clock: ``created`` is passed in), so the webhook client and the sandbox receiver
share it without the sandbox importing adapters or the adapters importing the sandbox.

Built on ``http-message-signatures`` (RFC 9421: signature base, structured fields, ``r||s`` ECDSA
encoding). UCP's profile: ``Content-Digest: sha-256=:…:`` (RFC 9530) over the exact body bytes;
``Signature-Input: sig1=("@method" "@authority" "@path" ["@query"] "content-digest" "content-type"
["ucp-agent"]);created=…;keyid="…"`` with no ``alg`` parameter (the verifier takes the algorithm
from the key's JWK ``crv``); ``Signature: sig1=:<base64 r||s>:``. Keys are JWKs (RFC 7517).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import http_sf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

LABEL = "sig1"
# What every push signs; @query and ucp-agent are added when the request has them.
BASE_COMPONENTS = ("@method", "@authority", "@path", "content-digest", "content-type")
# What a verifier insists on (the brief and UCP's webhook example: target and body bound).
REQUIRED_COMPONENTS = BASE_COMPONENTS
CURVES = {"P-256": ec.SECP256R1}


class SignatureError(Exception):
    """A request whose signature does not hold; ``code`` and ``status`` are UCP's (signatures.md)."""

    STATUS = {
        "signature_missing": 401,
        "signature_invalid": 401,
        "key_not_found": 401,
        "digest_mismatch": 400,
        "algorithm_unsupported": 400,
    }

    def __init__(self, code: str, content: str) -> None:
        super().__init__(f"{code}: {content}")
        self.code = code
        self.content = content
        self.status = self.STATUS[code]


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` with sha-256 over exactly these bytes."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


# ---------------------------------------------------------------------------------- keys (JWK)
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, str]:
    """The public JWK a profile's ``signing_keys`` lists (never the private scalar)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public.curve, ec.SECP256R1):
        raise ValueError(f"key {kid!r} is not a P-256 key (UCP signing needs ES256)")
    numbers = public.public_numbers()
    return {
        "kid": kid,
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
        "use": "sig",
        "alg": "ES256",
    }


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """An EC public key from a JWK; ``algorithm_unsupported`` for anything but P-256."""
    if jwk.get("kty") != "EC" or jwk.get("crv") not in CURVES:
        raise SignatureError(
            "algorithm_unsupported", f"key {jwk.get('kid')!r}: only EC P-256 (ES256) keys are supported"
        )
    if jwk.get("alg") not in (None, "ES256"):
        raise SignatureError("algorithm_unsupported", f"key {jwk.get('kid')!r}: alg {jwk.get('alg')!r}")
    try:
        x = int.from_bytes(_b64url_decode(str(jwk["x"])), "big")
        y = int.from_bytes(_b64url_decode(str(jwk["y"])), "big")
        return ec.EllipticCurvePublicNumbers(x, y, CURVES[str(jwk["crv"])]()).public_key()
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"key {jwk.get('kid')!r} is not a valid EC public JWK") from exc


def private_key_from_pem(data: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 (ES256) private key")
    return key


def public_key_from_pem(data: bytes) -> ec.EllipticCurvePublicKey:
    """A PEM public key, or the public half of a PEM private key."""
    if b"PRIVATE KEY" in data:
        return private_key_from_pem(data).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not a P-256 (ES256) public key")
    return key


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# ---------------------------------------------------------------------------------- messages
class _Headers(dict[str, str]):
    """Case-preserving header dict with case-insensitive membership (what the library expects)."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k in self.keys())


@dataclass
class _Message:
    method: str
    url: str
    headers: _Headers


class _Keys(HTTPSignatureKeyResolver):
    def __init__(
        self,
        private: ec.EllipticCurvePrivateKey | None = None,
        public: Mapping[str, ec.EllipticCurvePublicKey] | None = None,
    ) -> None:
        self._private = private
        self._public = dict(public or {})

    def resolve_private_key(self, key_id: str) -> ec.EllipticCurvePrivateKey:
        if self._private is None:
            raise KeyError(key_id)
        return self._private

    def resolve_public_key(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        return self._public.get(key_id)


@dataclass(frozen=True)
class SignedHeaders:
    content_digest: str
    signature_input: str
    signature: str

    def as_dict(self) -> dict[str, str]:
        return {
            "Content-Digest": self.content_digest,
            "Signature-Input": self.signature_input,
            "Signature": self.signature,
        }


def components_for(url: str, headers: Mapping[str, str]) -> tuple[str, ...]:
    """What a push signs: the base set, ``@query`` when there is one, ``ucp-agent`` when sent."""
    components = list(BASE_COMPONENTS)
    if urlsplit(url).query:
        components.insert(3, "@query")
    if any(name.lower() == "ucp-agent" for name in headers):
        components.append("ucp-agent")
    return tuple(components)


def sign_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    key_id: str,
    created: datetime,
    components: Iterable[str] | None = None,
) -> SignedHeaders:
    """Sign a request; ``headers`` must already hold ``Content-Type`` (and ``UCP-Agent`` if sent)."""
    # Signing again (a retry, another key) replaces the previous digest and signature.
    replaced = {"content-digest", "signature", "signature-input"}
    message = _Message(
        method.upper(), url, _Headers({k: v for k, v in headers.items() if k.lower() not in replaced})
    )
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=_Keys(private_key)
    )
    signer.sign(
        message,
        key_id=key_id,
        created=created,
        label=LABEL,
        include_alg=False,
        covered_component_ids=tuple(components or components_for(url, headers)),
        body=body,  # the library adds Content-Digest (sha-256) over exactly these bytes
    )
    return SignedHeaders(
        content_digest=message.headers["Content-Digest"],
        signature_input=message.headers["Signature-Input"],
        signature=message.headers["Signature"],
    )


def signature_key_id(headers: Mapping[str, str]) -> str:
    """The ``keyid`` of the ``sig1`` signature (``signature_missing`` when there is none)."""
    raw = _header(headers, "Signature-Input")
    if not raw or not _header(headers, "Signature"):
        raise SignatureError("signature_missing", "Signature-Input and Signature headers are required")
    try:
        parsed = http_sf.parse(raw.encode(), tltype="dictionary")
    except ValueError as exc:
        raise SignatureError(
            "signature_invalid", "Signature-Input is not a structured field dictionary"
        ) from exc
    member: Any = parsed.get(LABEL) if isinstance(parsed, dict) else None  # (inner list, parameters)
    if member is None:
        raise SignatureError("signature_missing", f"no {LABEL} signature")
    keyid = member[1].get("keyid")
    if not isinstance(keyid, str) or not keyid:
        raise SignatureError("signature_invalid", "Signature-Input has no keyid")
    return keyid


def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, Mapping[str, Any]],
    required: Iterable[str] = REQUIRED_COMPONENTS,
) -> str:
    """Check digest and signature against JWKs by kid; return the kid, or raise SignatureError.

    Order as UCP's verifier: signature present → key by kid → algorithm → coverage → digest → base
    and signature. ``@query`` must be covered when the URL has a query string.
    """
    keyid = signature_key_id(headers)
    jwk = keys.get(keyid)
    if jwk is None:
        raise SignatureError("key_not_found", f"no key kid={keyid} in the signer's profile")
    public = public_key_from_jwk(jwk)
    needed = list(required)
    if urlsplit(url).query:
        needed.append("@query")
    digest = _header(headers, "Content-Digest")
    message = _Message(method.upper(), url, _Headers(headers))
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ECDSA_P256_SHA256, key_resolver=_Keys(public={keyid: public})
    )
    verifier.require_created = False  # optional in UCP: replay protection is by Webhook-Id
    try:
        verifier.verify(message, max_age=None, expect_label=None, require_components=tuple(needed))
    except InvalidSignature as exc:
        text = str(exc)
        if "was not covered" in text:
            raise SignatureError("signature_invalid", f"signature does not cover {text.split()[2]}") from None
        if digest is not None and not hmac.compare_digest(digest, content_digest(body)):
            raise SignatureError("digest_mismatch", "Content-Digest does not match the body") from None
        raise SignatureError(
            "signature_invalid", f"signature verification failed for key kid={keyid}"
        ) from None
    if digest is None or not hmac.compare_digest(digest, content_digest(body)):
        raise SignatureError("digest_mismatch", "Content-Digest does not match the body")
    return keyid


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def unix_seconds(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())
