"""Break fragments collected per rule, and the one ``breaks`` frame they become: one row per
(order, category) at the highest severity found, oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from sync.domain.reconcile.schema import BREAK_COLUMNS, CATEGORIES, UNCOLLAPSED
from sync.domain.severity import SEVERITIES

# A fragment's column: one value per id, or one value for all of them.
Values: TypeAlias = pd.Series | np.ndarray | pd.Index | Sequence[str] | Sequence[float | None]
ValuesOrOne: TypeAlias = Values | str | float


class BreakCollector:
    """Collects break fragments; vectorised per category, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(
        self, ids: Values, category: str, severity: ValuesOrOne, detail: ValuesOrOne, age_hours: ValuesOrOne
    ) -> None:
        ids = pd.Series(ids, copy=False).reset_index(drop=True)
        if len(ids) == 0:
            return
        n = len(ids)

        def col(v: ValuesOrOne, dtype: Literal["str", "float64"]) -> pd.Series:
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
        """The breaks frame (BREAK_COLUMNS), oldest first."""
        return finish([self.collapsed()])

    def collapsed(self) -> pd.DataFrame:
        """One row per (order, category) (per row for UNCOLLAPSED), in key order, with the helper
        columns ``finish`` needs: a partition's part of the breaks frame."""
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
        df = df.sort_values([*_KEYS, "_rank"], kind="stable")
        size = df.groupby(_KEYS, sort=False)["_rank"].transform("size")
        df = df.assign(_n=size.to_numpy()).drop_duplicates(_KEYS, keep="first")
        more = df["_n"].to_numpy() > 1
        if more.any():
            extra = " (+" + (df.loc[more, "_n"] - 1).astype("str") + " more like this)"
            df.loc[more, "detail"] = df.loc[more, "detail"] + extra
        df["age_hours"] = df["age_hours"].round(1)
        return df.drop(columns=["_n"])


_KEYS = ["google_order_id", "category", "_own"]


def finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The breaks frame from ``BreakCollector.collapsed`` parts whose orders are disjoint (one
    reconciliation, or its partitions): the same rows, in the same order, either way."""
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        df = df.sort_values(_KEYS, kind="stable")
    df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
    df["severity"] = pd.Categorical(df["severity"], categories=SEVERITIES)
    df = df.sort_values(["age_hours", "_rank"], ascending=[False, True], kind="stable", na_position="last")
    return df.drop(columns=["_rank", "_own"]).reset_index(drop=True)


def merge_finished(breaks: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """Two breaks frames as ``finish`` made them (orders disjoint: Google orders and the Square
    orders of Google's live channels) as one, in the same order ``finish`` gives."""
    if not len(more):
        return breaks
    df = pd.concat([breaks.astype({"category": "str", "severity": "str"}),
                    more.astype({"category": "str", "severity": "str"})], ignore_index=True)
    df["category"] = pd.Categorical(df["category"], categories=CATEGORIES)
    df["severity"] = pd.Categorical(df["severity"], categories=SEVERITIES)
    rank = df["severity"].cat.codes
    df = df.assign(_rank=rank.to_numpy())
    df = df.sort_values(["age_hours", "_rank"], ascending=[False, True], kind="stable", na_position="last")
    return df.drop(columns=["_rank"]).reset_index(drop=True)
