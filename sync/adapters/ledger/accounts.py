"""Which accounts a ledger holds rows of, and handing one account's rows to another.

A configuration that grows from one account into [[accounts]] finds its history under the
account name ``default`` (what a configuration without [[accounts]] is), which no entry may be
named: ``adopt_rows`` gives those rows to the entry they belong to, in one transaction.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, delete, func, insert, literal, select, update

from .database import LedgerDatabase
from .errors import LedgerError
from .models import FeedReject, KeyValue, Operation, Order, ReportHistory, Run, Shipment

# Every table with rows of an account, ``orders`` (the parent of intents and shipments) first.
ACCOUNT_TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[misc]  # a declarative model's __table__ is a Table
    for model in (Order, Operation, Shipment, FeedReject, Run, ReportHistory, KeyValue)
)
ORDERS, RUNS, KV = ACCOUNT_TABLES[0], ACCOUNT_TABLES[4], ACCOUNT_TABLES[6]


class AccountTable(LedgerDatabase):
    def holds_rows_of(self, account: str) -> bool:
        """Whether ``account`` has orders, runs or key/values here (a history of its own)."""
        with self._read() as conn:
            for table in (ORDERS, RUNS, KV):
                found = conn.execute(select(literal(1)).where(table.c.account == account).limit(1))
                if found.first() is not None:
                    return True
        return False

    def rows_of(self, account: str) -> dict[str, int]:
        """Rows of ``account`` per table (tables without any left out)."""
        with self._read() as conn:
            return _counts(conn, account)

    def adopt_rows(self, source: str) -> dict[str, int]:
        """Make every row of account ``source`` this ledger's account's, in one transaction, and
        return how many moved per table. Refused (LedgerError, nothing changed) while this account
        has rows of its own: its ids could collide with the adopted ones."""
        if source == self.account:
            raise ValueError(f"account {source!r} cannot adopt its own rows")
        with self._write() as conn:
            own = _counts(conn, self.account)
            if own:
                held = ", ".join(f"{n} {table}" for table, n in own.items())
                raise LedgerError(
                    f"ledger {self.where}: account {self.account!r} already has rows ({held}); "
                    f"the rows of {source!r} can only go to an account that has none"
                )
            moved = _counts(conn, source)
            # Intents and shipments refer to their order by (account, order id), so the orders
            # are copied under the new account first, their rows moved over, the old ones deleted.
            columns = [c for c in ORDERS.c if c.name != "account"]
            copied = select(literal(self.account, ORDERS.c.account.type), *columns).where(
                ORDERS.c.account == source
            )
            conn.execute(insert(ORDERS).from_select(["account", *(c.name for c in columns)], copied))
            for table in ACCOUNT_TABLES[1:]:
                conn.execute(update(table).where(table.c.account == source).values(account=self.account))
            conn.execute(delete(ORDERS).where(ORDERS.c.account == source))
        return moved


def _counts(conn: Connection, account: str) -> dict[str, int]:
    counts = {}
    for table in ACCOUNT_TABLES:
        n = conn.execute(select(func.count()).select_from(table).where(table.c.account == account)).scalar()
        if n:
            counts[table.name] = int(n)
    return counts
