"""RFC 9421 ES256 signing: the spec note's test vector verifies; tampering is caught with UCP's codes."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sync.domain.ucp import http_signatures as hs

# The spec note lives in shared/ beside the checkout (CI: a copy beside the clone).
SPEC_CANDIDATES = (
    Path(__file__).resolve().parents[3] / "shared" / "specs" / "ucp-order-lifecycle.md",
    Path("/work/shared/specs/ucp-order-lifecycle.md"),
)
URL = "https://shoppingdataintegration.googleapis.com/v1/webhooks/partners/1234567/events/order"
VECTOR_JWK = {
    "kid": "shop-2026-05",
    "kty": "EC",
    "crv": "P-256",
    "x": "2jmmUTqm_d5AcSpAYnsueb_yPC4Rirg2k5Um24hbQiQ",
    "y": "jduuoLeJJWT6zzILFZ1C-FIf_pblGYSGDdOtBgKNOjg",
    "use": "sig",
    "alg": "ES256",
}
VECTOR_D = "_7lKvlJzK4cIsDKhDxTtJHF1xYBSnXhJjTBNKmCSdbQ"
# Body E1 of the worked example (1295 bytes), exactly as the spec note prints it.
E1 = (
    b'{"ucp":{"version":"2026-04-08","capabilities":{"dev.ucp.shopping.order":[{"version":"2026-04-08"}]}},'
    b'"id":"ord_1001","checkout_id":"chk_1001","permalink_url":"https://shop.example.com/orders/ord_1001",'
    b'"currency":"USD","line_items":[{"id":"li_1","item":{"id":"sku_socks","title":"Trail Socks",'
    b'"price":1500},'
    b'"quantity":{"original":2,"total":2,"fulfilled":0},"totals":[{"type":"subtotal","amount":3000},'
    b'{"type":"tax","amount":240},{"type":"total","amount":3240}],"status":"processing"},{"id":"li_2",'
    b'"item":{"id":"sku_bottle","title":"Water Bottle","price":2500},"quantity":{"original":1,"total":1,'
    b'"fulfilled":0},"totals":[{"type":"subtotal","amount":2500},{"type":"tax","amount":200},'
    b'{"type":"total","amount":2700}],"status":"processing"}],"fulfillment":{"expectations":[{"id":"exp_1",'
    b'"line_items":[{"id":"li_1","quantity":2},{"id":"li_2","quantity":1}],"method_type":"shipping",'
    b'"destination":{"first_name":"Alex","last_name":"Buyer","street_address":"123 Main St",'
    b'"address_locality":"Austin","address_region":"TX","postal_code":"78701","address_country":"US"},'
    b'"description":"Arrives in 3-5 business days","fulfillable_on":"now"}]},"totals":[{"type":"subtotal",'
    b'"amount":5500},{"type":"fulfillment","display_text":"Shipping","amount":500},{"type":"tax","amount":440},'
    b'{"type":"total","amount":6440}]}'
)
VECTOR_HEADERS = {
    "Content-Type": "application/json",
    "UCP-Agent": 'profile="https://shop.example.com/.well-known/ucp"',
    "Content-Digest": "sha-256=:4TvvKhQnurVFCfTyXVBvjiDONz86e/SBhA2ce/5Y8Dk=:",
    "Signature-Input": 'sig1=("@method" "@authority" "@path" "content-digest" "content-type" "ucp-agent")'
    ';created=1777888800;keyid="shop-2026-05"',
    "Signature": "sig1=:0vofXSM3UCzhxfSPGLE/Ul6ic/UFu7zYaB0ltfVrr8yKKJHUjMAdFd2+"
    "1iplhJVbU9iB7o+Fcri69eORKhIU+g==:",
}
KEYS = {"shop-2026-05": VECTOR_JWK}


def vector_private_key() -> ec.EllipticCurvePrivateKey:
    d = int.from_bytes(base64.urlsafe_b64decode(VECTOR_D + "=" * (-len(VECTOR_D) % 4)), "big")
    return ec.derive_private_key(d, ec.SECP256R1())


def test_the_body_is_the_spec_notes_e1_when_the_note_is_readable() -> None:
    assert len(E1) == 1295 and hs.content_digest(E1) == VECTOR_HEADERS["Content-Digest"]
    for spec in (p for p in SPEC_CANDIDATES if p.exists()):
        match = re.search(r"\*\*E1 — order created\*\*.*?```json\n(.*?)\n```", spec.read_text("utf-8"), re.S)
        assert match is not None and match.group(1).encode() == E1


def test_the_spec_test_vector_verifies() -> None:
    assert (
        hs.verify_request(method="POST", url=URL, headers=VECTOR_HEADERS, body=E1, keys=KEYS)
        == "shop-2026-05"
    )


def test_our_signature_base_and_jwk_match_the_vector_key() -> None:
    key = vector_private_key()
    assert hs.public_jwk(key, "shop-2026-05") == VECTOR_JWK
    headers = {"Content-Type": "application/json", "UCP-Agent": VECTOR_HEADERS["UCP-Agent"]}
    signed = hs.sign_request(
        method="POST",
        url=URL,
        headers=headers,
        body=E1,
        private_key=key,
        key_id="shop-2026-05",
        created=datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC),
    )
    assert signed.content_digest == VECTOR_HEADERS["Content-Digest"]
    assert signed.signature_input == VECTOR_HEADERS["Signature-Input"]
    raw = base64.b64decode(signed.signature.removeprefix("sig1=:").removesuffix(":"))
    assert len(raw) == 64  # r||s, not DER
    assert hs.verify_request(
        method="POST", url=URL, headers={**headers, **signed.as_dict()}, body=E1, keys=KEYS
    )


def test_a_tampered_body_is_a_digest_mismatch() -> None:
    tampered = E1.replace(b'"price":1500', b'"price":1')
    with pytest.raises(hs.SignatureError) as err:
        hs.verify_request(method="POST", url=URL, headers=VECTOR_HEADERS, body=tampered, keys=KEYS)
    assert (err.value.code, err.value.status) == ("digest_mismatch", 400)


def test_a_digest_recomputed_for_a_tampered_body_breaks_the_signature() -> None:
    tampered = E1.replace(b'"price":1500', b'"price":1')
    headers = {**VECTOR_HEADERS, "Content-Digest": hs.content_digest(tampered)}
    with pytest.raises(hs.SignatureError) as err:
        hs.verify_request(method="POST", url=URL, headers=headers, body=tampered, keys=KEYS)
    assert (err.value.code, err.value.status) == ("signature_invalid", 401)


def test_another_path_or_key_does_not_verify() -> None:
    with pytest.raises(hs.SignatureError, match="signature_invalid"):
        other = URL.replace("1234567", "7654321")
        hs.verify_request(method="POST", url=other, headers=VECTOR_HEADERS, body=E1, keys=KEYS)
    stranger = hs.public_jwk(hs.new_private_key(), "shop-2026-05")
    with pytest.raises(hs.SignatureError, match="signature_invalid"):
        hs.verify_request(
            method="POST", url=URL, headers=VECTOR_HEADERS, body=E1, keys={"shop-2026-05": stranger}
        )
    with pytest.raises(hs.SignatureError) as err:
        hs.verify_request(method="POST", url=URL, headers=VECTOR_HEADERS, body=E1, keys={})
    assert (err.value.code, err.value.status) == ("key_not_found", 401)


def test_missing_signature_and_missing_coverage_are_refused() -> None:
    bare = {k: v for k, v in VECTOR_HEADERS.items() if k not in ("Signature", "Signature-Input")}
    with pytest.raises(hs.SignatureError) as err:
        hs.verify_request(method="POST", url=URL, headers=bare, body=E1, keys=KEYS)
    assert err.value.code == "signature_missing"
    key = hs.new_private_key()
    jwk = hs.public_jwk(key, "k2")
    headers = {"Content-Type": "application/json"}
    signed = hs.sign_request(
        method="POST",
        url=URL,
        headers=headers,
        body=E1,
        private_key=key,
        key_id="k2",
        created=datetime(2026, 5, 4, tzinfo=UTC),
        components=("@method", "@authority", "content-digest"),
    )
    with pytest.raises(hs.SignatureError, match="signature_invalid"):
        hs.verify_request(
            method="POST", url=URL, headers={**headers, **signed.as_dict()}, body=E1, keys={"k2": jwk}
        )
    # A query string must be signed as @query.
    query_url = URL + "?key=abc"
    signed = hs.sign_request(
        method="POST",
        url=query_url,
        headers=headers,
        body=E1,
        private_key=key,
        key_id="k2",
        created=datetime(2026, 5, 4, tzinfo=UTC),
    )
    assert '"@query"' in signed.signature_input
    assert (
        hs.verify_request(
            method="POST", url=query_url, headers={**headers, **signed.as_dict()}, body=E1, keys={"k2": jwk}
        )
        == "k2"
    )


def test_only_p256_keys_are_accepted() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        hs.public_jwk(p384, "big")
    with pytest.raises(hs.SignatureError) as err:
        hs.public_key_from_jwk({**VECTOR_JWK, "crv": "P-384"})
    assert err.value.code == "algorithm_unsupported"
    pem = hs.private_key_pem(vector_private_key())
    assert hs.public_jwk(hs.public_key_from_pem(pem), "x")["x"] == VECTOR_JWK["x"]
