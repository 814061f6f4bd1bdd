"""The ``orders`` table: Google orders as last seen, where we are with them, their Square twin.

- ``upsert_orders`` writes only the fields each snapshot carries; ``first_seen_at`` and ``stage``
  (NEW) are written on insert only; ``last_seen_at`` defaults to now.
- ``update_orders`` sets fields of stored orders, all or nothing.
- Everything is in the ledger's account (a Google order id is unique only within one).
- Records returned are frozen ``OrderRecord``s; no ORM objects or sessions leak out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, bindparam, cast, func, or_, select, update

from sync.domain.progress import ShipmentState
from sync.domain.records import OrderChanges, OrderRecord, OrderSnapshot

from .bulk import IN_CHUNK, chunks, existing_keys, group_by_keyset, take_new
from .database import LedgerDatabase
from .errors import LedgerError
from .mapping import changes_row, order_record, snapshot_row
from .models import TERMINAL_STAGE_VALUES, Order, Shipment

ORDERS: Table = Order.__table__  # type: ignore[assignment]
SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
_INSERT_ONLY = frozenset({"first_seen_at", "stage"})
_KEY = ("account", "google_order_id")


class OrderTable(LedgerDatabase):
    def upsert_orders(self, snapshots: Iterable[OrderSnapshot]) -> None:
        """Insert or update orders by google_order_id, writing only the fields each snapshot
        carries. Snapshots of the same order within one call are merged (later fields win). A
        merchant_order_id already used by another order raises LedgerError."""
        now = self._clock()
        merged: dict[str, dict[str, Any]] = {}
        for snapshot in snapshots:
            row = snapshot_row(snapshot, now)
            merged.setdefault(snapshot.google_order_id, {}).update(row)
        if not merged:
            return
        with self._write() as conn:
            for group in group_by_keyset(merged.values()):
                self._upsert(conn, ORDERS, ("google_order_id",), group, take_new, keep=_INSERT_ONLY)

    def update_orders(self, changes: Mapping[str, OrderChanges]) -> None:
        """Set fields on stored orders in bulk ({google_order_id: changes}).

        All or nothing: if any order is unknown, LedgerError names them and nothing changes.
        """
        rows: list[dict[str, Any]] = []
        for gid, change in changes.items():
            if not gid:
                raise ValueError("order changes need a google_order_id")
            fields = changes_row(change)
            if fields:
                rows.append({"account": self.account, "google_order_id": gid, **fields})
        if not rows:
            return
        with self._write() as conn:
            missing: list[str] = []
            for chunk in chunks(rows, IN_CHUNK):
                found = existing_keys(conn, ORDERS, _KEY, chunk)
                missing += [r["google_order_id"] for r in chunk if tuple(r[k] for k in _KEY) not in found]
            if missing:
                raise LedgerError(f"ledger {self.where}: unknown order(s): {', '.join(missing[:10])}")
            for group in group_by_keyset(rows):
                cols = [c for c in group[0] if c not in _KEY]
                stmt = (
                    update(ORDERS)
                    .where(self._mine(ORDERS), ORDERS.c.google_order_id == bindparam("k_id"))
                    .values({c: bindparam(f"n_{c}", type_=ORDERS.c[c].type) for c in cols})
                )
                conn.execute(
                    stmt, [{"k_id": r["google_order_id"], **{f"n_{c}": r[c] for c in cols}} for r in group]
                )

    def get_orders(self, ids: Iterable[str]) -> dict[str, OrderRecord]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, OrderRecord] = {}
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = select(ORDERS).where(self._mine(ORDERS), ORDERS.c.google_order_id.in_(chunk))
                for row in conn.execute(stmt):
                    rec = order_record(row._mapping)
                    out[rec.google_order_id] = rec
        return out

    def get_orders_light(self, ids: Iterable[str]) -> dict[str, tuple[OrderRecord, str | None]]:
        """Like ``get_orders`` without decoding the snapshot: each record has ``order_json=None``
        and comes with the snapshot's stored JSON text, which a caller that already parsed that
        snapshot can compare instead of decoding it again."""
        wanted = list(dict.fromkeys(ids))
        cols = [c for c in ORDERS.c if c.name != "order_json"]
        # A SQL cast, not just a Python-side type: PostgreSQL drivers decode json columns themselves.
        text = cast(ORDERS.c.order_json, Text).label("order_json_text")
        out: dict[str, tuple[OrderRecord, str | None]] = {}
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = select(*cols, text).where(self._mine(ORDERS), ORDERS.c.google_order_id.in_(chunk))
                for row in conn.execute(stmt):
                    fields = dict(row._mapping)
                    snapshot = fields.pop("order_json_text")
                    out[row.google_order_id] = (order_record(fields, order_json=None), snapshot)
        return out

    def iter_orders(self, batch: int = 1000, *, open_only: bool = False) -> Iterator[OrderRecord]:
        """Every order (or every open one), by google_order_id, ``batch`` rows per short read
        (keyset pagination, so no transaction stays open while the caller works and writes in
        between are fine)."""
        last: str | None = None
        while True:
            stmt = select(ORDERS).where(self._mine(ORDERS)).order_by(ORDERS.c.google_order_id).limit(batch)
            if open_only:
                stmt = stmt.where(ORDERS.c.stage.not_in(TERMINAL_STAGE_VALUES))
            if last is not None:
                stmt = stmt.where(ORDERS.c.google_order_id > last)
            with self._read() as conn:
                page = [order_record(r._mapping) for r in conn.execute(stmt)]
            yield from page
            if len(page) < batch:
                return
            last = page[-1].google_order_id

    def open_orders(self) -> list[OrderRecord]:
        """Orders whose stage is not terminal (delivered, canceled, returned)."""
        stmt = (
            select(ORDERS)
            .where(self._mine(ORDERS), ORDERS.c.stage.not_in(TERMINAL_STAGE_VALUES))
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [order_record(r._mapping) for r in conn.execute(stmt)]

    def find_by_merchant_order_id(self, merchant_order_id: str) -> OrderRecord | None:
        stmt = select(ORDERS).where(self._mine(ORDERS), ORDERS.c.merchant_order_id == merchant_order_id)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return order_record(row._mapping) if row is not None else None

    def find_by_merchant_order_ids(self, merchant_order_ids: Iterable[str]) -> dict[str, OrderRecord]:
        """Orders by merchant_order_id (feed rows may name our id instead of Google's)."""
        wanted = list(dict.fromkeys(merchant_order_ids))
        out: dict[str, OrderRecord] = {}
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = select(ORDERS).where(self._mine(ORDERS), ORDERS.c.merchant_order_id.in_(chunk))
                for row in conn.execute(stmt):
                    rec = order_record(row._mapping)
                    out[rec.merchant_order_id] = rec  # type: ignore[index]  # matched, so not None
        return out

    def shipment_states_by_ref(self, refs: Iterable[str]) -> dict[str, dict[str, ShipmentState]]:
        """{ref: {shipment_id: state}} for order refs as a shipments feed names them: a
        google_order_id, else a merchant_order_id (the same precedence as resolving feed rows).
        Refs that name no order are absent. Reads no order JSON: it lets a cycle skip feed rows it
        has already applied without loading those orders."""
        wanted = list(dict.fromkeys(refs))
        out: dict[str, dict[str, ShipmentState]] = {}
        cols = (
            ORDERS.c.google_order_id, ORDERS.c.merchant_order_id, SHIPMENTS.c.shipment_id, SHIPMENTS.c.state
        )
        same_order = (SHIPMENTS.c.account == ORDERS.c.account) & (
            SHIPMENTS.c.google_order_id == ORDERS.c.google_order_id
        )
        joined = ORDERS.outerjoin(SHIPMENTS, same_order)
        mine = select(*cols).select_from(joined).where(self._mine(ORDERS))
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                for gid, _mid, sid, state in conn.execute(
                    mine.where(ORDERS.c.google_order_id.in_(chunk))
                ):
                    found = out.setdefault(gid, {})
                    if sid is not None:
                        found[sid] = ShipmentState(state)
            missing = [r for r in wanted if r not in out]
            for chunk in chunks(missing, IN_CHUNK):
                for _gid, mid, sid, state in conn.execute(
                    mine.where(ORDERS.c.merchant_order_id.in_(chunk))
                ):
                    found = out.setdefault(mid, {})
                    if sid is not None:
                        found[sid] = ShipmentState(state)
        return out

    def orders_missing_square(self) -> list[OrderRecord]:
        """Open orders without a Square order yet (the Square steps create them), except those
        kept out of Square on purpose (``square_skip_reason``)."""
        stmt = (
            select(ORDERS)
            .where(
                self._mine(ORDERS),
                ORDERS.c.square_order_id.is_(None),
                ORDERS.c.square_skip_reason.is_(None),
                ORDERS.c.stage.not_in(TERMINAL_STAGE_VALUES),
            )
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [order_record(r._mapping) for r in conn.execute(stmt)]

    def orders_awaiting_merchant_order_id(self) -> list[tuple[str, str]]:
        """(google order id, Square order id) of open orders whose Square id is not yet confirmed
        as Google's merchantOrderId — including those a crash left between the two steps."""
        stmt = (
            select(ORDERS.c.google_order_id, ORDERS.c.square_order_id)
            .where(
                self._mine(ORDERS),
                ORDERS.c.square_order_id.is_not(None),
                or_(
                    ORDERS.c.merchant_order_id.is_(None),
                    ORDERS.c.merchant_order_id != ORDERS.c.square_order_id,
                ),
                ORDERS.c.stage.not_in(TERMINAL_STAGE_VALUES),
            )
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [(r[0], r[1]) for r in conn.execute(stmt)]

    def oldest_open_placed_at(self) -> datetime | None:
        """placed_at of the oldest open order: how far back to look for cancellations."""
        stmt = select(func.min(ORDERS.c.placed_at)).where(
            self._mine(ORDERS), ORDERS.c.stage.not_in(TERMINAL_STAGE_VALUES)
        )
        with self._read() as conn:
            value: datetime | None = conn.execute(stmt).scalar()
            return value

    def orders_in_square_since(self, placed_since: datetime, *, after: str | None, limit: int) -> list[str]:
        """Ids of orders that have a Square order, placed at or after ``placed_since``, by id after
        ``after`` (a round-robin position; None: from the start), at most ``limit``."""
        stmt = (
            select(ORDERS.c.google_order_id)
            .where(self._mine(ORDERS), ORDERS.c.square_order_id.is_not(None))
            .where(ORDERS.c.placed_at >= placed_since)
            .order_by(ORDERS.c.google_order_id)
            .limit(limit)
        )
        if after is not None:
            stmt = stmt.where(ORDERS.c.google_order_id > after)
        with self._read() as conn:
            return [str(r[0]) for r in conn.execute(stmt)]

    def record_order_error(self, google_order_id: str, error: str, at: datetime | None = None) -> bool:
        """Note why an order could not be processed. False if the order is not in the ledger (an
        order too malformed to store): the caller's log is then the only record."""
        stmt = (
            update(ORDERS)
            .where(self._mine(ORDERS), ORDERS.c.google_order_id == google_order_id)
            .values(last_error=error, last_error_at=at or self._clock())
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def count_by_stage(self) -> dict[str, int]:
        stmt = select(ORDERS.c.stage, func.count()).where(self._mine(ORDERS))
        stmt = stmt.group_by(ORDERS.c.stage).order_by(ORDERS.c.stage)
        with self._read() as conn:
            return {stage: n for stage, n in conn.execute(stmt)}
