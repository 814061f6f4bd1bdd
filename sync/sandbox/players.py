"""Players for the sandbox: a warehouse exporting shipments feeds, shop staff fulfilling orders in
Square, and a refund each way (the store in the Square Dashboard, Google in Merchant Center), as
``ordersync demo`` and the tests drive them against the emulators."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.adapters.google_gateway import GoogleGateway
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.square_sandbox import SquareSandboxControls
from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.domain.money import minor_to_price, price_to_minor
from sync.domain.refunds.rules import own_refund_key

CARRIERS = ("UPS", "FedEx", "USPS", "DHL Express")


class Warehouse:
    """Plays the merchant's warehouse: ships in parcels over several rounds, then delivers."""

    def __init__(self, feed_dir: Path) -> None:
        self.feed_dir = feed_dir
        self.rows: dict[tuple[str, str, str], dict[str, str]] = {}
        self.round = 0

    def advance(self, orders: list[dict[str, Any]], stamp: str) -> tuple[int, int]:
        """One round of the warehouse's work, written as the next feed export; returns the parcels
        it shipped and the parcels it reported delivered in this round."""
        self.round += 1
        shipped_before = {key[::2] for key in self.rows}
        delivered_before = {key[::2] for key, row in self.rows.items() if row["delivered_at"]}
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
        # A parcel is one (order, parcel number): every line in it shares carrier and tracking id.
        shipped = {key[::2] for key in self.rows} - shipped_before
        delivered = {key[::2] for key, row in self.rows.items() if row["delivered_at"]} - delivered_before
        return len(shipped), len(delivered)


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
    open, and the next cycle tells the Square order (the Square cancellations step). Returns what was done."""
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


@dataclass(frozen=True)
class PlayedRefunds:
    """One refund each way: the store's in Square on one order, Google's on another."""

    in_square_order: str  # the Google order the store refunded in Square
    in_square_minor: int
    on_google_order: str  # the Google order Merchant Center refunded
    on_google_minor: int
    currency: str


def refund_both_ways(
    google: GoogleGateway, controls: SquareSandboxControls, orders: list[dict[str, Any]]
) -> PlayedRefunds | None:
    """The store refunds 5.00 of the first delivered order in the Square Dashboard; Merchant
    Center refunds 3.00 of the last one on Google. None without a delivered order."""
    delivered = [o for o in orders if o["status"] == "delivered" and o.get("merchantOrderId")]
    if not delivered:
        return None
    first, last = delivered[0], delivered[-1]
    currency = first["netAmount"]["currency"]
    controls.dashboard_refund(first["merchantOrderId"], 500, currency, reason="Goodwill")
    google.refund(
        last["id"],
        f"demo-merchant-center-refund:{last['id']}",
        minor_to_price(300, currency),
        minor_to_price(0, currency),
        "priceError",
        "Merchant Center: price error",
    )
    return PlayedRefunds(first["id"], 500, last["id"], 300, currency)


def refunds_carried(google: GoogleGateway, square: SquareGateway, played: PlayedRefunds) -> tuple[bool, bool]:
    """(the Square refund is on Google, the Google refund is on Square's EXTERNAL payment)."""
    on_google = google.get_order(played.in_square_order).get("refunds") or []
    to_google = played.in_square_minor in [price_to_minor(r["amount"])[0] for r in on_google]
    sale = square.retrieve_order(google.get_order(played.on_google_order)["merchantOrderId"])
    payment_ids = {t.get("payment_id") for t in sale.get("tenders") or []}
    recorded = [
        r
        for r in square.iter_payment_refunds(source_type="EXTERNAL")
        if r.payment_id in payment_ids and own_refund_key(r.reason)
    ]
    to_square = [r.amount_minor for r in recorded] == [played.on_google_minor]
    return to_google, to_square
