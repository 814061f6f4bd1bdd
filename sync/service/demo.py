"""`ordersync demo`: the whole product on embedded defaults, in one command, with no config.

It starts the emulators in-process, obtains a Google token through the real service-account flow,
creates and advances test orders, then plays a warehouse: each round it exports a shipments feed
(partial shipments first, then the rest, then deliveries) and runs a real sync cycle, until every
order is delivered. It ends with a reconciliation report and prints where everything is.

Its folder (``--dir``) is its own: it is marked with ``MARKER`` when the demo first uses it, and
a non-empty folder without that marker is refused (``DemoRefused``, exit 2) rather than touched.
A rerun resets only what the demo itself keeps there (ledger, lock, key file, its feed exports);
earlier reports stay, each in its own ``reports/<run-id>/``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.oauth2 import service_account

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.square_gateway import SquareGateway
from sync.config import (
    GoogleSettings,
    LedgerSettings,
    ReportsSettings,
    Settings,
    ShipmentsSettings,
    SquareSettings,
)
from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.exit_codes import ExitCode
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox
from sync.service.runner import run_once, terminal_progress

TEMPLATES = ("template1", "template2", "template1a", "template1b", "template3")
CARRIERS = ("UPS", "FedEx", "USPS", "DHL Express")
MAX_ROUNDS = 8
SCOPES = ["https://www.googleapis.com/auth/content"]
SANDBOX_TOKEN = "sandbox-demo-token"  # noqa: S105 - the in-process emulator accepts any bearer token
MARKER = ".ordersync-demo"
MARKER_TEXT = (
    "This folder belongs to `ordersync demo`: a rerun resets its state/ and feeds/shipments-*.csv "
    "files and keeps reports/. Remove this file to protect the folder from the demo.\n"
)
# What a rerun may delete (and nothing else): the demo's ledger and its companions, its key file.
OWN_STATE_FILES = (
    "ordersync.db",
    "ordersync.db-wal",
    "ordersync.db-shm",
    "ordersync.db-journal",
    "ordersync.db.lock",
    "service-account.json",
)
OWN_FEED_GLOB = "shipments-*.csv"


class DemoRefused(Exception):
    """The demo will not use this folder; the message says why and what to do (exit 2)."""


def demo_settings(work_dir: Path, endpoint: str, *, square: bool) -> Settings:
    return Settings(
        # Each demo cycle stands for one scheduled cycle: look for line cancellations in every one.
        google=GoogleSettings(
            merchant_id="1234567", sandbox=True, endpoint=endpoint, recheck_open_orders_minutes=0
        ),
        square=SquareSettings(enabled=square, endpoint=endpoint),
        shipments=ShipmentsSettings(
            feeds=[str(work_dir / "feeds" / "shipments-*.csv")],
            rejects_dir=str(work_dir / "reports" / "rejects"),
        ),
        ledger=LedgerSettings(url=f"sqlite:///{work_dir / 'state' / 'ordersync.db'}"),
        reports=ReportsSettings(dir=str(work_dir / "reports")),
    )


class Warehouse:
    """Plays the merchant's warehouse: ships in parcels over several rounds, then delivers."""

    def __init__(self, feed_dir: Path) -> None:
        self.feed_dir = feed_dir
        self.rows: dict[tuple[str, str, str], dict[str, str]] = {}
        self.round = 0

    def advance(self, orders: list[dict[str, Any]], stamp: str) -> None:
        self.round += 1
        for index, order in enumerate(orders):
            ref = order.get("merchantOrderId") or order["id"]
            for li_index, line in enumerate(order["lineItems"]):
                ordered = int(line["quantityOrdered"]) - int(line.get("quantityCanceled", 0))
                if ordered <= 0:
                    continue
                # Round 1 ships one unit of every line (a partial shipment where more were ordered);
                # round 2 ships the rest in a second parcel; rounds 2-3 report deliveries.
                parcels = [("1", 1)] + ([("2", ordered - 1)] if ordered > 1 else [])
                for parcel, quantity in parcels:
                    key = (order["id"], line["id"], parcel)
                    if parcel == "2" and self.round < 2:
                        continue
                    # One parcel = one carrier and tracking id for every line in it.
                    carrier = CARRIERS[(index + int(parcel)) % len(CARRIERS)]
                    row = self.rows.setdefault(
                        key,
                        {
                            "order_id": ref if index % 2 else order["id"],
                            "line_item_id": line["id"] if li_index % 2 == 0 else "",
                            "offer_id": "" if li_index % 2 == 0 else line["product"]["offerId"],
                            "quantity": str(quantity),
                            "carrier": carrier,
                            "tracking_id": f"1Z{order['id'][-6:].replace('-', '')}{parcel}",
                            "shipped_at": stamp,
                            "delivered_at": "",
                            "shipment_id": "",
                        },
                    )
                    if self.round >= parcel_delivery_round(parcel) and not row["delivered_at"]:
                        row["delivered_at"] = stamp
        path = self.feed_dir / f"shipments-{self.round:02d}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, FEED_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows.values())


