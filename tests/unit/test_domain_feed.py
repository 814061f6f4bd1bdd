import csv
import io
from datetime import UTC, datetime

import pytest

from sync.domain.feed import (
    COLUMNS,
    FeedReject,
    FeedRow,
    group_shipments,
    parse_rows,
    validate_header,
)
from sync.domain.operations import feed_shipment_id

HEADER = [
    "order_id",
    "line_item_id",
    "offer_id",
    "quantity",
    "carrier",
    "tracking_id",
    "shipped_at",
    "delivered_at",
    "shipment_id",
]


def rows_from_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return [(reader.line_num, dict(row)) for row in reader]


def row(**values: str) -> dict[str, str]:
    base = {
        "order_id": "TEST-1",
        "line_item_id": "LI-A",
        "offer_id": "",
        "quantity": "1",
        "carrier": "UPS",
        "tracking_id": "1Z999AA10123456784",
        "shipped_at": "2026-11-21T10:00:00Z",
        "delivered_at": "",
        "shipment_id": "",
    }
    base.update(values)
    return base


def parse_one(**values: str) -> FeedRow | FeedReject:
    good, bad = parse_rows([(2, row(**values))], "feeds/shipments.csv")
    assert len(good) + len(bad) == 1
    return (good or bad)[0]


def reason_of(**values: str) -> str:
    result = parse_one(**values)
    assert isinstance(result, FeedReject), result
    assert result.source == "feeds/shipments.csv" and result.line_no == 2
    return result.reason


# ---------------------------------------------------------------------------- header
def test_valid_headers():
    assert validate_header(HEADER) == []
    assert validate_header(["order_id", "offer_id", "quantity", "carrier", "tracking_id", "shipped_at"]) == []
    assert (
        validate_header(
            ["\ufeffOrder_ID ", "LINE_ITEM_ID", "quantity", "carrier", "tracking_id", "shipped_at"]
        )
        == []
    )


@pytest.mark.parametrize("fieldnames", [None, [], [""]])
def test_missing_header(fieldnames):
    (problem,) = validate_header(fieldnames)
    assert "no header row" in problem


def test_header_problems_are_named():
    problems = validate_header(["order_id", "quantity", "carrier", "deliverd_at", "quantity"])
    text = " | ".join(problems)
    assert "missing required column(s): tracking_id, shipped_at" in text
    assert "neither is present" in text
    assert "unknown column(s): deliverd_at" in text
    assert "more than once: quantity" in text


# ---------------------------------------------------------------------------- rows
def test_good_row_is_normalised():
    result = parse_one(
        carrier="FedEx Ground",
        tracking_id=" 7946 ",
        quantity="2",
        offer_id="",
        line_item_id="LI-A",
        shipped_at="2026-11-21T12:00:00+02:00",
        delivered_at="2026-11-23",
    )
    assert isinstance(result, FeedRow)
    assert result.order_ref == "TEST-1"
    assert (result.line_item_id, result.offer_id, result.quantity) == ("LI-A", None, 2)
    assert result.carrier == "fedex"
    assert result.tracking_id == "7946"
    assert result.shipped_at == datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert result.delivered_at == datetime(2026, 11, 23, tzinfo=UTC)
    assert result.shipment_id is None
    assert result.raw["carrier"] == "FedEx Ground"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00:00-05:00", datetime(2026, 11, 20, 15, tzinfo=UTC)),
        ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20 10:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T10:00:00.5Z", datetime(2026, 11, 20, 10, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_date_forms(text, expected):
    result = parse_one(shipped_at=text)
    assert isinstance(result, FeedRow) and result.shipped_at == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"order_id": ""}, "order_id is empty"),
        ({"line_item_id": "", "offer_id": ""}, "neither line_item_id nor offer_id"),
        ({"line_item_id": "LI-A", "offer_id": "sku-a"}, "both line_item_id 'LI-A' and offer_id 'sku-a'"),
        ({"quantity": "0"}, "quantity '0' must be greater than 0"),
        ({"quantity": "-1"}, "quantity '-1' must be greater than 0"),
        ({"quantity": "1.5"}, "quantity '1.5' is not a whole number"),
        ({"quantity": "two"}, "quantity 'two' is not a whole number"),
        ({"quantity": ""}, "quantity is empty"),
        ({"carrier": "Pigeon Post"}, "carrier: unknown carrier 'Pigeon Post'"),
        ({"carrier": ""}, "carrier: carrier is empty"),
        ({"tracking_id": ""}, "tracking_id is empty"),
        ({"tracking_id": "--"}, "tracking_id '--' has no letters or digits"),
        ({"shipped_at": ""}, "shipped_at is empty"),
        ({"shipped_at": "21/11/2026"}, "shipped_at '21/11/2026' is not an ISO 8601"),
        ({"shipped_at": "2026-13-01"}, "shipped_at '2026-13-01' is not an ISO 8601"),
        ({"delivered_at": "soon"}, "delivered_at 'soon' is not an ISO 8601"),
        (
            {"delivered_at": "2026-11-20T09:00:00Z"},
            "delivered_at '2026-11-20T09:00:00Z' is before shipped_at",
        ),
    ],
)
def test_reject_reasons_name_the_column_and_value(values, expected):
    assert expected in reason_of(**values)


