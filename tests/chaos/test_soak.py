"""Chaos soak: faults, lost responses, SIGKILLed runs and an emulator restart — nothing lost, nothing twice.

The emulator runs as its own process (`ordersync sandbox serve --state …`) with 10 % injected
429/500/503 faults, 2 % lost responses (the mutation applies, the client sees an error) and
latency. Test orders arrive in waves while `ordersync run` cycles with Square enabled; the store
completes Square fulfilments (once Square shows the units customers canceled on Google meanwhile)
and a carrier feed reports deliveries as they happen. Runs are killed
with SIGKILL at seeded random points, and the emulator is restarted from its state file once.
Once everything is delivered, refunds go both ways: the store refunds some orders in Square (POS
itemized returns and Dashboard amounts), Merchant Center refunds others on Google, and the cycles
(one of them SIGKILLed) must carry each to the other side exactly once.

Everything is checked at the end through the public APIs, never through the ledger.
Size: 150 orders by default (about a minute on 2 cores); ORDERSYNC_SOAK_ORDERS=N for a larger soak,
its time budget growing with N.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account

from sync.adapters.google_gateway import GoogleApiError, GoogleGateway
from sync.adapters.square_errors import SquareApiError
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.square_sandbox import SquareSandboxControls
from sync.config import GoogleSettings, SquareSettings
from sync.domain.feed import COLUMNS as FEED_COLUMNS

ORDERS = int(os.environ.get("ORDERSYNC_SOAK_ORDERS", "150"))
WAVES = 5
KILLS = 3
FAULTS = ["--fault-rate", "0.1", "--lost-response-rate", "0.02", "--latency-ms", "3", "--seed", "20261123"]
MERCHANT_ID = "5550001"
TEMPLATES = ("template1", "template2", "template1a", "template1b")
CARRIERS = ("UPS", "FedEx", "USPS", "DHL Express")
# The time budget: order creation, the cycles and the checks all grow with the size (280 s at 500,
# as before the refund phase; the fixed part is the process starts and the refund phase's cycles).
SOAK_SECONDS = 120 + 0.32 * ORDERS
CYCLE_SECONDS = 240 + 0.2 * ORDERS  # one cycle takes a whole wave (ORDERS / WAVES new orders)
REFUND_SHARE = 0.05  # of the orders: refunded in Square, and as many on Google

pytestmark = pytest.mark.timeout(SOAK_SECONDS + 60)


class Emulator:
    """`ordersync sandbox serve` as a separate process, restartable on the same port and state."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.state = root / "sandbox.db"
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.earlier_faults: Counter[str] = Counter()

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sync",
                "sandbox",
                "serve",
                "--port",
                str(self.port),
                "--state",
                str(self.state),
                *FAULTS,
            ],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (
            line,
            self.proc.stderr.read() if self.proc.poll() else "",
        )
        self.port = int(line.rsplit(":", 1)[1])
        return f"http://127.0.0.1:{self.port}"

    def restart(self) -> None:
        self.earlier_faults.update(self.stats()["faults"])  # counters live in memory, not in --state
        self.stop()
        self.start()

    def faults(self) -> Counter[str]:
        return self.earlier_faults + Counter(self.stats()["faults"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.communicate(timeout=30)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_sandbox/stats", timeout=10) as response:
            return json.load(response)


def _patient(call: Any, *args: Any, attempts: int = 6) -> Any:
    """Test-harness calls (the 'customer' and the 'store') under faults: retry on anything."""
    for attempt in range(attempts):
        try:
            return call(*args)
        except (GoogleApiError, SquareApiError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    return None


def _all_google_orders(google: GoogleGateway) -> list[dict[str, Any]]:
    return _patient(lambda: list(google.iter_orders()))


def _all_square_orders(square: SquareGateway) -> list[dict[str, Any]]:
    return _patient(lambda: list(square.iter_orders_updated_since(None)))


def test_chaos_soak(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(20261123)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    env["PYTHONPATH"] = str(Path(__file__).parents[2])
    emulator = Emulator(tmp_path, env)
    url = emulator.start()
    try:
        key_file = tmp_path / "sa.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sync",
                "sandbox",
                "credentials",
                "--out",
                str(key_file),
                "--endpoint",
                url,
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        (tmp_path / "feeds").mkdir()
        config = tmp_path / "ordersync.toml"
        config.write_text(
            f"""
[google]
merchant_id = "{MERCHANT_ID}"
endpoint = "{url}/"
max_backoff_seconds = 0.2
max_attempts = 8
recheck_open_orders_minutes = 0
[square]
enabled = true
endpoint = "{url}"
max_attempts = 8
[shipments]
feeds = ["feeds/*.csv"]
[ledger]
url = "sqlite:///state/ordersync.db"
""",
            encoding="utf-8",
        )
        env.update(
            {
                "ORDERSYNC_CONFIG": str(config),
                "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
                "SQUARE_ACCESS_TOKEN": "soak-token",
            }
        )
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/content"]
        )
        google = GoogleGateway(
            GoogleSettings(merchant_id=MERCHANT_ID, endpoint=url, max_backoff_seconds=0.2),
            credentials=credentials,
        )
        square = SquareGateway(
            SquareSettings(enabled=True, endpoint=url),
            token="store-token",
            max_backoff_seconds=0.2,
            backoff_base_seconds=0.05,
        )

        def run_cycle(kill_after: float | None = None) -> int | None:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sync", "run", "--no-report"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            if kill_after is not None:
                try:
                    proc.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.communicate(timeout=30)
                    return None
            try:
                out, err = proc.communicate(timeout=CYCLE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()  # never left running after the test (it would hold the ledger)
                out, err = proc.communicate(timeout=30)
                raise AssertionError(f"a cycle ran over {CYCLE_SECONDS:.0f} s", err[-3000:]) from None
            assert proc.returncode in (0, 1), (proc.returncode, out, err[-3000:])
            return proc.returncode

        shipped_parcels: dict[str, dict[str, Any]] = {}  # google order id -> parcel (the store's truth)
        canceled_units: dict[str, str] = {}  # google order id -> the line a customer canceled 1 unit of

        def cancel_some(square_orders: list[dict[str, Any]]) -> set[str]:
            """Customers cancel one unit of a multi-unit line on a few orders not yet shipped."""
            held = set()
            for square_order in square_orders:
                reference = square_order.get("reference_id")
                if (
                    not reference
                    or reference in shipped_parcels
                    or reference in canceled_units
                    or square_order.get("state") != "OPEN"
                    or rng.random() >= 0.08
                ):
                    continue
                order = _patient(google.get_order, reference)
                line = next((li for li in order["lineItems"] if li["quantityPending"] >= 2), None)
                if line is None:
                    continue
                _patient(
                    google.cancel_line_item,
                    reference,
                    f"soak-cancel:{reference}",
                    line["id"],
                    1,
                    "customerInitiatedCancel",
                    "customer asked for one less",
                )
                canceled_units[reference] = line["id"]
                held.add(reference)
            return held

        def parcel_lines(square_order: dict[str, Any]) -> list[tuple[str, int]]:
            """What the store sends: the Square lines less the units canceled on Google."""
            less = canceled_units.get(square_order.get("reference_id") or "")
            lines = square_order["line_items"]
            return [(li["uid"], int(li["quantity"]) - (li["uid"] == less)) for li in lines]

        def shows_cancellation(square_order: dict[str, Any]) -> bool:
            """The store packs an order once Square shows the Google cancellation (the note)."""
            if square_order.get("reference_id") not in canceled_units:
                return True
            return bool((square_order.get("metadata") or {}).get("google_canceled"))

        kills = 0
        per_wave = ORDERS // WAVES
        for wave in range(WAVES):
            for n in range(per_wave):
                order_id = _patient(google.create_test_order, TEMPLATES[(wave + n) % len(TEMPLATES)])
                # A lost response may already have advanced it; the final checks use Google's own view.
                with contextlib.suppress(GoogleApiError):
                    _patient(google.advance_test_order, order_id)
            kill_after = rng.uniform(0.5, 2.5) if kills < KILLS else None
            if run_cycle(kill_after) is None:
                kills += 1
            if wave == 2:
                emulator.restart()  # state from the --state file; the same port
            # The store ships what Square shows paid and open; the carrier reports earlier parcels delivered.
            square_orders = _all_square_orders(square)
            held = cancel_some(square_orders)
            for square_order in square_orders:
                reference = square_order.get("reference_id")
                if (
                    reference
                    and reference not in shipped_parcels
                    and reference not in held
                    and square_order.get("state") == "OPEN"
                    and shows_cancellation(square_order)
                    and rng.random() < 0.7
                ):
                    fulfilment = square_order["fulfillments"][0]
                    tracking = f"1ZSOAK{len(shipped_parcels):06d}"
                    carrier = CARRIERS[len(shipped_parcels) % len(CARRIERS)]
                    _patient(
                        square.update_order,
                        square_order["id"],
                        {
                            "version": square_order["version"],
                            "fulfillments": [
                                {
                                    "uid": fulfilment["uid"],
                                    "state": "COMPLETED",
                                    "shipment_details": {"carrier": carrier, "tracking_number": tracking},
                                }
                            ],
                        },
                    )
                    shipped_parcels[reference] = {
                        "carrier": carrier,
                        "tracking": tracking,
                        "wave": wave,
                        "lines": parcel_lines(square_order),
                    }
            _write_delivery_feed(tmp_path / "feeds" / "deliveries.csv", shipped_parcels, before_wave=wave)

        while kills < KILLS:
            if run_cycle(rng.uniform(0.3, 1.5)) is None:
                kills += 1
        # A createtestorder whose response was lost made an order the harness never heard of: the
        # customer side releases every order still inProgress (`ordersync testorders advance --all`).
        for order in _patient(lambda: list(google.iter_orders(statuses=["IN_PROGRESS"]))):
            with contextlib.suppress(GoogleApiError):
                _patient(google.advance_test_order, order["id"])
        run_cycle()
        for _ in range(6):  # the last cancellations reach Square (a cycle may retry a Square fault)
            if all(shows_cancellation(o) for o in _all_square_orders(square)):
                break
            run_cycle()
        # Everything left: ship the rest in Square, deliver everything, let the cycles converge under faults.
        for square_order in _all_square_orders(square):
            reference = square_order.get("reference_id")
            if reference and reference not in shipped_parcels and square_order.get("state") == "OPEN":
                fulfilment = square_order["fulfillments"][0]
                tracking = f"1ZSOAK{len(shipped_parcels):06d}"
                _patient(
                    square.update_order,
                    square_order["id"],
                    {
                        "version": square_order["version"],
                        "fulfillments": [
                            {
                                "uid": fulfilment["uid"],
                                "state": "COMPLETED",
                                "shipment_details": {"carrier": "UPS", "tracking_number": tracking},
                            }
                        ],
                    },
                )
                shipped_parcels[reference] = {
                    "carrier": "UPS",
                    "tracking": tracking,
                    "wave": WAVES,
                    "lines": parcel_lines(square_order),
                }
        for round_no in range(12):
            _write_delivery_feed(
                tmp_path / "feeds" / "deliveries.csv", shipped_parcels, before_wave=WAVES + 1
            )
            code = run_cycle()
            orders = _all_google_orders(google)
            if code == 0 and orders and all(o["status"] == "delivered" for o in orders):
                break
            assert time.monotonic() - started < SOAK_SECONDS, (
                f"no convergence after {round_no + 1} final cycles"
            )

        # ---- refunds both ways, then the cycles carry them over (one run SIGKILLed)
        # Orders without a refund yet (a line cancellation after payment is one): each side then
        # shows exactly the one refund played here.
        refundable = [o for o in _all_google_orders(google) if o["id"] not in canceled_units]
        refunds_started = time.monotonic()
        refunds = _refund_some(rng, google, square, SquareSandboxControls(url), refundable)
        run_cycle(rng.uniform(0.3, 1.5))
        for round_no in range(12):
            code = run_cycle()
            if code == 0 and _refunds_carried(google, square, refunds):
                break
            assert time.monotonic() - started < SOAK_SECONDS, (
                f"refunds not carried after {round_no + 1} cycles",
                _uncarried(google, square, refunds),
            )
        _check_refunds(google, square, refunds)
        refund_phase = f"refund_cycles={round_no + 2} refund_seconds={time.monotonic() - refunds_started:.1f}"

        # ---- the verdict, through the public APIs
        google_orders = _all_google_orders(google)
        square_orders = _all_square_orders(square)
        faults = emulator.faults()
        # Sale orders only: each Square refund makes a return order (no reference_id, its ``returns``).
        references = Counter(o.get("reference_id") for o in square_orders if not o.get("returns"))
        merchant_ids = Counter(o.get("merchantOrderId") for o in google_orders)
        square_by_id = {o["id"]: o for o in square_orders}
        duplicates = sum(c - 1 for c in references.values() if c > 1) + sum(
            c - 1 for c in merchant_ids.values() if c > 1
        )
        assert len(google_orders) >= ORDERS
        assert sum(faults.values()) > 0 and kills >= KILLS
        assert all(o["acknowledged"] for o in google_orders)
        assert duplicates == 0
        for order in google_orders:
            square_order = square_by_id[order["merchantOrderId"]]
            assert square_order["reference_id"] == order["id"]
            parcel = shipped_parcels[order["id"]]
            assert len(order["shipments"]) == 1, (
                order["id"],
                order["status"],
                order.get("merchantOrderId"),
                square_order.get("state"),
                square_order.get("fulfillments"),
            )
            shipment = order["shipments"][0]
            assert shipment["trackingId"] == parcel["tracking"] and shipment["status"] == "delivered"
            shipped = {li["id"]: li["quantityShipped"] for li in order["lineItems"]}
            assert shipped == {uid: int(q) for uid, q in parcel["lines"]}
            if order["id"] in canceled_units:
                line_id = canceled_units[order["id"]]
                assert square_order["metadata"]["google_canceled"] == f"kept|{line_id}=1"
                assert (
                    "do not send: 1 x "
                    in (square_order["fulfillments"][0]["shipment_details"]["shipping_note"])
                )
        report = subprocess.run(
            [sys.executable, "-m", "sync", "report"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert report.returncode == 0, report.stderr[-3000:]
        breaks = next((tmp_path / "reports").glob("*/breaks.csv")).read_text(encoding="utf-8").splitlines()
        assert breaks[1:] == [], breaks[:10]
        print(
            f"\nchaos soak: orders={len(google_orders)} square_orders={len(square_orders)} "
            f"faults_injected={sum(faults.values())} ({dict(faults)}) kills={kills} emulator_restarts=1 "
            f"line_cancellations={len(canceled_units)} duplicates_found={duplicates} "
            f"square_refunds={len(refunds.square)} google_refunds={len(refunds.google)} {refund_phase} "
            f"seconds={time.monotonic() - started:.1f}"
        )
    finally:
        emulator.stop()


class Refunds:
    """What the harness refunded: per Google order, the store's Square refund (id, amount) or
    Merchant Center's Google refund amount; and each order's Square sale."""

    def __init__(self) -> None:
        self.square: dict[str, tuple[str, int]] = {}
        self.google: dict[str, int] = {}
        self.sale_of: dict[str, str] = {}


def _refund_some(
    rng: random.Random,
    google: GoogleGateway,
    square: SquareGateway,
    controls: SquareSandboxControls,
    orders: list[dict[str, Any]],
) -> Refunds:
    refunds = Refunds()
    picked = rng.sample(orders, max(2, int(len(orders) * REFUND_SHARE * 2)))
    half = len(picked) // 2
    for n, order in enumerate(picked):
        refunds.sale_of[order["id"]] = order["merchantOrderId"]
        if n < half:
            sale_id = order["merchantOrderId"]
            if n % 2:
                sale = _patient(square.retrieve_order, sale_id)
                line = sale["line_items"][0]
                played = controls.pos_itemized_refund(sale_id, line["uid"], "1", "Damaged")
            else:
                played = controls.dashboard_refund(sale_id, 100 + n, "USD", reason="Goodwill")
            refund = played["refund"]
            refunds.square[order["id"]] = (refund["id"], refund["amount_money"]["amount"])
        else:
            amount = 150 + n
            value = {"value": f"{amount / 100:.2f}", "currency": "USD"}
            zero = {"value": "0.00", "currency": "USD"}
            # The same operationId on every attempt: a retried call after a lost answer is one refund.
            with contextlib.suppress(GoogleApiError):
                _patient(
                    google.refund, order["id"], f"soak-mc-refund:{order['id']}", value, zero, "priceError"
                )
            refunds.google[order["id"]] = amount
    return refunds


def _refund_figures(
    google: GoogleGateway, square: SquareGateway, refunds: Refunds
) -> dict[str, tuple[list[int], list[int]]]:
    """Per refunded order: (Google's refunds[] amounts, the Square payment's refund amounts)."""
    all_square = _patient(lambda: list(square.iter_payment_refunds(source_type="EXTERNAL")))
    by_payment: dict[str, list[int]] = {}
    for refund in all_square:
        if refund.status in ("COMPLETED", "PENDING"):
            by_payment.setdefault(refund.payment_id or "", []).append(refund.amount_minor)
    sales = {o["id"]: o for o in _patient(square.retrieve_orders, sorted(set(refunds.sale_of.values())))}
    figures = {}
    for order_id, sale_id in refunds.sale_of.items():
        order = _patient(google.get_order, order_id)
        on_google = sorted(round(float(r["amount"]["value"]) * 100) for r in order.get("refunds") or [])
        payment_id = sales[sale_id]["tenders"][0]["payment_id"]
        figures[order_id] = (on_google, sorted(by_payment.get(payment_id, [])))
    return figures


def _refunds_carried(google: GoogleGateway, square: SquareGateway, refunds: Refunds) -> bool:
    return all(len(g) == 1 and g == s for g, s in _refund_figures(google, square, refunds).values())


def _uncarried(google: GoogleGateway, square: SquareGateway, refunds: Refunds) -> dict[str, Any]:
    figures = _refund_figures(google, square, refunds)
    return {oid: f for oid, f in figures.items() if not (len(f[0]) == 1 and f[0] == f[1])}


def _check_refunds(google: GoogleGateway, square: SquareGateway, refunds: Refunds) -> None:
    """Each refund on both sides, once, with its amount (nothing lost, nothing twice)."""
    figures = _refund_figures(google, square, refunds)
    for order_id, (_refund_id, amount) in refunds.square.items():
        assert figures[order_id] == ([amount], [amount]), (order_id, figures[order_id])
    for order_id, amount in refunds.google.items():
        assert figures[order_id] == ([amount], [amount]), (order_id, figures[order_id])


def _write_delivery_feed(path: Path, parcels: dict[str, dict[str, Any]], *, before_wave: int) -> None:
    """The carrier's export: every parcel handed over, delivered once it is a wave old."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FEED_COLUMNS, restval="")
        writer.writeheader()
        for order_id, parcel in parcels.items():
            delivered = "2026-11-22T15:00:00Z" if parcel["wave"] < before_wave else ""
            for line_id, quantity in parcel["lines"]:
                writer.writerow(
                    {
                        "order_id": order_id,
                        "line_item_id": line_id,
                        "quantity": quantity,
                        "carrier": parcel["carrier"],
                        "tracking_id": parcel["tracking"],
                        "shipped_at": "2026-11-21T09:00:00Z",
                        "delivered_at": delivered,
                    }
                )
    tmp.replace(path)  # a cycle never reads half a file
