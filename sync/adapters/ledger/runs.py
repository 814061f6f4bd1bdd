"""The ``runs`` and ``kv`` tables, and the summary ``ordersync status`` prints."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Table, insert, select, update

from sync.domain.records import RunRecord

from .bulk import take_new
from .database import LedgerDatabase
from .errors import LedgerError
from .mapping import run_record
from .models import KeyValue, Run

RUNS: Table = Run.__table__  # type: ignore[assignment]
KV: Table = KeyValue.__table__  # type: ignore[assignment]


class RunTable(LedgerDatabase):
    # -------------------------------------------------------------------------------- runs
    def start_run(self, *, close_unfinished: bool = True) -> int:
        """Record the start of a run and return its id.

        With ``close_unfinished`` (call it while holding the account's CycleLock) the account's runs
        still marked ``running`` are from a process that died, and are marked ``interrupted``
        (other accounts' runs are theirs to close: they may be running now).
        """
        now = self._clock()
        with self._write() as conn:
            if close_unfinished:
                unfinished = update(RUNS).where(self._mine(RUNS), RUNS.c.outcome == "running")
                conn.execute(unfinished.values(outcome="interrupted"))
            started = insert(RUNS).values(account=self.account, started_at=now, outcome="running", summary={})
            result = conn.execute(started)
            run_id = result.inserted_primary_key
        assert run_id is not None
        return int(run_id[0])

    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None:
        now = self._clock()
        with self._write() as conn:
            result = conn.execute(
                update(RUNS)
                .where(self._mine(RUNS), RUNS.c.id == run_id)
                .values(finished_at=now, outcome=outcome, summary=dict(summary))
            )
            if result.rowcount == 0:
                raise LedgerError(f"ledger {self.where}: no run {run_id}")

    def last_runs(self, n: int = 10) -> list[RunRecord]:
        """The ``n`` most recent runs, newest first."""
        stmt = select(RUNS).where(self._mine(RUNS)).order_by(RUNS.c.id.desc()).limit(n)
        with self._read() as conn:
            return [run_record(r._mapping) for r in conn.execute(stmt)]

    def last_run_with_outcome(self, outcomes: Iterable[str]) -> RunRecord | None:
        """The most recent finished run whose outcome is one of ``outcomes`` (e.g. the last success)."""
        wanted = list(outcomes)
        stmt = select(RUNS).where(self._mine(RUNS), RUNS.c.outcome.in_(wanted))
        stmt = stmt.order_by(RUNS.c.id.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else run_record(row._mapping)

    # ---------------------------------------------------------------------------------- kv
    def get_value(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            row = conn.execute(select(KV.c.value).where(self._mine(KV), KV.c.key == key)).first()
        return default if row is None else row[0]

    def values_with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix`` (e.g. ``refunds.returns.``), by key."""
        stmt = select(KV.c.key, KV.c.value).where(
            self._mine(KV), KV.c.key.startswith(prefix, autoescape=True)
        )
        with self._read() as conn:
            return {str(key): value for key, value in conn.execute(stmt.order_by(KV.c.key))}

    def set_value(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (e.g. a poll cursor)."""
        row = {"key": key, "value": value, "updated_at": self._clock()}
        with self._write() as conn:
            self._upsert(conn, KV, ("key",), [row], take_new, keep=frozenset())
