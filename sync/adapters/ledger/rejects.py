"""The ``feed_rejects`` table: feed rows (or files) ordersync did not use, remembered by content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Table, select, update

from sync.domain.feed import FeedReject
from sync.domain.records import RejectRecord

from .bulk import IN_CHUNK, chunks, group_by_keyset, take_new
from .database import LedgerDatabase
from .mapping import reject_record, reject_row
from .models import REJECT_STATES
from .models import FeedReject as FeedRejectRow

REJECTS: Table = FeedRejectRow.__table__  # type: ignore[assignment]
_INSERT_ONLY = frozenset({"first_seen_at", "first_run_id"})


class RejectTable(LedgerDatabase):
    def open_rejects(self, *, retryable_only: bool = False) -> dict[str, RejectRecord]:
        """The feed rejects still open, by reject_key, oldest first."""
        stmt = select(REJECTS).where(self._mine(REJECTS), REJECTS.c.state == "open")
        if retryable_only:
            stmt = stmt.where(REJECTS.c.retryable.is_(True))
        stmt = stmt.order_by(REJECTS.c.first_seen_at, REJECTS.c.source, REJECTS.c.line_no)
        with self._read() as conn:
            return {row.reject_key: reject_record(row._mapping) for row in conn.execute(stmt)}

    def record_rejects(
        self,
        rejects: Sequence[FeedReject],
        *,
        run_id: int | None,
        cleared: Mapping[str, str] | None = None,
        rejects_file: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """One cycle's feed rejects, in one transaction: ``rejects`` are open now — inserted, or
        updated in place (where and why they were seen last; first_seen_at kept; reopened if they
        had been cleared) — and written to ``rejects_file`` when given; the keys of ``cleared``
        ({key: why}) are no longer open."""
        cleared = cleared or {}
        now = at or self._clock()
        rows = []
        for reject in rejects:
            row = reject_row(reject)
            row.update(state="open", first_seen_at=now, last_seen_at=now, first_run_id=run_id,
                       last_run_id=run_id, cleared_at=None, cleared_why=None)
            if rejects_file is not None:
                row["rejects_file"] = rejects_file
            rows.append(row)
        with self._write() as conn:
            for group in group_by_keyset(rows):
                self._upsert(conn, REJECTS, ("reject_key",), group, take_new, keep=_INSERT_ONLY)
            for chunk in chunks(sorted(cleared), IN_CHUNK):
                for why in {cleared[k] for k in chunk}:
                    keys = [k for k in chunk if cleared[k] == why]
                    conn.execute(
                        update(REJECTS)
                        .where(self._mine(REJECTS), REJECTS.c.reject_key.in_(keys), REJECTS.c.state == "open")
                        .values(state=REJECT_STATES[1], cleared_at=now, cleared_why=why, last_run_id=run_id)
                    )