def test_unknown_carrier_reject_mentions_the_setting():
    assert "[shipments] carrier_aliases" in reason_of(carrier="Pigeon Post")


def test_carrier_aliases_are_used():
    good, bad = parse_rows([(2, row(carrier="Pigeon Post"))], "f.csv", {"pigeon post": "usps"})
    assert not bad and good[0].carrier == "usps"


def test_unknown_column_and_short_row():
    assert "unknown column(s) colour" in reason_of(colour="red")
    values = row()
    values["delivered_at"] = None  # csv.DictReader's restval for a short row
    (reject,) = parse_rows([(5, values)], "f.csv")[1]
    assert "fewer fields than the header (no value for delivered_at)" in reject.reason


def test_several_problems_reported_together_and_raw_kept():
    reject = parse_one(order_id="", quantity="0", carrier="?")
    assert isinstance(reject, FeedReject)
    assert reject.reason.count(";") >= 2
    assert reject.raw == row(order_id="", quantity="0", carrier="?")


def test_tracking_may_be_empty_with_a_shipment_id():
    result = parse_one(tracking_id="", shipment_id="SHIP-7")
    assert isinstance(result, FeedRow) and result.shipment_id == "SHIP-7"


def test_blank_rows_are_skipped_and_line_numbers_kept():
    text = (
        ",".join(HEADER)
        + "\n"
        + ",".join(row().values())
        + "\n,,,,,,,,\n"
        + ",".join(row(quantity="x").values())
        + "\n"
    )
    good, bad = parse_rows(rows_from_csv(text), "f.csv")
    assert [g.line_no for g in good] == [2]
    assert [(b.line_no, b.source) for b in bad] == [(4, "f.csv")]


def test_header_case_and_bom_tolerated_in_rows():
    values = {("\ufeff" + k.upper() if k == "order_id" else k.upper()): v for k, v in row().items()}
    good, bad = parse_rows([(2, values)], "f.csv")
    assert not bad and good[0].order_ref == "TEST-1"


def test_columns_constant_lists_every_column():
    assert set(COLUMNS) == set(HEADER)


# ---------------------------------------------------------------------------- grouping
def parsed(*rows_: dict[str, str], source: str = "feeds/a.csv", first_line: int = 2) -> list[FeedRow]:
    good, bad = parse_rows([(first_line + i, r) for i, r in enumerate(rows_)], source)
    assert not bad, bad
    return good


def test_rows_with_same_order_and_tracking_form_one_shipment():
    rows = parsed(
        row(line_item_id="LI-A", quantity="2"),
        row(line_item_id="LI-B"),
        row(line_item_id="LI-A", tracking_id="OTHER1"),
        row(order_id="TEST-2", line_item_id="LI-A"),
    )
    events, conflicts = group_shipments(rows)
    assert not conflicts
    assert [
        (e.order_ref, e.tracking_id, [(ln.line_item_id, ln.quantity) for ln in e.lines]) for e in events
    ] == [
        ("TEST-1", "1Z999AA10123456784", [("LI-A", 2), ("LI-B", 1)]),
        ("TEST-1", "OTHER1", [("LI-A", 1)]),
        ("TEST-2", "1Z999AA10123456784", [("LI-A", 1)]),
    ]
    first = events[0]
    assert first.shipment_id == feed_shipment_id("TEST-1", "1Z999AA10123456784", "ups")
    assert not first.shipment_id_explicit
    assert first.carrier == "ups"
    assert first.delivered_at is None
    assert first.rows == (("feeds/a.csv", 2), ("feeds/a.csv", 3))
    assert events[0].shipment_id != events[2].shipment_id  # same tracking, other order


