"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

__all__ = ["upsert", "insert_ignoring_conflicts"]


def upsert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` in ``dialect`` (its name), which offers ``ON CONFLICT`` clauses
    (``on_conflict_do_nothing`` / ``on_conflict_do_update``) and ``excluded``."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise TypeError(f"the SQL store supports SQLite and PostgreSQL, not {dialect!r}")


def insert_ignoring_conflicts(
    dialect: str, table: Table, conflict_columns: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` in ``dialect`` (its name).

    Both dialects decide the conflict inside the database, under the unique index, so
    concurrent duplicates are resolved without a read-then-write race.
    """
    return upsert(dialect, table).on_conflict_do_nothing(index_elements=conflict_columns)