def parcel_delivery_round(parcel: str) -> int:
    return 2 if parcel == "1" else 3


class SquareStore:
    """Plays the shop staff in Square: each order leaves as one parcel, completed in Square.

    Square has no "delivered" for shipments, so deliveries come as a carrier feed naming the same
    tracking ids; ordersync matches them to the parcels Square shipped.
    """

    def __init__(self, square: SquareGateway, feed_dir: Path) -> None:
        self.square = square
        self.feed_dir = feed_dir
        self.parcels: list[dict[str, str]] = []

    def ship(self, orders: list[dict[str, Any]], stamp: str) -> None:
        for index, order in enumerate(orders):
            square_order = self.square.retrieve_order(order["merchantOrderId"])
            tracking = f"1ZSQ{order['id'][-6:].replace('-', '')}"
            fulfilment = square_order["fulfillments"][0]
            self.square.update_order(
                square_order["id"],
                {
                    "version": square_order["version"],
                    "fulfillments": [
                        {
                            "uid": fulfilment["uid"],
                            "state": "COMPLETED",
                            "shipment_details": {
                                "carrier": CARRIERS[index % len(CARRIERS)],
                                "tracking_number": tracking,
                            },
                        }
                    ],
                },
            )
            for line in order["lineItems"]:
                to_send = int(line["quantityOrdered"]) - int(line.get("quantityCanceled", 0))
                if to_send <= 0:
                    continue
                self.parcels.append(
                    {
                        "order_id": order["id"],
                        "line_item_id": line["id"],
                        "quantity": str(to_send),
                        "carrier": CARRIERS[index % len(CARRIERS)],
                        "tracking_id": tracking,
                        "shipped_at": stamp,
                    }
                )

    def report_deliveries(self, stamp: str) -> None:
        path = self.feed_dir / "shipments-deliveries.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, FEED_COLUMNS, restval="")
            writer.writeheader()
            writer.writerows({**parcel, "delivered_at": stamp} for parcel in self.parcels)


def cancel_one_unit(google: GoogleGateway, orders: list[dict[str, Any]]) -> str:
    """A customer asks for one unit less of a multi-unit line (cancellineitem): the order stays
    open, and the next cycle tells the Square order (see square_bridge). Returns what was done."""
    for order in orders:
        for line in order["lineItems"]:
            if int(line.get("quantityPending", 0)) >= 2:
                google.cancel_line_item(
                    order["id"],
                    "demo:customer-cancel-1",
                    line["id"],
                    1,
                    "customerInitiatedCancel",
                    "customer asked for one less",
                )
                return f"1 x {line['product'].get('title', line['id'])} of order {order['id']}"
    return ""


