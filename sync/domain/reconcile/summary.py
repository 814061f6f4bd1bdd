"""summary.csv: counts and Google amounts per status, break category, severity and age bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain.reconcile.columns import arrow_strings, format_minor, index_in
from sync.domain.reconcile.model import Reconciliation
from sync.domain.reconcile.schema import (
    AGE_BUCKETS,
    CATEGORIES,
    GOOGLE_STATUSES,
    NOT_IN_GOOGLE,
    NOT_IN_SQUARE,
)
from sync.domain.severity import SEVERITIES


def age_bucket(age_hours: pd.Series) -> pd.Series:
    bins = [-np.inf, 24, 72, 168, np.inf]
    cut = pd.cut(age_hours, bins=bins, labels=list(AGE_BUCKETS[:4]), right=False)
    buckets = pd.CategoricalDtype(list(AGE_BUCKETS))
    return cut.cat.add_categories(["unknown"]).fillna("unknown").astype(buckets)



def summarise(rec: Reconciliation) -> pd.DataFrame:
    """summary.csv, long format: section, key, count, amount, currency.

    Sections: totals (orders, breaks, orders_with_breaks, and orders_not_in_square when there are
    any), orders_by_status, breaks_by_category,
    breaks_by_severity, breaks_by_age. ``amount`` is the Google total of the orders concerned, per
    currency (one row per currency; a zero-count key gets one row with empty amount/currency so
    every category and bucket is always listed). orders_by_status counts the orders Google does
    not list under NOT_IN_GOOGLE, after the Google statuses, in one row with no amount (Google
    has none for them); breaks on those orders likewise add no amount.
    """
    return summary_table([summary_counts(rec)], rec.breaks)


COUNT_COLUMNS = ("section", "key", "currency", "count", "sum")


def summary_counts(rec: Reconciliation) -> pd.DataFrame:
    """The additive part of the summary (COUNT_COLUMNS, ``sum`` in minor units): counts of a
    reconciliation, or of one partition of it, to be added up by ``summary_table``."""
    o, b = rec.orders, rec.breaks
    kept_out = int((o["oms_status"] == NOT_IN_SQUARE).sum()) if len(o) else 0
    totals = pd.DataFrame(
        {
            "section": "totals",
            "key": ["orders", "orders_not_in_square"],
            "currency": "",
            "count": [len(o), kept_out],
            "sum": 0,
        }
    )
    parts = [totals]

    def grouped(section: str, frame: pd.DataFrame, key: str) -> pd.DataFrame:
        agg = (
            frame.groupby([key, "currency"], observed=True, dropna=False)["amount_google_minor"]
            .agg(["size", "sum"])
            .reset_index()
        )
        return pd.DataFrame(
            {
                "section": section,
                "key": agg[key].astype("str"),
                "currency": agg["currency"].astype("str").fillna(""),
                "count": agg["size"].astype("int64"),
                "sum": agg["sum"].astype("int64"),
            }
        )

    in_google = o["in_google"].to_numpy(dtype=bool)
    # Plain Series: pandas-stubs take only a CategoricalDtype as where()'s fill of a category column.
    status: pd.Series = o["google_status"].astype("category")
    currency: pd.Series = o["currency"].fillna("").astype("category")
    if not in_google.all():
        # Orders only the ledger / OMS know: one key of their own, and no Google amount to add,
        # so they count as one row (amount and currency empty) instead of one per OMS currency.
        status = status.cat.add_categories([NOT_IN_GOOGLE]).where(in_google, NOT_IN_GOOGLE)
        if "" not in currency.cat.categories:
            currency = currency.cat.add_categories([""])
        currency = currency.where(in_google, "")
    status_frame = pd.DataFrame(
        {"google_status": status, "currency": currency, "amount_google_minor": o["amount_google_minor"]},
        copy=False,
    )
    parts.append(grouped("orders_by_status", status_frame, "google_status"))
    # The Google amount of each break's order: a hash lookup of the (few) break ids among the
    # order ids (unique), not a merge that factorises a million order ids; same rows as a left join.
    # A break on an order Google does not list has no Google amount (as if not found).
    pos = _positions(b["google_order_id"], o["google_order_id"])
    found = pos >= 0
    found[found] = in_google[pos[found]]
    b_currency, amount = np.full(len(b), "", dtype=object), np.zeros(len(b), dtype="int64")
    if len(o) and found.any():
        rows = pos[found]
        b_currency[found] = o["currency"].iloc[rows].astype("str").fillna("").to_numpy()
        amount[found] = o["amount_google_minor"].iloc[rows].to_numpy(dtype="int64", na_value=0)
    bm = b.assign(currency=pd.Series(b_currency, index=b.index, dtype="str"), amount_google_minor=amount)
    bm["age_bucket"] = age_bucket(bm["age_hours"])
    parts.append(grouped("breaks_by_category", bm, "category"))
    parts.append(grouped("breaks_by_severity", bm, "severity"))
    parts.append(grouped("breaks_by_age", bm, "age_bucket"))
    return pd.concat(parts, ignore_index=True)


def _positions(break_ids: pd.Series, order_ids: pd.Series) -> np.ndarray:
    """Row of each break's order among the (unique) order ids, -1 when absent: the orders are
    probed against the few distinct break ids, so no hash table of every order id is built."""
    wanted = pc.unique(arrow_strings(break_ids))
    if isinstance(wanted, pa.ChunkedArray):
        wanted = wanted.combine_chunks()
    hit = index_in(order_ids, wanted)
    row_of = np.full(len(wanted), -1, dtype=np.int64)
    rows = np.flatnonzero(hit >= 0)
    row_of[hit[rows]] = rows
    return row_of[index_in(break_ids, wanted)] if len(wanted) else np.zeros(0, dtype=np.int64)


def summary_table(counts: list[pd.DataFrame], breaks: pd.DataFrame) -> pd.DataFrame:
    """summary.csv (see ``summarise``) from ``summary_counts`` of disjoint parts and the breaks."""
    c = pd.concat(counts, ignore_index=True) if len(counts) > 1 else counts[0]
    if len(counts) > 1:
        c = c.groupby(["section", "key", "currency"], sort=False, as_index=False)[["count", "sum"]].sum()
    total = c[c["section"] == "totals"].set_index("key")["count"]
    with_breaks = breaks.loc[breaks["google_order_id"] != "", "google_order_id"].nunique()  # "": a file
    totals = {"orders": int(total.get("orders", 0)), "breaks": len(breaks), "orders_with_breaks": with_breaks}
    if int(total.get("orders_not_in_square", 0)):
        totals["orders_not_in_square"] = int(total["orders_not_in_square"])  # shipped before Square: no break
    parts = [
        pd.DataFrame(
            {
                "section": "totals",
                "key": list(totals),
                "count": list(totals.values()),
                "amount": "",
                "currency": "",
            }
        )
    ]

    def section(name: str, keys: tuple[str, ...]) -> pd.DataFrame:
        agg = c[c["section"] == name].sort_values(["key", "currency"], kind="stable")
        amt = agg["sum"].astype("Int64").where(agg["currency"] != "")  # NA (Int64's) elsewhere
        rows = pd.DataFrame(
            {
                "section": name,
                "key": agg["key"].to_numpy(),
                "count": agg["count"].astype("int64").to_numpy(),
                "amount": format_minor(amt, agg["currency"]).fillna("").to_numpy(),
                "currency": agg["currency"].to_numpy(),
            }
        )
        absent = [k for k in keys if k not in set(rows["key"])]
        zero = pd.DataFrame({"section": name, "key": absent, "count": 0, "amount": "", "currency": ""})
        rows = pd.concat([rows, zero], ignore_index=True)
        order = {k: i for i, k in enumerate(keys)}
        rows["_o"] = rows["key"].map(lambda k: order.get(k, len(order)))
        return rows.sort_values(["_o", "key", "currency"], kind="stable").drop(columns="_o")

    observed = set(c.loc[c["section"] == "orders_by_status", "key"])
    status_keys = tuple(s for s in (*GOOGLE_STATUSES, NOT_IN_GOOGLE) if s in observed)
    parts.append(section("orders_by_status", status_keys))
    parts.append(section("breaks_by_category", CATEGORIES))
    parts.append(section("breaks_by_severity", SEVERITIES))
    parts.append(section("breaks_by_age", AGE_BUCKETS))
    return pd.concat(parts, ignore_index=True)[["section", "key", "count", "amount", "currency"]]
