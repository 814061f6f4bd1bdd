"""The ledger's database: engine, SQLite pragmas, error translation, migrations, transactions.

Rules every repository method keeps (repository.py composes them into ``Ledger``):
- Each public method is one transaction, unless called inside ``with ledger.transaction():``,
  where it joins that one (a connection held per thread for the block). Write transactions start
  with ``BEGIN IMMEDIATE`` on SQLite so two writers queue on the busy timeout instead of failing
  half-way.
- Every read and write is scoped to the ledger's account (``Ledger(url, account=...)``): rows of
  other accounts sharing the database are never seen, matched or changed.
- Database failures surface as ``LedgerError`` (``LedgerLocked``, ``LedgerCorrupt``,
  ``LedgerSchemaError``) whose message names the ledger.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from sync.config import DEFAULT_ACCOUNT

from .bulk import Merge, upsert
from .errors import LedgerCorrupt, LedgerError, LedgerLocked, LedgerSchemaError
from .models import ACCOUNT_LENGTH, utcnow

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# The newest migration's revision. A ledger stamped with it opens without importing alembic (about
# 80 ms of every run); tests/unit/ledger checks it against the migration scripts.
SCHEMA_HEAD = "0006"


def _coerce_url(url: str | os.PathLike[str] | URL) -> URL:
    """A SQLAlchemy URL; a bare path means a SQLite file. Relative SQLite paths become absolute
    once, here, so a later chdir cannot split the database from its lock file."""
    if isinstance(url, URL):
        parsed = url
    elif isinstance(url, os.PathLike) or "://" not in url:
        parsed = URL.create("sqlite", database=os.fspath(url))
    else:
        parsed = make_url(url)
    path = _sqlite_file(parsed)
    if path is not None and not path.is_absolute():
        parsed = parsed.set(database=str(path.resolve()))
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL; None for other databases, memory and ``file:`` URI modes."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


def _prepare_sqlite_file(path: Path) -> None:
    # Create it ourselves so it is owner-only from the first byte (sqlite3 would use the umask).
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


@contextmanager
def _alembic_quiet() -> Iterator[None]:
    # Alembic logs its set-up at INFO on every open; the app's log should show real upgrades only
    # (we log those ourselves). Warnings and errors still get through.
    logger = logging.getLogger("alembic")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


# ---------------------------------------------------------------------------------------- database
class LedgerDatabase:
    """The connection side of the ledger. Thread-safe (connections come from the engine's pool)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | URL,
        *,
        account: str = DEFAULT_ACCOUNT,
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if not account or len(account) > ACCOUNT_LENGTH:
            raise ValueError(f"a ledger account is 1-{ACCOUNT_LENGTH} characters, got {account!r}")
        self.account = account  # whose rows every method reads and writes
        self.url: URL = _coerce_url(url)
        self.path: Path | None = _sqlite_file(self.url)  # the SQLite file, when there is one
        self.where: str = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        self.busy_timeout = busy_timeout
        self._clock = clock
        self._local = threading.local()  # .conn: the transaction() this thread is in, if any
        if self.path is not None:
            try:
                _prepare_sqlite_file(self.path)
            except OSError as exc:
                raise LedgerError(f"cannot create ledger {self.where}: {exc.strerror or exc}") from exc
        self.engine: Engine = self._create_engine()
        self._native_upsert = self.engine.dialect.name in ("sqlite", "postgresql")
        try:
            self.schema_revision: str = self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Ledger({self.where!r}, account={self.account!r})"

    # ----------------------------------------------------------------------------- engine
    def _create_engine(self) -> Engine:
        if self.url.get_backend_name() != "sqlite":
            return create_engine(self.url, pool_pre_ping=True)
        connect_args: dict[str, Any] = {"timeout": self.busy_timeout}
        kwargs: dict[str, Any] = {}
        if self.path is None:  # in-memory: one shared connection, or every checkout is a new database
            kwargs["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
        engine = create_engine(self.url, connect_args=connect_args, **kwargs)
        busy_ms = max(0, int(self.busy_timeout * 1000))
        file_backed = self.path is not None

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below); pysqlite's implicit transactions would defer it.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
                cursor.execute("PRAGMA foreign_keys = ON")
                if file_backed:
                    # WAL: readers never block the writer and a kill -9 loses nothing committed.
                    cursor.execute("PRAGMA journal_mode = WAL")
                    cursor.execute("PRAGMA synchronous = FULL")
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front (waiting up to busy_timeout); a deferred
            # transaction upgrading to a writer can fail at once with SQLITE_BUSY instead.
            immediate = conn.get_execution_options().get("ledger_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    def _translate(self, exc: BaseException) -> LedgerError | None:
        orig = getattr(exc, "orig", None) or exc
        msg = str(orig)
        low = msg.lower()
        if "database is locked" in low or "database is busy" in low or "table is locked" in low:
            return LedgerLocked(
                f"ledger {self.where} is locked by another process (gave up after waiting "
                f"{self.busy_timeout:g}s: {msg}); is another ordersync still running?"
            )
        if "not a database" in low or "malformed" in low or "file is encrypted" in low:
            return LedgerCorrupt(
                f"ledger {self.where} is not a usable SQLite database ({msg}); "
                "move it aside or restore it from a backup"
            )
        if isinstance(exc, IntegrityError) or isinstance(orig, sqlite3.IntegrityError):
            hint = ""
            if "foreign key" in low:
                hint = " (intents and shipments must refer to orders already in the ledger)"
            return LedgerError(f"ledger {self.where}: {msg}{hint}")
        if isinstance(exc, OperationalError) or isinstance(orig, sqlite3.OperationalError):
            return LedgerError(f"ledger {self.where}: {msg}")
        return None

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except (DBAPIError, sqlite3.Error) as exc:
            translated = self._translate(exc)
            if translated is None:
                raise
            raise translated from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One unit of work: every ledger method called in the block (on this thread) joins one
        write transaction, committed when the block ends and rolled back if it raises. Nested
        blocks join the outer one. Outside a block each method is its own transaction."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._guard(), self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                self._local.conn = conn
                try:
                    yield
                finally:
                    self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        with self._guard(), self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        joined: Connection | None = getattr(self._local, "conn", None)
        if joined is not None:
            yield joined
            return
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _mine(self, table: Table) -> ColumnElement[bool]:
        """The condition every statement on an account's table carries: this ledger's rows only."""
        return table.c.account == self.account

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        key_cols: tuple[str, ...],
        rows: list[dict[str, Any]],
        merge: Merge,
        keep: frozenset[str],
    ) -> None:
        """Insert-or-update rows that all have the same keys (bulk.upsert), in this account: the
        key is ``account`` plus ``key_cols``."""
        rows = [{**row, "account": self.account} for row in rows]
        upsert(conn, table, ("account", *key_cols), rows, merge, keep, native=self._native_upsert)

    # -------------------------------------------------------------------------- migrations
    def _alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()  # no alembic.ini: everything comes from the package, not the cwd
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        return cfg

    def _current_revisions(self, conn: Connection, script: ScriptDirectory) -> set[str]:
        from alembic.runtime.migration import MigrationContext
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        current = set(MigrationContext.configure(conn).get_current_heads())
        for rev in sorted(current):
            try:
                known = script.get_revision(rev)
            except (RevisionError, CommandError):
                known = None
            if known is None:
                raise LedgerSchemaError(
                    f"ledger {self.where} was written by a newer ordersync (schema {rev}); upgrade ordersync"
                )
        if not current:
            foreign = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
            if foreign:
                raise LedgerSchemaError(
                    f"{self.where} is not an ordersync ledger: it has tables ({', '.join(foreign[:5])}) "
                    "but no ledger schema version"
                )
        return current

    @contextmanager
    def _migrating(self) -> Iterator[Connection]:
        """The write transaction of an upgrade. On SQLite with foreign keys off (a pragma that only
        takes effect outside a transaction): batch mode copies a table by drop-and-rename, and
        dropping ``orders`` with them on would cascade into its intents and shipments. The
        references are checked before the upgrade commits instead."""
        if self.engine.dialect.name != "sqlite":
            with self._write() as conn:
                yield conn
            return
        with self._guard(), self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys = OFF")
            try:
                conn.execution_options(ledger_write=True)
                with conn.begin():
                    yield conn
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise LedgerSchemaError(
                            f"ledger {self.where}: the schema upgrade left rows without their order "
                            f"({len(broken)}, e.g. {broken[0]}); nothing was changed"
                        )
            finally:
                raw.execute("PRAGMA foreign_keys = ON")

    def _stamped_revisions(self) -> set[str]:
        """The revisions the ledger says it is at, read without alembic (empty: none recorded)."""
        with self._read() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return set()
            return {str(row[0]) for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}

    def _migrate(self) -> str:
        if self._stamped_revisions() == {SCHEMA_HEAD}:
            return SCHEMA_HEAD
        # Alembic is imported here, quietly: importing alembic.command logs plugin set-up at INFO.
        with _alembic_quiet():
            from alembic import command
            from alembic.script import ScriptDirectory

            cfg = self._alembic_config()
            script = ScriptDirectory.from_config(cfg)
            heads = set(script.get_heads())
            target = ",".join(sorted(heads))
            # Cheap read-only check first: an up-to-date ledger never waits for the write lock.
            with self._read() as conn:
                current = self._current_revisions(conn, script)
            if current == heads:
                return target
            # Check again under the write lock, then upgrade in that same transaction, so a
            # concurrent opener either sees the finished schema or waits for it.
            with self._migrating() as conn:
                current = self._current_revisions(conn, script)
                if current != heads:
                    cfg.attributes["connection"] = conn
                    cfg.attributes["account"] = self.account  # whose rows a pre-0006 ledger holds
                    command.upgrade(cfg, "head")
                    log.info(
                        "ledger %s schema upgraded from %s to %s",
                        self.where,
                        ",".join(sorted(current)) or "empty",
                        target,
                    )
        return target

