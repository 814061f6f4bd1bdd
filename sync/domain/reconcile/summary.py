"""summary.csv: counts and Google amounts per status, break category, severity and age bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.columns import format_minor, index_in
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
    return cut.cat.add_categories(["unknown"]).fillna("unknown").astype(pd.CategoricalDtype(AGE_BUCKETS))



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
    o, b = rec.orders, rec.breaks
    with_breaks = b.loc[b["google_order_id"] != "", "google_order_id"].nunique()  # "": a whole feed file
    totals = {"orders": len(o), "breaks": len(b), "orders_with_breaks": with_breaks}
    kept_out = int((o["oms_status"] == NOT_IN_SQUARE).sum()) if len(o) else 0
    if kept_out:
        totals["orders_not_in_square"] = kept_out  # shipped before Square was enabled: no break
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

    def grouped(section: str, frame: pd.DataFrame, key: str, keys: tuple[str, ...]) -> pd.DataFrame:
        agg = (
            frame.groupby([key, "currency"], observed=True, dropna=False)["amount_google_minor"]
            .agg(["size", "sum"])
            .reset_index()
        )
        agg[key] = agg[key].astype("str")
        amt = agg["sum"].astype("Int64").where(agg["currency"].astype("str") != "", pd.NA)
        rows = pd.DataFrame(
            {
                "section": section,
                "key": agg[key],
                "count": agg["size"].astype("int64"),
                "amount": format_minor(amt, agg["currency"].astype("str")).fillna(""),
                "currency": agg["currency"].astype("str").fillna(""),
            }
        )
        absent = [k for k in keys if k not in set(rows["key"])]
        zero = pd.DataFrame({"section": section, "key": absent, "count": 0, "amount": "", "currency": ""})
        rows = pd.concat([rows, zero], ignore_index=True)
        order = {k: i for i, k in enumerate(keys)}
        rows["_o"] = rows["key"].map(lambda k: order.get(k, len(order)))
        return rows.sort_values(["_o", "key", "currency"], kind="stable").drop(columns="_o")

    in_google = o["in_google"].to_numpy(dtype=bool)
    status = o["google_status"].astype("category")
    currency = o["currency"].fillna("").astype("category")
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
    observed = set(status.cat.categories)
    status_keys = tuple(s for s in (*GOOGLE_STATUSES, NOT_IN_GOOGLE) if s in observed)
    parts.append(grouped("orders_by_status", status_frame, "google_status", status_keys))
    # The Google amount of each break's order: a hash lookup of the (few) break ids among the
    # order ids (unique), not a merge that factorises a million order ids; same rows as a left join.
    # A break on an order Google does not list has no Google amount (as if not found).
    pos = index_in(b["google_order_id"], o["google_order_id"])
    found = pos >= 0
    found[found] = in_google[pos[found]]
    currency, amount = np.full(len(b), "", dtype=object), np.zeros(len(b), dtype="int64")
    if len(o) and found.any():
        rows = pos[found]
        currency[found] = o["currency"].iloc[rows].astype("str").fillna("").to_numpy()
        amount[found] = o["amount_google_minor"].iloc[rows].to_numpy(dtype="int64", na_value=0)
    bm = b.assign(currency=pd.Series(currency, index=b.index, dtype="str"), amount_google_minor=amount)
    bm["age_bucket"] = age_bucket(bm["age_hours"])
    parts.append(grouped("breaks_by_category", bm, "category", CATEGORIES))
    parts.append(grouped("breaks_by_severity", bm, "severity", SEVERITIES))
    parts.append(grouped("breaks_by_age", bm, "age_bucket", AGE_BUCKETS))
    return pd.concat(parts, ignore_index=True)[["section", "key", "count", "amount", "currency"]]
