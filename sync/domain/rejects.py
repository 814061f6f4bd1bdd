"""Remembering rejected feed rows across cycles (pure).

A warehouse exports the same rows again and again, so a row it got wrong is seen every cycle. The
ledger remembers each reject by ``FeedReject.key`` (its content and the kind of reason, not its
file or line) and a cycle settles what it saw against what was open before:

- **new**: rejected now and not open before; only these make a cycle exit 1 and write a rejects
  file (which lists every reject still open, so it is complete);
- **open**: rejected now (new or not): each is a ``rejected_feed_row`` break in the report;
- **cleared**: open before and not any more, with the reason: a retryable reject (an order not
  polled yet) is re-read from the ledger every cycle even once its export is gone, so it clears
  only when its row was used; any other clears once its row is in no feed file (removed, or
  corrected in place); and a reject whose parcel was accepted from a corrected row (same order
  and tracking id; for an unknown order, the same tracking id) is *superseded*, even while the
  uncorrected row is still in older exports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sync.domain.feed import FeedReject, RejectKind

USED = "no longer rejected: the row was used once its order was known (or is rejected for another reason)"
GONE = "no longer rejected: the row was removed from the feeds, corrected there, or used"
SUPERSEDED = "superseded: the same parcel was accepted from a corrected row"


@dataclass(frozen=True)
class Settled:
    open: list[FeedReject]  # rejected this cycle, one per key, by file and line
    new: list[FeedReject]  # of those, the ones not open before
    cleared: dict[str, str] = field(default_factory=dict)  # key -> why, for ones open before
    superseded: list[FeedReject] = field(default_factory=list)  # seen, but their parcel was accepted


def superseded_by(
    reject: FeedReject, accepted: Collection[tuple[str, str]], tracking: Collection[str]
) -> bool:
    """True when a parcel accepted this cycle is what this rejected row was meant to report.

    ``accepted`` holds (order ref, tracking key) of every parcel applied, planned or already known;
    ``tracking`` the tracking keys alone (an unknown order's corrected row names another order)."""
    if reject.kind is RejectKind.FILE or not reject.tracking:
        return False
    if reject.kind is RejectKind.UNKNOWN_ORDER:
        return reject.tracking in tracking
    return (reject.order_ref, reject.tracking) in accepted


def settle(
    open_before: Mapping[str, bool],
    seen: Iterable[FeedReject],
    accepted: Collection[tuple[str, str]] = (),
) -> Settled:
    """``open_before``: {key: retryable} of the rejects open before this cycle; ``seen``: every
    reject of this cycle (in any order, repeats allowed); ``accepted``: see ``superseded_by``."""
    tracking = {t for _, t in accepted}
    first: dict[str, FeedReject] = {}
    for reject in sorted(seen, key=lambda r: (r.source, r.line_no)):
        first.setdefault(reject.key, reject)
    still: list[FeedReject] = []
    superseded: list[FeedReject] = []
    for reject in first.values():
        (superseded if superseded_by(reject, accepted, tracking) else still).append(reject)
    open_now = {r.key for r in still}
    cleared = {r.key: SUPERSEDED for r in superseded if r.key in open_before}
    for key, retryable in open_before.items():
        if key not in open_now and key not in cleared:
            cleared[key] = USED if retryable else GONE
    return Settled(
        open=still,
        new=[r for r in still if r.key not in open_before],
        cleared=cleared,
        superseded=superseded,
    )
