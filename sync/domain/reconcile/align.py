"""Alignment: the ledger's and the OMS's orders and lines mapped onto Google's.

Google's orders are numbered 0..n-1 in input order. Every ledger / OMS order gets the Google
position it refers to (-1: none); their lines are matched to Google line rows by ``match_lines``.
Nothing here decides what is a break: the rule modules read the ``Alignment``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.domain.reconcile.columns import (
    FirstRows,
    arrow_strings,
    first_rows,
    hours_since,
    index_in,
    join_key,
    nonempty,
    order_index,
    per_order_sum,
)
from sync.domain.reconcile.model import Freshness, Shared, Slas
from sync.domain.reconcile.schema import QUANTITIES

T = TypeVar("T")


@dataclass
class Alignment:
    """The three views on Google's order positions, plus what the rules share.

    ``g``/``lg``/``om``: the conformed line frames (``lg``/``om`` None when not given); ``go``,
    ``lo``, ``oo``: their order-level columns (``FirstRows``). ``led_pos``/``oms_pos``: the ledger /
    OMS order row of each Google order (-1: none). ``memo`` holds derived columns two rule groups
    (or a rule group and the orders table) both read; the engine clears it.
    """

    now: pd.Timestamp
    slas: Slas
    freshness: Freshness
    g: pd.DataFrame
    go: FirstRows
    g_first: np.ndarray
    g_order_of_row: np.ndarray
    g_count: np.ndarray
    ids: pd.Series
    sums: dict[str, np.ndarray]
    status: pd.Series
    canceled: np.ndarray
    placed_at: pd.Series
    age: np.ndarray
    currency: pd.Series
    amount_g: np.ndarray
    g_mid: pd.Series
    canceled_at: pd.Series
    lg: pd.DataFrame | None = None
    om: pd.DataFrame | None = None
    lo: FirstRows | None = None
    oo: FirstRows | None = None
    l_to_g: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    l_count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    led_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    led_not_in_google: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    om_to_g: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    o_count: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    oms_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    oms_not_in_google: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    stray_refs: pd.Series = field(default_factory=lambda: pd.Series([], dtype="str"))
    oms_complete: bool = False
    rejects: pd.DataFrame | None = None
    shared: Shared = field(default_factory=Shared)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.go)

    @property
    def cycle_at(self) -> datetime | None:
        return self.freshness.cycle_started_at

    @property
    def has_led(self) -> np.ndarray:
        return self.led_pos >= 0

    @property
    def has_oms(self) -> np.ndarray:
        return self.oms_pos >= 0

    @property
    def live(self) -> np.ndarray:
        return ~self.canceled

    def led(self, col: str) -> pd.Series:
        """``col`` of each Google order's ledger order (its first row's value where it has none)."""
        assert self.lo is not None
        return self.lo.at(col, np.maximum(self.led_pos, 0))

    def oms(self, col: str) -> pd.Series:
        """``col`` of each Google order's OMS order (its first row's value where it has none)."""
        assert self.oo is not None
        return self.oo.at(col, np.maximum(self.oms_pos, 0))

    def remember(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()``, once per key (each key always remembers one kind of value)."""
        if key not in self.memo:
            self.memo[key] = compute()
        return cast(T, self.memo[key])

    def ledger_merchant_ids(self) -> pd.Series | None:
        """The ledger's merchant order id per Google order (read once: rules and orders.csv)."""
        if self.lo is None:
            return None
        return self.remember("l_mid", lambda: self.led("merchant_order_id"))

    def duplicated_merchant_ids(self) -> np.ndarray:
        """Per Google order: its merchantOrderId is also set on another Google order (of the whole
        input, when this is a partition of it)."""
        several = self.shared.merchant_ids_on_several
        if several is None:
            return self.g_mid.duplicated(keep=False).to_numpy()
        found = pc.is_in(arrow_strings(self.g_mid), value_set=several)
        return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)

    def oms_tracks(self, quantity: str) -> bool:
        """The OMS knows ``quantity`` at all (the feed has no ordered units, Square no deliveries)."""
        assert self.om is not None
        tracks = self.shared.oms_tracks
        return bool(self.om[quantity].notna().any()) if tracks is None else quantity in tracks

    def kept_out(self) -> np.ndarray:
        """Kept out of Square on purpose (shipped before it was enabled), per Google order."""

        def compute() -> np.ndarray:
            if self.lo is None:
                return np.zeros(self.n, dtype=bool)
            kept: np.ndarray = self.has_led & nonempty(self.led("square_skip_reason"))
            return kept

        return self.remember("kept_out", compute)


