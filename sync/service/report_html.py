"""index.html of a reconciliation run: one self-contained page (no scripts, fonts, images or
anything to load; its only links are relative ones to the files beside it), so it opens the same
from a file share, an e-mail attachment or an air-gapped box.

It reads top-down the way an operator works at 3 a.m.: the verdict first (``id="verdict"``), then
the cycle's own health, the account and whether it is the sandbox, the files, the trend over the
last runs (``id="trend"``), and the breaks with human names and one colour per severity. Charts
are inline SVG; every value that came from data goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any, Protocol, cast

import pandas as pd

from sync.domain.live_breaks import ChannelCounts
from sync.domain.reconcile import AGE_BUCKETS, CATEGORIES, SEVERITIES
from sync.service.report_context import CycleHealth, ReportContext, TrendPoint

OLDEST = 50
REJECTS_SHOWN = 50
TREND_RUNS = 20
ACTION_SEVERITIES = ("critical", "high")  # "need action now"
CATEGORY_NAMES = {
    "missing_in_oms": "Missing in the order system",
    "missing_in_google": "Not on Google",
    "unacknowledged_past_sla": "Not acknowledged in time",
    "no_merchant_order_id": "No merchant order id on Google",
    "duplicate_merchant_order_id": "Duplicate merchant order id",
    "merchant_order_id_mismatch": "Merchant order id changed",
    "quantity_mismatch": "Quantities differ",
    "amount_mismatch": "Amounts differ",
    "refund_mismatch": "Refunds differ",
    "status_mismatch": "Statuses differ",
    "stuck_past_ship_sla": "Not shipped in time",
    "shipped_not_delivered_past_sla": "Not delivered in time",
    "return_not_refunded_past_sla": "Return not refunded in time",
    "tracking_mismatch": "Tracking differs",
    "failed_operation": "Operation refused",
    "rejected_feed_row": "Feed row rejected",
    "live_push_refused": "Refused by Google (UCP / order tracking)",
    "live_push_pending_past_sla": "Not accepted by Google in time (UCP / order tracking)",
    "live_event_not_recorded": "Square event never reported to Google (UCP / order tracking)",
    "pending_sync": "Pending sync (no action yet)",
}
SEVERITY_COLOURS = {"critical": "#b00020", "high": "#e65100", "medium": "#9a7d0a", "low": "#1565c0"}
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin-top:28px}
.verdict{font-size:22px;font-weight:bold;padding:12px 16px;border-radius:6px;margin:0 0 12px}
.verdict.ok{background:#e8f5e9;color:#1b5e20}.verdict.action{background:#fdecea;color:#b00020}
.verdict.warn{background:#fff8e1;color:#7a5d00}.verdict small{display:block;font-size:14px;font-weight:normal}
.badge{display:inline-block;padding:2px 8px;border-radius:4px;font-size:12px;font-weight:bold;color:#fff;
vertical-align:middle}.badge.sandbox{background:#6a1b9a}.badge.live{background:#b00020}.badge.snapshot{background:#555}
.tiles{display:flex;gap:12px;flex-wrap:wrap}
.tile{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:120px}
.tile b{display:block;font-size:24px}
nav a{margin-right:14px}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f5f5f5}td.n{text-align:right}
.sev-critical{color:#b00020;font-weight:bold}.sev-high{color:#e65100;font-weight:bold}
.sev-medium{color:#9a7d0a}.sev-low{color:#1565c0}
.health-bad{color:#b00020;font-weight:bold}.health-ok{color:#1b5e20}
"""


class _StatusRow(Protocol):
    """A summary.csv row as ``itertuples`` gives it (pandas-stubs cannot know a frame's columns;
    ``count`` is a column here, not tuple.count)."""

    key: str
    count: int
    amount: str
    currency: str


class _BreakRow(Protocol):
    """A breaks.csv row as ``itertuples`` gives it."""

    google_order_id: str
    category: str
    severity: str
    age_hours: float  # NaN: not known
    detail: str


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame``'s rows as dicts (its column names are strings)."""
    return cast("list[dict[str, Any]]", frame.to_dict("records"))


def category_name(category: str) -> str:
    return CATEGORY_NAMES.get(category, category.replace("_", " "))


def _count(summary: pd.DataFrame, section: str, key: str) -> int:
    rows = summary[(summary["section"] == section) & (summary["key"] == key)]
    return int(rows["count"].sum())


