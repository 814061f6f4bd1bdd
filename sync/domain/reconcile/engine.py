"""``reconcile``: conform the frames, align them, run the rule groups, build the orders rows.

The rules are pure functions of the alignment; this module alone decides when memory is handed
back (Arrow's pool keeps freed pages until asked, and the phases here are the high-water marks).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from sync.domain.reconcile.align import align_google, align_ledger, align_oms
from sync.domain.reconcile.collect import BreakCollector, finish
from sync.domain.reconcile.model import Freshness, Reconciliation, Shared, Slas
from sync.domain.reconcile.orders import order_rows, orders_only_elsewhere
from sync.domain.reconcile.rules import GROUPS
from sync.domain.reconcile.schema import GOOGLE_SCHEMA, LEDGER_SCHEMA, OMS_SCHEMA, REJECTS_SCHEMA, conform


def _release() -> None:
    pa.default_memory_pool().release_unused()


def reconcile(
    google: pd.DataFrame,
    ledger: pd.DataFrame | None,
    oms: pd.DataFrame | None,
    *,
    slas: Slas,
    now: pd.Timestamp,
    rejects: pd.DataFrame | None = None,
    freshness: Freshness | None = None,
    shared: Shared | None = None,
) -> Reconciliation:
    """Compare the three views and return per-order rows plus every break found.

    ``google`` should cover every order the ledger and OMS know: an order they know and Google
    does not is reported as missing_in_google and still gets its row in ``orders``, with what
    the ledger and OMS know of it. ``oms=None`` skips the OMS rules (no Square, no feed).
    ``rejects`` (REJECTS) adds one rejected_feed_row break per open reject; ``freshness`` says
    how far the ledger's view of Google reaches (see Freshness); ``shared``: facts about the
    whole input when these frames are one partition of it (see Shared).
    """
    part = reconcile_part(
        google, ledger, oms, slas=slas, now=now, rejects=rejects, freshness=freshness, shared=shared
    )
    return Reconciliation(orders=part.orders, breaks=finish([part.breaks]))


def reconcile_part(
    google: pd.DataFrame,
    ledger: pd.DataFrame | None,
    oms: pd.DataFrame | None,
    *,
    slas: Slas,
    now: pd.Timestamp,
    rejects: pd.DataFrame | None = None,
    freshness: Freshness | None = None,
    shared: Shared | None = None,
) -> Reconciliation:
    """``reconcile`` of one partition (every order whole in one partition): its breaks as
    ``BreakCollector.collapsed`` gives them, for ``collect.finish`` to merge with the others'."""
    freshness = freshness or Freshness()
    now = pd.Timestamp(now)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.tz_convert("UTC")
    g = conform(google, GOOGLE_SCHEMA, "google", contiguous=bool(shared and shared.google_contiguous))
    lg = conform(ledger, LEDGER_SCHEMA, "ledger") if ledger is not None else None
    om = conform(oms, OMS_SCHEMA, "oms") if oms is not None else None
    _release()  # conform's hash tables (contiguity check) are garbage now

    a = align_google(g, now=now, slas=slas, freshness=freshness, shared=shared)
    if lg is not None:
        align_ledger(a, lg)
    if om is not None:
        align_oms(a, om)
    if rejects is not None and len(rejects):
        a.rejects = conform(rejects, REJECTS_SCHEMA, "rejects", lines=False)
    out = BreakCollector()
    for group in GROUPS:
        group.run(a, out)
        _release()  # each group's freed Arrow pages, before the next one (lines are the widest)
    breaks = out.collapsed()
    _release()
    others = orders_only_elsewhere(a)
    # Its few-row gathers from chunked string columns join each column's chunks first (a
    # transient copy of the column): hand those pages back before the orders frame is built.
    _release()
    orders = order_rows(a, others)
    a.memo.clear()
    return Reconciliation(orders=orders, breaks=breaks)
