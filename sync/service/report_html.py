"""index.html of a reconciliation run: one self-contained page (no scripts, fonts, images or
links to load), so it opens the same from a file share, an e-mail attachment or an air-gapped box.

Charts are inline SVG; every value that came from data goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from sync.domain.reconcile import AGE_BUCKETS, CATEGORIES, SEVERITIES

OLDEST = 50
REJECTS_SHOWN = 50
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.tiles{display:flex;gap:12px;flex-wrap:wrap}
.tile{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:120px}
.tile b{display:block;font-size:24px}
table{border-collapse:collapse;margin-top:8px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f5f5f5}td.n{text-align:right}
.sev-critical{color:#b00020;font-weight:bold}.sev-high{color:#e65100}
"""


def _count(summary: pd.DataFrame, section: str, key: str) -> int:
    rows = summary[(summary["section"] == section) & (summary["key"] == key)]
    return int(rows["count"].sum())


def _bars(title: str, items: list[tuple[str, int]], colour: str = "#1565c0") -> str:
    """Horizontal bar chart as inline SVG (no xmlns needed inside HTML5)."""
    width, label_w, bar_h, gap = 640, 230, 18, 6
    top = max((v for _, v in items), default=0) or 1
    height = len(items) * (bar_h + gap) + gap
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = round((width - label_w - 60) * value / top)
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"></rect>'
            f'<text x="{label_w + w + 4}" y="{y + 13}" font-size="12">{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(*, run_id: str, now: pd.Timestamp, summary: pd.DataFrame, breaks: pd.DataFrame) -> str:
    orders = _count(summary, "totals", "orders")
    n_breaks = _count(summary, "totals", "breaks")
    broken = _count(summary, "totals", "orders_with_breaks")
    tiles = [("orders", orders), ("breaks", n_breaks), ("orders with breaks", broken)]
    tiles += [(f"{sev} breaks", _count(summary, "breaks_by_severity", sev)) for sev in SEVERITIES[:2]]
    tiles.append(("rejected feed rows", _count(summary, "breaks_by_category", "rejected_feed_row")))
    kept_out = _count(summary, "totals", "orders_not_in_square")
    if kept_out:
        tiles.append(("kept out of Square (shipped before it was enabled)", kept_out))
    by_cat = [(c, _count(summary, "breaks_by_category", c)) for c in CATEGORIES]
    by_age = [(a, _count(summary, "breaks_by_age", a)) for a in AGE_BUCKETS]
    by_sev = [(s, _count(summary, "breaks_by_severity", s)) for s in SEVERITIES]

    status_rows = summary[summary["section"] == "orders_by_status"]
    status_html = "".join(
        f"<tr><td>{escape(str(r.key))}</td><td class=n>{int(r.count)}</td>"
        f"<td class=n>{escape(str(r.amount))}</td><td>{escape(str(r.currency))}</td></tr>"
        for r in status_rows.itertuples(index=False)
    )
    oldest = breaks.head(OLDEST)  # breaks arrive oldest first
    break_rows = "".join(
        f"<tr><td>{escape(str(r.google_order_id))}</td><td>{escape(str(r.category))}</td>"
        f'<td class="sev-{escape(str(r.severity))}">{escape(str(r.severity))}</td>'
        f"<td class=n>{'' if pd.isna(r.age_hours) else escape(f'{r.age_hours:.1f}')}</td>"
        f"<td>{escape(str(r.detail))}</td></tr>"
        for r in oldest.itertuples(index=False)
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
            for r in rejected.head(REJECTS_SHOWN).itertuples(index=False)
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
<h1>{escape(title)}</h1>
<p>Generated {escape(now.strftime("%Y-%m-%d %H:%M:%S UTC"))}. Files beside this page: orders.csv,
breaks.csv, summary.csv.</p>
<div class="tiles">{"".join(f"<div class=tile><b>{v}</b>{escape(k)}</div>" for k, v in tiles)}</div>
<h2>Breaks by category</h2>{_bars("breaks by category", by_cat)}
<h2>Breaks by age</h2>{_bars("breaks by age", by_age, "#6a1b9a")}
<h2>Breaks by severity</h2>{_bars("breaks by severity", by_sev, "#b00020")}
<h2>Orders by Google status</h2>
<table><tr><th>status</th><th>orders</th><th>amount</th><th>currency</th></tr>{status_html}</table>
{rejects_html}
<h2>Oldest {min(OLDEST, len(breaks))} of {len(breaks)} breaks</h2>
<table><tr><th>order</th><th>category</th><th>severity</th><th>age (h)</th><th>what to do</th></tr>
{break_rows}</table>
</body></html>
"""
