"""Rejected feed rows: identity by content, memory across cycles, the rejects file round trip."""

from __future__ import annotations

from pathlib import Path

from sync.adapters.feed_reader import read_feed_file
from sync.adapters.rejects_file import write_rejects_file
from sync.domain.feed import (
    REJECT_COLUMNS,
    FeedReject,
    RejectKind,
    content_key,
    detect_delimiter,
    file_reject,
    parse_rows,
    validate_header,
)
from sync.domain.rejects import GONE, SUPERSEDED, USED, settle

ROW = {
    "order_id": "G-1",
    "line_item_id": "L1",
    "quantity": "1",
    "carrier": "Carrier Pigeon",
    "tracking_id": "1Z 999",
    "shipped_at": "2026-11-20",
    "delivered_at": "",
}


def reject(
    source: str = "feeds/a.csv", line: int = 2, kind: RejectKind = RejectKind.ROW, **cells: str
) -> FeedReject:
    return FeedReject(source, line, "carrier: unknown carrier 'Carrier Pigeon'", {**ROW, **cells}, kind)


def test_the_same_row_in_another_file_or_line_is_the_same_reject() -> None:
    assert reject().key == reject("feeds/b.csv", 40).key
    # Column spelling, surrounding spaces, empty cells and our neutralising quote do not matter.
    others = {k: v for k, v in ROW.items() if k != "order_id"}
    respelled = FeedReject("x.csv", 9, "other words", {"Order_ID ": " G-1", **others, "shipment_id": ""})
    assert respelled.key == reject().key
    assert content_key({**ROW, "quantity": "'-1"}) == content_key({**ROW, "quantity": "-1"})


def test_a_corrected_row_or_another_kind_of_reason_is_a_new_reject() -> None:
    assert reject(carrier="UPS").key != reject().key
    assert reject(kind=RejectKind.UNKNOWN_ORDER).key != reject().key
    whole = file_reject("feeds/a.csv", ["no header row"])
    assert whole.key != file_reject("feeds/b.csv", ["no header row"]).key  # a file is its path


def test_settle_counts_only_new_rejects_and_says_why_others_cleared() -> None:
    seen_before, gone = reject(), reject(carrier="DHL?")
    retryable_before = reject(kind=RejectKind.UNKNOWN_ORDER)
    open_before = {seen_before.key: False, retryable_before.key: True, gone.key: False}
    new = reject(tracking_id="1Z-NEW")
    settled = settle(open_before, [seen_before, seen_before, new], accepted=set())
    assert [r.key for r in settled.open] == [seen_before.key, new.key]  # repeats collapse
    assert settled.new == [new]
    assert settled.cleared == {retryable_before.key: USED, gone.key: GONE}


def test_a_reject_is_superseded_once_its_parcel_is_accepted_from_a_corrected_row() -> None:
    wrong_carrier = reject()
    unknown_order = reject(kind=RejectKind.UNKNOWN_ORDER, order_id="G-TYPO", tracking_id="1Z-777")
    other_parcel = reject(tracking_id="1Z-888")
    accepted = {("G-1", "1Z999"), ("G-2", "1Z777")}  # tracking keys: spaces gone, upper case
    settled = settle({wrong_carrier.key: False}, [wrong_carrier, unknown_order, other_parcel], accepted)
    assert settled.open == [other_parcel] and settled.new == [other_parcel]
    assert settled.cleared == {wrong_carrier.key: SUPERSEDED}
    assert {r.key for r in settled.superseded} == {wrong_carrier.key, unknown_order.key}


def test_separators_are_recognised_from_the_header() -> None:
    assert detect_delimiter("order_id;line_item_id;quantity;carrier\r\n") == ";"
    assert detect_delimiter("order_id\tquantity\tcarrier\n") == "\t"
    assert detect_delimiter("order_id,quantity;carrier\n") == ","  # comma wins a tie
    assert detect_delimiter("Bestellung;Menge;Versand\n") == ","  # nothing known: as written


def test_a_header_of_one_column_full_of_semicolons_is_one_reject_with_a_hint() -> None:
    header = ["Bestellung;Menge;Versand;Sendungsnummer"]
    problems = validate_header(header)
    assert len(problems) == 3  # missing, no line column, unknown: once three rejects, now one
    whole = file_reject("feeds/de.csv", problems, header)
    assert whole.kind is RejectKind.FILE and whole.line_no == 1
    assert "the header is one column holding semicolons" in whole.reason
    assert "name the columns order_id, line_item_id" in whole.reason


def test_the_rejects_file_holds_the_rows_in_their_own_columns_and_reads_back_as_a_feed(
    tmp_path: Path,
) -> None:
    rows = [
        FeedReject("feeds/a.csv", 3, "carrier: unknown carrier 'Carrier Pigeon'", dict(ROW)),
        FeedReject("feeds/a.csv", 4, "quantity '-1' must be greater than 0", {**ROW, "quantity": "-1",
                                                                              "carrier": "=HYPERLINK(1)"}),
        file_reject("feeds/b.csv", ["no header row"]),
    ]
    path = write_rejects_file(tmp_path / "rejects" / "rejects-1.csv", rows)
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary left behind
    back = read_feed_file(path)
    assert back.fieldnames == [*ROW, *REJECT_COLUMNS]
    assert validate_header(back.fieldnames) == []  # droppable into the feed folder as it is
    first, second, whole = (r for _, r in back.rows)
    assert first["reject_file"] == "feeds/a.csv" and first["reject_line"] == "3"
    assert first["reject_reason"] == "carrier: unknown carrier 'Carrier Pigeon'"
    assert second["carrier"] == "'=HYPERLINK(1)" and second["quantity"] == "'-1"  # neutralised
    assert whole["reject_reason"] == "whole file not read: no header row" and whole["order_id"] == ""
    # Read back as a feed, the rows are the same rows (same identity), ready to be corrected.
    _, bad = parse_rows([(2, first), (3, second)], str(path))
    assert [r.content for r in bad] == [rows[0].content, rows[1].content]


def test_a_dropped_back_whole_file_reject_row_is_not_a_row_to_reject_again() -> None:
    only_ours = {"order_id": "", "quantity": "", "reject_file": "feeds/b.csv", "reject_line": "1",
                 "reject_reason": "whole file not read: no header row"}
    assert parse_rows([(4, only_ours)], "feeds/rejects-1.csv") == ([], [])