def _bars(title: str, items: list[tuple[str, int, str]]) -> str:
    """Horizontal bar chart as inline SVG (no xmlns needed inside HTML5): (label, value, colour)."""
    width, label_w, bar_h, gap = 680, 250, 18, 6
    top = max((v for _, v, _ in items), default=0) or 1
    height = len(items) * (bar_h + gap) + gap
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i, (label, value, colour) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = round((width - label_w - 60) * value / top)
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"></rect>'
            f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _verdict(breaks: pd.DataFrame, health: CycleHealth | None) -> str:
    severe = breaks[breaks["severity"].astype(str).isin(ACTION_SEVERITIES)]
    orders = severe.loc[severe["google_order_id"] != "", "google_order_id"].nunique()
    files = int((severe["google_order_id"] == "").sum())  # whole feed files not read
    rest = len(breaks) - len(severe)
    later = f"<small>{rest} more break(s) to look at (medium or low).</small>" if rest else ""
    if orders or files:
        what = f"{orders} order{'s' if orders != 1 else ''} need{'s' if orders == 1 else ''} action now"
        if not orders:
            what = "Action needed now"
        if files:
            what += f" (and {files} feed file{'s' if files != 1 else ''} not read)"
        return f'<p id="verdict" class="verdict action">{escape(what)}{later}</p>'
    if health is not None and not health.clean:
        why = f": {health.reason}" if health.reason else ""
        text = f"No order needs action, but the last sync cycle did not finish cleanly{why}"
        return f'<p id="verdict" class="verdict warn">{escape(text)}{later}</p>'
    return f'<p id="verdict" class="verdict ok">All clear{later}</p>'


def _badge(context: ReportContext) -> str:
    if context.merchant_id is None:
        return '<span class="badge snapshot">SNAPSHOT</span> reconciled from exported files'
    kind = "sandbox" if context.sandbox else "live"
    return (
        f'<span class="badge {kind}">{kind.upper()}</span> merchant '
        f"<b>{escape(context.merchant_id)}</b>"
    )


def _health(health: CycleHealth | None) -> str:
    if health is None:
        none = "<p>No sync cycle: this report is from snapshot files.</p>"
        return f'<section id="health"><h2>Sync cycle</h2>{none}</section>'
    state = "health-ok" if health.clean else "health-bad"
    success = health.last_success.strftime("%Y-%m-%d %H:%M:%S UTC") if health.last_success else "never"
    rows = [
        ("outcome", f'<span class="{state}">{escape(health.outcome)}</span>'),
        ("exit code", escape("" if health.exit_code is None else str(health.exit_code))),
        ("failed operations", str(health.failed_operations)),
        ("new rejected feed rows", str(health.new_rejects)),
        ("last success", escape(success)),
    ]
    if health.run_number is not None:
        rows.insert(0, ("run", f"#{health.run_number}"))
    if health.reason:
        rows.append(("why", escape(health.reason)))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<section id="health"><h2>Sync cycle</h2><table>{body}</table></section>'


def _links(context: ReportContext, previous: str | None, rejects_href: str | None, returns: bool) -> str:
    links = [
        ('orders.csv', "orders.csv", "one row per order"),
        ('breaks.csv', "breaks.csv", "one row per break"),
        ('summary.csv', "summary.csv", "counts and amounts"),
    ]
    if returns:
        links.append(("returns.csv", "returns.csv", "customer returns waiting for a refund"))
    if rejects_href:
        links.append((rejects_href, "rejected feed rows", "the rejects file to correct"))
    if previous:
        links.append((f"../{previous}/index.html", f"previous report ({previous})", ""))
    items = "".join(
        f'<a href="{escape(href)}" title="{escape(hint)}">{escape(label)}</a>' for href, label, hint in links
    )
    return f'<nav id="files">{items}</nav>'


