"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

__all__ = ["insert_ignoring_conflicts"]


def insert_ignoring_conflicts(
    conn: Connection, table: Table, conflict_columns: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` in the connection's dialect.

    Both dialects decide the conflict inside the database, under the unique index, so
    concurrent duplicates are resolved without a read-then-write race.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict_columns)
    raise TypeError(f"the SQL store supports SQLite and PostgreSQL, not {conn.dialect.name!r}")