def align_google(
    g: pd.DataFrame, *, now: pd.Timestamp, slas: Slas, freshness: Freshness, shared: Shared | None = None
) -> Alignment:
    """Google's orders: one entry per order, keyed by position 0..n-1. Order-level columns are
    read from each order's first line only when a rule needs them.

    conform() already guarantees one contiguous block per order id (it regroups the rows
    otherwise, and its contiguity check hashes the ids once), so every position is the first of
    its id: no second hash over a million ids is needed here."""
    g_first, g_order_of_row = order_index(g["line_no"].to_numpy())
    go = FirstRows(g, g_first)
    status = go["status"]
    placed_at = go["placed_at"]
    n = len(go)
    return Alignment(
        now=now,
        slas=slas,
        freshness=freshness,
        g=g,
        go=go,
        g_first=g_first,
        g_order_of_row=g_order_of_row,
        g_count=np.diff(g_first, append=np.int32(len(g))).astype(np.int32, copy=False),
        ids=go["google_order_id"],
        sums={q: per_order_sum(g[q].to_numpy(), g_first) for q in (*QUANTITIES, "qty_returned")},
        status=status,
        canceled=(status == "canceled").to_numpy(),
        placed_at=placed_at,
        age=hours_since(now, placed_at),
        currency=go["currency"].astype("str"),
        amount_g=go["amount_minor"].to_numpy(dtype="int64"),
        g_mid=go["merchant_order_id"],
        canceled_at=go["last_canceled_at"],  # the order's latest cancellation on Google (NaT: none)
        led_pos=np.full(n, -1, dtype=np.int32),
        oms_pos=np.full(n, -1, dtype=np.int32),
        shared=shared or Shared(),
    )


def align_ledger(a: Alignment, lg: pd.DataFrame) -> None:
    """Ledger order rows mapped onto Google positions; the first ledger row wins when the ledger
    lists an order twice."""
    a.lg = lg
    if not len(lg):
        return
    l_first, a.l_count = first_rows(lg["line_no"].to_numpy())
    a.lo = FirstRows(lg, l_first)
    l_ids = a.lo.arrow("google_order_id")
    a.l_to_g = index_in(l_ids, arrow_strings(a.ids))
    known = a.l_to_g >= 0
    order = np.flatnonzero(known)[::-1]
    a.led_pos[a.l_to_g[order]] = order
    a.led_not_in_google = np.flatnonzero(~known & nonempty(l_ids)).astype(np.int32)


def align_oms(a: Alignment, om: pd.DataFrame) -> None:
    """OMS order rows mapped onto Google positions by Google order id, else by merchant order id
    ("" never matches); the first OMS order per Google order wins. OMS orders naming an order
    Google lacks are kept (``oms_not_in_google``, ``stray_refs``) for missing_in_google."""
    a.om = om
    if not len(om):
        return
    o_first, a.o_count = first_rows(om["line_no"].to_numpy())
    oo = a.oo = FirstRows(om, o_first)
    complete = a.shared.oms_complete
    a.oms_complete = bool((oo["source"] == "square").any()) if complete is None else complete
    refs = oo.arrow("order_ref")
    a.om_to_g = index_in(refs, arrow_strings(a.ids))
    unresolved = np.flatnonzero(a.om_to_g < 0)
    if len(unresolved):
        unresolved_refs = refs.take(pa.array(unresolved))
        by_mid = index_in(unresolved_refs, arrow_strings(a.g_mid))
        by_mid[~nonempty(unresolved_refs)] = -1
        a.om_to_g[unresolved] = by_mid
    ours = nonempty(refs)
    a.oms_not_in_google = np.flatnonzero((a.om_to_g < 0) & ours).astype(np.int32)
    # Gathered once (a gather from a chunked string column joins its chunks first): for the
    # break and for these orders' rows in orders.csv.
    a.stray_refs = oo.at("order_ref", a.oms_not_in_google)
    linked = np.flatnonzero(a.om_to_g >= 0)
    order = linked[::-1]  # first OMS order per Google order wins
    a.oms_pos[a.om_to_g[order]] = order