def _trend(points: list[TrendPoint]) -> str:
    """Breaks per severity (stacked bars) and orders per Google status, one column per report."""
    points = points[-TREND_RUNS:]
    if len(points) < 2:
        note = "<p>The trend appears from the second report of this account on.</p>"
        title = "<h2>Trend over the last runs</h2>"
        return f'<section id="trend" data-runs="{len(points)}">{title}{note}</section>'
    col_w, height, top_pad = 28, 100, 8
    width = col_w * len(points) + 10
    most = max((sum(p.breaks_by_severity.values()) for p in points), default=0) or 1
    bars = []
    for i, p in enumerate(points):
        x, y = 5 + i * col_w, height
        group = [f'<g class="trend-run" data-run="{escape(p.report_id)}">']
        for sev in reversed(SEVERITIES):
            n = int(p.breaks_by_severity.get(sev, 0))
            h = round((height - top_pad) * n / most)
            if h:
                y -= h
                group.append(
                    f'<rect x="{x}" y="{y}" width="{col_w - 6}" height="{h}" fill="{SEVERITY_COLOURS[sev]}">'
                    f"<title>{escape(p.report_id)}: {n} {sev}</title></rect>"
                )
        if y == height:  # no break at all: a green baseline, so a clean run is visible too
            group.append(
                f'<rect x="{x}" y="{height - 3}" width="{col_w - 6}" height="3" fill="#2e7d32">'
                f"<title>{escape(p.report_id)}: no breaks</title></rect>"
            )
        group.append("</g>")
        bars.append("".join(group))
    svg = (
        f'<svg role="img" aria-label="breaks per severity over the last runs" width="{width}" '
        f'height="{height + 4}" viewBox="0 0 {width} {height + 4}">{"".join(bars)}</svg>'
    )
    statuses: list[str] = []
    for p in points:
        statuses += [s for s in p.orders_by_status if s not in statuses]
    head = "".join(f"<th>{escape(s)}</th>" for s in statuses) + "".join(
        f'<th class="sev-{s}">{s}</th>' for s in SEVERITIES
    )
    rows = "".join(
        f"<tr><td>{escape(p.report_id)}</td>"
        + "".join(f"<td class=n>{p.orders_by_status.get(s, 0)}</td>" for s in statuses)
        + "".join(f"<td class=n>{p.breaks_by_severity.get(s, 0)}</td>" for s in SEVERITIES)
        + "</tr>"
        for p in reversed(points)
    )
    legend = " ".join(f'<span class="sev-{s}">■ {s}</span>' for s in SEVERITIES)
    return (
        f'<section id="trend" data-runs="{len(points)}"><h2>Trend over the last {len(points)} runs</h2>'
        f"<p>Breaks per severity, oldest run on the left: {legend}</p>{svg}"
        f"<p>Orders per Google status and breaks per severity, newest first:</p>"
        f'<table class="trend-table"><tr><th>report</th>{head}</tr>{rows}</table></section>'
    )


LIVE_NAMES = {"ucp": "UCP orders (order webhooks)", "web": "web-shop orders (order tracking signal)"}


def _live(counts: tuple[ChannelCounts, ...] | None) -> str:
    """Google's live channels: per channel, orders and what Google accepted (the ledger's record:
    Google has no read-back), with live_orders.csv for the per-order view."""
    if counts is None:
        return ""
    rows = "".join(
        f"<tr><td>{escape(LIVE_NAMES.get(str(c.channel), str(c.channel)))}</td><td class=n>{c.orders}</td>"
        f"<td class=n>{c.accepted}</td><td class=n>{c.pending}</td><td class=n>{c.refused}</td>"
        f"<td class=n>{c.breaks}</td></tr>"
        for c in counts
    )
    return (
        '<h2 id="live">Google live channels</h2>'
        "<p>What Square shows against what Google accepted, as the ledger recorded it (Google offers "
        'no read-back). One row per order in <a href="live_orders.csv">live_orders.csv</a>.</p>'
        "<table><tr><th>channel</th><th>orders</th><th>events accepted</th><th>pending</th>"
        f"<th>refused</th><th>breaks</th></tr>{rows}</table>"
    )


