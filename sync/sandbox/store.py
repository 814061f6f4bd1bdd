"""Where emulator state lives: in memory, or in a SQLite file that survives a restart (``--state``).

Both emulators keep their working state in Python objects guarded by their own lock and write
each changed entity through a ``StateStore`` as JSON, keyed by (kind, key). On start they load
every entity back. Writes are per entity, so persistence costs O(change), not O(state).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol


class StateStore(Protocol):
    def load(self, kind: str) -> Iterator[tuple[str, Any]]: ...
    def put(self, kind: str, key: str, value: Any) -> None: ...
    def delete(self, kind: str, key: str) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


class MemoryStore:
    """No persistence: the objects in the emulator are the state."""

    def load(self, kind: str) -> Iterator[tuple[str, Any]]:
        return iter(())

    def put(self, kind: str, key: str, value: Any) -> None:
        pass

    def delete(self, kind: str, key: str) -> None:
        pass

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


class SqliteStore:
    """One table of JSON documents; WAL so a kill -9 of the server loses at most the last write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS entities ("
            " kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key))"
        )

    def load(self, kind: str) -> Iterator[tuple[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM entities WHERE kind = ? ORDER BY rowid", (kind,)
            ).fetchall()
        for key, value in rows:
            yield key, json.loads(value)

    def put(self, kind: str, key: str, value: Any) -> None:
        text = json.dumps(value, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT INTO entities (kind, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                (kind, key, text),
            )

    def delete(self, kind: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entities WHERE kind = ? AND key = ?", (kind, key))

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entities")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_store(path: str | Path | None) -> StateStore:
    return SqliteStore(path) if path else MemoryStore()
