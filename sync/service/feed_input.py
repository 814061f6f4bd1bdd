"""The shipments feed as the feed step works on it: files read into shipment events (rows the
ledger still holds included), what the ledger already settled dropped, slices of whole orders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sync.domain import feed as feed_rules
from sync.domain import operations
from sync.domain.feed import FeedReject, RejectKind
from sync.domain.progress import ShipmentState
from sync.service.context import CycleContext

# A retryable reject re-read from the ledger once its export is gone names its file like this.
NO_LONGER_IN_FEEDS = " [no longer in the feeds]"


@dataclass
class FeedState:
    events: list[feed_rules.ShipmentEvent]
    rejects: list[FeedReject]
    rows_at: dict[tuple[str, int], feed_rules.FeedRow] = field(default_factory=dict)
    # (order ref, tracking key) of every parcel applied, planned or already settled this cycle.
    accepted: set[tuple[str, str]] = field(default_factory=set)

    def accept(self, event: feed_rules.ShipmentEvent) -> None:
        self.accepted.add((event.order_ref, operations.tracking_key(event.tracking_id)))

    def reject(self, event: feed_rules.ShipmentEvent, reason: str, kind: RejectKind, retryable: bool) -> None:
        """Every row of the event, each with its original content."""
        for source, line_no in event.rows:
            row = self.rows_at.get((source, line_no))
            raw = dict(row.raw) if row is not None else {}
            self.rejects.append(FeedReject(source, line_no, reason, raw, kind, retryable))

    def part(self, events: list[feed_rules.ShipmentEvent]) -> FeedState:
        """A slice of the events, sharing this state's rejects and accepted parcels."""
        return FeedState(events, self.rejects, self.rows_at, self.accepted)


def read_feed(ctx: CycleContext) -> FeedState:
    rows: list[feed_rules.FeedRow] = []
    rejects: list[FeedReject] = []
    aliases = ctx.settings.shipments.carrier_aliases
    for feed_file in ctx.shipments.read():
        rejects += feed_file.problems
        if not feed_file.fieldnames and feed_file.problems:
            continue  # the whole file is one reject already
        header_problems = feed_rules.validate_header(feed_file.fieldnames)
        if header_problems:
            rejects.append(feed_rules.file_reject(feed_file.source, header_problems, feed_file.fieldnames))
            continue
        good, bad = feed_rules.parse_rows(feed_file.rows, feed_file.source, aliases)
        rows += good
        rejects += bad
    rows += retained_rows(ctx, rows)
    events, conflicts = feed_rules.group_shipments(rows)
    rejects += conflicts
    state = FeedState(events, rejects, {(r.source, r.line_no): r for r in rows})
    if state.events:
        kept = unsettled(ctx, state.events)
        if len(kept) < len(state.events):
            remaining = {id(e) for e in kept}
            for event in state.events:
                if id(event) not in remaining:
                    state.accept(event)  # settled by an earlier cycle
        state.events = kept
    return state


def retained_rows(ctx: CycleContext, rows: Sequence[feed_rules.FeedRow]) -> list[feed_rules.FeedRow]:
    """Rows only the ledger still has: open retryable rejects (an order not polled or released
    yet) whose export is gone, and rows already kept that way. They are retried like any row
    until used or superseded by a corrected row, so they are never silently lost."""
    retained = [
        r
        for r in ctx.ledger.open_rejects().values()
        if r.row and (r.retryable or r.source.endswith(NO_LONGER_IN_FEEDS))
    ]
    if not retained:
        return []
    refs = {r.order_ref for r in retained}
    present = {feed_rules.content_key(r.raw) for r in rows if r.order_ref in refs}
    kept: list[feed_rules.FeedRow] = []
    aliases = ctx.settings.shipments.carrier_aliases
    for record in retained:
        if record.content_key in present:
            continue  # still in an export: read from there
        source = record.source.removesuffix(NO_LONGER_IN_FEEDS) + NO_LONGER_IN_FEEDS
        good, _ = feed_rules.parse_rows([(record.line_no, dict(record.row))], source, aliases)
        kept += good
    return kept


def unsettled(ctx: CycleContext, events: list[feed_rules.ShipmentEvent]) -> list[feed_rules.ShipmentEvent]:
    """Drop events the ledger has already settled (the same rows come in every export): a
    delivered shipment, or a known one the row does not report delivered. Shipping and delivering
    would skip them anyway; dropping them first spares loading and parsing their orders, which
    keeps a cycle over a long feed cheap."""
    states = ctx.ledger.shipment_states_by_ref({e.order_ref for e in events})
    keep = []
    for event in events:
        known = states.get(event.order_ref, {}).get(event.shipment_id)
        if known == ShipmentState.DELIVERED or (known is not None and event.delivered_at is None):
            continue
        keep.append(event)
    return keep


def order_slices(
    events: Sequence[feed_rules.ShipmentEvent], size: int
) -> Iterator[list[feed_rules.ShipmentEvent]]:
    """Events in slices of about ``size``, never splitting one order's events (in feed order)."""
    by_order: dict[str, list[feed_rules.ShipmentEvent]] = {}
    for event in events:
        by_order.setdefault(event.order_ref, []).append(event)
    chunk: list[feed_rules.ShipmentEvent] = []
    for group in by_order.values():
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk += group
    if chunk:
        yield chunk
