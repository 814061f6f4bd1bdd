"""Break rules on small hand-built cases: each category appears when provoked, never on a clean set."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from sync.domain import money
from sync.domain import reconcile as rules
from sync.service.reconciliation import (
    frames_from_feed,
    frames_from_google_orders,
    frames_from_ledger,
    frames_from_square_orders,
    google_order_amount,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SLAS = rules.Slas(unacknowledged_hours=24, ship_hours=72, delivery_hours=240)


def iso(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sheet(hours_ago: float) -> str:
    """A time as orders.csv writes it: the form spreadsheets read as a date (issue 17.10)."""
    return (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%d %H:%M:%S")


def price(value: str, cur: str = "USD") -> dict:
    return {"value": value, "currency": cur}


def g_line(lid, offer, qty, unit_total, tax="0", cur="USD", shipped=0, delivered=0, canceled=0):
    return {
        "id": lid,
        "product": {"offerId": offer},
        "price": price(unit_total, cur),
        "tax": price(tax, cur),
        "quantityOrdered": qty,
        "quantityShipped": shipped,
        "quantityDelivered": delivered,
        "quantityCanceled": canceled,
        "quantityPending": qty - shipped - canceled,
    }


def base_case() -> tuple[list[dict], list[dict], list[dict]]:
    """Three consistent orders: pending (USD), delivered (JPY), shipped recently (EUR)."""
    google = [
        {
            "id": "G1",
            "merchantOrderId": "SQ1",
            "status": "pendingShipment",
            "acknowledged": True,
            "placedDate": iso(10),
            "customer": {"fullName": "Ann Smith", "email": "ann@example.com"},
            "lineItems": [g_line("L1", "A", 2, "20.00", "1.60"), g_line("L2", "B", 1, "5.99", "0.48")],
            "shippingCost": price("4.99"),
            "shippingCostTax": price("0.00"),
        },
        {
            "id": "G2",
            "merchantOrderId": "SQ2",
            "status": "delivered",
            "acknowledged": True,
            "placedDate": iso(100),
            "lineItems": [g_line("L1", "C", 1, "1500", cur="JPY", shipped=1, delivered=1)],
            "shippingCost": price("500", "JPY"),
            "shipments": [
                {"id": "S1", "trackingId": "1z 999", "status": "delivered", "creationDate": iso(90)}
            ],
        },
        {
            "id": "G3",
            "merchantOrderId": "SQ3",
            "status": "shipped",
            "acknowledged": True,
            "placedDate": iso(50),
            "lineItems": [g_line("L1", "D", 3, "30.03", "2.40", cur="EUR", shipped=3)],
            "shipments": [{"id": "S2", "trackingId": "TRK3", "status": "shipped", "creationDate": iso(40)}],
        },
    ]
    square = [
        {
            "id": "SQ1",
            "reference_id": "G1",
            "state": "OPEN",
            "total_money": {"amount": 3306, "currency": "USD"},
            "created_at": iso(9),
            "line_items": [
                {"uid": "u1", "quantity": "2", "metadata": {"google_line_item_id": "L1"}},
                {"uid": "u2", "quantity": "1", "metadata": {"google_line_item_id": "L2"}},
            ],
            "fulfillments": [{"uid": "f1", "type": "SHIPMENT", "state": "PROPOSED"}],
        },
        {
            "id": "SQ2",
            "reference_id": "G2",
            "state": "COMPLETED",
            "total_money": {"amount": 2000, "currency": "JPY"},
            "line_items": [{"uid": "u1", "quantity": "1", "metadata": {"google_line_item_id": "L1"}}],
            "fulfillments": [
                {
                    "uid": "f1",
                    "type": "SHIPMENT",
                    "state": "COMPLETED",
                    "shipment_details": {"tracking_number": "1Z999"},
                }
            ],
        },
        {
            "id": "SQ3",
            "reference_id": "G3",
            "state": "COMPLETED",
            "total_money": {"amount": 3243, "currency": "EUR"},
            "line_items": [{"uid": "u1", "quantity": "3", "metadata": {"offer_id": "D"}}],
            "fulfillments": [
                {
                    "uid": "f1",
                    "type": "SHIPMENT",
                    "state": "COMPLETED",
                    "shipment_details": {"tracking_number": "trk3"},
                }
            ],
        },
    ]
    ledger = [
        {
            "google_order_id": o["id"],
            "merchant_order_id": o["merchantOrderId"],
            "square_order_id": o["merchantOrderId"],
            "stage": "synced",
            "acknowledged": True,
            "last_synced_at": iso(1),
            "line_items": [
                {
                    "id": li["id"],
                    "quantity_ordered": li["quantityOrdered"],
                    "quantity_shipped": li["quantityShipped"],
                    "quantity_delivered": li["quantityDelivered"],
                    "quantity_canceled": li["quantityCanceled"],
                }
                for li in o["lineItems"]
            ],
        }
        for o in google
    ]
    return google, square, ledger


def run(google, square, ledger, failed=(), oms=None):
    rec = rules.reconcile(
        frames_from_google_orders(google),
        frames_from_ledger(ledger, failed) if ledger is not None else None,
        oms if oms is not None else (frames_from_square_orders(square) if square is not None else None),
        slas=SLAS,
        now=pd.Timestamp(NOW),
    )
    return rec


def found(rec) -> set[tuple[str, str]]:
    return set(zip(rec.breaks["google_order_id"], rec.breaks["category"].astype(str), strict=True))


def test_clean_case_has_no_breaks():
    rec = run(*base_case())
    assert found(rec) == set()
    assert list(rec.orders["google_order_id"]) == ["G1", "G2", "G3"]
    table = rules.orders_table(rec.orders)
    assert list(table.columns) == list(rules.ORDER_COLUMNS)
    assert list(table["amount_google"]) == ["33.06", "2000", "32.43"]
    assert list(table["amount_oms"]) == ["33.06", "2000", "32.43"]


def test_clean_amounts_exact_per_currency():
    google, square, ledger = base_case()
    rec = run(google, square, ledger)
    table = rules.orders_table(rec.orders).set_index("google_order_id")
    # G3: 30.03 + 2.40 = 32.43 EUR
    assert table.loc["G3", "amount_google"] == "32.43"
    assert table.loc["G3", "amount_oms"] == "32.43"
    assert table.loc["G2", "currency"] == "JPY" and table.loc["G2", "amount_google"] == "2000"
    # merchantOrderId is the Square order id: square_order_id does not repeat it (issue 17.10)
    assert table.loc["G1", "merchant_order_id"] == "SQ1" and table.loc["G1", "square_order_id"] == ""
    assert table.loc["G1", "qty_ordered"] == 3


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda g, s, led, f: s.pop(0), {("G1", "missing_in_oms")}),
        (
            lambda g, s, led, f: s.append(
                {"id": "SQ9", "reference_id": "G9", "state": "OPEN", "line_items": []}
            ),
            {("G9", "missing_in_google")},
        ),
        (
            lambda g, s, led, f: led.append({"google_order_id": "G8", "line_items": []}),
            {("G8", "missing_in_google")},
        ),
        (
            lambda g, s, led, f: (
                g[0].update(acknowledged=False, placedDate=iso(30)) or s[0].update(created_at=iso(29))
            ),
            {("G1", "unacknowledged_past_sla")},
        ),
        (lambda g, s, led, f: g[0].pop("merchantOrderId"), {("G1", "no_merchant_order_id")}),
        (
            lambda g, s, led, f: (g[1].update(merchantOrderId="SQ1"), led[1].update(merchant_order_id="SQ1")),
            {("G1", "duplicate_merchant_order_id"), ("G2", "duplicate_merchant_order_id")},
        ),
        (
            lambda g, s, led, f: s.append({**copy.deepcopy(s[0]), "id": "SQ1b"}),
            {("G1", "duplicate_merchant_order_id")},
        ),
        (
            lambda g, s, led, f: led[0].update(merchant_order_id="OS-G1"),
            {("G1", "merchant_order_id_mismatch")},
        ),
        (lambda g, s, led, f: s[0]["line_items"][0].update(quantity="3"), {("G1", "quantity_mismatch")}),
        (
            lambda g, s, led, f: led[2]["line_items"][0].update(quantity_shipped=2),
            {("G3", "quantity_mismatch")},
        ),
        (
            lambda g, s, led, f: s[0]["line_items"][1]["metadata"].update(google_line_item_id="LX"),
            {("G1", "quantity_mismatch")},
        ),
        (lambda g, s, led, f: s[0]["total_money"].update(amount=3305), {("G1", "amount_mismatch")}),
        (lambda g, s, led, f: s[1]["total_money"].update(currency="USD"), {("G2", "amount_mismatch")}),
        (lambda g, s, led, f: s[0].update(state="CANCELED"), {("G1", "status_mismatch")}),
        (
            lambda g, s, led, f: (
                g[0].update(status="canceled"),
                [li.update(quantityCanceled=li["quantityOrdered"]) for li in g[0]["lineItems"]],
                [li.update(quantity_canceled=li["quantity_ordered"]) for li in led[0]["line_items"]],
            ),
            {("G1", "status_mismatch")},
        ),
        (lambda g, s, led, f: g[0].update(placedDate=iso(80)), {("G1", "stuck_past_ship_sla")}),
        (
            lambda g, s, led, f: (
                g[2].update(placedDate=iso(300)) or g[2]["shipments"][0].update(creationDate=iso(250))
            ),
            {("G3", "shipped_not_delivered_past_sla")},
        ),
        (
            lambda g, s, led, f: s[2]["fulfillments"][0]["shipment_details"].update(tracking_number="OTHER"),
            {("G3", "tracking_mismatch")},
        ),
        (
            lambda g, s, led, f: f.append(
                {
                    "google_order_id": "G2",
                    "kind": "updateShipment",
                    "error": "invalid carrier",
                    "failed_at": iso(2),
                }
            ),
            {("G2", "failed_operation")},
        ),
    ],
    ids=[
        "missing_in_oms",
        "missing_in_google_oms",
        "missing_in_google_ledger",
        "unacknowledged",
        "no_merchant_id",
        "duplicate_merchant_id",
        "duplicate_oms_order",
        "merchant_id_mismatch",
        "qty_oms",
        "qty_ledger",
        "qty_unmatched_line",
        "amount_off_by_one",
        "amount_currency",
        "status_oms_canceled",
        "status_google_canceled",
        "stuck",
        "not_delivered",
        "tracking",
        "failed_op",
    ],
)
def test_each_break_category(mutate, expected):
    google, square, ledger = base_case()
    failed: list[dict] = []
    mutate(google, square, ledger, failed)
    rec = run(google, square, ledger, failed)
    assert found(rec) == expected
    assert set(rec.breaks["severity"].astype(str)) <= set(rules.SEVERITIES)
    assert rec.breaks["detail"].str.len().min() > 20


def test_severity_and_age_are_meaningful():
    google, square, ledger = base_case()
    square[0]["state"] = "CANCELED"
    rec = run(google, square, ledger)
    row = rec.breaks.iloc[0]
    assert row["severity"] == "critical"
    assert row["age_hours"] == pytest.approx(10.0)
    assert "cancel it on Google" in row["detail"]


def test_several_lines_off_give_one_break_naming_the_rest():
    google, square, ledger = base_case()
    for li in square[0]["line_items"]:
        li["quantity"] = "9"
    rec = run(google, square, ledger)
    assert len(rec.breaks) == 1
    assert "(+1 more like this)" in rec.breaks.iloc[0]["detail"]


def test_without_oms_or_ledger_only_google_rules_run():
    google, _, _ = base_case()
    google[0]["acknowledged"] = False
    google[0]["placedDate"] = iso(30)
    rec = run(google, None, None)
    assert found(rec) == {("G1", "unacknowledged_past_sla")}


def test_feed_as_oms():
    google, _, ledger = base_case()
    rows = [
        # the same row twice (repeated export), the later one delivered
        {
            "order_id": "G2",
            "line_item_id": "L1",
            "quantity": "1",
            "tracking_id": "1Z999",
            "shipped_at": iso(90),
            "delivered_at": "",
        },
        {
            "order_id": "G2",
            "line_item_id": "L1",
            "quantity": "1",
            "tracking_id": "1Z999",
            "shipped_at": iso(90),
            "delivered_at": iso(80),
        },
        # by merchant order id and offer id
        {
            "order_id": "SQ3",
            "offer_id": "D",
            "quantity": "3",
            "tracking_id": "TRK3",
            "shipped_at": iso(40),
            "delivered_at": "",
        },
    ]
    rec = run(google, None, ledger, oms=frames_from_feed(rows))
    assert found(rec) == set()
    # the feed knows shipped and delivered: a delivered row Google lacks is a break
    rows[2]["delivered_at"] = iso(1)
    rec = run(google, None, ledger, oms=frames_from_feed(rows))
    assert found(rec) == {("G3", "quantity_mismatch")}
    # Google says shipped but the feed has nothing for the order
    rec = run(google, None, ledger, oms=frames_from_feed(rows[:2]))
    assert found(rec) == {("G3", "missing_in_oms")}


# ---- money -------------------------------------------------------------------------------------


def test_to_minor_is_exact_and_per_currency():
    assert money.to_minor("19.99", "USD") == 1999
    assert money.to_minor("0.1", "USD") == 10
    assert money.to_minor("1500", "JPY") == 1500
    assert money.to_minor("1.234", "KWD") == 1234
    assert money.to_minor("-5.00", "EUR") == -500
    # 0.1 + 0.2 style float drift cannot happen: many odd cents sum exactly
    assert sum(money.to_minor("0.01", "USD") for _ in range(1000)) == 1000
    with pytest.raises(TypeError):
        money.to_minor(19.99, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        money.to_minor("abc", "USD")


def test_format_minor():
    out = rules.format_minor(
        pd.Series([3306, -500, 5, 2000, 1234, 0, None]),
        pd.Series(["USD", "EUR", "USD", "JPY", "KWD", "GBP", "USD"]),
    )
    assert list(out[:6]) == ["33.06", "-5.00", "0.05", "2000", "1.234", "0.00"]
    assert pd.isna(out[6])


def test_promotions_reduce_the_total():
    order = {
        "lineItems": [g_line("L1", "A", 2, "20.00", "1.60"), g_line("L2", "B", 1, "9.99", "0.80")],
        "shippingCost": price("4.99"),
        "promotions": [
            {"benefits": [{"discount": price("-5.00"), "taxImpact": price("-0.40"), "offerIds": ["A"]}]}
        ],
    }
    assert google_order_amount(order) == (2000 + 160 + 999 + 80 + 499 - 500 - 40, "USD")
    order["promotions"][0]["benefits"][0]["discount"] = price("5.00")  # either sign convention
    assert google_order_amount(order)[0] == 3198


def test_mixed_currency_order_is_flagged_not_summed():
    order = {"lineItems": [g_line("L1", "A", 1, "1.00", cur="USD"), g_line("L2", "B", 1, "100", cur="JPY")]}
    assert google_order_amount(order)[1] == "MIXED"


def test_promotion_amount_matches_oms_total():
    google, square, ledger = base_case()
    google[0]["promotions"] = [{"benefits": [{"discount": price("3.07"), "offerIds": ["A"]}]}]
    rec = run(google, square, ledger)
    assert found(rec) == {("G1", "amount_mismatch")}
    assert "OMS minus Google: 3.07" in rec.breaks.iloc[0]["detail"]
    square[0]["total_money"]["amount"] = 3306 - 307
    assert found(run(google, square, ledger)) == set()


# ---- summary and schemas ----------------------------------------------------------------------


def test_summary_long_format():
    google, square, ledger = base_case()
    square[0]["total_money"]["amount"] = 1
    rec = run(google, square, ledger)
    summary = rules.summarise(rec)
    assert list(summary.columns) == ["section", "key", "count", "amount", "currency"]
    cat = summary[summary["section"] == "breaks_by_category"]
    assert set(rules.CATEGORIES) <= set(cat["key"])
    row = cat[cat["key"] == "amount_mismatch"].iloc[0]
    assert (row["count"], row["amount"], row["currency"]) == (1, "33.06", "USD")
    age = summary[summary["section"] == "breaks_by_age"].set_index("key")["count"]
    assert age["0-1d"] == 1 and age[">7d"] == 0
    status = summary[summary["section"] == "orders_by_status"].set_index("key")
    assert status.loc["delivered", "amount"] == "2000" and status.loc["delivered", "currency"] == "JPY"


def test_missing_required_column_is_a_clear_error():
    frame = frames_from_google_orders(base_case()[0]).drop(columns=["amount_minor"])
    with pytest.raises(rules.SchemaError, match="amount_minor"):
        rules.reconcile(frame, None, None, slas=SLAS, now=pd.Timestamp(NOW))


def test_shuffled_snapshot_rows_are_regrouped():
    google, square, ledger = base_case()
    frame = frames_from_google_orders(google).drop(columns=["line_no"]).sample(frac=1, random_state=3)
    rec = rules.reconcile(
        frame, frames_from_ledger(ledger), frames_from_square_orders(square), slas=SLAS, now=pd.Timestamp(NOW)
    )
    assert found(rec) == set()
    assert rec.orders.set_index("google_order_id").loc["G1", "qty_ordered"] == 3


def test_empty_inputs():
    rec = rules.reconcile(
        frames_from_google_orders([]),
        frames_from_ledger([]),
        frames_from_square_orders([]),
        slas=SLAS,
        now=pd.Timestamp(NOW),
    )
    assert rec.breaks.empty and rec.orders.empty
    assert rules.summarise(rec).query("section == 'totals'")["count"].tolist() == [0, 0, 0]


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        rules.reconcile(frames_from_google_orders([]), None, None, slas=SLAS, now=pd.Timestamp("2026-01-01"))


def test_lines_in_another_order_are_matched_by_id():
    google, square, ledger = base_case()
    ledger[0]["line_items"].reverse()
    square[0]["line_items"].reverse()
    assert found(run(google, square, ledger)) == set()
    ledger[0]["line_items"][0]["quantity_ordered"] = 5  # now L2, found through the hash path
    rec = run(google, square, ledger)
    assert found(rec) == {("G1", "quantity_mismatch")}
    assert "line L2: Google ordered 1, our ledger 5" in rec.breaks.iloc[0]["detail"]


def test_ledger_repository_shapes_are_read():
    """OrderRecord-like objects with bare quantity keys (the ledger repository's line format)."""
    from dataclasses import dataclass

    @dataclass(frozen=True, slots=True)
    class Record:
        google_order_id: str
        merchant_order_id: str
        square_order_id: str
        stage: str
        acknowledged: bool
        last_synced_at: datetime
        line_items: list

    google, square, _ = base_case()
    ledger = [
        Record(
            o["id"],
            o["merchantOrderId"],
            o["merchantOrderId"],
            "synced",
            True,
            NOW,
            [
                {
                    "id": li["id"],
                    "ordered": li["quantityOrdered"],
                    "shipped": li["quantityShipped"],
                    "delivered": li["quantityDelivered"],
                    "canceled": li["quantityCanceled"],
                }
                for li in o["lineItems"]
            ],
        )
        for o in google
    ]
    assert found(run(google, square, ledger)) == set()
    ledger[1].line_items[0]["delivered"] = 0
    assert found(run(google, square, ledger)) == {("G2", "quantity_mismatch")}


# ---- orders Google does not list ------------------------------------------------------------


def not_in_google_case() -> tuple[list[dict], list[dict], list[dict]]:
    """The base case plus orders only the ledger and/or Square know:
    G7 in the ledger and in Square (one order), G8 only in the ledger, G9 only in Square."""
    google, square, ledger = base_case()
    square.append(
        {
            "id": "SQ9",
            "reference_id": "G9",
            "state": "OPEN",
            "total_money": {"amount": 1234, "currency": "USD"},
            "created_at": iso(5),
            "line_items": [{"uid": "u1", "quantity": "2"}, {"uid": "u2", "quantity": "1"}],
        }
    )
    square.append(
        {
            "id": "SQ7",
            "reference_id": "G7",
            "state": "COMPLETED",
            "total_money": {"amount": 700, "currency": "EUR"},
            "created_at": iso(30),
            "line_items": [{"uid": "u1", "quantity": "1"}],
            "fulfillments": [{"uid": "f1", "state": "COMPLETED"}],
        }
    )
    ledger.append(
        {
            "google_order_id": "G8",
            "merchant_order_id": "SQ8",
            "square_order_id": "SQ8",
            "last_synced_at": iso(3),
            "line_items": [{"id": "L1", "ordered": 4, "shipped": 1}],
        }
    )
    ledger.append(
        {
            "google_order_id": "G7",
            "merchant_order_id": "SQ7",
            "last_synced_at": iso(2),
            "line_items": [{"id": "L1", "ordered": 1, "shipped": 0, "delivered": 0, "canceled": 0}],
        }
    )
    return google, square, ledger


def test_orders_not_in_google_get_one_row_each_after_googles():
    rec = run(*not_in_google_case())
    assert found(rec) == {
        ("G7", "missing_in_google"),
        ("G8", "missing_in_google"),
        ("G9", "missing_in_google"),
    }
    table = rules.orders_table(rec.orders)
    assert list(table.columns) == list(rules.ORDER_COLUMNS)
    # Google's orders as before, then the others by id; G7 (ledger + Square) is one row.
    assert list(table["google_order_id"]) == ["G1", "G2", "G3", "G7", "G8", "G9"]
    assert list(rec.orders["in_google"]) == [True] * 3 + [False] * 3
    by_id = table.set_index("google_order_id").astype(object)
    rows = by_id.where(by_id.notna(), None)  # empty cells as None
    # Google's cells stay empty for all three.
    for gid in ("G7", "G8", "G9"):
        assert rows.loc[gid, "google_status"] == ""
        assert rows.loc[gid, "placed_at"] is None and rows.loc[gid, "amount_google"] is None
    # In ledger and OMS: ids from the ledger, Square's order id, status and amount; the ledger's
    # quantities (it knows all four) win over Square's.
    assert rows.loc["G7"][["merchant_order_id", "square_order_id", "oms_status"]].tolist() == [
        "SQ7",
        "",  # the same id as merchant_order_id: not repeated (issue 17.10)
        "completed",
    ]
    assert rows.loc["G7"][["qty_ordered", "qty_shipped", "qty_delivered", "qty_canceled"]].tolist() == [
        1,
        0,
        0,
        0,
    ]
    assert (rows.loc["G7", "amount_oms"], rows.loc["G7", "currency"]) == ("7.00", "EUR")
    assert rows.loc["G7", "last_synced_at"] == sheet(2)
    # Only in the ledger: what it knows, nothing from an OMS; unknown quantities stay empty.
    assert rows.loc["G8"][["merchant_order_id", "square_order_id", "oms_status"]].tolist() == [
        "SQ8",
        "",
        "",
    ]
    assert rows.loc["G8"][["qty_ordered", "qty_shipped", "qty_delivered"]].tolist() == [4, 1, None]
    assert rows.loc["G8", "amount_oms"] is None and rows.loc["G8", "currency"] == ""
    assert rows.loc["G8", "last_synced_at"] == sheet(3)
    # Only in Square: its reference as the id, its quantities (summed over lines) and amount.
    assert rows.loc["G9"][["merchant_order_id", "square_order_id", "oms_status"]].tolist() == [
        "",
        "SQ9",
        "open",
    ]
    assert rows.loc["G9"][["qty_ordered", "qty_shipped", "qty_delivered", "qty_canceled"]].tolist() == [
        3,
        0,
        None,
        None,
    ]
    assert (rows.loc["G9", "amount_oms"], rows.loc["G9", "currency"]) == ("12.34", "USD")
    assert rows.loc["G9", "last_synced_at"] is None
    # Google's own rows are unchanged.
    assert list(table["amount_google"][:3]) == ["33.06", "2000", "32.43"]


def test_feed_order_by_merchant_id_folds_into_the_ledger_order():
    google, _, ledger = not_in_google_case()
    rows = [{"order_id": "SQ8", "line_item_id": "L1", "quantity": "1", "shipped_at": iso(4)}]
    rec = run(google, None, ledger, oms=frames_from_feed(rows))
    table = rules.orders_table(rec.orders)
    assert list(table["google_order_id"]) == ["G1", "G2", "G3", "G7", "G8"]
    g8 = table.set_index("google_order_id").loc["G8"]
    assert g8["oms_status"] == "shipped" and g8["merchant_order_id"] == "SQ8"
    # the feed knows shipped/delivered; the ledger's delivered count is unknown, so the feed's fills it
    assert (g8["qty_shipped"], g8["qty_delivered"]) == (1, 0)


def test_several_oms_orders_for_one_missing_reference_give_one_row():
    google, square, ledger = base_case()
    stray = {"id": "SQ9", "reference_id": "G9", "state": "OPEN", "line_items": []}
    square += [stray, {**stray, "id": "SQ9b"}]
    rec = run(google, square, ledger)
    extra = rec.orders[~rec.orders["in_google"]]
    assert list(extra["google_order_id"]) == ["G9"] and list(extra["square_order_id"]) == ["SQ9"]


def test_summary_lists_orders_not_in_google_under_their_own_key():
    rec = run(*not_in_google_case())
    summary = rules.summarise(rec)
    totals = summary[summary["section"] == "totals"].set_index("key")["count"]
    assert totals["orders"] == 6
    status = summary[summary["section"] == "orders_by_status"]
    assert status["key"].tolist()[-1] == rules.NOT_IN_GOOGLE  # after Google's statuses
    row = status[status["key"] == rules.NOT_IN_GOOGLE]
    # one row, no amount: Google has none for them (their OMS amounts are in orders.csv)
    assert row[["count", "amount", "currency"]].values.tolist() == [[3, "", ""]]
    assert status["count"].sum() == 6
    cat = summary[summary["section"] == "breaks_by_category"].set_index("key")
    assert cat.loc["missing_in_google", "count"] == 3 and cat.loc["missing_in_google", "amount"] == ""


def test_new_rows_are_neutralised_and_carry_no_pii():
    from sync.service.reconciliation import neutralise

    google, square, ledger = base_case()
    square.append({"id": "@SQ", "reference_id": "=HYPERLINK(1)", "state": "OPEN", "line_items": []})
    rec = rules.reconcile(
        frames_from_google_orders(google, include_pii=True),
        frames_from_ledger(ledger),
        frames_from_square_orders(square),
        slas=SLAS,
        now=pd.Timestamp(NOW),
    )
    table = neutralise(rules.orders_table(rec.orders))
    last = table.iloc[-1]
    assert (last["google_order_id"], last["square_order_id"]) == ("'=HYPERLINK(1)", "'@SQ")
    assert (last["customer_name"], last["customer_email"]) == ("", "")
    assert table.iloc[0]["customer_name"] == "Ann Smith"


def test_no_google_orders_at_all():
    """Every order is then one Google does not list; nothing fails for want of a Google row."""
    _, square, ledger = base_case()
    failed = [{"google_order_id": "G2", "kind": "updateShipment", "error": "invalid carrier"}]
    rec = run([], square, ledger, failed)
    assert list(rec.orders["google_order_id"]) == ["G1", "G2", "G3"]
    assert not rec.orders["in_google"].any()
    assert list(rec.orders["square_order_id"]) == ["SQ1", "SQ2", "SQ3"]
    failure = rec.breaks[rec.breaks["category"] == "failed_operation"].iloc[0]
    assert pd.isna(failure["age_hours"])  # no failure time and no placed date: unknown, not negative


def test_unknown_time_gives_unknown_age():
    google, square, ledger = base_case()
    square.append({"id": "SQ9", "reference_id": "G9", "state": "OPEN", "line_items": []})  # no created_at
    rec = run(google, square, ledger)
    assert pd.isna(rec.breaks.iloc[0]["age_hours"])
    age = rules.summarise(rec).query("section == 'breaks_by_age'").set_index("key")["count"]
    assert age["unknown"] == 1 and age["0-1d"] == 0


def test_orders_table_of_a_later_slice_keeps_one_row_per_order():
    """write_report formats orders.csv in slices; a slice's index does not start at 0."""
    rec = run(*not_in_google_case())
    whole = rules.orders_table(rec.orders)
    slices = [rules.orders_table(rec.orders.iloc[i : i + 2]) for i in range(0, len(rec.orders), 2)]
    parts = pd.concat(slices, ignore_index=True)
    assert len(parts) == len(rec.orders)
    pd.testing.assert_frame_equal(parts, whole)


def test_rule_groups_cover_every_category_in_category_order():
    from sync.domain import live_breaks
    from sync.domain.reconcile.rules import GROUPS

    declared = [c for group in GROUPS for c in group.CATEGORIES]
    # Google's live channels' rules run over records, not the alignment (domain.live_breaks).
    assert set(declared) | set(live_breaks.CATEGORIES) == set(rules.CATEGORIES)
    firsts = [rules.CATEGORIES.index(group.CATEGORIES[0]) for group in GROUPS]
    assert firsts == sorted(firsts)


# ---- returns and refunds (issue 15.6) ---------------------------------------------------------


def _square_refund(rid: str, amount: int, status: str = "APPROVED", sale: str = "SQ2") -> dict:
    return {"id": rid, "status": status, "amount_money": {"amount": amount, "currency": "JPY"},
            "transaction_id": sale, "created_at": iso(3)}


def _return_order(oid: str, *refunds: dict, sale: str = "SQ2") -> dict:
    return {"id": oid, "state": "COMPLETED", "returns": [{"uid": "r", "source_order_id": sale}],
            "refunds": list(refunds), "total_money": {"amount": 0, "currency": "JPY"}}


def test_refunds_agree_to_the_minor_unit_across_google_and_square():
    google, square, ledger = base_case()
    google[1]["refunds"] = [{"amount": price("500", "JPY"), "creationDate": iso(2), "actor": "merchant"}]
    square.append(_return_order("RET1", _square_refund("RF1", 500)))
    square[1]["refunds"] = [_square_refund("RF1", 500)]  # the sale order lists it too: counted once
    square.append(_return_order("RET2", _square_refund("RF2", 100, status="PENDING")))  # not done yet
    rec = run(google, square, ledger)
    assert found(rec) == set()
    table = rules.orders_table(rec.orders).set_index("google_order_id")
    refunded = (table.loc["G2", "amount_refunded_google"], table.loc["G2", "amount_refunded_oms"])
    assert refunded == ("500", "500")
    assert table.loc["G1", "amount_refunded_oms"] == "0.00"
    square.append(_return_order("RET3", _square_refund("RF3", 1)))  # one yen more in Square
    rec = run(google, square, ledger)
    assert found(rec) == {("G2", "refund_mismatch")}
    assert "Google refunded 500, the OMS 501 JPY (Google minus OMS: -1)" in rec.breaks.iloc[0]["detail"]
    # the feed keeps no refunds: nothing to compare
    feed = run(google, None, ledger, oms=frames_from_feed([]))
    assert "refund_mismatch" not in set(feed.breaks["category"])


def test_a_return_is_a_break_only_when_unrefunded_past_the_sla():
    google, square, ledger = base_case()
    line = google[1]["lineItems"][0]  # G2: 1 x 1500 JPY, delivered
    line["quantityReturned"] = 1
    line["returns"] = [{"quantity": 1, "creationDate": iso(300), "actor": "customer"}]
    assert found(run(google, square, ledger)) == set()  # 300 h < 336 h
    line["returns"][0]["creationDate"] = iso(400)
    rec = run(google, square, ledger)
    assert found(rec) == {("G2", "return_not_refunded_past_sla")}
    assert rec.breaks.iloc[0]["age_hours"] == pytest.approx(400)
    assert rules.orders_table(rec.orders).set_index("google_order_id").loc["G2", "qty_returned"] == 1
    google[1]["refunds"] = [{"amount": price("1500", "JPY"), "creationDate": iso(390)}]
    square.append(_return_order("RET1", _square_refund("RF1", 1500)))
    assert found(run(google, square, ledger)) == set()  # refunded in full on both sides
    sla = rules.Slas(return_hours=500)
    frames = frames_from_google_orders(google)
    assert rules.reconcile(frames, None, None, slas=sla, now=pd.Timestamp(NOW)).breaks.empty


def test_snapshots_from_before_refunds_still_load():
    google, square, _ = base_case()
    old_google = frames_from_google_orders(google).drop(
        columns=["refunded_minor", "last_refunded_at", "returned_amount_minor", "last_returned_at"]
    )
    old_oms = frames_from_square_orders(square).drop(columns=["refunded_minor", "last_refunded_at"])
    rec = rules.reconcile(old_google, None, old_oms, slas=SLAS, now=pd.Timestamp(NOW))
    assert found(rec) == set()
    table = rules.orders_table(rec.orders)
    assert list(table["amount_refunded_google"]) == ["0.00", "0", "0.00"]
    assert table["amount_refunded_oms"].isna().all()  # unknown, not zero
