"""GoogleGateway and `ordersync testorders` against the real in-process emulator (sync.sandbox.server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from google.oauth2.credentials import Credentials as BearerCredentials

from sync.adapters.google_gateway import GoogleApiError, GoogleCredentialsError, GoogleGateway, entry_error
from sync.config import GoogleSettings, Settings
from sync.entrypoints import cli_testorders
from sync.sandbox.server import Sandbox

MERCHANT = "7654321"
TOKEN = "test-token"  # registered with the sandbox (--token): the emulator refuses unknown tokens


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with Sandbox(tokens={TOKEN}).start() as sb:
        yield sb


def settings_for(url: str, **overrides: Any) -> GoogleSettings:
    values: dict[str, Any] = {
        "merchant_id": MERCHANT,
        "endpoint": url,
        "sandbox": True,
        "max_backoff_seconds": 0.05,
        "timeout_seconds": 10.0,
    }
    values.update(overrides)
    return GoogleSettings(**values)


def gateway_for(url: str, **overrides: Any) -> GoogleGateway:
    return GoogleGateway(settings_for(url, **overrides), credentials=BearerCredentials(token=TOKEN))


def ready_order(gw: GoogleGateway, template: str = "template1") -> dict[str, Any]:
    order_id = gw.create_test_order(template)
    gw.advance_test_order(order_id)
    return gw.get_order(order_id)


def test_test_order_lifecycle(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    template = gw.get_test_order_template("template1")
    assert template["lineItems"]
    order_id = gw.create_test_order("template1")
    order = gw.get_order(order_id)
    assert order["id"] == order_id and order["status"] == "inProgress"
    assert order["merchantId"] == MERCHANT
    in_progress = [o["id"] for o in gw.iter_orders(statuses=["IN_PROGRESS"])]
    assert order_id in in_progress
    gw.advance_test_order(order_id)
    assert gw.get_order(order_id)["status"] == "pendingShipment"
    assert order_id in [o["id"] for o in gw.iter_orders(statuses=["PENDING_SHIPMENT"], acknowledged=False)]


def test_acknowledge_is_idempotent_by_operation_id(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    order = ready_order(gw)
    assert gw.acknowledge(order["id"], "ack-1") == "executed"
    assert gw.acknowledge(order["id"], "ack-1") == "duplicate"
    assert gw.get_order(order["id"])["acknowledged"] is True
    assert order["id"] not in [o["id"] for o in gw.iter_orders(acknowledged=False)]


def test_merchant_order_id_ship_and_deliver(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    order = ready_order(gw)
    oid = order["id"]
    assert gw.update_merchant_order_id(oid, "mid-1", f"SQ-{oid}") == "executed"
    assert gw.get_by_merchant_order_id(f"SQ-{oid}")["id"] == oid
    items = [{"lineItemId": li["id"], "quantity": li["quantityOrdered"]} for li in order["lineItems"]]
    infos = [{"shipmentId": f"ship-{oid}", "carrier": "ups", "trackingId": "1Z999"}]
    assert gw.ship_line_items(oid, "ship-1", items, infos) == "executed"
    assert gw.ship_line_items(oid, "ship-1", items, infos) == "duplicate"
    assert gw.get_order(oid)["status"] == "shipped"
    assert gw.update_shipment(oid, "deliver-1", f"ship-{oid}", status="delivered") == "executed"
    assert gw.get_order(oid)["status"] == "delivered"
    return_id = gw.create_test_return(oid, [{"lineItemId": items[0]["lineItemId"], "quantity": 1}])
    assert return_id


def test_cancels(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    by_customer = ready_order(gw)
    gw.cancel_test_order_by_customer(by_customer["id"], "changedMind")
    assert gw.get_order(by_customer["id"])["status"] == "canceled"
    by_merchant = ready_order(gw)
    assert gw.cancel(by_merchant["id"], "cancel-1", "noInventory") == "executed"
    assert gw.get_order(by_merchant["id"])["status"] == "canceled"
    partial = ready_order(gw)
    line = partial["lineItems"][0]
    assert gw.cancel_line_item(partial["id"], "cl-1", line["id"], 1, "noInventory") == "executed"
    after = {li["id"]: li for li in gw.get_order(partial["id"])["lineItems"]}
    assert after[line["id"]]["quantityCanceled"] == 1


def test_errors_are_mapped_from_the_emulator(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    with pytest.raises(GoogleApiError) as info:
        gw.get_order("TEST-DOES-NOT-EXIST")
    assert info.value.status == 404 and info.value.reason == "notFound" and not info.value.retryable
    order = ready_order(gw)
    before = gw.calls
    with pytest.raises(GoogleApiError) as info:
        gw.cancel_line_item(order["id"], "bad-qty", order["lineItems"][0]["id"], 10_000, "noInventory")
    assert info.value.status == 400 and not info.value.retryable
    assert gw.calls == before + 1  # validation errors are never retried


def test_test_orders_do_not_exist_under_v2(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url)
    order_id = gw.create_test_order()
    # Point a production-path gateway at the same server: creating test orders there must fail.
    prod = gateway_for(sandbox.url, sandbox=False)
    with pytest.raises(GoogleApiError) as info:
        prod._execute(
            "content.orders.createtestorder",
            lambda o: o.createtestorder(merchantId=MERCHANT, body={"templateName": "template1"}),
        )
    assert info.value.status in {403, 404} and not info.value.retryable
    assert gw.get_order(order_id)["id"] == order_id


def test_custombatch_chunks_align_and_keep_entry_errors(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url, batch_size=2, concurrency=3)
    orders = [ready_order(gw) for _ in range(5)]
    entries: list[dict[str, Any]] = [
        {"method": "acknowledge", "orderId": o["id"], "operationId": f"batch-ack-{o['id']}"} for o in orders
    ]
    entries.insert(2, {"method": "get", "orderId": "TEST-NOPE"})
    entries.append({"method": "get", "orderId": orders[-1]["id"]})
    before = gw.calls
    result = gw.custombatch(entries)
    assert gw.calls - before == 4  # 7 entries in chunks of 2
    assert [r["batchId"] for r in result] == list(range(7))
    acks = [r for e, r in zip(entries, result, strict=True) if e["method"] == "acknowledge"]
    assert [r["executionStatus"] for r in acks] == ["executed"] * 5
    err = entry_error(result[2])
    assert err is not None and err.status == 404 and err.reason == "notFound"
    assert result[-1]["order"]["id"] == orders[-1]["id"]
    again = gw.custombatch(entries[:2])
    assert [r["executionStatus"] for r in again] == ["duplicate", "duplicate"]


def test_paging_streams_every_order(sandbox: Any) -> None:
    gw = gateway_for(sandbox.url, merchant_id="5550001")
    created = {gw.create_test_order() for _ in range(7)}
    before = gw.calls
    pages = list(gw.iter_order_pages(page_size=3))
    assert gw.calls - before == len(pages) >= 3
    assert all(len(p) <= 3 for p in pages)
    seen = [o["id"] for p in pages for o in p]
    assert len(seen) == len(set(seen)) and created <= set(seen)


def test_faults_are_retried_and_mutations_apply_exactly_once() -> None:
    with Sandbox(fault_rate=0.3, lost_response_rate=0.2, seed=7, tokens={TOKEN}).start() as sb:
        gw = gateway_for(sb.url, batch_size=3, max_attempts=10, merchant_id="5550002")
        sb.configure_faults(fault_rate=0.0, lost_response_rate=0.0)
        orders = [ready_order(gw) for _ in range(8)]
        sb.configure_faults(fault_rate=0.3, lost_response_rate=0.2)
        mutations_before = sb.stats.snapshot()["mutations_total"]
        entries = [
            {"method": "acknowledge", "orderId": o["id"], "operationId": f"ack-{o['id']}"} for o in orders
        ]
        result = gw.custombatch(entries)
        assert all(r.get("executionStatus") in {"executed", "duplicate"} for r in result), result
        for o in orders:
            assert gw.acknowledge(o["id"], f"ack-{o['id']}") == "duplicate"
        sb.configure_faults(fault_rate=0.0, lost_response_rate=0.0)
        assert all(gw.get_order(o["id"])["acknowledged"] for o in orders)
        snap = sb.stats.snapshot()
        assert snap["mutations_total"] - mutations_before == len(orders)
        assert snap["faults_total"] > 0


def test_service_account_flow_through_the_emulator_token_endpoint(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sync.sandbox.credentials import write_service_account

    key_file = tmp_path / "sa.json"
    write_service_account(key_file, sandbox.url)
    info = json.loads(key_file.read_text())
    assert info["token_uri"].startswith(sandbox.url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    gw = GoogleGateway(settings_for(sandbox.url))
    assert gw.create_test_order()


def test_unregistered_service_account_is_rejected_without_secrets(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    key_file = tmp_path / "rogue.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "rogue",
                "private_key_id": "rogue-key",
                "private_key": pem,
                "client_email": "rogue@rogue.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{sandbox.url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    gw = GoogleGateway(settings_for(sandbox.url))
    with pytest.raises(GoogleCredentialsError) as info:
        gw.create_test_order()
    message = str(info.value)
    assert "rejected by token endpoint" in message and "/token" in message
    assert "PRIVATE KEY" not in message and pem.splitlines()[1] not in message


def test_cli_create_advance_return(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sync.sandbox.credentials import write_service_account

    key_file = tmp_path / "sa.json"
    write_service_account(key_file, sandbox.url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    obj = SimpleNamespace(settings=Settings(google=settings_for(sandbox.url, merchant_id="5550003")))
    runner = CliRunner()

    created = runner.invoke(cli_testorders.testorders, ["create", "--count", "3"], obj=obj)
    assert created.exit_code == 0, created.output
    ids = created.stdout.split()
    assert len(ids) == 3

    advanced = runner.invoke(cli_testorders.testorders, ["advance", "--all"], obj=obj)
    assert advanced.exit_code == 0, advanced.output
    assert sorted(advanced.stdout.split()) == sorted(ids)

    missing = runner.invoke(cli_testorders.testorders, ["advance", "TEST-NOPE"], obj=obj)
    assert missing.exit_code == 1 and "TEST-NOPE" in missing.stderr and "notFound" in missing.stderr

    gw = GoogleGateway(obj.settings.google)
    order = gw.get_order(ids[0])
    items = [{"lineItemId": li["id"], "quantity": li["quantityOrdered"]} for li in order["lineItems"]]
    gw.ship_line_items(
        ids[0], "cli-ship", items, [{"shipmentId": "cli-s1", "carrier": "ups", "trackingId": "T1"}]
    )
    returned = runner.invoke(cli_testorders.testorders, ["return", ids[0]], obj=obj)
    assert returned.exit_code == 0, returned.output
    assert returned.stdout.strip()

    nothing = runner.invoke(cli_testorders.testorders, ["return", ids[1]], obj=obj)
    assert nothing.exit_code == 1 and "nothing shipped" in nothing.stderr

    cancelled = runner.invoke(cli_testorders.testorders, ["cancel", ids[2]], obj=obj)
    assert cancelled.exit_code == 0, cancelled.output
    assert gw.get_order(ids[2])["status"] == "canceled"
