"""The ledger: the crash-safe record that makes every mutation exactly-once.

Usage by the sync cycle (design.md §5)::

    ledger = Ledger(settings.ledger.url)            # creates / migrates the schema (Alembic)
    with CycleLock(ledger, settings.ledger.lock_ttl_seconds):
        run_id = ledger.start_run()
        resend(ledger.pending_intents())            # leftovers of a crashed run, same ids
        ledger.upsert_orders(rows)
        records = ledger.add_intents(intents)       # committed BEFORE anything is sent
        send(r for r in records if r.state == "pending")
        ledger.record_results(results)              # done / failed / retry (attempts+1)
        ledger.finish_run(run_id, "ok", summary)

Rules the repository guarantees:
- Every public method is one transaction; write transactions start with ``BEGIN IMMEDIATE`` on
  SQLite so two writers queue on the busy timeout instead of failing half-way.
- An intent is unique per (google_order_id, target, operation_id). ``add_intents`` never creates a
  second one; for a key that exists it returns the stored record (its payload wins: what was
  committed first is what gets resent).
- ``record_results`` only moves intents out of ``pending``; ``done`` and ``failed`` are final.
- Bulk methods use executemany (native ``INSERT .. ON CONFLICT`` on SQLite and PostgreSQL, a
  portable SELECT-then-INSERT/UPDATE per chunk elsewhere) and IN lists of 500 keys: statements
  grow with the number of chunks, never one per row.
- Upserts update only the columns present in the given rows; ``first_seen_at``/``created_at`` are
  kept. Shipments never move backwards (planned < shipped < delivered) and their nullable facts
  (carrier, tracking, timestamps) are never cleared by a later row that lacks them.
- Records returned are frozen dataclasses; no ORM objects or sessions leak out.
- Database failures surface as ``LedgerError`` (``LedgerLocked``, ``LedgerCorrupt``,
  ``LedgerSchemaError``) whose message names the ledger.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    Text,
    bindparam,
    case,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from .errors import LedgerCorrupt, LedgerError, LedgerLocked, LedgerSchemaError
from .models import (
    DEFAULT_STAGE,
    REJECT_STATES,
    SHIPMENT_SOURCES,
    SHIPMENT_STATES,
    TARGETS,
    TERMINAL_STAGES,
    FeedReject,
    KeyValue,
    Operation,
    Order,
    ReportHistory,
    Run,
    Shipment,
    to_utc,
    utcnow,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
# Keys per IN (...) list: far below every database's bind-parameter limit (SQLite: 32766).
IN_CHUNK = 500
# Rows per executemany: bounds memory of one statement while keeping round trips few.
WRITE_CHUNK = 5000

ORDERS: Table = Order.__table__  # type: ignore[assignment]
OPERATIONS: Table = Operation.__table__  # type: ignore[assignment]
SHIPMENTS: Table = Shipment.__table__  # type: ignore[assignment]
RUNS: Table = Run.__table__  # type: ignore[assignment]
KV: Table = KeyValue.__table__  # type: ignore[assignment]
REJECTS: Table = FeedReject.__table__  # type: ignore[assignment]
REPORTS: Table = ReportHistory.__table__  # type: ignore[assignment]
REPORT_HISTORY_KEEP = 100  # report_history rows kept (the trend shows the last few dozen)

ORDER_FIELDS = frozenset(ORDERS.c.keys())
_INTENT_KEY = ("google_order_id", "target", "operation_id")
SHIPMENT_FIELDS = frozenset(SHIPMENTS.c.keys())
_SHIPMENT_RANK = {state: rank for rank, state in enumerate(SHIPMENT_STATES)}


# --------------------------------------------------------------------------------------- records
@dataclass(frozen=True, slots=True)
class OrderRecord:
    google_order_id: str
    merchant_id: str | None
    merchant_order_id: str | None
    square_order_id: str | None
    square_version: int | None
    status: str | None
    acknowledged: bool
    placed_at: datetime | None
    currency: str | None
    total_minor: int | None
    # [{id, offer_id, ordered, shipped, delivered, canceled, returned, price_minor, tax_minor}]
    line_items: list[dict[str, Any]]
    order_json: dict[str, Any] | None
    stage: str
    first_seen_at: datetime
    last_seen_at: datetime
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    square_skip_reason: str | None = None  # not created in Square on purpose, and why

    @property
    def is_open(self) -> bool:
        return self.stage not in TERMINAL_STAGES


@dataclass(frozen=True, slots=True)
class NewIntent:
    """An operation we mean to send; ``operation_id`` must be deterministic (see domain.operations)."""

    google_order_id: str
    target: Literal["google", "square"]
    kind: str
    operation_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    run_id: int | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"intent target must be one of {TARGETS}, got {self.target!r}")
        for name in ("google_order_id", "kind", "operation_id"):
            if not getattr(self, name):
                raise ValueError(f"intent {name} must not be empty")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.google_order_id, self.target, self.operation_id)


@dataclass(frozen=True, slots=True)
class IntentRecord:
    id: int
    google_order_id: str
    target: str
    kind: str
    operation_id: str
    payload: dict[str, Any]
    state: str  # pending | done | failed
    execution_status: str | None  # Google's executed | duplicate | ..., or ours for Square
    attempts: int  # results recorded so far (done, failed and retry each count one)
    last_error: str | None
    error_reason: str | None
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None
    run_id: int | None  # the run that first recorded the intent

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.google_order_id, self.target, self.operation_id)

    @property
    def is_pending(self) -> bool:
        return self.state == "pending"


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What happened when an intent was sent. ``retry`` keeps it pending (attempts+1)."""

    intent_id: int
    outcome: Literal["done", "failed", "retry"]
    execution_status: str | None = None
    error: str | None = None
    reason: str | None = None  # Google's error reason / Square's error code

    def __post_init__(self) -> None:
        if self.outcome not in ("done", "failed", "retry"):
            raise ValueError(f"intent outcome must be done, failed or retry, got {self.outcome!r}")


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    google_order_id: str
    shipment_id: str
    source: str  # feed | square
    carrier: str | None
    tracking_id: str | None
    lines: list[dict[str, Any]]  # [{line_item_id, quantity}]
    shipped_at: datetime | None
    delivered_at: datetime | None
    state: str  # planned | shipped | delivered
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RejectRecord:
    """A remembered feed reject (see models.FeedReject)."""

    reject_key: str
    content_key: str
    kind: str
    source: str
    line_no: int
    reason: str
    order_ref: str | None
    row: list[list[str]]  # [[column, value], ...] as written in the feed
    retryable: bool
    state: str  # open | cleared
    first_seen_at: datetime
    last_seen_at: datetime
    first_run_id: int | None
    last_run_id: int | None
    rejects_file: str | None
    cleared_at: datetime | None
    cleared_why: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # running | interrupted | whatever finish_run was given
    summary: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


