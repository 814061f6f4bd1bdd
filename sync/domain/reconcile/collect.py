"""Break fragments collected per rule, and the one ``breaks`` frame they become: one row per
(order, category) at the highest severity found, oldest first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sync.domain.reconcile.schema import BREAK_COLUMNS, CATEGORIES, UNCOLLAPSED
from sync.domain.severity import SEVERITIES


class BreakCollector:
    """Collects break fragments; vectorised per category, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, ids, category: str, severity, detail, age_hours) -> None:
        ids = pd.Series(ids, copy=False).reset_index(drop=True)
        if len(ids) == 0:
            return
        n = len(ids)

        def col(v, dtype):
            if isinstance(v, pd.Series):
                return v.reset_index(drop=True).astype(dtype)
            if np.isscalar(v):
                return pd.Series([v] * n, dtype=dtype)
            return pd.Series(v, dtype=dtype)

        self.parts.append(
            pd.DataFrame(
                {
                    "google_order_id": ids.astype("str"),
                    "category": category,
                    "severity": col(severity, "str"),
                    "detail": col(detail, "str"),
                    "age_hours": col(age_hours, "float64"),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            df = pd.DataFrame({c: pd.Series([], dtype="str") for c in BREAK_COLUMNS})
            df["age_hours"] = df["age_hours"].astype("float64")
        else:
            df = pd.concat(self.parts, ignore_index=True)
        rank = pd.Categorical(df["severity"], categories=SEVERITIES).codes
        # The collapsing key: (order, category), plus the detail for categories never collapsed.
        own = df["category"].isin(list(UNCOLLAPSED)).to_numpy()
        distinct = df["detail"].where(own, "") if own.any() else pd.Series("", index=df.index, dtype="str")
        df = df.assign(_rank=rank, _own=distinct.to_numpy())
        keys = ["google_order_id", "category", "_own"]
        df = df.sort_values([*keys, "_rank"], kind="stable")
        size = df.groupby(keys, sort=False)["_rank"].transform("size")
        df = df.assign(_n=size.to_numpy()).drop_duplicates(keys, keep="first")
        more = df["_n"].to_numpy() > 1
        if more.any():
            extra = " (+" + (df.loc[more, "_n"] - 1).astype("str") + " more like this)"
            df.loc[more, "detail"] = df.loc[more, "detail"] + extra
        df["age_hours"] = df["age_hours"].round(1)
        df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
        df["severity"] = pd.Categorical(df["severity"], categories=SEVERITIES)
        df = df.sort_values(
            ["age_hours", "_rank"], ascending=[False, True], kind="stable", na_position="last"
        )
        return df.drop(columns=["_rank", "_n", "_own"]).reset_index(drop=True)

