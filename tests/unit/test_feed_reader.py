"""sync.adapters.feed_reader: files and globs -> numbered rows; encoding and CSV problems as rejects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync.adapters.feed_reader import FeedFile, expand_feed_paths, printable, read_feed_file, read_feeds
from sync.domain.feed import RejectKind

HEADER = "order_id,line_item_id,quantity,carrier,tracking_id,shipped_at\n"


def feed(tmp_path: Path, content: bytes | str, name: str = "f.csv") -> FeedFile:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return read_feed_file(path)


def lines_of(result: FeedFile) -> list[int]:
    return [line_no for line_no, _ in result.rows]


# ---------------------------------------------------------------------------------------- globs
def test_globs_expand_sorted_deduplicated_and_skip_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeds").mkdir()
    for name in ("shipments-2.csv", "shipments-1.csv", "other.csv"):
        (tmp_path / "feeds" / name).write_text(HEADER, encoding="utf-8")
    (tmp_path / "feeds" / "shipments-dir.csv").mkdir()
    paths = expand_feed_paths(
        ["feeds/shipments*.csv", "feeds/shipments-1.csv", str(tmp_path / "feeds" / "*.csv")]
    )
    assert [p.name for p in paths] == ["shipments-1.csv", "shipments-2.csv", "other.csv"]


def test_missing_plain_path_and_empty_glob_give_nothing(tmp_path: Path) -> None:
    assert expand_feed_paths([str(tmp_path / "absent.csv"), str(tmp_path / "none-*.csv")]) == []
    assert read_feeds([]) == []


def test_read_feeds_reads_every_match(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(HEADER + "A,L1,1,UPS,T1,2026-11-20\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text(HEADER + "B,L1,1,UPS,T2,2026-11-20\n", encoding="utf-8")
    feeds = read_feeds([str(tmp_path / "*.csv")])
    assert [Path(f.source).name for f in feeds] == ["a.csv", "b.csv"]
    assert [f.rows[0][1]["order_id"] for f in feeds] == ["A", "B"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_unreadable_file_is_one_problem_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "locked.csv"
    path.write_text(HEADER, encoding="utf-8")
    path.chmod(0)
    try:
        result = read_feed_file(path)
    finally:
        path.chmod(0o600)
    assert result.rows == [] and len(result.problems) == 1
    assert result.problems[0].source == str(path) and "cannot read file" in result.problems[0].reason


# ----------------------------------------------------------------------------- encodings, BOM
def test_utf8_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    result = feed(tmp_path, b"\xef\xbb\xbf" + (HEADER + "A,L1,1,UPS,T1,2026-11-20\n").encode())
    assert result.fieldnames[0] == "order_id"
    assert result.rows == [
        (
            2,
            {
                "order_id": "A",
                "line_item_id": "L1",
                "quantity": "1",
                "carrier": "UPS",
                "tracking_id": "T1",
                "shipped_at": "2026-11-20",
            },
        )
    ]
    assert result.problems == []


def test_non_ascii_utf8_is_kept(tmp_path: Path) -> None:
    result = feed(tmp_path, HEADER + "A,L1,1,Colissimo,Suivi-é-ü-中,2026-11-20\n")
    assert result.rows[0][1]["tracking_id"] == "Suivi-é-ü-中"


def test_a_latin1_row_is_rejected_and_the_others_kept(tmp_path: Path) -> None:
    content = (HEADER + "A,L1,1,UPS,T1,2026-11-20\n").encode()
    content += "B,L1,1,UPS,Caf\xe9,2026-11-20\n".encode("latin-1")
    content += b"C,L1,1,UPS,T3,2026-11-20\n"
    result = feed(tmp_path, content)
    assert lines_of(result) == [2, 4]
    assert [r["order_id"] for _, r in result.rows] == ["A", "C"]
    [problem] = result.problems
    assert problem.line_no == 3
    assert problem.reason == "row is not valid UTF-8 text: export the file as CSV UTF-8"
    assert problem.raw["order_id"] == "B" and problem.raw["tracking_id"].startswith("Caf")  # its own columns
    assert printable(problem.raw["tracking_id"]) == "Caf\ufffd"  # and writable to the UTF-8 rejects file


def test_header_that_is_not_utf8_rejects_the_whole_file_once(tmp_path: Path) -> None:
    result = feed(tmp_path, b"order_id,quantit\xe9\nA,1\n")
    assert result.rows == [] and result.fieldnames == []  # nothing left for header checks to trip on
    [problem] = result.problems
    assert (problem.line_no, problem.kind) == (1, RejectKind.FILE)
    assert problem.reason.startswith("whole file not read: the header is not valid UTF-8 text")
    problem.reason.encode("utf-8")  # printable: no surrogate escapes in it


def test_empty_file(tmp_path: Path) -> None:
    result = feed(tmp_path, b"")
    assert result.fieldnames == [] and result.rows == [] and result.problems == []


# ------------------------------------------------------------------------- rows and line numbers
def test_extra_fields_reject_the_row_only(tmp_path: Path) -> None:
    result = feed(tmp_path, HEADER + "A,L1,1,UPS,T1,2026-11-20,surprise\nB,L1,1,UPS,T2,2026-11-20\n")
    assert [r["order_id"] for _, r in result.rows] == ["B"]
    [problem] = result.problems
    assert problem.line_no == 2 and problem.reason == "row has 1 more field(s) than the header ('surprise')"
    assert problem.raw["order_id"] == "A"


def test_short_rows_are_kept_with_empty_values(tmp_path: Path) -> None:
    result = feed(tmp_path, HEADER + "A,L1,1\n")
    assert result.rows == [
        (
            2,
            {
                "order_id": "A",
                "line_item_id": "L1",
                "quantity": "1",
                "carrier": "",
                "tracking_id": "",
                "shipped_at": "",
            },
        )
    ]


def test_blank_lines_are_skipped_and_do_not_shift_line_numbers(tmp_path: Path) -> None:
    content = HEADER + "\nA,L1,1,UPS,T1,2026-11-20\n\n\n,,,,,\n  ,  ,,,,\nB,L1,1,UPS,T2,2026-11-20\n\n"
    result = feed(tmp_path, content)
    assert lines_of(result) == [3, 8]
    assert result.problems == []


def test_values_and_header_names_are_trimmed(tmp_path: Path) -> None:
    result = feed(tmp_path, " order_id , quantity \n  A  , 2 \n")
    assert result.fieldnames == ["order_id", "quantity"]
    assert result.rows == [(2, {"order_id": "A", "quantity": "2"})]


def test_crlf_line_endings(tmp_path: Path) -> None:
    result = feed(
        tmp_path, (HEADER + "A,L1,1,UPS,T1,2026-11-20\nB,L1,1,UPS,T2,2026-11-20\n").replace("\n", "\r\n")
    )
    assert lines_of(result) == [2, 3]
    assert result.rows[1][1]["shipped_at"] == "2026-11-20"


def test_quoted_newlines_report_the_line_where_the_row_starts(tmp_path: Path) -> None:
    content = (
        HEADER
        + 'A,L1,1,UPS,"T1\nsecond line",2026-11-20\n'  # lines 2-3
        + "B,L1,1,UPS,T2,2026-11-20\n"  # line 4
        + '"C\n\nC",L1,1,UPS,T3,2026-11-20\n'  # lines 5-7 (an empty line inside the quotes)
        + "\n"  # line 8
        + "D,L1,1,UPS,T4,2026-11-20,extra\n"  # line 9
        + "E,L1,1,UPS,T5,2026-11-20\n"  # line 10
    )
    result = feed(tmp_path, content)
    assert lines_of(result) == [2, 4, 5, 10]
    assert result.rows[0][1]["tracking_id"] == "T1\nsecond line"
    assert [(p.line_no, p.reason) for p in result.problems] == [
        (9, "row has 1 more field(s) than the header ('extra')")
    ]


def test_malformed_csv_reports_its_own_line_and_the_rest_is_kept(tmp_path: Path) -> None:
    content = (
        HEADER + "A,L1,1,UPS,T1,2026-11-20\n" + 'B,L1,1,UPS,"T2"x,2026-11-20\n' + "C,L1,1,UPS,T3,2026-11-20\n"
    )
    result = feed(tmp_path, content)
    assert [r["order_id"] for _, r in result.rows] == ["A", "C"]
    assert lines_of(result) == [2, 4]
    [problem] = result.problems
    assert problem.line_no == 3 and problem.reason.startswith("malformed CSV")


def test_unterminated_quote_at_the_end_names_the_line_it_starts_on(tmp_path: Path) -> None:
    content = HEADER + "A,L1,1,UPS,T1,2026-11-20\n\n" + 'B,L1,1,UPS,"T2,2026-11-20\nmore\n'
    result = feed(tmp_path, content)
    assert lines_of(result) == [2]
    [problem] = result.problems
    assert problem.line_no == 4 and "malformed CSV" in problem.reason


def test_malformed_lines_quote_their_text_so_two_of_them_are_two_rejects(tmp_path: Path) -> None:
    content = HEADER + 'B,L1,1,UPS,"T2"x,2026-11-20\n' + 'C,L1,1,UPS,"T3"y,2026-11-20\n'
    first, second = feed(tmp_path, content).problems
    assert "the line reads 'B,L1,1,UPS," in first.reason and "'C,L1" in second.reason
    assert first.key != second.key


# ------------------------------------------------------------- byte-order marks, UTF-16, separators
EXCEL_UNICODE_TEXT = HEADER.replace(",", "\t") + "A\tL1\t1\tUPS\tT1\t2026-11-20\n"


@pytest.mark.parametrize(
    ("codec", "text"),
    [
        ("utf-16", EXCEL_UNICODE_TEXT),  # Excel's "Unicode text": UTF-16 LE with a BOM, tabs
        ("utf-16-be-bom", HEADER + "A,L1,1,UPS,T1,2026-11-20\n"),
        ("utf-32", HEADER + "A,L1,1,UPS,T1,2026-11-20\n"),
        ("utf-8-sig", HEADER.replace(",", ";") + "A;L1;1;UPS;T1;2026-11-20\n"),  # European Excel
    ],
)
def test_byte_order_marks_and_separators_are_recognised(tmp_path: Path, codec: str, text: str) -> None:
    data = b"\xfe\xff" + text.encode("utf-16-be") if codec == "utf-16-be-bom" else text.encode(codec)
    result = feed(tmp_path, data)
    assert result.problems == []
    assert result.fieldnames[:2] == ["order_id", "line_item_id"]
    assert result.rows == [
        (
            2,
            {
                "order_id": "A",
                "line_item_id": "L1",
                "quantity": "1",
                "carrier": "UPS",
                "tracking_id": "T1",
                "shipped_at": "2026-11-20",
            },
        )
    ]


def test_a_broken_utf16_file_is_one_reject_for_the_file(tmp_path: Path) -> None:
    data = EXCEL_UNICODE_TEXT.encode("utf-16") + b"\x00\xd8"  # a lone high surrogate at the end
    result = feed(tmp_path, data)
    assert result.rows == [] and result.fieldnames == []
    [problem] = result.problems
    assert problem.kind is RejectKind.FILE
    assert "UTF-16 byte-order mark but is not valid UTF-16" in problem.reason


def test_nul_bytes_without_a_byte_order_mark_are_one_reject_for_the_file(tmp_path: Path) -> None:
    result = feed(tmp_path, EXCEL_UNICODE_TEXT.encode("utf-16-le"))  # no BOM
    [problem] = result.problems
    assert problem.kind is RejectKind.FILE and "NUL bytes" in problem.reason and result.rows == []


def test_whatever_the_bytes_the_reader_never_raises_and_every_reject_is_writable(tmp_path: Path) -> None:
    import random

    from sync.adapters.rejects_file import write_rejects_file

    rng = random.Random(12)
    pieces = [HEADER.encode(), b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\x00", b"\xe9", b'"', b",",
              b";", b"\t", b"\n", b"\r\n", "é中".encode(), b"A,L1,1,UPS,T1,2026-11-20\n", b"\xed\xa0\x80"]
    for n in range(300):  # bounded: 300 random files
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        result = feed(tmp_path, data, name=f"fuzz-{n}.csv")
        for reject in result.problems:
            reject.key  # noqa: B018 - computing the key must not raise either
        write_rejects_file(tmp_path / "out" / f"rejects-{n}.csv", result.problems)
        (tmp_path / "out" / f"rejects-{n}.csv").read_text(encoding="utf-8")
