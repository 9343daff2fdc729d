"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

__all__ = ["upsert", "insert_ignoring_conflicts"]


def upsert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` in the connection's dialect, which offers ``ON CONFLICT`` clauses
    (``on_conflict_do_nothing`` / ``on_conflict_do_update``) and ``excluded``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise TypeError(f"the SQL store supports SQLite and PostgreSQL, not {conn.dialect.name!r}")


def insert_ignoring_conflicts(
    conn: Connection, table: Table, conflict_columns: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` in the connection's dialect.

    Both dialects decide the conflict inside the database, under the unique index, so
    concurrent duplicates are resolved without a read-then-write race.
    """
    return upsert(conn, table).on_conflict_do_nothing(index_elements=conflict_columns)
