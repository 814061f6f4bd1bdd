"""The shipments feed (design.md §7): CSV rows -> validated rows -> shipment events.

A warehouse exports its shipments again and again; the same row appears in every export and a later
export may add ``delivered_at``. So parsing is per row (a bad row is rejected with the column and
value that are wrong, the others proceed) and grouping is idempotent: rows with the same order and
tracking id form one shipment, repeats collapse, and a shipment whose rows contradict each other is
held back (reported) rather than guessed at, because a shipment sent to Google cannot be unsent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sync.domain.carriers import UnknownCarrierError, normalize_carrier
from sync.domain.operations import feed_shipment_id, tracking_key
from sync.domain.orders import parse_datetime

REQUIRED_COLUMNS: tuple[str, ...] = ("order_id", "quantity", "carrier", "tracking_id", "shipped_at")
LINE_COLUMNS: tuple[str, ...] = ("line_item_id", "offer_id")
OPTIONAL_COLUMNS: tuple[str, ...] = ("delivered_at", "shipment_id")
COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS[:1] + LINE_COLUMNS + REQUIRED_COLUMNS[1:] + OPTIONAL_COLUMNS
# A rejects file (the original row plus these) can be corrected and dropped back into the feed
# folder: the reader accepts and ignores these columns.
REJECT_COLUMNS: tuple[str, ...] = ("reject_file", "reject_line", "reject_reason")
DELIMITERS: tuple[str, ...] = (",", ";", "\t")  # comma first: it wins a tie
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}

_QUANTITY = re.compile(r"^[+-]?\d+$")
# Cells spreadsheets would run as formulas; our rejects file prefixes them with a quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def normalize_column(name: str | None) -> str:
    """Header cells are matched without case, surrounding spaces or a stray BOM."""
    return (name or "").replace("\ufeff", "").strip().lower()


def unquote_cell(value: str) -> str:
    """A cell our rejects file neutralised for spreadsheets (``'=…``, ``'-1``) reads back as written."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START else value


def detect_delimiter(header_line: str) -> str:
    """The separator of a feed, from its header line: the one that splits it into the most known
    column names (European Excel writes ``;``, its "Unicode text" tabs); comma when none does."""
    def known(delimiter: str) -> int:
        names = {normalize_column(n.strip('"')) for n in header_line.strip("\r\n").split(delimiter)}
        return len(names & set(COLUMNS))

    return max(DELIMITERS, key=known)  # max keeps the first of equals: comma


class RejectKind(StrEnum):
    """Why a reject arose; part of its identity (``FeedReject.key``)."""

    FILE = "file"  # the whole file: unreadable, undecodable, no usable header
    ROW = "row"  # the row's own values, encoding or CSV syntax
    CONFLICT = "conflict"  # rows of one parcel disagree
    UNKNOWN_ORDER = "unknown_order"  # no such order in the ledger (yet): retried every cycle
    PLAN = "plan"  # the order refuses it (unknown line, over-shipping, not released, canceled)


def content_key(raw: Mapping[str, str]) -> str:
    """A row's identity whatever file or line it is in: its known columns' non-empty values
    (names normalised, neutralising quotes undone), so the same row in the next export is the
    same row, and a corrected one is a different row."""
    cells = sorted(
        (name, unquote_cell(value).strip())
        for name, value in ((normalize_column(k), v or "") for k, v in raw.items())
        if name in COLUMNS and value.strip()
    )
    return hashlib.sha256(json.dumps(cells).encode("ascii")).hexdigest()


@dataclass(frozen=True)
class FeedReject:
    """A row (or a group of rows, or a whole file) not used, and why, in words an ops person can
    act on. ``raw`` is the row as written, by the file's own column names, in its order."""

    source: str
    line_no: int
    reason: str
    raw: dict[str, str] = field(default_factory=dict, hash=False)
    kind: RejectKind = RejectKind.ROW
    retryable: bool = False  # may apply later on its own (an order not polled or released yet)

    @property
    def content(self) -> str:
        return content_key(self.raw)

    @property
    def key(self) -> str:
        """Identity across cycles: the same row rejected for the same kind of reason is the same
        reject (its reason's wording may change with the order); a whole file is its path."""
        if self.kind is RejectKind.FILE:
            basis = f"{self.source}\x1f{self.reason}"
        elif any(normalize_column(k) in COLUMNS and (v or "").strip() for k, v in self.raw.items()):
            basis = self.content
        else:
            basis = self.reason  # a line the CSV parser could not split: its text is in the reason
        return hashlib.sha256(f"{self.kind.value}\x1f{basis}".encode("utf-8", "surrogatepass")).hexdigest()

    def cell(self, column: str) -> str:
        """The row's value for a known column (names normalised), "" when absent."""
        return next(
            (unquote_cell(v or "").strip() for k, v in self.raw.items() if normalize_column(k) == column), ""
        )

    @property
    def order_ref(self) -> str:
        return self.cell("order_id")

    @property
    def tracking(self) -> str:
        return tracking_key(self.cell("tracking_id"))


