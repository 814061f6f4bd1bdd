"""Reconciliation rules: Google's view vs our ledger vs the merchant's OMS, as vectorised pandas.

Pure: no files, no network, no clock (``now`` is passed in). Everything runs on whole columns
(merges, bincounts, boolean masks); nothing loops over rows in Python, so a million orders cost
seconds, not minutes.

The package, in the order a reconciliation runs through it:

- ``schema``  — the input frames (documented there: also the snapshot formats), ``conform``
- ``align``   — ledger and OMS orders and lines mapped onto Google's
- ``rules``   — one module per group of break rules, registered in category order
- ``collect`` — break fragments become the breaks frame (one row per order and category)
- ``orders``  — the per-order rows and their orders.csv shape
- ``summary`` — summary.csv
- ``engine``  — ``reconcile`` itself, and the memory hand-backs between phases
- ``columns`` — the vectorised helpers and money / time formatting they share
"""

from __future__ import annotations

from sync.domain.reconcile.collect import BreakCollector, finish, merge_finished
from sync.domain.reconcile.columns import format_minor
from sync.domain.reconcile.engine import reconcile, reconcile_part
from sync.domain.reconcile.model import Freshness, Reconciliation, Shared, Slas
from sync.domain.reconcile.orders import orders_table
from sync.domain.reconcile.schema import (
    AGE_BUCKETS,
    BREAK_COLUMNS,
    CATEGORIES,
    GOOGLE_SCHEMA,
    GOOGLE_STATUSES,
    LEDGER_SCHEMA,
    NOT_IN_GOOGLE,
    NOT_IN_SQUARE,
    OMS_SCHEMA,
    OMS_SOURCES,
    OMS_STATUSES,
    ORDER_COLUMNS,
    PII_COLUMNS,
    REJECTS_SCHEMA,
    UNCOLLAPSED,
    SchemaError,
    conform,
)
from sync.domain.reconcile.summary import age_bucket, summarise, summary_counts, summary_table
from sync.domain.severity import SEVERITIES

__all__ = [
    "AGE_BUCKETS",
    "BREAK_COLUMNS",
    "CATEGORIES",
    "GOOGLE_SCHEMA",
    "GOOGLE_STATUSES",
    "LEDGER_SCHEMA",
    "NOT_IN_GOOGLE",
    "NOT_IN_SQUARE",
    "OMS_SCHEMA",
    "OMS_SOURCES",
    "OMS_STATUSES",
    "ORDER_COLUMNS",
    "PII_COLUMNS",
    "REJECTS_SCHEMA",
    "SEVERITIES",
    "UNCOLLAPSED",
    "BreakCollector",
    "Freshness",
    "Reconciliation",
    "SchemaError",
    "Shared",
    "Slas",
    "age_bucket",
    "conform",
    "finish",
    "format_minor",
    "merge_finished",
    "orders_table",
    "reconcile",
    "reconcile_part",
    "summarise",
    "summary_counts",
    "summary_table",
]
