"""Errors raised by the ledger and the cycle lock.

``LockHeld`` deliberately does not derive from ``LedgerError``: the CLI maps it to exit code 75
("another cycle holds the lock, nothing done") and a broad ``except LedgerError`` must not swallow it.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """The ledger cannot be used: bad file, newer schema, locked database, constraint violation."""


class LedgerLocked(LedgerError):
    """Another process held the database's write lock for longer than the busy timeout."""


class LedgerCorrupt(LedgerError):
    """The ledger file is not a SQLite database (or is damaged)."""


class LedgerSchemaError(LedgerError):
    """The ledger's schema is not one this code can use (written by a newer ordersync, or foreign)."""


class LockHeld(Exception):
    """Another sync cycle holds the cycle lock. ``holder`` has pid/host/since when known."""

    def __init__(self, lock: str, holder: dict[str, Any] | None) -> None:
        self.lock = lock
        self.holder = holder
        super().__init__(f"another sync cycle holds the lock {lock} ({describe_holder(holder)})")


def describe_holder(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "holder unknown"
    parts = [f"pid {holder.get('pid', '?')}", f"host {holder.get('host', '?')}"]
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    if holder.get("expires_at"):
        parts.append(f"expires {holder['expires_at']}")
    return ", ".join(parts)
