"""The report's open customer returns (issue 15 item 3): read from what the refund steps keep in
the ledger, and drawn as a section of index.html. Imported only when a live report is written.

Sources, all in the ledger (no API call): each order's Google returns (``refunds.returns.<order>``,
refund_returns.py), its Square itemized returns as the Square -> Google step decided them
(``refunds.order.<order>``, refund_state.py) and those decisions' Google intents (done: the refund
went through), and the order's last Google snapshot (its lines, for the product -> line mapping).
The copy of each return follows Google's hourly (the periodic read lists from the oldest open
one), so a return refunded, rejected or canceled on Google's side leaves the list then.
Pairing is ``refunds.returns.followed_returns``; the table is ``reconcile.returns``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Protocol, cast

import pandas as pd

from sync.domain.intents import IntentState
from sync.domain.orders import Order
from sync.domain.reconcile.returns import open_units_by_line, returns_frame
from sync.domain.refunds.records import GoogleReturn, Verdict
from sync.domain.refunds.returns import FollowedReturn, FollowStatus, followed_returns
from sync.logs import get_logger
from sync.service.ports import LedgerPort
from sync.service.refund_returns import stored_returns
from sync.service.refund_state import RefundMemory, SquareRefundEvent

log = get_logger(__name__)

SHOWN = 50  # rows on the page; returns.csv has them all

__all__ = ["open_units_by_line", "read_followed_returns", "returns_frame", "returns_section"]


def read_followed_returns(ledger: LedgerPort) -> tuple[FollowedReturn, ...]:
    """Every customer return the ledger follows that is still waiting for money, oldest first."""
    returns_of: dict[str, list[GoogleReturn]] = {}
    for order_id, parsed in stored_returns(ledger).items():
        kept = [r for r in parsed if any(item.is_open for item in r.items)]
        if kept:
            returns_of[order_id] = kept
    if not returns_of:
        return ()
    records = ledger.get_orders(returns_of)
    memory = RefundMemory(ledger)
    out: list[FollowedReturn] = []
    for order_id, returns in returns_of.items():
        record = records.get(order_id)
        if record is None or not record.order_json:
            log.warning(
                "customer return of an order the ledger does not hold; not in the report", order=order_id
            )
            continue
        try:
            order = Order.from_google(record.order_json, copy_raw=False)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning(
                "stored Google order unreadable; its returns are not in the report",
                order=order_id,
                error=str(exc),
            )
            continue
        state = memory.order(order_id)
        out.extend(
            followed_returns(order, returns, state.history, _refunded(ledger, order_id, state.square_events))
        )
    return tuple(out)


def _refunded(ledger: LedgerPort, order_id: str, events: tuple[SquareRefundEvent, ...]) -> set[str]:
    """The order's Square refunds whose Google side is through: MATCHED (Google had refunded) or
    SEND with every Google operation done."""
    sent = [e for e in events if e.verdict == Verdict.SEND]
    done: set[str] = set()
    if sent:
        done = {i.key for i in ledger.intents_for_order(order_id) if i.state == IntentState.DONE}
    return {
        e.refund_id
        for e in events
        if e.verdict == Verdict.MATCHED or (e.verdict == Verdict.SEND and set(e.operation_ids) <= done)
    }


class _ReturnRow(Protocol):
    """A returns.csv row as ``itertuples`` gives it (pandas-stubs cannot know a frame's columns)."""

    google_order_id: str
    return_id: str
    line_item_id: str
    quantity: int
    status: str
    return_state: str
    shipment_state: str
    reason: str
    age_hours: float  # NaN: not known
    past_sla: str


def returns_section(table: pd.DataFrame | None, return_hours: float) -> str:
    """index.html's section ``id="returns"``: open customer returns, oldest first, past-SLA ones in
    the high colour (they are the order's return_not_refunded_past_sla break, not another)."""
    head = '<section id="returns"><h2>Customer returns waiting for a refund'
    if table is None:
        return (
            f"{head}</h2><p>Not known in this report: the sync cycle follows Google's return "
            "records only with [square] enabled (its refund steps keep them in the ledger), and "
            "a report from snapshot files has the returned units per line (qty_returned) but not "
            "the records. The return_not_refunded_past_sla break still applies.</p></section>"
        )
    units = int(table["quantity"].sum())
    open_units = int(table.loc[table["status"] == FollowStatus.OPEN, "quantity"].sum())
    late = int(table.loc[table["past_sla"] == "yes", "quantity"].sum())
    if not len(table):
        return f"{head} (0)</h2><p>None: every customer return on Google is refunded or closed.</p></section>"
    intro = (
        f"<p>{units} unit(s) customers returned on Google and nobody refunded yet: {open_units} "
        f"open (waiting for the store to receive them and refund them in Square POS, itemized on "
        f"the line: ordersync then accepts the return on Google, once), {units - open_units} "
        "matched (the store's Square return pairs with them; Google's refund is not through yet: "
        "see the order's failed operations if it stays). "
        f'<span class="sev-high">{late} past the {return_hours:g} h SLA</span>: each is its '
        "order's return_not_refunded_past_sla break. All of them in returns.csv.</p>"
    )
    rows = "".join(
        f'<tr class="{"sev-high" if r.past_sla == "yes" else ""}">'
        f"<td>{escape(str(r.google_order_id))}</td><td>{escape(str(r.return_id))}</td>"
        f"<td>{escape(str(r.line_item_id))}</td><td class=n>{int(r.quantity)}</td>"
        f"<td>{escape(str(r.status))}</td><td>{escape(str(r.return_state))}</td>"
        f"<td>{escape(str(r.shipment_state) or '-')}</td><td>{escape(str(r.reason))}</td>"
        f"<td class=n>{'' if pd.isna(r.age_hours) else escape(f'{r.age_hours:.1f}')}</td>"
        f"<td>{'past: the order has the break' if r.past_sla == 'yes' else ''}</td></tr>"
        for r in cast("Iterable[_ReturnRow]", table.head(SHOWN).itertuples(index=False))
    )
    return (
        f"{head} ({units})</h2>{intro}<table><tr><th>order</th><th>return</th><th>line</th>"
        "<th>units</th><th>status</th><th>Google state</th><th>shipment</th><th>reason</th>"
        f"<th>age (h)</th><th>SLA</th></tr>{rows}</table></section>"
    )