@dataclass(frozen=True, slots=True)
class ReportHistoryRecord:
    report_id: str
    written_at: datetime
    figures: dict[str, Any]  # orders, breaks, by_status {status: n}, by_severity {severity: n}, ...


# --------------------------------------------------------------------------------------- helpers
def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


def _shipment_rank(expr: Any) -> ColumnElement[int]:
    return case(_SHIPMENT_RANK, value=expr, else_=-1)


def _later_state(new: Any, old: Any) -> ColumnElement[str]:
    """The further of two shipment states, so a late or replayed event cannot move one backwards."""
    return case((_shipment_rank(new) > _shipment_rank(old), new), else_=old)


# ---------------------------------------------------------------------------------------- ledger
class Ledger:
    """Repository over the ledger database. Thread-safe (connections come from the engine's pool)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | URL,
        *,
        busy_timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.url: URL = _coerce_url(url)
        self.path: Path | None = _sqlite_file(self.url)  # the SQLite file, when there is one
        self.where: str = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        self.busy_timeout = busy_timeout
        self._clock = clock
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

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Ledger:
        """From a ``LedgerSettings`` (or anything with ``url``)."""
        return cls(settings.url, **kwargs)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.where!r})"

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
    def _write(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

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

    def _migrate(self) -> str:
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
            with self._write() as conn:
                current = self._current_revisions(conn, script)
                if current != heads:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                    log.info(
                        "ledger %s schema upgraded from %s to %s",
                        self.where,
                        ",".join(sorted(current)) or "empty",
                        target,
                    )
        return target

    # ------------------------------------------------------------------------------ orders
    def _upsert(
        self,
        conn: Connection,
        table: Table,
        key_cols: tuple[str, ...],
        rows: list[dict[str, Any]],
        merge: Callable[[str, Any, Any], Any],
        keep: frozenset[str],
    ) -> None:
        """Insert-or-update rows that all have the same keys. ``merge(col, new, old)`` gives the
        SET expression; columns in ``keep`` (and the key) are only written on insert."""
        set_cols = [c for c in rows[0] if c not in key_cols and c not in keep]
        if self._native_upsert:
            factory = sqlite_dialect.insert if self.engine.dialect.name == "sqlite" else pg_dialect.insert
            stmt = factory(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c[k] for k in key_cols],
                set_={c: merge(c, stmt.excluded[c], table.c[c]) for c in set_cols},
            )
            for chunk in _chunks(rows, WRITE_CHUNK):
                conn.execute(stmt, list(chunk))
            return
        # Portable path: one SELECT per chunk to split new from existing, then two executemany.
        upd = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in key_cols))
        upd = upd.values(
            {c: merge(c, bindparam(f"n_{c}", type_=table.c[c].type), table.c[c]) for c in set_cols}
        )
        for chunk in _chunks(rows, IN_CHUNK):
            existing = self._existing_keys(conn, table, key_cols, chunk)
            new = [r for r in chunk if tuple(r[k] for k in key_cols) not in existing]
            old = [r for r in chunk if tuple(r[k] for k in key_cols) in existing]
            if new:
                conn.execute(insert(table), new)
            if old:
                conn.execute(
                    upd,
                    [
                        {**{f"k_{k}": r[k] for k in key_cols}, **{f"n_{c}": r[c] for c in set_cols}}
                        for r in old
                    ],
                )

    @staticmethod
    def _existing_keys(
        conn: Connection, table: Table, key_cols: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
    ) -> set[tuple[Any, ...]]:
        first = key_cols[0]
        wanted = {tuple(r[k] for k in key_cols) for r in rows}
        stmt = select(*(table.c[k] for k in key_cols)).where(table.c[first].in_({r[first] for r in rows}))
        return {tuple(row) for row in conn.execute(stmt)} & wanted

    @staticmethod
    def _group_by_keyset(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        # executemany needs the same columns in every row; partial rows update only what they carry.
        groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[frozenset(row)].append(row)
        return list(groups.values())

    def upsert_orders(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert or update orders by google_order_id, writing only the fields each row carries.

        ``first_seen_at`` is set on insert only; ``last_seen_at`` defaults to now. Rows for the same
        order within one call are merged (later keys win). A merchant_order_id already used by
        another order raises LedgerError.
        """
        now = self._clock()
        merged: dict[str, dict[str, Any]] = {}
        for row in rows:
            unknown = set(row) - ORDER_FIELDS
            if unknown:
                raise ValueError(f"unknown order field(s): {', '.join(sorted(unknown))}")
            gid = row.get("google_order_id")
            if not gid:
                raise ValueError("every order row needs a google_order_id")
            total = row.get("total_minor")
            if total is not None and (not isinstance(total, int) or isinstance(total, bool)):
                raise TypeError(f"order {gid}: total_minor must be an int of minor units, got {total!r}")
            merged.setdefault(gid, {}).update(row)
        if not merged:
            return
        for row in merged.values():
            row.setdefault("last_seen_at", now)
            row.setdefault("first_seen_at", row["last_seen_at"])
        with self._write() as conn:
            for group in self._group_by_keyset(merged.values()):
                self._upsert(
                    conn,
                    ORDERS,
                    ("google_order_id",),
                    group,
                    lambda _c, new, _old: new,
                    keep=frozenset({"first_seen_at"}),
                )

    def update_orders(self, updates: Mapping[str, Mapping[str, Any]]) -> None:
        """Set fields on existing orders in bulk ({google_order_id: {field: value}}).

        All or nothing: if any order is unknown, LedgerError names them and nothing changes.
        """
        rows: list[dict[str, Any]] = []
        for gid, fields in updates.items():
            bad = set(fields) - (ORDER_FIELDS - {"google_order_id", "first_seen_at"})
            if bad:
                raise ValueError(f"cannot set order field(s): {', '.join(sorted(bad))}")
            if fields:
                rows.append({"google_order_id": gid, **fields})
        if not rows:
            return
        with self._write() as conn:
            missing: list[str] = []
            for chunk in _chunks(rows, IN_CHUNK):
                found = self._existing_keys(conn, ORDERS, ("google_order_id",), chunk)
                missing += [r["google_order_id"] for r in chunk if (r["google_order_id"],) not in found]
            if missing:
                raise LedgerError(f"ledger {self.where}: unknown order(s): {', '.join(missing[:10])}")
            for group in self._group_by_keyset(rows):
                cols = [c for c in group[0] if c != "google_order_id"]
                stmt = (
                    update(ORDERS)
                    .where(ORDERS.c.google_order_id == bindparam("k_id"))
                    .values({c: bindparam(f"n_{c}", type_=ORDERS.c[c].type) for c in cols})
                )
                conn.execute(
                    stmt, [{"k_id": r["google_order_id"], **{f"n_{c}": r[c] for c in cols}} for r in group]
                )

    def set_order_fields(self, google_order_id: str, **fields: Any) -> None:
        """Set fields of one order (e.g. stage, square_order_id, last_synced_at, last_error)."""
        self.update_orders({google_order_id: fields})

    @staticmethod
    def _order(row: Any) -> OrderRecord:
        return OrderRecord(**row._mapping)

    def get_orders(self, ids: Iterable[str]) -> dict[str, OrderRecord]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, OrderRecord] = {}
        with self._read() as conn:
            for chunk in _chunks(wanted, IN_CHUNK):
                for row in conn.execute(select(ORDERS).where(ORDERS.c.google_order_id.in_(chunk))):
                    rec = self._order(row)
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
            for chunk in _chunks(wanted, IN_CHUNK):
                for row in conn.execute(select(*cols, text).where(ORDERS.c.google_order_id.in_(chunk))):
                    fields = dict(row._mapping)
                    snapshot = fields.pop("order_json_text")
                    out[row.google_order_id] = (OrderRecord(order_json=None, **fields), snapshot)
        return out

    def iter_orders(self, batch: int = 1000, *, open_only: bool = False) -> Iterator[OrderRecord]:
        """Every order (or every open one), by google_order_id, ``batch`` rows per short read
        (keyset pagination, so no transaction stays open while the caller works and writes in
        between are fine)."""
        last: str | None = None
        while True:
            stmt = select(ORDERS).order_by(ORDERS.c.google_order_id).limit(batch)
            if open_only:
                stmt = stmt.where(ORDERS.c.stage.not_in(sorted(TERMINAL_STAGES)))
            if last is not None:
                stmt = stmt.where(ORDERS.c.google_order_id > last)
            with self._read() as conn:
                page = [self._order(r) for r in conn.execute(stmt)]
            yield from page
            if len(page) < batch:
                return
            last = page[-1].google_order_id

    def open_orders(self) -> list[OrderRecord]:
        """Orders whose stage is not terminal (delivered, canceled, returned)."""
        stmt = (
            select(ORDERS)
            .where(ORDERS.c.stage.not_in(sorted(TERMINAL_STAGES)))
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [self._order(r) for r in conn.execute(stmt)]

    def find_by_merchant_order_id(self, merchant_order_id: str) -> OrderRecord | None:
        stmt = select(ORDERS).where(ORDERS.c.merchant_order_id == merchant_order_id)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return self._order(row) if row is not None else None

    def find_by_merchant_order_ids(self, merchant_order_ids: Iterable[str]) -> dict[str, OrderRecord]:
        """Orders by merchant_order_id (feed rows may name our id instead of Google's)."""
        wanted = list(dict.fromkeys(merchant_order_ids))
        out: dict[str, OrderRecord] = {}
        with self._read() as conn:
            for chunk in _chunks(wanted, IN_CHUNK):
                for row in conn.execute(select(ORDERS).where(ORDERS.c.merchant_order_id.in_(chunk))):
                    rec = self._order(row)
                    out[rec.merchant_order_id] = rec  # type: ignore[index]  # matched, so not None
        return out

    def shipment_states_by_ref(self, refs: Iterable[str]) -> dict[str, dict[str, str]]:
        """{ref: {shipment_id: state}} for order refs as a shipments feed names them: a
        google_order_id, else a merchant_order_id (the same precedence as resolving feed rows).
        Refs that name no order are absent. Reads no order JSON: it lets a cycle skip feed rows it
        has already applied without loading those orders."""
        wanted = list(dict.fromkeys(refs))
        out: dict[str, dict[str, str]] = {}
        cols = (
            ORDERS.c.google_order_id, ORDERS.c.merchant_order_id, SHIPMENTS.c.shipment_id, SHIPMENTS.c.state
        )
        joined = ORDERS.outerjoin(SHIPMENTS, SHIPMENTS.c.google_order_id == ORDERS.c.google_order_id)
        with self._read() as conn:
            for chunk in _chunks(wanted, IN_CHUNK):
                for gid, _mid, sid, state in conn.execute(
                    select(*cols).select_from(joined).where(ORDERS.c.google_order_id.in_(chunk))
                ):
                    found = out.setdefault(gid, {})
                    if sid is not None:
                        found[sid] = state
            missing = [r for r in wanted if r not in out]
            for chunk in _chunks(missing, IN_CHUNK):
                for _gid, mid, sid, state in conn.execute(
                    select(*cols).select_from(joined).where(ORDERS.c.merchant_order_id.in_(chunk))
                ):
                    found = out.setdefault(mid, {})
                    if sid is not None:
                        found[sid] = state
        return out

    def orders_missing_square(self) -> list[OrderRecord]:
        """Open orders without a Square order yet (the Square bridge creates them), except those
        kept out of Square on purpose (``square_skip_reason``)."""
        stmt = (
            select(ORDERS)
            .where(
                ORDERS.c.square_order_id.is_(None),
                ORDERS.c.square_skip_reason.is_(None),
                ORDERS.c.stage.not_in(sorted(TERMINAL_STAGES)),
            )
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [self._order(r) for r in conn.execute(stmt)]

    def orders_awaiting_merchant_order_id(self) -> list[tuple[str, str]]:
        """(google order id, Square order id) of open orders whose Square id is not yet confirmed
        as Google's merchantOrderId — including those a crash left between the two steps."""
        stmt = (
            select(ORDERS.c.google_order_id, ORDERS.c.square_order_id)
            .where(
                ORDERS.c.square_order_id.is_not(None),
                or_(
                    ORDERS.c.merchant_order_id.is_(None),
                    ORDERS.c.merchant_order_id != ORDERS.c.square_order_id,
                ),
                ORDERS.c.stage.not_in(sorted(TERMINAL_STAGES)),
            )
            .order_by(ORDERS.c.google_order_id)
        )
        with self._read() as conn:
            return [(r[0], r[1]) for r in conn.execute(stmt)]

    def oldest_open_placed_at(self) -> datetime | None:
        """placed_at of the oldest open order: how far back to look for cancellations."""
        stmt = select(func.min(ORDERS.c.placed_at)).where(ORDERS.c.stage.not_in(sorted(TERMINAL_STAGES)))
        with self._read() as conn:
            return conn.execute(stmt).scalar()

    def record_order_error(self, google_order_id: str, error: str, at: datetime | None = None) -> bool:
        """Note why an order could not be processed. False if the order is not in the ledger (an
        order too malformed to store): the caller's log is then the only record."""
        stmt = (
            update(ORDERS)
            .where(ORDERS.c.google_order_id == google_order_id)
            .values(last_error=error, last_error_at=at or self._clock())
        )
        with self._write() as conn:
            return conn.execute(stmt).rowcount == 1

    def count_by_stage(self) -> dict[str, int]:
        stmt = select(ORDERS.c.stage, func.count()).group_by(ORDERS.c.stage).order_by(ORDERS.c.stage)
        with self._read() as conn:
            return {stage: n for stage, n in conn.execute(stmt)}

    # ----------------------------------------------------------------------------- intents
    @staticmethod
    def _intent(row: Any) -> IntentRecord:
        return IntentRecord(**row._mapping)

    def _intents_by_key(
        self, conn: Connection, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], IntentRecord]:
        wanted = set(keys)
        found: dict[tuple[str, str, str], IntentRecord] = {}
        # Narrowed by operation id too: an order's earlier intents (and their payloads) are not
        # read back each time it gets a new one.
        for chunk in _chunks(sorted(wanted), IN_CHUNK):
            stmt = select(OPERATIONS).where(
                OPERATIONS.c.google_order_id.in_({k[0] for k in chunk}),
                OPERATIONS.c.operation_id.in_({k[2] for k in chunk}),
            )
            for row in conn.execute(stmt):
                if (row.google_order_id, row.target, row.operation_id) in wanted:
                    rec = self._intent(row)
                    found[rec.key] = rec
        return found

    def add_intents(self, intents: Iterable[NewIntent]) -> list[IntentRecord]:
        """Commit intents before they are sent; return the stored record for every one given.

        Keys already in the ledger are left untouched (their stored payload and state win), so a
        rerun that re-derives the same operation ids gets the original records back, including
        the ones already done. The result is aligned with the input.
        """
        given = list(intents)
        if not given:
            return []
        now = to_utc(self._clock())  # as it reads back: the records built here equal stored ones
        unique: dict[tuple[str, str, str], NewIntent] = {}
        for intent in given:
            unique.setdefault(intent.key, intent)
        with self._write() as conn:
            if self._native_upsert:
                found = self._insert_new_intents(conn, list(unique.values()), now)
            else:
                found = {}
                self._insert_intents_portably(conn, list(unique.values()), now)
            # Keys that were already stored (their record wins), and everything on the portable path.
            found.update(self._intents_by_key(conn, [k for k in unique if k not in found]))
        return [found[i.key] for i in given]

    @staticmethod
    def _intent_row(intent: NewIntent, now: datetime, payload: Any) -> dict[str, Any]:
        return {
            "google_order_id": intent.google_order_id,
            "target": intent.target,
            "kind": intent.kind,
            "operation_id": intent.operation_id,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
            "run_id": intent.run_id,
        }

    def _insert_new_intents(
        self, conn: Connection, intents: Sequence[NewIntent], now: datetime
    ) -> dict[tuple[str, str, str], IntentRecord]:
        """INSERT .. ON CONFLICT DO NOTHING RETURNING: the inserted intents' records, built from
        what was written instead of read back (keys already stored are simply not returned)."""
        # The payload is serialised here, once, exactly as the JSON column would (json.dumps), so
        # the record gets the same decoded copy that reading it back would give.
        texts = {i.key: json.dumps(i.payload) for i in intents}
        sqlite = self.engine.dialect.name == "sqlite"
        stmt = (sqlite_dialect.insert if sqlite else pg_dialect.insert)(OPERATIONS)
        if sqlite:  # SQLite stores JSON as text: hand it the text already made
            stmt = stmt.values(payload=type_coerce(bindparam("payload"), Text))
        stmt = stmt.on_conflict_do_nothing(index_elements=[OPERATIONS.c[k] for k in _INTENT_KEY]).returning(
            OPERATIONS.c.id, *(OPERATIONS.c[k] for k in _INTENT_KEY)
        )
        ids: dict[tuple[str, str, str], int] = {}
        for chunk in _chunks(intents, WRITE_CHUNK):
            rows = [self._intent_row(i, now, texts[i.key] if sqlite else i.payload) for i in chunk]
            for intent_id, order_id, target, operation_id in conn.execute(stmt, rows):
                ids[(order_id, target, operation_id)] = intent_id
        by_key = {i.key: i for i in intents}
        return {key: self._new_intent_record(intent_id, by_key[key], texts[key], now)
                for key, intent_id in ids.items()}

    @staticmethod
    def _new_intent_record(
        intent_id: int, intent: NewIntent, payload_text: str, now: datetime
    ) -> IntentRecord:
        return IntentRecord(
            id=intent_id,
            google_order_id=intent.google_order_id,
            target=intent.target,
            kind=intent.kind,
            operation_id=intent.operation_id,
            payload=json.loads(payload_text),
            state="pending",
            execution_status=None,
            attempts=0,
            last_error=None,
            error_reason=None,
            created_at=now,
            updated_at=now,
            done_at=None,
            run_id=intent.run_id,
        )

    def _insert_intents_portably(self, conn: Connection, intents: Sequence[NewIntent], now: datetime) -> None:
        rows = [self._intent_row(i, now, i.payload) for i in intents]
        for chunk in _chunks(rows, IN_CHUNK):
            existing = self._existing_keys(conn, OPERATIONS, _INTENT_KEY, chunk)
            new = [r for r in chunk if tuple(r[k] for k in _INTENT_KEY) not in existing]
            if new:
                conn.execute(insert(OPERATIONS), new)

    def pending_intents(
        self,
        target: str | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[IntentRecord]:
        """Pending intents in the order they were recorded (so e.g. an ack precedes its ship)."""
        stmt = select(OPERATIONS).where(OPERATIONS.c.state == "pending")
        if target is not None:
            stmt = stmt.where(OPERATIONS.c.target == target)
        if kinds is not None:
            stmt = stmt.where(OPERATIONS.c.kind.in_(list(kinds)))
        stmt = stmt.order_by(OPERATIONS.c.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [self._intent(r) for r in conn.execute(stmt)]

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
        same_outcome: dict[tuple[str, str | None, str | None, str | None], list[int]] = defaultdict(list)
        for r in latest.values():
            same_outcome[(r.outcome, r.execution_status, r.error, r.reason)].append(r.intent_id)
        with self._write() as conn:
            for (outcome, execution_status, error, reason), ids in same_outcome.items():
                values: dict[str, Any] = {
                    "attempts": OPERATIONS.c.attempts + 1,
                    "updated_at": now,
                    "execution_status": execution_status,
                }
                if outcome == "done":
                    values.update(state="done", done_at=now)
                else:
                    values.update(last_error=error, error_reason=reason)
                    if outcome == "failed":
                        values["state"] = "failed"
                for chunk in _chunks(ids, IN_CHUNK):
                    conn.execute(
                        update(OPERATIONS)
                        .where(OPERATIONS.c.id.in_(chunk), OPERATIONS.c.state == "pending")
                        .values(values)
                    )

    def intents_for_order(self, google_order_id: str) -> list[IntentRecord]:
        stmt = (
            select(OPERATIONS)
            .where(OPERATIONS.c.google_order_id == google_order_id)
            .order_by(OPERATIONS.c.id)
        )
        with self._read() as conn:
            return [self._intent(r) for r in conn.execute(stmt)]

    def failed_intents(self, since: datetime | None = None) -> list[IntentRecord]:
        """Intents that failed for good, optionally only those failed at or after ``since``."""
        stmt = select(OPERATIONS).where(OPERATIONS.c.state == "failed")
        if since is not None:
            stmt = stmt.where(OPERATIONS.c.updated_at >= since)
        with self._read() as conn:
            return [self._intent(r) for r in conn.execute(stmt.order_by(OPERATIONS.c.id))]

    # --------------------------------------------------------------------------- shipments
    @staticmethod
    def _merge_shipment(col: str, new: Any, old: Any) -> Any:
        if col == "state":
            return _later_state(new, old)
        if col in ("carrier", "tracking_id", "shipped_at", "delivered_at"):
            return func.coalesce(new, old)  # a row lacking a fact does not erase it
        return new

    def upsert_shipments(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Insert or update shipments by (google_order_id, shipment_id).

        Only the fields each row carries are written; ``state`` never moves backwards and
        carrier / tracking_id / shipped_at / delivered_at are never cleared by a None.
        """
        now = self._clock()
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            unknown = set(row) - SHIPMENT_FIELDS
            if unknown:
                raise ValueError(f"unknown shipment field(s): {', '.join(sorted(unknown))}")
            if not row.get("google_order_id") or not row.get("shipment_id"):
                raise ValueError("every shipment row needs google_order_id and shipment_id")
            if "state" in row and row["state"] not in SHIPMENT_STATES:
                raise ValueError(f"shipment state must be one of {SHIPMENT_STATES}, got {row['state']!r}")
            if "source" in row and row["source"] not in SHIPMENT_SOURCES:
                raise ValueError(f"shipment source must be one of {SHIPMENT_SOURCES}, got {row['source']!r}")
            merged.setdefault((row["google_order_id"], row["shipment_id"]), {}).update(row)
        if not merged:
            return
        for row in merged.values():
            row.setdefault("updated_at", now)
            row.setdefault("created_at", now)
        with self._write() as conn:
            for group in self._group_by_keyset(merged.values()):
                self._upsert(
                    conn,
                    SHIPMENTS,
                    ("google_order_id", "shipment_id"),
                    group,
                    self._merge_shipment,
                    keep=frozenset({"created_at"}),
                )

    def mark_shipments(
        self, keys: Iterable[tuple[str, str]], state: str, *, at: datetime | None = None
    ) -> None:
        """Advance shipments ((google_order_id, shipment_id) pairs) to ``state`` once Google has
        it; sets shipped_at / delivered_at to ``at`` (default now) unless already known."""
        if state not in SHIPMENT_STATES:
            raise ValueError(f"shipment state must be one of {SHIPMENT_STATES}, got {state!r}")
        now = self._clock()
        params = [{"k_o": o, "k_s": s, "n_state": state, "n_at": at or now, "n_now": now} for o, s in keys]
        if not params:
            return
        ts = SHIPMENTS.c.updated_at.type
        values: dict[str, Any] = {
            "state": _later_state(bindparam("n_state", type_=SHIPMENTS.c.state.type), SHIPMENTS.c.state),
            "updated_at": bindparam("n_now", type_=ts),
        }
        if state == "shipped":
            values["shipped_at"] = func.coalesce(SHIPMENTS.c.shipped_at, bindparam("n_at", type_=ts))
        elif state == "delivered":
            values["delivered_at"] = func.coalesce(SHIPMENTS.c.delivered_at, bindparam("n_at", type_=ts))
        else:
            for p in params:
                del p["n_at"]
        stmt = (
            update(SHIPMENTS)
            .where(SHIPMENTS.c.google_order_id == bindparam("k_o"))
            .where(SHIPMENTS.c.shipment_id == bindparam("k_s"))
            .values(values)
        )
        if state == "failed":  # only a parcel Google never took can have failed
            stmt = stmt.where(SHIPMENTS.c.state == "planned")
        with self._write() as conn:
            for chunk in _chunks(params, WRITE_CHUNK):
                conn.execute(stmt, list(chunk))

    def shipments_for(self, order_ids: Iterable[str]) -> dict[str, list[ShipmentRecord]]:
        """Shipments per order, oldest first; every requested order is a key (maybe empty)."""
        wanted = list(dict.fromkeys(order_ids))
        out: dict[str, list[ShipmentRecord]] = {gid: [] for gid in wanted}
        with self._read() as conn:
            for chunk in _chunks(wanted, IN_CHUNK):
                stmt = (
                    select(SHIPMENTS)
                    .where(SHIPMENTS.c.google_order_id.in_(chunk))
                    .order_by(SHIPMENTS.c.created_at, SHIPMENTS.c.shipment_id)
                )
                for row in conn.execute(stmt):
                    out[row.google_order_id].append(ShipmentRecord(**row._mapping))
        return out

    def iter_shipments(self, *, source: str | None = None, batch: int = 5000) -> Iterator[ShipmentRecord]:
        """Every shipment (or every one from ``source``), by (google_order_id, shipment_id), in
        short keyset-paginated reads: the reconciliation's view of what was taken from the feed."""
        last: tuple[str, str] | None = None
        while True:
            stmt = select(SHIPMENTS).order_by(SHIPMENTS.c.google_order_id, SHIPMENTS.c.shipment_id)
            if source is not None:
                stmt = stmt.where(SHIPMENTS.c.source == source)
            if last is not None:
                stmt = stmt.where(
                    or_(
                        SHIPMENTS.c.google_order_id > last[0],
                        (SHIPMENTS.c.google_order_id == last[0]) & (SHIPMENTS.c.shipment_id > last[1]),
                    )
                )
            with self._read() as conn:
                page = [ShipmentRecord(**r._mapping) for r in conn.execute(stmt.limit(batch))]
            yield from page
            if len(page) < batch:
                return
            last = (page[-1].google_order_id, page[-1].shipment_id)

    def known_shipment_ids(self, order_ids: Iterable[str]) -> dict[str, set[str]]:
        """Shipment ids per order; every requested order is a key (maybe an empty set)."""
        wanted = list(dict.fromkeys(order_ids))
        out: dict[str, set[str]] = {gid: set() for gid in wanted}
        with self._read() as conn:
            for chunk in _chunks(wanted, IN_CHUNK):
                stmt = select(SHIPMENTS.c.google_order_id, SHIPMENTS.c.shipment_id).where(
                    SHIPMENTS.c.google_order_id.in_(chunk)
                )
                for gid, sid in conn.execute(stmt):
                    out[gid].add(sid)
        return out

    # ----------------------------------------------------------------------------- rejects
    def open_rejects(self, *, retryable_only: bool = False) -> dict[str, RejectRecord]:
        """The feed rejects still open, by reject_key, oldest first."""
        stmt = select(REJECTS).where(REJECTS.c.state == "open")
        if retryable_only:
            stmt = stmt.where(REJECTS.c.retryable.is_(True))
        stmt = stmt.order_by(REJECTS.c.first_seen_at, REJECTS.c.source, REJECTS.c.line_no)
        with self._read() as conn:
            return {row.reject_key: RejectRecord(**row._mapping) for row in conn.execute(stmt)}

    def record_rejects(
        self,
        rejects: Sequence[Mapping[str, Any]],
        *,
        run_id: int | None,
        cleared: Mapping[str, str] | None = None,
        rejects_file: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """One cycle's feed rejects, in one transaction: ``rejects`` (dicts with reject_key,
        content_key, kind, source, line_no, reason, order_ref, row, retryable) are open now —
        inserted, or updated in place (where and why they were seen last; first_seen_at kept;
        reopened if they had been cleared) — and written to ``rejects_file`` when given; the keys
        of ``cleared`` ({key: why}) are no longer open."""
        cleared = cleared or {}
        now = at or self._clock()
        fields = ("reject_key", "content_key", "kind", "source", "line_no", "reason", "order_ref", "row",
                  "retryable")
        rows = []
        for reject in rejects:
            missing = set(fields) - set(reject)
            if missing:
                raise ValueError(f"reject row lacks {', '.join(sorted(missing))}")
            row = {name: reject[name] for name in fields}
            row.update(state="open", first_seen_at=now, last_seen_at=now, first_run_id=run_id,
                       last_run_id=run_id, cleared_at=None, cleared_why=None)
            if rejects_file is not None:
                row["rejects_file"] = rejects_file
            rows.append(row)
        with self._write() as conn:
            for group in self._group_by_keyset(rows):
                self._upsert(
                    conn,
                    REJECTS,
                    ("reject_key",),
                    group,
                    lambda _c, new, _old: new,
                    keep=frozenset({"first_seen_at", "first_run_id"}),
                )
            for chunk in _chunks(sorted(cleared), IN_CHUNK):
                for why in {cleared[k] for k in chunk}:
                    keys = [k for k in chunk if cleared[k] == why]
                    conn.execute(
                        update(REJECTS)
                        .where(REJECTS.c.reject_key.in_(keys), REJECTS.c.state == "open")
                        .values(state=REJECT_STATES[1], cleared_at=now, cleared_why=why, last_run_id=run_id)
                    )

    # -------------------------------------------------------------------------------- runs
    def start_run(self, *, close_unfinished: bool = True) -> int:
        """Record the start of a run and return its id.

        With ``close_unfinished`` (call it while holding the CycleLock) runs still marked
        ``running`` are from a process that died, and are marked ``interrupted``.
        """
        now = self._clock()
        with self._write() as conn:
            if close_unfinished:
                conn.execute(update(RUNS).where(RUNS.c.outcome == "running").values(outcome="interrupted"))
            result = conn.execute(insert(RUNS).values(started_at=now, outcome="running", summary={}))
            run_id = result.inserted_primary_key
        assert run_id is not None
        return int(run_id[0])

    def finish_run(self, run_id: int, outcome: str, summary: Mapping[str, Any]) -> None:
        now = self._clock()
        with self._write() as conn:
            result = conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(finished_at=now, outcome=outcome, summary=dict(summary))
            )
            if result.rowcount == 0:
                raise LedgerError(f"ledger {self.where}: no run {run_id}")

    def last_runs(self, n: int = 10) -> list[RunRecord]:
        """The ``n`` most recent runs, newest first."""
        stmt = select(RUNS).order_by(RUNS.c.id.desc()).limit(n)
        with self._read() as conn:
            return [RunRecord(**r._mapping) for r in conn.execute(stmt)]

    def last_run_with_outcome(self, outcomes: Iterable[str]) -> RunRecord | None:
        """The most recent finished run whose outcome is one of ``outcomes`` (e.g. the last success)."""
        wanted = list(outcomes)
        stmt = select(RUNS).where(RUNS.c.outcome.in_(wanted)).order_by(RUNS.c.id.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else RunRecord(**row._mapping)

    # ----------------------------------------------------------------------- report history
    def record_report(
        self, report_id: str, figures: Mapping[str, Any], keep: int = REPORT_HISTORY_KEEP
    ) -> None:
        """Remember a report's headline figures (for the next reports' trend); keeps the last ``keep``."""
        now = self._clock()
        with self._write() as conn:
            conn.execute(insert(REPORTS).values(report_id=report_id, written_at=now, figures=dict(figures)))
            oldest_kept = conn.execute(
                select(REPORTS.c.id).order_by(REPORTS.c.id.desc()).offset(keep - 1).limit(1)
            ).scalar()
            if oldest_kept is not None:
                conn.execute(delete(REPORTS).where(REPORTS.c.id < oldest_kept))

    def report_history(self, n: int = 20) -> list[ReportHistoryRecord]:
        """The ``n`` most recent reports' figures, oldest first."""
        stmt = select(REPORTS).order_by(REPORTS.c.id.desc()).limit(n)
        with self._read() as conn:
            found = conn.execute(stmt)
            rows = [ReportHistoryRecord(r.report_id, r.written_at, dict(r.figures or {})) for r in found]
        return rows[::-1]

    # ---------------------------------------------------------------------------------- kv
    def get_value(self, key: str, default: Any = None) -> Any:
        with self._read() as conn:
            row = conn.execute(select(KV.c.value).where(KV.c.key == key)).first()
        return default if row is None else row[0]

    def set_value(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key`` (e.g. a poll cursor)."""
        row = {"key": key, "value": value, "updated_at": self._clock()}
        with self._write() as conn:
            self._upsert(conn, KV, ("key",), [row], lambda _c, new, _old: new, keep=frozenset())

    # ------------------------------------------------------------------------------ status
    def status_summary(self, runs: int = 5) -> dict[str, Any]:
        """What ``ordersync status`` prints; JSON-serialisable.

        {"ledger", "schema", "orders_total", "orders_by_stage": {stage: n},
         "operations": {"pending google.acknowledge": n, "failed square.create": n, ...},  # display
         "pending_operations" / "failed_operations": {target: {kind: n}}, "pending_total",
         "failed_total", "oldest_pending_at", "last_runs": [RunRecord.to_json(), ...]}
        """
        counts = select(OPERATIONS.c.state, OPERATIONS.c.target, OPERATIONS.c.kind, func.count()).where(
            OPERATIONS.c.state.in_(["pending", "failed"])
        )
        counts = counts.group_by(OPERATIONS.c.state, OPERATIONS.c.target, OPERATIONS.c.kind)
        oldest = select(func.min(OPERATIONS.c.created_at)).where(OPERATIONS.c.state == "pending")
        ops: dict[str, dict[str, dict[str, int]]] = {"pending": {}, "failed": {}}
        flat: dict[str, int] = {}
        with self._read() as conn:
            for state, target, kind, n in conn.execute(counts):
                ops[state].setdefault(target, {})[kind] = n
                flat[f"{state} {target}.{kind}"] = n
            oldest_pending = conn.execute(oldest).scalar()
        by_stage = self.count_by_stage()
        return {
            "ledger": self.where,
            "schema": self.schema_revision,
            "orders_total": sum(by_stage.values()),
            "orders_by_stage": by_stage,
            "operations": dict(sorted(flat.items())),
            "pending_operations": ops["pending"],
            "failed_operations": ops["failed"],
            "pending_total": sum(n for kinds in ops["pending"].values() for n in kinds.values()),
            "failed_total": sum(n for kinds in ops["failed"].values() for n in kinds.values()),
            "oldest_pending_at": oldest_pending.isoformat() if oldest_pending else None,
            "last_runs": [r.to_json() for r in self.last_runs(runs)],
        }


__all__ = [
    "DEFAULT_STAGE",
    "TERMINAL_STAGES",
    "IntentRecord",
    "IntentResult",
    "Ledger",
    "NewIntent",
    "OrderRecord",
    "RejectRecord",
    "RunRecord",
    "ShipmentRecord",
]
