"""GoogleBackend rules, templates, fault injector and the JWT grant, without HTTP."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sync.sandbox.faults import FaultInjector
from sync.sandbox.google import templates
from sync.sandbox.google.auth import JWT_BEARER, KeyRegistry, OAuthError
from sync.sandbox.google.common import minor_unit, order_price, round_minor
from sync.sandbox.google.models import (
    MUTATORS,
    GoogleBackend,
    GoogleError,
    derive_status,
    fingerprint,
    order_v21,
    validate_merchant_id,
)
from sync.sandbox.stats import Stats
from sync.sandbox.store import MemoryStore, SqliteStore

MID = "42"


@pytest.fixture
def backend() -> GoogleBackend:
    return GoogleBackend(MemoryStore(), Stats(), seed=5)


def advanced(b: GoogleBackend, template: str = "template1") -> dict[str, Any]:
    oid = b.create_test_order(MID, template_name=template)
    b.advance_test_order(MID, oid)
    return b.get_order(MID, oid)


def line(
    qty: int, shipped: int = 0, delivered: int = 0, canceled: int = 0, returned: int = 0
) -> dict[str, int]:
    return {
        "quantityOrdered": qty,
        "quantityShipped": shipped,
        "quantityDelivered": delivered,
        "quantityCanceled": canceled,
        "quantityReturned": returned,
    }


@pytest.mark.parametrize(
    ("lines", "advanced_", "expected"),
    [
        ([line(2)], False, "inProgress"),
        ([line(2, canceled=2)], False, "canceled"),
        ([line(2)], True, "pendingShipment"),
        ([line(2, shipped=1)], True, "partiallyShipped"),
        ([line(2, shipped=1, canceled=1)], True, "shipped"),
        ([line(2, shipped=2, delivered=1)], True, "partiallyDelivered"),
        ([line(2, shipped=2, delivered=2), line(1, canceled=1)], True, "delivered"),
        ([line(2, shipped=2, delivered=2, returned=1)], True, "partiallyReturned"),
        ([line(2, shipped=2, delivered=2, returned=2)], True, "returned"),
        ([line(1, canceled=1), line(3, canceled=3)], True, "canceled"),
    ],
)
def test_derive_status(lines: list[dict[str, int]], advanced_: bool, expected: str) -> None:
    assert derive_status({"lineItems": lines}, advanced_) == expected


def test_fingerprint_ignores_operation_id_only() -> None:
    a = fingerprint("acknowledge", {"operationId": "1"})
    assert a == fingerprint("acknowledge", {"operationId": "2"})
    assert a != fingerprint("cancel", {"operationId": "1"})
    assert fingerprint("cancel", {"reason": "other", "x": 1}) == fingerprint(
        "cancel", {"x": 1, "reason": "other"}
    )


@pytest.mark.parametrize("bad", ["abc", "", "0", "12a", "-5", None, "1" * 21])
def test_merchant_id_must_be_uint64(bad: Any) -> None:
    with pytest.raises(GoogleError) as info:
        validate_merchant_id(bad)
    assert info.value.status == 400


def test_gtins_have_valid_check_digits() -> None:
    for name in templates.TEMPLATE_NAMES:
        for li in templates.build_template(name)["lineItems"]:
            digits = [int(d) for d in li["product"]["gtin"]]
            assert len(digits) == 13
            assert sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10 == 0


def test_minor_units_and_prices_sent_against_an_order() -> None:
    assert (minor_unit("USD"), minor_unit("JPY"), minor_unit("KWD")) == (
        Decimal("0.01"),
        Decimal("1"),
        Decimal("0.001"),
    )
    assert round_minor(Decimal("0.4441"), "USD") == Decimal("0.44")
    assert round_minor(Decimal("0.445"), "USD") == Decimal("0.45")  # half up
    assert round_minor(Decimal("12.5"), "JPY") == Decimal("13")
    assert order_price({"value": "1.50", "currency": "USD"}, "amountPretax", "USD") == Decimal("1.50")
    for bad, word in (
        ({"value": "1.50", "currency": "EUR"}, "currency"),
        ({"value": "1.50"}, "currency"),
        ({"value": "1.505", "currency": "USD"}, "decimals"),
        ({"value": "-1", "currency": "USD"}, "non-negative"),
        ("1.50", "Price"),
    ):
        with pytest.raises(GoogleError, match=word):
            order_price(bad, "amountPretax", "USD")
    assert order_price({"value": "-1", "currency": "USD"}, "x", "USD", signed=True) == Decimal(-1)


def test_environments_keep_separate_state(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    sandbox = GoogleBackend(store, Stats(), seed=1)
    production = GoogleBackend(store, Stats(), seed=1, environment="production")
    in_sandbox = sandbox.create_test_order(MID, template_name="template2")
    in_production = production.create_test_order(MID, template_name="template2")
    assert in_sandbox != in_production  # ids stay globally unique with the same seed
    store.close()
    store = SqliteStore(tmp_path / "s.db")
    sandbox, production = (
        GoogleBackend(store, Stats()),
        GoogleBackend(store, Stats(), environment="production"),
    )
    assert [o["id"] for o in sandbox.list_orders(MID)[0]] == [in_sandbox]
    assert [o["id"] for o in production.list_orders(MID)[0]] == [in_production]
    with pytest.raises(GoogleError) as info:
        production.get_order(MID, in_sandbox)
    assert info.value.status == 404
    store.close()


def test_money_is_exact_and_quantities_consistent(backend: GoogleBackend) -> None:
    order = advanced(backend)
    # template1: 2x29.99 + 8.99 = 68.97; tax 2x2.40 + 0.72 = 5.52; shipping 5.99 + 0.48 tax
    assert order["netAmount"] == {"value": "80.96", "currency": "USD"}
    li = order["lineItems"][0]
    backend.mutate(
        MID,
        order["id"],
        "cancellineitem",
        {"operationId": "c", "lineItemId": li["id"], "quantity": 1, "reason": "other"},
    )
    after = backend.get_order(MID, order["id"])
    assert after["lineItems"][0]["quantityPending"] == li["quantityOrdered"] - 1
    assert after["refunds"][0]["amount"] == {"value": "32.39", "currency": "USD"}  # 29.99 + 2.40 tax
    assert after["netAmount"]["value"] == "48.57"


def test_failed_validation_changes_nothing(backend: GoogleBackend) -> None:
    order = advanced(backend)
    a, b = order["lineItems"][0], order["lineItems"][1]
    # The second line over-ships: the first line must not have been shipped either.
    request = {
        "operationId": "s",
        "lineItems": [{"lineItemId": a["id"], "quantity": 1}, {"lineItemId": b["id"], "quantity": 99}],
        "shipmentInfos": [{"shipmentId": "S"}],
    }
    with pytest.raises(GoogleError):
        backend.mutate(MID, order["id"], "shiplineitems", request)
    assert backend.get_order(MID, order["id"]) == order
    assert backend.stats.snapshot()["mutations"].get("content.orders.shiplineitems") is None


def test_same_line_twice_in_one_request_is_summed(backend: GoogleBackend) -> None:
    order = advanced(backend, "template2")  # one line, quantity 1
    li = order["lineItems"][0]
    request = {
        "operationId": "s",
        "lineItems": [
            {"lineItemId": li["id"], "quantity": 1},
            {"productId": li["product"]["id"], "quantity": 1},
        ],
        "shipmentInfos": [{"shipmentId": "S"}],
    }
    with pytest.raises(GoogleError, match="only 1 pending"):
        backend.mutate(MID, order["id"], "shiplineitems", request)


def test_keyset_token_is_bound_to_order_by(backend: GoogleBackend) -> None:
    for _ in range(3):
        backend.create_test_order(MID, template_name="template2")
    page, token = backend.list_orders(MID, max_results=2)
    assert len(page) == 2 and token
    rest, none = backend.list_orders(MID, max_results=2, page_token=token)
    assert len(rest) == 1 and none is None
    with pytest.raises(GoogleError, match="orderBy"):
        backend.list_orders(MID, max_results=2, page_token=token, order_by="placedDateDesc")
    with pytest.raises(GoogleError):
        backend.list_orders(MID, max_results=0)


def test_batch_limit_and_duplicate_batch_ids(backend: GoogleBackend) -> None:
    oid = backend.create_test_order(MID, template_name="template2")
    with pytest.raises(GoogleError) as info:
        backend.custombatch([{"batchId": i} for i in range(1001)])
    assert info.value.status == 400
    out = backend.custombatch(
        [
            {"batchId": 1, "merchantId": MID, "orderId": oid, "method": "get"},
            {"batchId": 1, "merchantId": MID, "orderId": oid, "method": "get"},
            {"batchId": 2, "merchantId": MID, "orderId": oid, "method": "createTestOrder"},
        ]
    )
    assert "order" in out[0]
    assert "Duplicate batchId" in out[1]["errors"]["message"]
    assert out[2]["errors"]["code"] == 400


def test_state_reloads_from_sqlite(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    b = GoogleBackend(store, Stats())
    order = advanced(b)
    b.mutate(MID, order["id"], "updatemerchantorderid", {"operationId": "m", "merchantOrderId": "X"})
    li = order["lineItems"][0]
    b.mutate(
        MID,
        order["id"],
        "shiplineitems",
        {
            "operationId": "s",
            "lineItems": [{"lineItemId": li["id"], "quantity": 1}],
            "shipmentInfos": [{"shipmentId": "S"}],
        },
    )
    rid = b.create_test_return(MID, order["id"], [{"lineItemId": li["id"], "quantity": 1}])
    store.close()
    b2 = GoogleBackend(SqliteStore(tmp_path / "s.db"), Stats())
    assert b2.get_by_merchant_order_id(MID, "X") == b.get_order(MID, order["id"])
    assert b2.get_return(MID, rid)["orderId"] == order["id"]
    # operationIds survive too: "m" was an updateMerchantOrderId, so reusing it differently is a 409.
    assert b2.mutate(
        MID, order["id"], "updatemerchantorderid", {"operationId": "m", "merchantOrderId": "X"}
    ) == ("duplicate")
    with pytest.raises(GoogleError) as info:
        b2.mutate(MID, order["id"], "acknowledge", {"operationId": "m"})
    assert info.value.status == 409


def test_v21_rendering_has_net_price_and_tax(backend: GoogleBackend) -> None:
    order = advanced(backend, "template2")
    v21 = order_v21(order)
    assert "netAmount" not in v21 and "paymentMethod" not in v21
    total = float(v21["netPriceAmount"]["value"]) + float(v21["netTaxAmount"]["value"])
    assert total == pytest.approx(float(order["netAmount"]["value"]))
    assert v21["lineItems"][0]["quantityUndeliverable"] == 0


def test_fault_injector_is_deterministic_per_seed() -> None:
    def run(seed: int) -> list[int | None]:
        f = FaultInjector(fault_rate=0.5, seed=seed)
        return [f.before() for _ in range(50)]

    assert run(1) == run(1)
    seq = run(1)
    assert None in seq and {429, 500, 503} & set(seq)
    with pytest.raises(ValueError):
        FaultInjector(fault_rate=1.5)
    f = FaultInjector()
    with pytest.raises(ValueError):
        f.configure(lost_response_rate=-0.1, latency_ms=5)
    assert f.settings()["latency_ms"] == 0  # a rejected change applies nothing


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(sig)}"


def test_jwt_grant_checks_signature_audience_and_time() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    reg = KeyRegistry(MemoryStore())
    reg.register(
        kid="k1", client_email="sa@x", public_key_pem=pem.decode(), token_uri="http://127.0.0.1:1/token"
    )
    now = int(time.time())
    claims = {
        "iss": "sa@x",
        "aud": "https://oauth2.googleapis.com/token",
        "scope": "s",
        "iat": now,
        "exp": now + 3600,
    }

    def grant(header: dict[str, Any], c: dict[str, Any], signer: rsa.RSAPrivateKey = key) -> dict[str, Any]:
        return reg.exchange({"grant_type": JWT_BEARER, "assertion": _jwt(signer, header, c)}, "127.0.0.1:1")

    token = grant({"alg": "RS256", "kid": "k1"}, claims)["access_token"]
    assert reg.token_valid(token) and not reg.token_valid(token + "x")
    assert grant({"alg": "RS256"}, dict(claims, aud="http://127.0.0.1:1/token"))["token_type"] == "Bearer"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [
        ({"alg": "RS256", "kid": "k1"}, claims, other, "Signature"),
        ({"alg": "RS256", "kid": "k1"}, dict(claims, aud="https://evil.example/token"), key, "aud"),
        ({"alg": "RS256", "kid": "k1"}, dict(claims, iat=now - 9000, exp=now - 5400), key, "timeframe"),
        ({"alg": "RS256", "kid": "k1"}, dict(claims, iss="someone@else"), key, "iss"),
        ({"alg": "HS256", "kid": "k1"}, claims, key, "RS256"),
    ]
    for header, c, signer, message in cases:
        with pytest.raises(OAuthError, match=message):
            grant(header, c, signer)
    with pytest.raises(OAuthError) as info:
        reg.exchange({"grant_type": "password"}, "h")
    assert info.value.code == "unsupported_grant_type"


def test_malformed_bodies_are_400s_never_crashes(backend: GoogleBackend) -> None:
    """Every mutating method answers a GoogleError (a 4xx) to junk field values, never a 500."""
    order = advanced(backend)
    line_id = order["lineItems"][0]["id"]
    backend.mutate(
        MID,
        order["id"],
        "shiplineitems",
        {
            "operationId": "ship",
            "lineItems": [
                {"lineItemId": li["id"], "quantity": li["quantityOrdered"]} for li in order["lineItems"]
            ],
            "shipmentInfos": [{"shipmentId": "S"}],
        },
    )
    junk: list[Any] = [1, "x", [1], [["x"]], {"value": "x"}, {"value": "1"}]
    fields = ("amountPretax", "amountTax", "amount", "reason", "quantity", "items", "shipping", "lineItems")
    fields += ("shipmentInfos", "shipmentId", "annotations", "shipmentGroupId", "lineItemInvoices")
    fields += ("invoiceSummary", "shipmentInvoices", "refundOnlyOption", "returnOption", "invoiceId")
    for n, ((version, method), field, value) in enumerate(
        (key, f, v) for key in sorted(MUTATORS) for f in fields for v in junk
    ):
        request = {
            "operationId": f"junk-{n}",
            "lineItemId": line_id,
            "quantity": 1,
            "reason": "other",
            field: value,
        }
        try:
            backend.mutate(MID, order["id"], method, request, version="v2" if version == "*" else version)
        except GoogleError as err:
            assert 400 <= err.status < 500, (method, field, value, err.message)