def test_repeat_exports_collapse_and_later_delivered_at_is_kept():
    monday = parsed(row(line_item_id="LI-A"), row(line_item_id="LI-B"), source="exports/mon.csv")
    tuesday = parsed(
        row(line_item_id="LI-A", delivered_at="2026-11-23T15:00:00Z"),
        row(line_item_id="LI-B", tracking_id="1z999aa1 0123456784"),
        source="exports/tue.csv",
    )
    events, conflicts = group_shipments(monday + tuesday)
    assert not conflicts
    (event,) = events
    assert [(ln.line_item_id, ln.quantity) for ln in event.lines] == [("LI-A", 1), ("LI-B", 1)]
    assert event.delivered_at is None  # LI-B not delivered yet
    assert len(event.rows) == 4

    wednesday = parsed(
        row(line_item_id="LI-A", delivered_at="2026-11-23T15:00:00Z"),
        row(line_item_id="LI-B", delivered_at="2026-11-24T09:00:00Z"),
        source="exports/wed.csv",
    )
    (event2,), _ = group_shipments(monday + tuesday + wednesday)
    assert event2.delivered_at == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert event2.shipment_id == event.shipment_id  # same parcel, same id whatever the export


def test_explicit_shipment_id_wins():
    rows = parsed(row(line_item_id="LI-A"), row(line_item_id="LI-B", shipment_id="SHIP-42"))
    (event,), conflicts = group_shipments(rows)
    assert not conflicts
    assert event.shipment_id == "SHIP-42" and event.shipment_id_explicit


def test_offer_id_lines_are_kept_as_offer_refs():
    (event,), _ = group_shipments(parsed(row(line_item_id="", offer_id="sku-a", quantity="3")))
    assert event.lines == ((None, "sku-a", 3),)


def test_conflicting_quantities_hold_the_shipment_back():
    rows = parsed(row(line_item_id="LI-A", quantity="1"), row(line_item_id="LI-B"), source="a.csv") + parsed(
        row(line_item_id="LI-A", quantity="2"), source="b.csv", first_line=7
    )
    events, conflicts = group_shipments(rows)
    assert events == []
    (conflict,) = conflicts
    assert (conflict.source, conflict.line_no) == ("b.csv", 7)
    assert "quantity 2 here but 1 at a.csv:2" in conflict.reason
    assert "line_item_id 'LI-A'" in conflict.reason
    assert conflict.raw["quantity"] == "2"


def test_conflicting_carriers_and_explicit_ids():
    rows = parsed(row(line_item_id="LI-A"), row(line_item_id="LI-B", carrier="fedex"))
    events, conflicts = group_shipments(rows)
    assert events == [] and "carrier 'fedex' here but 'ups'" in conflicts[0].reason

    rows = parsed(row(line_item_id="LI-A", shipment_id="S1"), row(line_item_id="LI-B", shipment_id="S2"))
    events, conflicts = group_shipments(rows)
    assert events == [] and "shipment_id 'S2' here but 'S1'" in conflicts[0].reason


def test_one_explicit_shipment_id_for_two_parcels_is_a_conflict():
    rows = parsed(
        row(line_item_id="LI-A", shipment_id="S1"),
        row(line_item_id="LI-B", shipment_id="S1", tracking_id="OTHER1"),
    )
    events, conflicts = group_shipments(rows)
    assert [e.tracking_id for e in events] == ["1Z999AA10123456784"]
    assert "already used by tracking id '1Z999AA10123456784'" in conflicts[0].reason


def test_grouping_other_fields():
    rows = parsed(
        row(line_item_id="LI-A", shipped_at="2026-11-21T10:00:00Z"),
        row(line_item_id="LI-B", shipped_at="2026-11-21T08:00:00Z"),
        row(order_id="TEST-3", tracking_id="", shipment_id="LOCAL-1"),
    )
    events, conflicts = group_shipments(rows)
    assert not conflicts
    assert events[0].shipped_at == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert (events[1].shipment_id, events[1].tracking_id) == ("LOCAL-1", "")
