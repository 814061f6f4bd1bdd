"""The cycle lock: never two sync cycles at once (cron overlap, a scheduler plus a manual run).

- SQLite file ledger: ``flock(LOCK_EX | LOCK_NB)`` on ``<db path>.lock``. The kernel drops the lock
  when the holder's process dies, however it dies, so a kill -9 never leaves a stale lock and no
  expiry is needed. The file holds the holder's pid/host/since for the message of the loser.
- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection the lock keeps
  open. The server drops it when that session ends, so a kill -9 frees it at once, as with the
  file lock. The holder's pid/host/since go into the ``locks`` row for the loser's message.
- Any other database: a row in ``locks`` with an expiry; an expired row is taken over by one
  atomic conditional UPDATE. A holder that outlives ``ttl_seconds`` should call ``refresh()``.

``acquire()`` never blocks: it returns False (``holder`` then says who has it); the context
manager raises ``LockHeld`` instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from .database import _coerce_url, _sqlite_file
from .errors import LedgerError, LockHeld
from .models import LockRow, utcnow
from .repository import Ledger

LOCKS = LockRow.__table__


class CycleLock:
    def __init__(
        self,
        ledger_or_url: Ledger | str | os.PathLike[str] | URL,
        ttl_seconds: float = 3600,
        *,
        name: str = "cycle",
        mode: Literal["auto", "file", "table", "advisory"] = "auto",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        if isinstance(ledger_or_url, Ledger):
            self._ledger: Ledger | None = ledger_or_url
            self._url = ledger_or_url.url
            db_path = ledger_or_url.path
        else:
            self._ledger = None  # opened on demand: file mode needs no database connection at all
            self._url = _coerce_url(ledger_or_url)
            db_path = _sqlite_file(self._url)
        self._owns_ledger = False
        postgres = self._url.get_backend_name() == "postgresql"
        if mode == "auto":
            mode = "file" if db_path is not None else "advisory" if postgres else "table"
        if mode == "file" and db_path is None:
            raise ValueError(f"a file lock needs a SQLite file ledger, not {self._url.render_as_string()}")
        if mode == "advisory" and not postgres:
            raise ValueError(f"an advisory lock needs PostgreSQL, not {self._url.render_as_string()}")
        self.mode: Literal["file", "table", "advisory"] = mode
        self._session: Connection | None = None  # advisory mode: the session holding the lock
        suffix = ".lock" if name == "cycle" else f".{name}.lock"
        self.lock_path: Path | None = Path(f"{db_path}{suffix}") if mode == "file" else None
        self.holder: dict[str, Any] | None = None  # who held it when acquire() last failed
        self._fd: int | None = None
        self._token = uuid.uuid4().hex
        self._holder_text: str | None = None
        self._held = False

    # ----------------------------------------------------------------------------- public
    @property
    def held(self) -> bool:
        return self._held

    def describe(self) -> str:
        return str(self.lock_path) if self.lock_path else f"'{self.name}' in {self._url.render_as_string()}"

    def acquire(self) -> bool:
        """Take the lock if free; False (and ``self.holder`` set) if someone else has it."""
        if self._held:
            return True
        self.holder = None
        if self.mode == "file":
            self._held = self._acquire_file()
        elif self.mode == "advisory":
            self._held = self._acquire_advisory()
        else:
            self._held = self._acquire_table()
        return self._held

    def release(self) -> None:
        if not self._held:
            return
        try:
            if self.mode == "file":
                self._release_file()
            elif self.mode == "advisory":
                self._release_advisory()
            else:
                self._release_table()
        finally:
            self._held = False
            if self._owns_ledger and self._ledger is not None:
                self._ledger.close()
                self._ledger = None
                self._owns_ledger = False

    def refresh(self) -> bool:
        """Push the expiry out by ttl (table mode); False if the lock was lost to a takeover."""
        if not self._held:
            return False
        if self.mode == "file":
            return True  # a file lock cannot expire or be taken over
        if self.mode == "advisory":
            return self._session_alive()  # held as long as its session lives
        now = self._clock()
        with self._get_ledger()._write() as conn:
            result = conn.execute(
                update(LOCKS)
                .where(LOCKS.c.name == self.name, LOCKS.c.holder == self._holder_json())
                .values(expires_at=now + self.ttl)
            )
            return result.rowcount == 1

    def current_holder(self) -> dict[str, Any] | None:
        """Who holds the lock now (None when free), without taking it; for ``ordersync status``."""
        if self.mode == "file":
            assert self.lock_path is not None
            if not self.lock_path.exists():
                return None
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return _read_info(fd) or {}
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            finally:
                os.close(fd)
        if self.mode == "advisory":
            return self._advisory_holder()
        now = self._clock()
        with self._get_ledger()._read() as conn:
            live = select(LOCKS).where(LOCKS.c.name == self.name, LOCKS.c.expires_at > now)
            row = conn.execute(live).first()
        return _row_info(row) if row is not None else None

    def __enter__(self) -> CycleLock:
        if not self.acquire():
            raise LockHeld(self.describe(), self.holder)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ------------------------------------------------------------------------------- file
    def _info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": self._clock().isoformat(timespec="seconds"),
            "token": self._token,
        }

    def _acquire_file(self) -> bool:
        assert self.lock_path is not None
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        # O_CLOEXEC: a child we exec must not inherit (and so keep alive) our lock.
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = _read_info(fd)
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(self._info()).encode(), 0)
        self._fd = fd
        return True

    def _release_file(self) -> None:
        # The file stays: unlinking a flock'ed path lets two processes lock two different inodes.
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ------------------------------------------------------------------------------ table
    def _get_ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self._url)
            self._owns_ledger = True
        return self._ledger

    def _holder_json(self) -> str:
        # Fixed per holding: release/refresh match the row on it, so they never touch a takeover.
        if self._holder_text is None:
            self._holder_text = json.dumps(self._info())
        return self._holder_text

    def _acquire_table(self) -> bool:
        ledger = self._get_ledger()
        now = self._clock()
        values = {"holder": self._holder_json(), "acquired_at": now, "expires_at": now + self.ttl}
        try:
            with ledger._write() as conn:
                # One conditional UPDATE: of two racing takeovers of an expired row, one matches.
                taken = conn.execute(
                    update(LOCKS).where(LOCKS.c.name == self.name, LOCKS.c.expires_at <= now).values(values)
                ).rowcount
                if taken == 1:
                    return True
                row = conn.execute(select(LOCKS).where(LOCKS.c.name == self.name)).first()
                if row is None:
                    conn.execute(insert(LOCKS).values(name=self.name, **values))
                    return True
                self.holder = _row_info(row)
                return False
        except LedgerError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # Someone inserted the row between our SELECT and INSERT: they won.
            self.holder = self.current_holder()
            return False

    def _release_table(self) -> None:
        with self._get_ledger()._write() as conn:
            mine = (LOCKS.c.name == self.name) & (LOCKS.c.holder == self._holder_json())
            conn.execute(delete(LOCKS).where(mine))
        self._holder_text = None  # a later acquire() is a new holding with a fresh "since"


    # --------------------------------------------------------------------------- advisory
    @property
    def _advisory_key(self) -> int:
        # A stable signed 64-bit key per lock name (advisory keys are bigint).
        digest = hashlib.sha256(f"ordersync:{self.name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _acquire_advisory(self) -> bool:
        ledger = self._get_ledger()
        session = ledger.engine.connect()
        try:
            got = session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._advisory_key}).scalar()
            session.commit()
        except BaseException:
            session.close()
            raise
        if not got:
            session.close()
            self.holder = self._recorded_holder() or {}
            return False
        self._session = session
        now = self._clock()
        # Who holds it, for the loser's message; the row's expiry plays no part in this mode.
        values = {"holder": self._holder_json(), "acquired_at": now, "expires_at": now + self.ttl}
        with ledger._write() as conn:
            if conn.execute(update(LOCKS).where(LOCKS.c.name == self.name).values(values)).rowcount == 0:
                conn.execute(insert(LOCKS).values(name=self.name, **values))
        return True

    def _release_advisory(self) -> None:
        session, self._session = self._session, None
        try:
            with self._get_ledger()._write() as conn:
                mine = (LOCKS.c.name == self.name) & (LOCKS.c.holder == self._holder_json())
                conn.execute(delete(LOCKS).where(mine))
        finally:
            self._holder_text = None
            if session is not None:
                try:
                    session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._advisory_key})
                    session.commit()
                finally:
                    session.close()

    def _session_alive(self) -> bool:
        if self._session is None:
            return False
        try:
            self._session.execute(text("SELECT 1"))
            self._session.commit()
        except Exception:  # any failure means the session, and so the lock, is gone
            return False
        return True

    def _recorded_holder(self) -> dict[str, Any] | None:
        with self._get_ledger()._read() as conn:
            row = conn.execute(select(LOCKS).where(LOCKS.c.name == self.name)).first()
        return _row_info(row) if row is not None else None

    def _advisory_holder(self) -> dict[str, Any] | None:
        if self._held:
            return json.loads(self._holder_json())
        probe = CycleLock(self._get_ledger(), self.ttl.total_seconds(), name=self.name, mode="advisory")
        if probe.acquire():
            probe.release()
            return None
        return probe.holder


def _read_info(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        return None  # the holder may be mid-write; the message says "holder unknown"
    return data if isinstance(data, dict) else None


def _row_info(row: Any) -> dict[str, Any]:
    try:
        info = json.loads(row.holder)
    except ValueError:
        info = {"holder": row.holder}
    if not isinstance(info, dict):
        info = {"holder": row.holder}
    info.setdefault("since", row.acquired_at.isoformat(timespec="seconds"))
    info["expires_at"] = row.expires_at.isoformat(timespec="seconds")
    return info
