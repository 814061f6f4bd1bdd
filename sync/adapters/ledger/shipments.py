"""The ``shipments`` table: parcels by (account, order, shipment id); they never move backwards.

Upserts write what each shipment carries; ``state`` never moves backwards (planned < shipped <
delivered; failed only from planned) and the nullable facts (carrier, tracking, timestamps) are
never cleared by a later record that lacks them. ``created_at`` is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, or_, select, update

from sync.domain.progress import ShipmentSource, ShipmentState, StoredShipment

from .bulk import IN_CHUNK, WRITE_CHUNK, chunks, group_by_keyset, later_state
from .database import LedgerDatabase
from .mapping import shipment_record, shipment_row
from .models import Shipment

SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
ShipmentKey = tuple[str, str]  # (order id, shipment id)


def _merge_shipment(col: str, new: Any, old: Any) -> Any:
    if col == "state":
        return later_state(new, old)
    if col in ("carrier", "tracking_id", "shipped_at", "delivered_at"):
        return func.coalesce(new, old)  # a record lacking a fact does not erase it
    return new


class ShipmentTable(LedgerDatabase):
    def upsert_shipments(self, shipments: Iterable[StoredShipment]) -> None:
        """Insert or update shipments by (order id, shipment_id); see the module's rules."""
        now = self._clock()
        merged: dict[ShipmentKey, dict[str, Any]] = {}
        for shipment in shipments:
            merged[(shipment.order_id, shipment.shipment_id)] = shipment_row(shipment)
        if not merged:
            return
        for row in merged.values():
            row.setdefault("updated_at", now)
            row.setdefault("created_at", now)
        with self._write() as conn:
            for group in group_by_keyset(merged.values()):
                self._upsert(
                    conn,
                    SHIPMENTS,
                    ("google_order_id", "shipment_id"),
                    group,
                    _merge_shipment,
                    keep=frozenset({"created_at"}),
                )

    def retrack_shipments(self, changes: Iterable[tuple[str, str, str, str]]) -> None:
        """(order id, shipment id, carrier, tracking id): a parcel's corrected carrier or tracking
        id, once Google has it."""
        now = self._clock()
        params = [
            {"k_o": o, "k_s": s, "n_carrier": carrier, "n_tracking": tracking, "n_now": now}
            for o, s, carrier, tracking in changes
        ]
        if not params:
            return
        stmt = (
            update(SHIPMENTS)
            .where(self._mine(SHIPMENTS), SHIPMENTS.c.google_order_id == bindparam("k_o"))
            .where(SHIPMENTS.c.shipment_id == bindparam("k_s"))
            .values(
                carrier=func.coalesce(
                    bindparam("n_carrier", type_=SHIPMENTS.c.carrier.type), SHIPMENTS.c.carrier
                ),
                tracking_id=func.coalesce(
                    bindparam("n_tracking", type_=SHIPMENTS.c.tracking_id.type), SHIPMENTS.c.tracking_id
                ),
                updated_at=bindparam("n_now", type_=SHIPMENTS.c.updated_at.type),
            )
        )
        with self._write() as conn:
            for chunk in chunks(params, WRITE_CHUNK):
                conn.execute(stmt, list(chunk))

    def mark_shipments(
        self, keys: Iterable[ShipmentKey], state: ShipmentState | str, *, at: datetime | None = None
    ) -> None:
        """Advance shipments ((order id, shipment id) pairs) to ``state`` once Google has it; sets
        shipped_at / delivered_at to ``at`` (default now) unless already known."""
        try:
            state = ShipmentState(state)
        except ValueError:
            states = tuple(s.value for s in ShipmentState)
            raise ValueError(f"shipment state must be one of {states}, got {state!r}") from None
        now = self._clock()
        params = [
            {"k_o": o, "k_s": s, "n_state": state.value, "n_at": at or now, "n_now": now} for o, s in keys
        ]
        if not params:
            return
        ts = SHIPMENTS.c.updated_at.type
        values: dict[str, Any] = {
            "state": later_state(bindparam("n_state", type_=SHIPMENTS.c.state.type), SHIPMENTS.c.state),
            "updated_at": bindparam("n_now", type_=ts),
        }
        if state == ShipmentState.SHIPPED:
            values["shipped_at"] = func.coalesce(SHIPMENTS.c.shipped_at, bindparam("n_at", type_=ts))
        elif state == ShipmentState.DELIVERED:
            values["delivered_at"] = func.coalesce(SHIPMENTS.c.delivered_at, bindparam("n_at", type_=ts))
        else:
            for p in params:
                del p["n_at"]
        stmt = (
            update(SHIPMENTS)
            .where(self._mine(SHIPMENTS), SHIPMENTS.c.google_order_id == bindparam("k_o"))
            .where(SHIPMENTS.c.shipment_id == bindparam("k_s"))
            .values(values)
        )
        if state == ShipmentState.FAILED:  # only a parcel Google never took can have failed
            stmt = stmt.where(SHIPMENTS.c.state == ShipmentState.PLANNED.value)
        with self._write() as conn:
            for chunk in chunks(params, WRITE_CHUNK):
                conn.execute(stmt, list(chunk))

    def shipments_for(self, order_ids: Iterable[str]) -> dict[str, list[StoredShipment]]:
        """Shipments per order, oldest first; every requested order is a key (maybe empty)."""
        wanted = list(dict.fromkeys(order_ids))
        out: dict[str, list[StoredShipment]] = {gid: [] for gid in wanted}
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = (
                    select(SHIPMENTS)
                    .where(self._mine(SHIPMENTS), SHIPMENTS.c.google_order_id.in_(chunk))
                    .order_by(SHIPMENTS.c.created_at, SHIPMENTS.c.shipment_id)
                )
                for row in conn.execute(stmt):
                    out[row.google_order_id].append(shipment_record(row._mapping))
        return out

    def iter_shipments(
        self, *, source: ShipmentSource | str | None = None, batch: int = 5000
    ) -> Iterator[StoredShipment]:
        """Every shipment (or every one from ``source``), by (order id, shipment_id), in short
        keyset-paginated reads: the reconciliation's view of what was taken from the feed."""
        last: ShipmentKey | None = None
        while True:
            stmt = select(SHIPMENTS).where(self._mine(SHIPMENTS))
            stmt = stmt.order_by(SHIPMENTS.c.google_order_id, SHIPMENTS.c.shipment_id)
            if source is not None:
                stmt = stmt.where(SHIPMENTS.c.source == str(source))
            if last is not None:
                stmt = stmt.where(
                    or_(
                        SHIPMENTS.c.google_order_id > last[0],
                        (SHIPMENTS.c.google_order_id == last[0]) & (SHIPMENTS.c.shipment_id > last[1]),
                    )
                )
            with self._read() as conn:
                page = [shipment_record(r._mapping) for r in conn.execute(stmt.limit(batch))]
            yield from page
            if len(page) < batch:
                return
            last = (page[-1].order_id, page[-1].shipment_id)

    def known_shipment_ids(self, order_ids: Iterable[str]) -> dict[str, set[str]]:
        """Shipment ids per order; every requested order is a key (maybe an empty set)."""
        wanted = list(dict.fromkeys(order_ids))
        out: dict[str, set[str]] = {gid: set() for gid in wanted}
        with self._read() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = select(SHIPMENTS.c.google_order_id, SHIPMENTS.c.shipment_id).where(
                    self._mine(SHIPMENTS), SHIPMENTS.c.google_order_id.in_(chunk)
                )
                for gid, sid in conn.execute(stmt):
                    out[gid].add(sid)
        return out