def file_reject(source: str, reasons: Iterable[str], header: Iterable[str] = ()) -> FeedReject:
    """The whole file as one reject (line 1), with a hint when the header looks separated by
    something other than commas."""
    reason = "; ".join(reasons)
    names = [n for n in header if n]
    if len(names) == 1:
        for delimiter in DELIMITERS[1:]:
            if delimiter in names[0]:
                reason += (
                    f"; the header is one column holding {_DELIMITER_NAMES[delimiter]}: if the file is "
                    f"separated by {_DELIMITER_NAMES[delimiter]}, name the columns {', '.join(COLUMNS)} "
                    "(the separator is recognised from them), or export it as CSV with commas"
                )
                break
    return FeedReject(source, 1, f"whole file not read: {reason}", {}, RejectKind.FILE)


@dataclass(frozen=True)
class FeedRow:
    source: str
    line_no: int
    order_ref: str  # Google order id or our merchantOrderId, as written
    line_item_id: str | None
    offer_id: str | None
    quantity: int
    carrier: str  # normalised to Google's value
    tracking_id: str
    shipped_at: datetime  # aware UTC
    delivered_at: datetime | None
    shipment_id: str | None  # explicit value from the feed, else None
    raw: dict[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def line_key(self) -> tuple[str, str]:
        return ("line_item_id", self.line_item_id) if self.line_item_id else ("offer_id", self.offer_id or "")

    @property
    def line_label(self) -> str:
        kind, value = self.line_key
        return f"{kind} {value!r}"


class EventLine(NamedTuple):
    line_item_id: str | None
    offer_id: str | None
    quantity: int


@dataclass(frozen=True)
class ShipmentEvent:
    order_ref: str
    shipment_id: str
    carrier: str
    tracking_id: str
    shipped_at: datetime
    delivered_at: datetime | None  # set only when every line of the shipment has a delivered_at
    lines: tuple[EventLine, ...]
    rows: tuple[tuple[str, int], ...]  # (source, line_no) of every row that contributed
    shipment_id_explicit: bool = False  # True when the feed's shipment_id column gave it


@dataclass
class FeedFile:
    """One feed file as read: its header, numbered rows, and problems found reading it."""

    source: str
    fieldnames: list[str]
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    problems: list[FeedReject] = field(default_factory=list)
    delimiter: str = ","
    encoding: str = "UTF-8"


def printable(text: str) -> str:
    """Text as it can be written to a UTF-8 file: undecodable bytes become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def validate_header(fieldnames: Iterable[str | None] | None) -> list[str]:
    """Problems with a feed's header row; an empty list means the file can be parsed."""
    names = [normalize_column(n) for n in (fieldnames or [])]
    if not any(names):
        return [f"no header row: the first line must name the columns ({', '.join(COLUMNS)})"]
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    if not any(c in names for c in LINE_COLUMNS):
        problems.append("needs a line_item_id or an offer_id column (neither is present)")
    unknown = [n or "<empty>" for n in names if n not in COLUMNS and n not in REJECT_COLUMNS]
    if unknown:
        # Strict on purpose: a misspelt "deliverd_at" would otherwise be silently ignored.
        problems.append(f"unknown column(s): {', '.join(unknown)} (known columns: {', '.join(COLUMNS)})")
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        problems.append(f"column(s) given more than once: {', '.join(duplicated)}")
    return problems


def _date(row: Mapping[str, str], column: str, problems: list[str]) -> datetime | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        problems.append(f"{column} {text!r} is not an ISO 8601 date/time "
                        "(e.g. 2026-11-20T10:00:00Z or 2026-11-20)")
        return None


def parse_row(line_no: int, raw: Mapping[str, str | None], source: str,
              aliases: dict[str, str] | None = None) -> FeedRow | FeedReject:
    """One row -> a FeedRow, or a FeedReject listing every problem found in it."""
    original = {str(k): "" if v is None else str(v) for k, v in raw.items()}
    missing_cells = [normalize_column(k) for k, v in raw.items() if v is None]
    row = {
        normalize_column(k): unquote_cell("" if v is None else str(v)).strip()
        for k, v in raw.items()
        if normalize_column(k) not in REJECT_COLUMNS
    }
    problems: list[str] = []
    if missing_cells:
        problems.append(f"row has fewer fields than the header (no value for {', '.join(missing_cells)})")
    unknown = [k or "<empty>" for k in row if k not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")

    order_ref = row.get("order_id", "")
    if not order_ref:
        problems.append("order_id is empty")

    line_item_id = row.get("line_item_id") or None
    offer_id = row.get("offer_id") or None
    if line_item_id and offer_id:
        problems.append(f"both line_item_id {line_item_id!r} and offer_id {offer_id!r} are given: give one")
    elif not line_item_id and not offer_id:
        problems.append("neither line_item_id nor offer_id is given")

    quantity = 0
    qty_text = row.get("quantity", "")
    if not qty_text:
        problems.append("quantity is empty")
    elif not _QUANTITY.match(qty_text):
        problems.append(f"quantity {qty_text!r} is not a whole number")
    elif (quantity := int(qty_text)) <= 0:
        problems.append(f"quantity {qty_text!r} must be greater than 0")

    carrier = ""
    try:
        carrier = normalize_carrier(row.get("carrier", ""), aliases)
    except UnknownCarrierError as exc:
        problems.append(f"carrier: {exc}")

    tracking_id = row.get("tracking_id", "")
    shipment_id = row.get("shipment_id") or None
    if not tracking_id and not shipment_id:
        problems.append("tracking_id is empty (it groups rows into a shipment; or give a shipment_id)")
    elif tracking_id and not re.search(r"[0-9A-Za-z]", tracking_id):
        problems.append(f"tracking_id {tracking_id!r} has no letters or digits")

    shipped_at = _date(row, "shipped_at", problems)
    if shipped_at is None and not row.get("shipped_at"):
        problems.append("shipped_at is empty")
    delivered_at = _date(row, "delivered_at", problems)
    if shipped_at and delivered_at and delivered_at < shipped_at:
        problems.append(
            f"delivered_at {row['delivered_at']!r} is before shipped_at {row['shipped_at']!r}"
        )

    if problems:
        return FeedReject(source, line_no, "; ".join(problems), original)
    assert shipped_at is not None
    return FeedRow(source, line_no, order_ref, line_item_id, offer_id, quantity, carrier, tracking_id,
                   shipped_at, delivered_at, shipment_id, original)


def parse_rows(
    rows: Iterable[tuple[int, Mapping[str, str | None]]], source: str, aliases: dict[str, str] | None = None
) -> tuple[list[FeedRow], list[FeedReject]]:
    """Rows numbered by the reader -> (good rows, rejects). Blank rows are skipped, not rejected;
    so is a row of a rejects file dropped back into the feed folder that only says where and why
    (a whole-file reject has no row of its own)."""
    good: list[FeedRow] = []
    bad: list[FeedReject] = []
    for line_no, raw in rows:
        values = (v for k, v in raw.items() if normalize_column(k) not in REJECT_COLUMNS)
        if all(not (v or "").strip() for v in values if isinstance(v, str | None)):
            continue
        parsed = parse_row(line_no, raw, source, aliases)
        if isinstance(parsed, FeedRow):
            good.append(parsed)
        else:
            bad.append(parsed)
    return good, bad


def _where(row: FeedRow) -> str:
    return f"{row.source}:{row.line_no}"


def group_shipments(rows: Iterable[FeedRow]) -> tuple[list[ShipmentEvent], list[FeedReject]]:
    """Rows -> one ShipmentEvent per (order ref, tracking id), plus conflicts.

    * Repeats of a (shipment, line) collapse; their quantities must agree, otherwise the whole
      shipment is held back and every disagreeing row is reported (sending either quantity could
      be wrong, and a shipment cannot be amended once sent).
    * ``delivered_at`` of a line is the latest one seen for it (a later export may add it); the
      event's ``delivered_at`` is the latest over its lines, set only when every line has one.
    * ``shipped_at`` is the earliest seen. The carrier must agree across the rows.
    * An explicit ``shipment_id`` wins over the derived one (``operations.feed_shipment_id`` over
      order ref, carrier, tracking id); two different explicit ids for one parcel is a conflict,
      and so is one shipment id used by two parcels of the same order.

    Rows are grouped as written: the same parcel listed under the Google order id in one export and
    the merchantOrderId in another gives two events; planning recognises the second as applied.
    Events come out in the order of their first row.
    """
    groups: dict[tuple[str, str, str], list[FeedRow]] = {}
    for row in rows:
        key = ((row.order_ref, "tracking", tracking_key(row.tracking_id)) if row.tracking_id
               else (row.order_ref, "shipment", row.shipment_id or ""))
        groups.setdefault(key, []).append(row)

    events: list[ShipmentEvent] = []
    conflicts: list[FeedReject] = []
    used_ids: dict[tuple[str, str], ShipmentEvent] = {}
    for group in groups.values():
        event, problems = _one_shipment(group)
        if event is not None:
            earlier = used_ids.get((event.order_ref, event.shipment_id))
            if earlier is not None:
                first = earlier.rows[0]
                problems = [(r, f"shipment_id {event.shipment_id!r} of order {event.order_ref!r} is already "
                                f"used by tracking id {earlier.tracking_id!r} ({first[0]}:{first[1]}); "
                                "one shipment id per parcel") for r in group]
                event = None
            else:
                used_ids[(event.order_ref, event.shipment_id)] = event
        if event is not None:
            events.append(event)
        conflicts += [
            FeedReject(r.source, r.line_no, why, dict(r.raw), RejectKind.CONFLICT) for r, why in problems
        ]
    return events, conflicts


def _one_shipment(group: list[FeedRow]) -> tuple[ShipmentEvent | None, list[tuple[FeedRow, str]]]:
    first = group[0]
    label = f"order {first.order_ref!r} tracking id {first.tracking_id!r}"
    held = "the shipment is held back until the feed agrees"
    problems: list[tuple[FeedRow, str]] = []

    problems += [(r, f"{label}: carrier {r.carrier!r} here but {first.carrier!r} at {_where(first)}; {held}")
                 for r in group if r.carrier != first.carrier]

    explicit = [r for r in group if r.shipment_id]
    if explicit:
        named = explicit[0]
        problems += [(r, f"{label}: shipment_id {r.shipment_id!r} here but {named.shipment_id!r} at "
                         f"{_where(named)}; {held}") for r in explicit if r.shipment_id != named.shipment_id]

    lines: dict[tuple[str, str], list[FeedRow]] = {}
    for row in group:
        lines.setdefault(row.line_key, []).append(row)
    event_lines: list[EventLine] = []
    delivered: list[datetime | None] = []
    for same_line in lines.values():
        base = same_line[0]
        for row in same_line[1:]:
            if row.quantity != base.quantity:
                problems.append((row, f"{label} {row.line_label}: quantity {row.quantity} here but "
                                      f"{base.quantity} at {_where(base)}; {held}"))
        event_lines.append(EventLine(base.line_item_id, base.offer_id, base.quantity))
        dates = [r.delivered_at for r in same_line if r.delivered_at is not None]
        delivered.append(max(dates) if dates else None)

    if problems:
        return None, problems
    if explicit:
        shipment_id = explicit[0].shipment_id
        assert shipment_id is not None
    else:
        shipment_id = feed_shipment_id(first.order_ref, first.tracking_id, first.carrier)
    delivered_at = None if any(d is None for d in delivered) else max(d for d in delivered if d is not None)
    return ShipmentEvent(
        order_ref=first.order_ref,
        shipment_id=shipment_id,
        carrier=first.carrier,
        tracking_id=first.tracking_id,
        shipped_at=min(r.shipped_at for r in group),
        delivered_at=delivered_at,
        lines=tuple(event_lines),
        rows=tuple((r.source, r.line_no) for r in group),
        shipment_id_explicit=bool(explicit),
    ), []
