"""Chaos for Google's live channels: `ordersync run` cycles with [ucp] and [order_tracking] against
a sandbox injecting 10 % faults (429/500/503) and 25 % lost responses, some runs killed with
SIGKILL mid-cycle, while the shop ships, cancels, refunds and scans deliveries in Square.

At the end every UCP lifecycle event was accepted by the verifying receiver exactly once, the
body it holds for every Webhook-Id is byte for byte the body the ledger recorded before the first
send (a resend with other bytes would have been refused 409 and left its intent failed), no
intent failed, and every web-shop order has exactly one tracking signal. Bounded: a fixed number
of runs, each with a timeout (about 30 s in all on 2 cores).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from sync.adapters.ledger import Ledger
from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.domain.intents import IntentState, Target
from sync.domain.ucp import http_signatures as hs
from sync.entrypoints.testorders_square import create_checkout_order
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "5550002"
API_KEY = "AIza" + "c" * 35
PROFILE = "https://shop.example.com/.well-known/ucp"
UCP_ORDERS, WEB_ORDERS, KILLS, MAX_RUNS = 8, 3, 2, 10
RUN_TIMEOUT = 60


def config(root: Path, url: str) -> str:
    return f"""
[google]
merchant_id = "{PARTNER}"
sandbox = true
endpoint = "{url}/"
max_backoff_seconds = 0.2
[square]
enabled = true
endpoint = "{url}"
[shipments]
feeds = []
rejects_dir = "reports/rejects"
[ledger]
url = "sqlite:///{root / "state" / "ordersync.db"}"
[ucp]
enabled = true
webhook_url = "{url}/ucp/v1/webhooks/partners/{PARTNER}/events/order"
signing_key_file = "state/ucp.pem"
key_id = "chaos-1"
profile_url = "{PROFILE}"
max_backoff_seconds = 0.2
deliveries = ["scans/*.csv"]
[order_tracking]
enabled = true
account_id = "{PARTNER}"
endpoint = "{url}"
origin_postal_code = "94043"
origin_region_code = "US"
max_backoff_seconds = 0.2
"""


def test_live_channels_survive_faults_lost_answers_and_kill_9(tmp_path: Path) -> None:
    rng = random.Random(20261202)
    with Sandbox(seed=16).start() as sb:
        (tmp_path / "state").mkdir()
        (tmp_path / "scans").mkdir()
        key = hs.new_private_key()
        (tmp_path / "state" / "ucp.pem").write_bytes(hs.private_key_pem(key))
        http = httpx.Client(base_url=sb.url)
        profile = {"signing_keys": [hs.public_jwk(key, "chaos-1")]}
        http.post(
            "/_sandbox/ucp/profiles", json={"profile_url": PROFILE, "profile": profile}
        ).raise_for_status()
        http.post(
            "/_sandbox/ucp/partners", json={"partner_id": PARTNER, "api_key": API_KEY, "profile_url": PROFILE}
        ).raise_for_status()
        (tmp_path / "ordersync.toml").write_text(config(tmp_path, sb.url), encoding="utf-8")
        write_service_account(tmp_path / "sa.json", sb.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERSYNC_", "UCP_"))}
        env.update(
            ORDERSYNC_CONFIG=str(tmp_path / "ordersync.toml"),
            GOOGLE_APPLICATION_CREDENTIALS=str(tmp_path / "sa.json"),
            SQUARE_ACCESS_TOKEN="chaos-token",
            UCP_API_KEY=API_KEY,
            PYTHONPATH=str(ROOT),
        )
        square = SquareGateway(SquareSettings(enabled=True, endpoint=sb.url), token="store-staff")
        ucp = [create_checkout_order(square, "ucp", n, "ucp_checkout_id") for n in range(UCP_ORDERS)]
        web = [create_checkout_order(square, "web", n, "ucp_checkout_id") for n in range(WEB_ORDERS)]
        expected: dict[str, set[str]] = {oid: {oid} for oid in ucp}
        kills = runs = 0

        def run(*, chaos: bool = True) -> None:
            nonlocal kills, runs
            runs += 1
            if chaos:
                sb.configure_faults(fault_rate=0.1, lost_response_rate=0.25, seed=runs)
            proc = subprocess.Popen(
                [sys.executable, "-m", "sync", "run", "--no-report"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=None if not chaos else subprocess.DEVNULL,
            )
            try:
                if chaos and kills < KILLS and rng.random() < 0.5:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=rng.uniform(0.8, 1.6))
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL)
                        kills += 1
                proc.wait(timeout=RUN_TIMEOUT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                sb.configure_faults(fault_rate=0.0, lost_response_rate=0.0)

        def ship(order_id: str) -> str:
            order = square.retrieve_order(order_id)
            tracking = f"1ZCH{order_id[-8:].upper()}"
            fulfilment = {
                "uid": order["fulfillments"][0]["uid"],
                "state": "COMPLETED",
                "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
            }
            square.update_order(order_id, {"version": order["version"], "fulfillments": [fulfilment]})
            return tracking

        run()
        shipped = ucp[: UCP_ORDERS - 2]
        tracking = {oid: ship(oid) for oid in shipped + web}
        for oid in shipped:
            expected[oid].add(f"{oid}:shipped:shipment")
        for oid in ucp[UCP_ORDERS - 2 :]:
            square.cancel_order(oid)
            expected[oid].add(f"{oid}:canceled")
        run()
        scanned = shipped[:4]
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = "".join(f"{oid},,UPS,{tracking[oid]},,{stamp}\n" for oid in scanned)
        (tmp_path / "scans" / "carrier.csv").write_text(
            "order_id,quantity,carrier,tracking_id,shipped_at,delivered_at\n" + rows, encoding="utf-8"
        )
        for oid in scanned:
            expected[oid].add(f"{oid}:delivered:shipment")
        refunded = {}
        for oid in shipped[-2:]:
            payment = square.retrieve_order(oid)["tenders"][0]["payment_id"]
            refund = square.refund_payment(payment, 300, "USD", f"chaos-refund:{oid}", reason="Late")
            refunded[oid] = refund.refund_id
            expected[oid].add(f"{oid}:refund:{refund.refund_id}")
        while runs < MAX_RUNS - 2 and (kills < KILLS or runs < 4):
            run()
        run(chaos=False)
        run(chaos=False)  # settles anything the last chaotic runs left; then it must be idle

        events = http.get("/_sandbox/ucp/events").json()["events"]
        accepted: dict[str, list[str]] = {}
        for event in events:
            accepted.setdefault(event["order_id"], []).append(event["webhook_id"])
        assert {oid: sorted(ids) for oid, ids in accepted.items()} == {
            oid: sorted(ids) for oid, ids in expected.items()
        }  # each event once: the receiver stores an id once, and a list has no room for doubles
        signals = http.get("/_sandbox/ordertracking/signals").json()["signals"]
        assert sorted(s["signal"]["orderId"] for s in signals) == sorted(web)
        faults = sb.stats.snapshot()["faults"]
        assert kills >= 1 and sum(faults.values()) > 0, (kills, faults)

    digests = {e["webhook_id"]: e["digest"] for e in events}
    ledger = Ledger(f"sqlite:///{tmp_path / 'state' / 'ordersync.db'}")
    try:
        intents: list[Any] = [
            r
            for oid in ucp + web
            for r in ledger.intents_for_order(oid)
            if r.target in (Target.UCP, Target.ORDER_TRACKING)
        ]
    finally:
        ledger.close()
    assert intents and all(r.state is IntentState.DONE for r in intents), [
        (r.key, r.state, r.error_reason) for r in intents if r.state is not IntentState.DONE
    ]
    for record in (r for r in intents if r.target == Target.UCP):
        assert digests[record.key] == hs.content_digest(record.payload["body"].encode("utf-8"))
    print(f"ucp chaos: runs={runs} kills={kills} faults={dict(faults)} pushes={len(events)}")
