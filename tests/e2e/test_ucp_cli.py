"""`ordersync ucp keys|profile` and `testorders create --channel ucp|web` as a user runs them."""

from __future__ import annotations

import json
import stat

import httpx

from sync.adapters.square_gateway import SquareGateway
from sync.adapters.ucp_webhook_client import UcpWebhookClient
from sync.config import SquareSettings, load_settings
from sync.domain.order_tracking import is_web_shop_order
from sync.domain.ucp import http_signatures as hs
from sync.domain.ucp.entity import UcpOrderConfig, is_ucp_order
from sync.domain.ucp.pushes import PushHistory, due_pushes
from sync.domain.ucp.square_order import SquareOrder
from tests.e2e.conftest import MERCHANT_ID, Workspace, write_config

PROFILE = "https://shop.example.com/.well-known/ucp"


def ucp_config(ws: Workspace, extra: str = "") -> None:
    write_config(
        ws.config,
        ws.sandbox.url,
        square=True,
        extra=f"""
[ucp]
webhook_url = "{ws.sandbox.url}/ucp/v1/webhooks/partners/{MERCHANT_ID}/events/order"
signing_key_file = "state/ucp.pem"
key_id = "shop-2026-12"
profile_url = "{PROFILE}"
{extra}
""",
    )


def test_keys_writes_a_private_key_once_and_prints_its_public_jwk(workspace: Workspace) -> None:
    ucp_config(workspace)
    done = workspace.ordersync("ucp", "keys", "--out", "state/ucp.pem", "--kid", "shop-2026-12", check=True)
    jwk = json.loads(done.stdout)
    assert jwk["kid"] == "shop-2026-12" and jwk["crv"] == "P-256" and "d" not in jwk
    key_file = workspace.root / "state" / "ucp.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert hs.public_jwk(hs.private_key_from_pem(key_file.read_bytes()), "shop-2026-12") == jwk
    before = key_file.read_bytes()
    again = workspace.ordersync("ucp", "keys", "--out", "state/ucp.pem")
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert key_file.read_bytes() == before
    assert "PRIVATE KEY" not in done.stdout + done.stderr


def test_profile_lists_every_configured_key_and_never_clobbers_other_files(workspace: Workspace) -> None:
    ucp_config(workspace, 'published_keys = [{key_id = "shop-2027-03", key_file = "state/next.pem"}]')
    workspace.ordersync("ucp", "keys", "--out", "state/ucp.pem", check=True)
    nxt = json.loads(
        workspace.ordersync(
            "ucp", "keys", "--out", "state/next.pem", "--kid", "shop-2027-03", check=True
        ).stdout
    )
    done = workspace.ordersync("ucp", "profile", "--out", "public/ucp.json", check=True)
    assert "shop-2026-12, shop-2027-03" in done.stdout
    document = json.loads((workspace.root / "public" / "ucp.json").read_text())
    assert [k["kid"] for k in document["signing_keys"]] == ["shop-2026-12", "shop-2027-03"]
    assert document["signing_keys"][1] == nxt and all("d" not in k for k in document["signing_keys"])
    assert "dev.ucp.shopping.order" in document["ucp"]["capabilities"]
    assert workspace.ordersync("ucp", "profile", "--out", "public/ucp.json").returncode == 0  # our own file
    (workspace.root / "notes.json").write_text('{"mine": true}')
    refused = workspace.ordersync("ucp", "profile", "--out", "notes.json")
    assert refused.returncode == 2 and json.loads((workspace.root / "notes.json").read_text()) == {
        "mine": True
    }
    (workspace.root / "state" / "next.pem").unlink()
    gone = workspace.ordersync("ucp", "profile", "--out", "public/ucp.json")
    assert gone.returncode == 2 and "ordersync ucp keys" in gone.stderr


def test_ucp_and_web_test_orders_land_in_square_and_a_ucp_order_is_accepted_by_the_receiver(
    workspace: Workspace,
) -> None:
    ucp_config(workspace)
    workspace.ordersync("ucp", "keys", "--out", "state/ucp.pem", check=True)
    workspace.ordersync("ucp", "profile", "--out", "public/ucp.json", check=True)
    ucp_ids = workspace.ordersync("testorders", "create", "--channel", "ucp", "--count", "2", check=True)
    web_ids = workspace.ordersync("testorders", "create", "--channel", "web", "--count", "1", check=True)
    ucp_ids_list, web_ids_list = ucp_ids.stdout.split(), web_ids.stdout.split()
    assert len(ucp_ids_list) == 2 and len(web_ids_list) == 1

    square = SquareGateway(SquareSettings(endpoint=workspace.sandbox.url), token="sandbox-token")
    config = UcpOrderConfig(permalink_template="https://shop.example.com/orders/{order_id}")
    orders = {oid: SquareOrder.from_square(square.retrieve_order(oid)) for oid in ucp_ids_list + web_ids_list}
    assert all(is_ucp_order(orders[oid], config) and orders[oid].paid for oid in ucp_ids_list)
    web = orders[web_ids_list[0]]
    assert not is_ucp_order(web, config) and web.paid
    assert is_web_shop_order(web, is_content_api_order=lambda o: False, ucp=config)

    # The merchant publishes the profile; Google (the sandbox) knows the partner and the key.
    http = httpx.Client(base_url=workspace.sandbox.url)
    profile = json.loads((workspace.root / "public" / "ucp.json").read_text())
    http.post("/_sandbox/ucp/profiles", json={"profile_url": PROFILE, "profile": profile}).raise_for_status()
    http.post(
        "/_sandbox/ucp/partners",
        json={"partner_id": MERCHANT_ID, "api_key": "AIza-e2e", "profile_url": PROFILE},
    ).raise_for_status()
    settings = load_settings(workspace.config, environ={}).ucp.model_copy(
        update={"signing_key_file": str(workspace.root / "state" / "ucp.pem")}
    )
    with UcpWebhookClient(settings, api_key="AIza-e2e") as client:
        for oid in ucp_ids_list:
            (push,) = due_pushes(orders[oid], PushHistory(), config)
            assert client.push(push.webhook_id, push.timestamp, push.body).delivered
    events = http.get("/_sandbox/ucp/events").json()["events"]
    assert sorted(e["webhook_id"] for e in events) == sorted(ucp_ids_list)
