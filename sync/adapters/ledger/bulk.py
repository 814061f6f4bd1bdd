"""Bulk statements shared by the ledger's tables.

Bulk methods use executemany (native ``INSERT .. ON CONFLICT`` on SQLite and PostgreSQL, a
portable SELECT-then-INSERT/UPDATE per chunk elsewhere) and IN lists of ``IN_CHUNK`` keys:
statements grow with the number of chunks, never one per row.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Table, bindparam, case, insert, select, update

from sync.domain.progress import ShipmentState

# Keys per IN (...) list: far below every database's bind-parameter limit (SQLite: 32766).
IN_CHUNK = 500
# Rows per executemany: bounds memory of one statement while keeping round trips few.
WRITE_CHUNK = 5000

T = TypeVar("T")
# merge(column, new value, stored value) -> the SET expression of an upsert
Merge = Callable[[str, Any, Any], Any]


def native_insert(conn: Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT in the connection's own dialect (SQLite or PostgreSQL). The dialect
    module loads on first use: a SQLite ledger's run never imports PostgreSQL's (~30 ms of a start)."""
    return importlib.import_module(f"sqlalchemy.dialects.{conn.dialect.name}").insert(table)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def take_new(_col: str, new: Any, _old: Any) -> Any:
    return new


def existing_keys(
    conn: Connection, table: Table, key_cols: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> set[tuple[Any, ...]]:
    """The keys of ``rows`` already in ``table``. Narrowed on every key column (one IN list each),
    so a key led by the account never reads the whole account."""
    wanted = {tuple(r[k] for k in key_cols) for r in rows}
    narrowed = (table.c[k].in_({r[k] for r in rows}) for k in key_cols)
    stmt = select(*(table.c[k] for k in key_cols)).where(*narrowed)
    return {tuple(row) for row in conn.execute(stmt)} & wanted


def group_by_keyset(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """executemany needs the same columns in every row; partial rows update only what they carry."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[frozenset(row)].append(row)
    return list(groups.values())


def upsert(
    conn: Connection,
    table: Table,
    key_cols: tuple[str, ...],
    rows: list[dict[str, Any]],
    merge: Merge,
    keep: frozenset[str],
    *,
    native: bool,
) -> None:
    """Insert-or-update rows that all have the same keys. ``merge(col, new, old)`` gives the
    SET expression; columns in ``keep`` (and the key) are only written on insert."""
    set_cols = [c for c in rows[0] if c not in key_cols and c not in keep]
    if native:
        stmt = native_insert(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in key_cols],
            set_={c: merge(c, stmt.excluded[c], table.c[c]) for c in set_cols},
        )
        for chunk in chunks(rows, WRITE_CHUNK):
            conn.execute(stmt, list(chunk))
        return
    # Portable path: one SELECT per chunk to split new from existing, then two executemany.
    upd = update(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in key_cols))
    upd = upd.values({c: merge(c, bindparam(f"n_{c}", type_=table.c[c].type), table.c[c]) for c in set_cols})
    for chunk in chunks(rows, IN_CHUNK):
        existing = existing_keys(conn, table, key_cols, chunk)
        new = [r for r in chunk if tuple(r[k] for k in key_cols) not in existing]
        old = [r for r in chunk if tuple(r[k] for k in key_cols) in existing]
        if new:
            conn.execute(insert(table), new)
        if old:
            conn.execute(
                upd,
                [{**{f"k_{k}": r[k] for k in key_cols}, **{f"n_{c}": r[c] for c in set_cols}} for r in old],
            )


_SHIPMENT_RANK = {state.value: state.rank for state in ShipmentState}


def shipment_rank(expr: Any) -> ColumnElement[int]:
    return case(_SHIPMENT_RANK, value=expr, else_=-1)


def later_state(new: Any, old: Any) -> ColumnElement[str]:
    """The further of two shipment states, so a late or replayed event cannot move one backwards."""
    return case((shipment_rank(new) > shipment_rank(old), new), else_=old)
