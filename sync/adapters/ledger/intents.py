"""The ``operations`` table: intents, committed before they are sent (the heart of exactly-once).

- An intent is unique per (account, order, target, key): operationIds are unique only within one
  merchant account, so another account's intent with the same key is another intent.
  ``add_intents`` never creates a second one; for a key that exists it returns the stored record
  (its payload wins: what was committed first is what gets resent).
- ``record_results`` only moves intents out of ``pending``; ``done`` and ``failed`` are final.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, Text, bindparam, insert, select, type_coerce, update

from sync.domain.intents import Intent, IntentRecord, IntentResult, IntentState, Outcome, Target
from sync.domain.live_breaks import LiveIntent

from .bulk import IN_CHUNK, WRITE_CHUNK, chunks, existing_keys, native_insert
from .database import LedgerDatabase
from .errors import LedgerError
from .mapping import intent_record, intent_row
from .models import Operation, Order, to_utc

OPERATIONS: Table = Operation.__table__  # type: ignore[assignment]
ORDERS: Table = Order.__table__  # type: ignore[assignment]
# Targets whose intents belong to a Google order (an ``orders`` row); the live Google channels
# key theirs by the Square order id, which has none (migration 0005 dropped the foreign key).
_ORDER_TARGETS = frozenset({Target.GOOGLE, Target.SQUARE})
_LIVE_TARGETS = (Target.UCP.value, Target.ORDER_TRACKING.value)
_INTENT_KEY = ("google_order_id", "target", "operation_id")
_STORED_KEY = ("account", *_INTENT_KEY)  # the unique key in the table
Identity = tuple[str, str, str]


class IntentTable(LedgerDatabase):
    def _intents_by_identity(
        self, conn: Connection, keys: Sequence[Identity]
    ) -> dict[Identity, IntentRecord]:
        wanted = set(keys)
        found: dict[Identity, IntentRecord] = {}
        # Narrowed by operation id too: an order's earlier intents (and their payloads) are not
        # read back each time it gets a new one.
        for chunk in chunks(sorted(wanted), IN_CHUNK):
            stmt = select(OPERATIONS).where(
                self._mine(OPERATIONS),
                OPERATIONS.c.google_order_id.in_({k[0] for k in chunk}),
                OPERATIONS.c.operation_id.in_({k[2] for k in chunk}),
            )
            for row in conn.execute(stmt):
                if (row.google_order_id, row.target, row.operation_id) in wanted:
                    rec = intent_record(row._mapping)
                    found[rec.identity] = rec
        return found

    def add_intents(self, intents: Iterable[Intent]) -> list[IntentRecord]:
        """Commit intents before they are sent; return the stored record for every one given.

        Keys already in the ledger are left untouched (their stored payload and state win), so a
        rerun that re-derives the same keys gets the original records back, including the ones
        already done. The result is aligned with the input.
        """
        given = list(intents)
        if not given:
            return []
        now = to_utc(self._clock())  # as it reads back: the records built here equal stored ones
        unique: dict[Identity, Intent] = {}
        for intent in given:
            unique.setdefault(intent.identity, intent)
        with self._write() as conn:
            self._refuse_unknown_orders(conn, unique.values())
            if self._native_upsert:
                found = self._insert_new_intents(conn, list(unique.values()), now)
            else:
                found = {}
                self._insert_intents_portably(conn, list(unique.values()), now)
            # Keys that were already stored (their record wins), and everything on the portable path.
            found.update(self._intents_by_identity(conn, [k for k in unique if k not in found]))
        return [found[i.identity] for i in given]

    def _refuse_unknown_orders(self, conn: Connection, intents: Iterable[Intent]) -> None:
        """What the foreign key to ``orders`` used to guard: a Google or Square intent names an
        order already in the ledger."""
        wanted = {i.order_id for i in intents if i.target in _ORDER_TARGETS}
        for chunk in chunks(sorted(wanted), IN_CHUNK):
            found = set(
                conn.execute(
                    select(ORDERS.c.google_order_id).where(
                        self._mine(ORDERS), ORDERS.c.google_order_id.in_(chunk)
                    )
                ).scalars()
            )
            missing = sorted(set(chunk) - found)
            if missing:
                raise LedgerError(
                    f"ledger {self.where}: intents for unknown orders {missing[:5]} (intents and "
                    "shipments must refer to orders already in the ledger)"
                )

    def _insert_new_intents(
        self, conn: Connection, intents: Sequence[Intent], now: datetime
    ) -> dict[Identity, IntentRecord]:
        """INSERT .. ON CONFLICT DO NOTHING RETURNING: the inserted intents' records, built from
        what was written instead of read back (keys already stored are simply not returned)."""
        # The payload is serialised here, once, exactly as the JSON column would (json.dumps), so
        # the record gets the same decoded copy that reading it back would give.
        texts = {i.identity: json.dumps(i.payload) for i in intents}
        sqlite = conn.dialect.name == "sqlite"
        stmt = native_insert(conn, OPERATIONS)
        if sqlite:  # SQLite stores JSON as text: hand it the text already made
            stmt = stmt.values(payload=type_coerce(bindparam("payload"), Text))
        stmt = stmt.on_conflict_do_nothing(index_elements=[OPERATIONS.c[k] for k in _STORED_KEY]).returning(
            OPERATIONS.c.id, *(OPERATIONS.c[k] for k in _INTENT_KEY)
        )
        ids: dict[Identity, int] = {}
        for chunk in chunks(intents, WRITE_CHUNK):
            rows = [self._intent_row(i, now, texts[i.identity] if sqlite else i.payload) for i in chunk]
            for intent_id, order_id, target, key in conn.execute(stmt, rows):
                ids[(order_id, target, key)] = intent_id
        by_identity = {i.identity: i for i in intents}
        return {
            identity: _new_intent_record(intent_id, by_identity[identity], texts[identity], now)
            for identity, intent_id in ids.items()
        }

    def _insert_intents_portably(self, conn: Connection, intents: Sequence[Intent], now: datetime) -> None:
        rows = [self._intent_row(i, now, i.payload) for i in intents]
        for chunk in chunks(rows, IN_CHUNK):
            existing = existing_keys(conn, OPERATIONS, _STORED_KEY, chunk)
            new = [r for r in chunk if tuple(r[k] for k in _STORED_KEY) not in existing]
            if new:
                conn.execute(insert(OPERATIONS), new)

    def _intent_row(self, intent: Intent, now: datetime, payload: Any) -> dict[str, Any]:
        return {"account": self.account, **intent_row(intent, now, payload)}

    def pending_intents(
        self,
        target: str | None = None,
        kinds: Collection[str] | None = None,
        limit: int | None = None,
    ) -> list[IntentRecord]:
        """Pending intents in the order they were recorded (so e.g. an ack precedes its ship)."""
        pending = OPERATIONS.c.state == IntentState.PENDING.value
        stmt = select(OPERATIONS).where(self._mine(OPERATIONS), pending)
        if target is not None:
            stmt = stmt.where(OPERATIONS.c.target == str(target))
        if kinds is not None:
            stmt = stmt.where(OPERATIONS.c.kind.in_(list(kinds)))
        stmt = stmt.order_by(OPERATIONS.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [intent_record(r._mapping) for r in conn.execute(stmt)]

    def record_results(self, results: Iterable[IntentResult]) -> None:
        """Apply send results in bulk. Only pending intents change: done/failed are final.

        done → state done, execution_status, done_at; failed → state failed with error and reason;
        retry → stays pending with error and reason. Each result adds one to ``attempts``.
        """
        latest: dict[int, IntentResult] = {}
        for result in results:
            latest[result.intent_id] = result  # the last word on an intent wins
        if not latest:
            return
        now = self._clock()
        # Results that say the same thing (typically a whole batch "done, executed") become one
        # UPDATE .. WHERE id IN (..) per IN_CHUNK ids instead of one parameter set per intent.
        same_outcome: dict[tuple[Outcome, str | None, str | None, str | None], list[int]] = defaultdict(list)
        for r in latest.values():
            same_outcome[(r.outcome, r.execution_status, r.error, r.reason)].append(r.intent_id)
        with self._write() as conn:
            for (outcome, execution_status, error, reason), ids in same_outcome.items():
                values: dict[str, Any] = {
                    "attempts": OPERATIONS.c.attempts + 1,
                    "updated_at": now,
                    "execution_status": execution_status,
                }
                if outcome == Outcome.DONE:
                    values.update(state=IntentState.DONE.value, done_at=now)
                else:
                    values.update(last_error=error, error_reason=reason)
                    if outcome == Outcome.FAILED:
                        values["state"] = IntentState.FAILED.value
                for chunk in chunks(ids, IN_CHUNK):
                    conn.execute(
                        update(OPERATIONS)
                        .where(
                            self._mine(OPERATIONS),
                            OPERATIONS.c.id.in_(chunk),
                            OPERATIONS.c.state == IntentState.PENDING.value,
                        )
                        .values(values)
                    )

    def intents_for_order(self, order_id: str) -> list[IntentRecord]:
        mine = self._mine(OPERATIONS)
        stmt = select(OPERATIONS).where(mine, OPERATIONS.c.google_order_id == order_id)
        stmt = stmt.order_by(OPERATIONS.c.id)
        with self._read() as conn:
            return [intent_record(r._mapping) for r in conn.execute(stmt)]

    def live_intents(self) -> list[LiveIntent]:
        """This account's intents of Google's live channels (UCP, order tracking), in the order
        recorded, without their payloads (push bodies carry the buyer's address): the report's
        view of what Google accepted."""
        c = OPERATIONS.c
        stmt = (
            select(
                c.google_order_id, c.target, c.operation_id, c.state, c.attempts, c.last_error,
                c.error_reason, c.created_at, c.updated_at, c.done_at,
            )
            .where(self._mine(OPERATIONS), c.target.in_(_LIVE_TARGETS))
            .order_by(c.id)
        )
        with self._read() as conn:
            return [
                LiveIntent(
                    order_id=r.google_order_id,
                    target=Target(r.target),
                    key=r.operation_id,
                    state=IntentState(r.state),
                    attempts=r.attempts,
                    last_error=r.last_error,
                    error_reason=r.error_reason,
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                    done_at=r.done_at,
                )
                for r in conn.execute(stmt)
            ]

    def failed_intents(self, since: datetime | None = None) -> list[IntentRecord]:
        """Intents that failed for good, optionally only those failed at or after ``since``."""
        failed = OPERATIONS.c.state == IntentState.FAILED.value
        stmt = select(OPERATIONS).where(self._mine(OPERATIONS), failed)
        if since is not None:
            stmt = stmt.where(OPERATIONS.c.updated_at >= since)
        with self._read() as conn:
            return [intent_record(r._mapping) for r in conn.execute(stmt.order_by(OPERATIONS.c.id))]


def _new_intent_record(intent_id: int, intent: Intent, payload_text: str, now: datetime) -> IntentRecord:
    return IntentRecord(
        id=intent_id,
        order_id=intent.order_id,
        target=intent.target,
        kind=intent.kind,
        key=intent.key,
        payload=json.loads(payload_text),
        state=IntentState.PENDING,
        execution_status=None,
        attempts=0,
        last_error=None,
        error_reason=None,
        created_at=now,
        updated_at=now,
        done_at=None,
        run_id=None,
    )