def prepare_demo_dir(work_dir: Path) -> bool:
    """Make ``work_dir`` ready for a demo run; True when it holds an earlier demo's reports.

    Only a folder that is new, empty or carries our marker is used; a rerun deletes the files the
    demo made for its ledger and feed (named one by one, never a whole tree) and keeps reports.
    """
    if work_dir.exists() and not work_dir.is_dir():
        raise DemoRefused(f"{work_dir} is a file, not a folder: give --dir a new or empty folder")
    marker = work_dir / MARKER
    if work_dir.is_dir() and not marker.is_file() and any(work_dir.iterdir()):
        raise DemoRefused(
            f"{work_dir} is not empty and was not made by `ordersync demo` (it has no {MARKER} "
            "file), so the demo will not touch it; nothing was changed. Give --dir a new or empty "
            "folder, or delete this one yourself if you no longer need what is in it"
        )
    for folder in ("state", "feeds", "reports"):
        (work_dir / folder).mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        marker.write_text(MARKER_TEXT, encoding="utf-8")
    for name in OWN_STATE_FILES:
        (work_dir / "state" / name).unlink(missing_ok=True)
    for export in (work_dir / "feeds").glob(OWN_FEED_GLOB):
        export.unlink()
    reports = (work_dir / "reports").iterdir()
    return any(p.is_dir() and p.name[:1].isdigit() for p in reports)  # run ids start with the year


def run_demo(
    work_dir: Path,
    *,
    order_count: int,
    square: bool,
    echo: Callable[[str], None] = print,
    interactive: bool = False,
) -> ExitCode:
    earlier_reports = prepare_demo_dir(work_dir)
    with Sandbox().start() as sandbox:
        echo(f"sandbox listening on {sandbox.url} (Google Content API v2 + Square Orders emulators)")
        key_file = work_dir / "state" / "service-account.json"
        write_service_account(key_file, sandbox.url)
        credentials = service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)
        settings = demo_settings(work_dir, sandbox.url, square=square)
        google = GoogleGateway(settings.google, credentials=credentials)

        with terminal_progress(interactive) as progress:
            order_ids = []
            for i in range(order_count):
                order_ids.append(google.create_test_order(TEMPLATES[i % len(TEMPLATES)]))
                progress("creating test orders", 1)
            for order_id in order_ids:
                google.advance_test_order(order_id)
                progress("advancing test orders", 1)
        echo(f"created and advanced {len(order_ids)} test orders")

        warehouse = Warehouse(work_dir / "feeds")
        store = (
            SquareStore(SquareGateway(settings.square, token=SANDBOX_TOKEN), work_dir / "feeds")
            if square
            else None
        )
        for round_no in range(1, MAX_ROUNDS + 1):
            outcome = run_once(
                settings,
                report=False,
                interactive=interactive,
                google_credentials=credentials,
                square_token=SANDBOX_TOKEN,
            )
            echo(f"cycle {round_no}: {outcome.cycle.line()}")
            orders = [google.get_order(order_id) for order_id in order_ids]
            if all(o["status"] in ("delivered", "canceled") for o in orders):
                break
            stamp = f"2026-11-{20 + round_no:02d}T10:00:00Z"
            if store is None:
                warehouse.advance(orders, stamp)
            elif round_no == 1:
                canceled = cancel_one_unit(google, orders)
                if canceled:
                    echo(f"a customer canceled {canceled} on Google; the next cycle tells Square")
            elif round_no == 2:
                store.ship(orders, stamp)
                echo(f"the store completed {len(orders)} fulfilments in Square")
            else:
                store.report_deliveries(stamp)
        final = [google.get_order(order_id) for order_id in order_ids]
        delivered = sum(o["status"] == "delivered" for o in final)
        outcome = run_once(
            settings,
            report=True,
            interactive=interactive,
            google_credentials=credentials,
            square_token=SANDBOX_TOKEN,
        )
        stats = sandbox.stats.snapshot()

    echo(
        f"{delivered} of {len(order_ids)} orders delivered; the emulators (Google and Square) saw "
        f"{stats['requests_total']} requests and applied {stats['mutations_total']} mutations"
    )
    echo(f"ledger:  {work_dir / 'state' / 'ordersync.db'}")
    echo(f"feeds:   {work_dir / 'feeds'}")
    echo(f"report:  {outcome.report_path} ({outcome.report_breaks} breaks)")
    if earlier_reports:
        echo(f"earlier demo reports are kept beside it in {work_dir / 'reports'}")
    if delivered == len(order_ids) and outcome.report_breaks == 0:
        return ExitCode.OK
    return ExitCode.FAILED