def oms_duplicates(a: Alignment) -> tuple[np.ndarray, pd.Series, pd.Series]:
    """Google orders that several distinct OMS orders refer to: (Google positions, how many,
    their OMS order ids joined), for duplicate_merchant_order_id."""
    assert a.oo is not None
    linked = np.flatnonzero(a.om_to_g >= 0)
    # Only Google orders referenced by more than one OMS row can have duplicates: look at those.
    multi = np.bincount(a.om_to_g[linked], minlength=a.n) > 1
    suspects = linked[multi[a.om_to_g[linked]]]
    pairs = pd.DataFrame({"g": a.om_to_g[suspects], "oid": a.oo.at("oms_order_id", suspects).to_numpy()})
    pairs = pairs.drop_duplicates()
    counts = pairs.groupby("g")["oid"].agg(["size"])
    dup_g = counts.index[counts["size"] > 1].to_numpy()
    if not len(dup_g):
        return np.zeros(0, dtype=np.int64), pd.Series([], dtype="int64"), pd.Series([], dtype="str")
    listed = pairs[pairs["g"].isin(dup_g)].groupby("g")["oid"].agg(lambda s: ", ".join(sorted(s)))
    return listed.index.to_numpy(), counts.loc[listed.index, "size"], listed


def match_lines(
    g: pd.DataFrame,
    g_first: np.ndarray,
    g_count: np.ndarray,
    g_order_of_row: np.ndarray,
    order_g: np.ndarray,
    line_no: np.ndarray,
    line_ids: pd.Series,
    offer_ids: pd.Series | None,
) -> np.ndarray:
    """Google line row for every row of another frame (-1: no such line, or order unknown).

    Fast path: the line at the same position of the order has the same line id (or, for rows
    without one, offer id) — true when the ledger and the OMS keep Google's line order, so it is
    an element-wise compare with no hash table. Only the rest are matched through a hash of
    (order, line id) / (order, offer id), built on the Google rows of just those orders.
    """
    out = np.full(len(order_g), -1, dtype=np.int32)  # int32: half the memory per line row
    if len(out) == 0 or len(g) == 0:
        return out
    og = np.maximum(order_g, 0)
    ok = (order_g >= 0) & (line_no < g_count[og])
    cand = np.where(ok, g_first[og] + line_no, 0).astype(np.int32, copy=False)
    del og
    cand_arr = pa.array(cand)  # zero-copy view of the numpy buffer
    own_line = arrow_strings(line_ids)
    has_line = nonempty(line_ids)
    same = pc.fill_null(pc.equal(own_line, arrow_strings(g["line_item_id"]).take(cand_arr)), False)
    hit = ok & has_line & np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    if offer_ids is not None and not has_line.all():
        same_offer = pc.fill_null(
            pc.equal(arrow_strings(offer_ids), arrow_strings(g["offer_id"]).take(cand_arr)), False
        )
        hit |= (
            ok
            & ~has_line
            & nonempty(offer_ids)
            & np.asarray(same_offer.to_numpy(zero_copy_only=False), dtype=bool)
        )
    out[hit] = cand[hit]
    del cand, cand_arr, same
    rest = np.flatnonzero(~hit & (order_g >= 0))
    if len(rest) == 0:
        return out
    g_rows = np.flatnonzero(np.isin(g_order_of_row, np.unique(order_g[rest])))

    def keyed(orders: np.ndarray, ids: pa.Array) -> pa.Array:
        return join_key(pa.array(orders, pa.int64()).cast(pa.large_string()), ids)

    g_take = pa.array(g_rows)
    g_orders = g_order_of_row[g_rows]
    by_line = rest[has_line[rest]]
    if len(by_line):
        pos = index_in(
            keyed(order_g[by_line], own_line.take(pa.array(by_line))),
            keyed(g_orders, arrow_strings(g["line_item_id"]).take(g_take)),
        )
        out[by_line] = np.where(pos >= 0, g_rows[np.maximum(pos, 0)], -1)
    by_offer = rest[~has_line[rest]]
    if offer_ids is not None and len(by_offer):
        pos = index_in(
            keyed(order_g[by_offer], arrow_strings(offer_ids).take(pa.array(by_offer))),
            keyed(g_orders, arrow_strings(g["offer_id"]).take(g_take)),
        )
        # An empty offer id must not match a Google line that has none either.
        pos[~nonempty(offer_ids.iloc[by_offer])] = -1
        out[by_offer] = np.where(pos >= 0, g_rows[np.maximum(pos, 0)], -1)
    return out