def render_html(
    *,
    run_id: str,
    now: pd.Timestamp,
    summary: pd.DataFrame,
    breaks: pd.DataFrame,
    context: ReportContext | None = None,
    previous: str | None = None,
    rejects_href: str | None = None,
    returns_html: str = "",
    live: tuple[ChannelCounts, ...] | None = None,
) -> str:
    """The page; ``returns_html``: the customer-returns section (report_returns)."""
    context = context or ReportContext()
    orders = _count(summary, "totals", "orders")
    n_breaks = _count(summary, "totals", "breaks")
    broken = _count(summary, "totals", "orders_with_breaks")
    tiles = [("orders", orders), ("breaks", n_breaks), ("orders with breaks", broken)]
    tiles += [(f"{sev} breaks", _count(summary, "breaks_by_severity", sev)) for sev in SEVERITIES[:2]]
    tiles.append(("rejected feed rows", _count(summary, "breaks_by_category", "rejected_feed_row")))
    returns_known = bool((summary["section"] == "returns").any())
    if returns_known:
        waiting = _count(summary, "returns", "open") + _count(summary, "returns", "matched")
        tiles.append(("returned units waiting for a refund", waiting))
    kept_out = _count(summary, "totals", "orders_not_in_square")
    if kept_out:
        tiles.append(("kept out of Square (shipped before it was enabled)", kept_out))
    by_cat = [(category_name(c), _count(summary, "breaks_by_category", c), "#1565c0") for c in CATEGORIES]
    by_age = [(a, _count(summary, "breaks_by_age", a), "#6a1b9a") for a in AGE_BUCKETS]
    by_sev = [(s, _count(summary, "breaks_by_severity", s), SEVERITY_COLOURS[s]) for s in SEVERITIES]
    trend = _trend([*context.history, TrendPoint.from_summary(run_id, frame_records(summary))])

    status_rows = summary[summary["section"] == "orders_by_status"]
    status_html = "".join(
        f"<tr><td>{escape(str(r.key))}</td><td class=n>{int(r.count)}</td>"
        f"<td class=n>{escape(str(r.amount))}</td><td>{escape(str(r.currency))}</td></tr>"
        for r in cast("Iterable[_StatusRow]", status_rows.itertuples(index=False))
    )
    oldest = breaks.head(OLDEST)  # breaks arrive oldest first
    break_rows = "".join(
        f"<tr><td>{escape(str(r.google_order_id))}</td>"
        f'<td title="{escape(str(r.category))}">{escape(category_name(str(r.category)))}</td>'
        f'<td class="sev-{escape(str(r.severity))}">{escape(str(r.severity))}</td>'
        f"<td class=n>{'' if pd.isna(r.age_hours) else escape(f'{r.age_hours:.1f}')}</td>"
        f"<td>{escape(str(r.detail))}</td></tr>"
        for r in cast("Iterable[_BreakRow]", oldest.itertuples(index=False))
    )
    rejected = breaks[breaks["category"] == "rejected_feed_row"]
    rejects_html = (
        f"<h2 id=\"rejects\">Rejected feed rows ({len(rejected)})</h2>"
        "<p>Rows of the shipments feed ordersync did not use: they count as nothing shipped until "
        "corrected. Correct them in the rejects file named below (it keeps each row in the feed's own "
        "columns) and drop that file into the feed folder.</p>"
        "<table><tr><th>order</th><th>age (h)</th><th>file, line, reason and what to do</th></tr>"
        + "".join(
            f"<tr><td>{escape(str(r.google_order_id))}</td>"
            f"<td class=n>{'' if pd.isna(r.age_hours) else escape(f'{r.age_hours:.1f}')}</td>"
            f"<td>{escape(str(r.detail))}</td></tr>"
            for r in cast("Iterable[_BreakRow]", rejected.head(REJECTS_SHOWN).itertuples(index=False))
        )
        + "</table>"
        if len(rejected)
        else "<h2 id=\"rejects\">Rejected feed rows (0)</h2><p>None.</p>"
    )
    title = f"ordersync reconciliation {run_id}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>
<body>
{_verdict(breaks, context.health)}
<h1>{escape(title)}</h1>
<p>{_badge(context)} · generated {escape(now.strftime("%Y-%m-%d %H:%M:%S UTC"))}</p>
{_links(context, previous, rejects_href, returns_known)}
{_health(context.health)}
<h2>Headline</h2>
<div class="tiles">{"".join(f"<div class=tile><b>{v}</b>{escape(k)}</div>" for k, v in tiles)}</div>
{trend}
<h2>Breaks by category</h2>{_bars("breaks by category", by_cat)}
<h2>Breaks by severity</h2>{_bars("breaks by severity", by_sev)}
<h2>Breaks by age</h2>{_bars("breaks by age", by_age)}
<h2>Orders by Google status</h2>
<table><tr><th>status</th><th>orders</th><th>amount</th><th>currency</th></tr>{status_html}</table>
{rejects_html}
{returns_html}
{_live(live)}
<h2>Oldest {min(OLDEST, len(breaks))} of {len(breaks)} breaks</h2>
<table><tr><th>order</th><th>what</th><th>severity</th><th>age (h)</th><th>detail and what to do</th></tr>
{break_rows}</table>
</body></html>
"""
