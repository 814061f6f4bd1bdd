"""``orderreports``: disbursements and their transactions, from the money the emulator moved.

Google's documents give the shapes (``OrderReportDisbursement``, ``OrderReportTransaction``) and
the query parameters (start/end dates in ISO 8601, both optional in the bundled v2 document, the
end defaulting to the current date; ``maxResults``/``pageToken``), but not when Google pays out.
Ours ([D]): every charge (units shipped, or a charge invoice) and every refund after a charge is
a transaction; a merchant's transactions of one UTC day and currency form one disbursement,
dated that day; the disbursed amount is pre-tax + tax - the tax Google remits as marketplace
facilitator. Pages default to 25 entries; the document states no maximum.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sync.sandbox.google.common import GoogleError, bad, money, page_size, parse_time
from sync.sandbox.google.state import OrderBook


def _day(stamp: str) -> date:
    return parse_time(stamp, "transactionDate").astimezone(UTC).date()


def _bound(value: str | None, field: str, default: date | None) -> date | None:
    return parse_time(value, field).date() if value else default


def _disbursement_id(merchant_id: str, day: date, currency: str) -> str:
    digest = hashlib.sha256(f"{merchant_id}|{day.isoformat()}|{currency}".encode()).hexdigest()
    return str(int(digest[:15], 16))  # numeric, like the ids Google shows in Wallet


def _page(
    items: list[dict[str, Any]], kind: str, max_results: int | None, token: str | None
) -> tuple[list, str | None]:
    size = page_size(max_results, limit=None)
    offset = 0
    if token:
        try:
            offset, token_kind = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset = int(offset)
        except (ValueError, TypeError) as exc:
            raise bad("Invalid value for pageToken.") from exc
        if token_kind != kind or offset < 0:
            raise bad("Invalid value for pageToken.")
    page = items[offset : offset + size]
    more = offset + size < len(items)
    next_token = (
        base64.urlsafe_b64encode(json.dumps([offset + size, kind]).encode()).decode().rstrip("=")
        if more
        else None
    )
    return page, next_token


class ReportsResource(OrderBook):
    def _disbursements(self, merchant_id: str) -> dict[str, dict[str, Any]]:
        """Disbursement id → {day, currency, amount, transactions}, from the booked transactions."""
        out: dict[str, dict[str, Any]] = {}
        for txn in self._account(merchant_id).transactions:
            day = _day(txn["transactionDate"])
            did = _disbursement_id(merchant_id, day, txn["currency"])
            d = out.setdefault(
                did, {"day": day, "currency": txn["currency"], "amount": Decimal(0), "transactions": []}
            )
            d["amount"] += Decimal(txn["pretax"]) + Decimal(txn["tax"]) - Decimal(txn["remitted"])
            d["transactions"].append(txn)
        return out

    @staticmethod
    def _disbursement_fields(merchant_id: str, did: str, d: dict[str, Any]) -> dict[str, Any]:
        return {
            "merchantId": merchant_id,
            "disbursementId": did,
            "disbursementAmount": money(d["amount"], d["currency"]),
            "disbursementCreationDate": d["day"].isoformat(),
            "disbursementDate": d["day"].isoformat(),
        }

    def list_disbursements(
        self,
        merchant_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        lo = _bound(start, "disbursementStartDate", None)
        hi = _bound(end, "disbursementEndDate", datetime.now(UTC).date())
        with self._lock:
            found = sorted(self._disbursements(merchant_id).items(), key=lambda kv: (kv[1]["day"], kv[0]))
            rows = [
                self._disbursement_fields(merchant_id, did, d)
                for did, d in found
                if (lo is None or d["day"] >= lo) and (hi is None or d["day"] <= hi)
            ]
        return _page(rows, "disbursements", max_results, page_token)

    def list_transactions(
        self,
        merchant_id: str,
        disbursement_id: str,
        *,
        start: str | None = None,
        end: str | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        lo = _bound(start, "transactionStartDate", None)
        hi = _bound(end, "transactionEndDate", datetime.now(UTC).date())
        with self._lock:
            d = self._disbursements(merchant_id).get(disbursement_id)
            if d is None:
                raise GoogleError(404, "notFound", f"Disbursement {disbursement_id} not found.")
            head = self._disbursement_fields(merchant_id, disbursement_id, d)
            rows = []
            for txn in d["transactions"]:
                day = _day(txn["transactionDate"])
                if (lo is not None and day < lo) or (hi is not None and day > hi):
                    continue
                rec = self._orders.get(txn["orderId"])
                cur = txn["currency"]
                pretax, tax = Decimal(txn["pretax"]), Decimal(txn["tax"])
                rows.append(
                    {
                        **head,
                        "orderId": txn["orderId"],
                        "merchantOrderId": (rec["order"].get("merchantOrderId", "") if rec else ""),
                        "transactionDate": txn["transactionDate"],
                        "productAmount": {"pretax": money(pretax, cur), "tax": money(tax, cur)},
                        "productAmountWithRemittedTax": {
                            "priceAmount": money(pretax, cur),
                            "taxAmount": money(tax, cur),
                            "remittedTaxAmount": money(Decimal(txn["remitted"]), cur),
                        },
                    }
                )
        return _page(rows, "transactions", max_results, page_token)
