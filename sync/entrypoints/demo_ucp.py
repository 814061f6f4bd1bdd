"""`ordersync demo --channel ucp`: Google's live channels end to end on the embedded sandbox.

The emulators start in-process; the demo makes a UCP signing key, publishes its profile to the
sandbox's receiver and registers a partner (what Google's onboarding does), then creates Square
orders as Google's agentic checkout (UCP) and the web shop would, and plays the shop: it ships
every parcel in Square, cancels one UCP order, refunds part of another, and writes the carrier's
delivery scans. After each move a real `run` cycle pushes what changed. It ends by printing what
the receiver accepted (every push verified: API key, digest, signature, schema) and the order
tracking signals Google holds. Its folder rules are the Content API demo's (``demo.py``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from google.oauth2 import service_account

from sync.adapters.square_gateway import SquareGateway
from sync.adapters.ucp_webhook_client import API_KEY_ENV
from sync.config import OrderTrackingSettings, Settings, UcpSettings
from sync.domain.ucp import http_signatures
from sync.entrypoints.demo import SANDBOX_TOKEN, SCOPES, demo_settings, prepare_demo_dir
from sync.entrypoints.testorders_square import create_checkout_order
from sync.exit_codes import ExitCode
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import open_square
from sync.service.runner import run_once

PARTNER_ID = "1234567"
DEMO_API_KEY = "demo-ucp-api-key"  # known only to the in-process receiver
KEY_ID = "demo-2026-12"
PROFILE_URL = "https://shop.example.com/.well-known/ucp"
OWN_UCP_FILES = ("ucp-signing.pem",)
DELIVERY_SCANS = "deliveries-demo.csv"


@contextmanager
def demo_api_key() -> Iterator[None]:
    """The receiver's API key for the demo's cycles only: a real UCP_API_KEY in the environment
    is set aside (never sent anywhere) and put back afterwards."""
    saved = os.environ.get(API_KEY_ENV)
    os.environ[API_KEY_ENV] = DEMO_API_KEY
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(API_KEY_ENV, None)
        else:
            os.environ[API_KEY_ENV] = saved


def ucp_demo_settings(work_dir: Path, endpoint: str) -> Settings:
    base = demo_settings(work_dir, endpoint, square=True)
    return base.model_copy(
        update={
            "ucp": UcpSettings(
                enabled=True,
                webhook_url=f"{endpoint}/ucp/v1/webhooks/partners/{PARTNER_ID}/events/order",
                signing_key_file=str(work_dir / "state" / "ucp-signing.pem"),
                key_id=KEY_ID,
                profile_url=PROFILE_URL,
                deliveries=[str(work_dir / "feeds" / DELIVERY_SCANS)],
            ),
            "order_tracking": OrderTrackingSettings(
                enabled=True,
                account_id=PARTNER_ID,
                endpoint=endpoint,
                origin_postal_code="78701",
                origin_region_code="US",
            ),
        }
    )


def _register(sandbox: Sandbox, key_file: Path) -> None:
    """What onboarding does: the profile with the public key published, the partner known."""
    key = http_signatures.new_private_key()
    key_file.write_bytes(http_signatures.private_key_pem(key))
    key_file.chmod(0o600)
    profile = {"signing_keys": [http_signatures.public_jwk(key, KEY_ID)]}
    with httpx.Client(base_url=sandbox.url) as http:
        registration = {"profile_url": PROFILE_URL, "profile": profile}
        http.post("/_sandbox/ucp/profiles", json=registration).raise_for_status()
        http.post(
            "/_sandbox/ucp/partners",
            json={"partner_id": PARTNER_ID, "api_key": DEMO_API_KEY, "profile_url": PROFILE_URL},
        ).raise_for_status()


def _ship(square: SquareGateway, order_id: str) -> str:
    order = square.retrieve_order(order_id)
    tracking = f"1ZDEMO{order_id[-10:].upper()}"
    fulfilment = {
        "uid": order["fulfillments"][0]["uid"],
        "state": "COMPLETED",
        "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
    }
    square.update_order(order_id, {"version": order["version"], "fulfillments": [fulfilment]})
    return tracking


def _accepted(sandbox: Sandbox) -> dict[str, list[str]]:
    with httpx.Client(base_url=sandbox.url) as http:
        events = http.get("/_sandbox/ucp/events").json()["events"]
        signals = http.get("/_sandbox/ordertracking/signals").json()["signals"]
    accepted: dict[str, list[str]] = {}
    for event in events:
        accepted.setdefault(str(event["order_id"]), []).append(str(event["webhook_id"]))
    accepted["signals"] = [str(s["signal"]["orderId"]) for s in signals]
    return accepted


def run_ucp_demo(
    work_dir: Path, *, order_count: int, echo: Callable[[str], None] = print, interactive: bool = False
) -> ExitCode:
    earlier_reports = prepare_demo_dir(work_dir)
    for name in OWN_UCP_FILES:
        (work_dir / "state" / name).unlink(missing_ok=True)
    (work_dir / "feeds" / DELIVERY_SCANS).unlink(missing_ok=True)
    with Sandbox().start() as sandbox, demo_api_key():
        echo(f"sandbox listening on {sandbox.url} (UCP receiver, order tracking, Square emulators)")
        key_file = work_dir / "state" / "service-account.json"
        write_service_account(key_file, sandbox.url)
        credentials = service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)
        settings = ucp_demo_settings(work_dir, sandbox.url)
        _register(sandbox, Path(settings.ucp.signing_key_file))
        square = open_square(settings, SANDBOX_TOKEN)
        assert square is not None
        key = settings.ucp.checkout_id_metadata_key
        ucp_ids = [create_checkout_order(square, "ucp", n, key) for n in range(order_count)]
        web_ids = [create_checkout_order(square, "web", n, key) for n in range(max(1, order_count // 3))]
        echo(f"Google's checkout placed {len(ucp_ids)} UCP orders, the web shop {len(web_ids)}, in Square")

        def cycle(what: str) -> None:
            outcome = run_once(
                settings,
                report=False,
                interactive=interactive,
                google_credentials=credentials,
                square_token=SANDBOX_TOKEN,
            )
            echo(f"{what}: {outcome.cycle.line()}")

        cycle("cycle 1 (created)")
        canceled, shipped = ucp_ids[-1:], ucp_ids[:-1] if len(ucp_ids) > 1 else []
        for order_id in canceled:
            square.cancel_order(order_id)
        scans = [(order_id, _ship(square, order_id)) for order_id in shipped + web_ids]
        cycle(f"cycle 2 ({len(scans)} parcels shipped, {len(canceled)} UCP order canceled)")
        with (work_dir / "feeds" / DELIVERY_SCANS).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["order_id", "quantity", "carrier", "tracking_id", "shipped_at", "delivered_at"])
            delivered_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.writerows([oid, "", "UPS", tracking, "", delivered_at] for oid, tracking in scans)
        if shipped:
            refunded = square.retrieve_order(shipped[0])
            payment = refunded["tenders"][0]["payment_id"]
            square.refund_payment(payment, 500, "USD", f"demo-refund:{shipped[0]}", reason="Late delivery")
        cycle("cycle 3 (delivery scans, a partial refund)")
        cycle("cycle 4 (idle: nothing to push)")
        accepted = _accepted(sandbox)
        stats: dict[str, Any] = sandbox.stats.snapshot()

    want = {oid: 4 if oid == (shipped[:1] or [""])[0] else 3 for oid in shipped}
    want.update({oid: 2 for oid in canceled})
    complete = all(len(accepted.get(oid, [])) == n for oid, n in want.items())
    one_signal = sorted(accepted["signals"]) == sorted(web_ids)
    pushes = sum(len(v) for k, v in accepted.items() if k != "signals")
    echo(
        f"the UCP receiver verified and accepted {pushes} pushes "
        f"({stats['mutations'].get('ucp.webhooks.order', 0)} stored); order tracking signals: "
        f"{len(accepted['signals'])} for {len(web_ids)} web-shop orders"
    )
    for order_id in ucp_ids:
        echo(f"  {order_id}: {', '.join(accepted.get(order_id, []))}")
    echo(f"ledger:  {work_dir / 'state' / 'ordersync.db'}")
    if earlier_reports:
        echo(f"earlier demo reports are kept in {work_dir / 'reports'}")
    return ExitCode.OK if complete and one_signal else ExitCode.FAILED
