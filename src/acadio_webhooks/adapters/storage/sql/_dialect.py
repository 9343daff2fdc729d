"""The few statements that differ between SQLite, PostgreSQL and MySQL / MariaDB."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

__all__ = ["family", "locks_rows", "among", "upsert", "insert_ignoring_conflicts"]

MYSQL = "mysql"
"""The family name of MySQL and MariaDB (SQLAlchemy names MariaDB's dialect ``mariadb``)."""


def family(dialect: Dialect | str) -> str:
    """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included): what the store's SQL
    depends on."""
    name = dialect if isinstance(dialect, str) else dialect.name
    return MYSQL if name == "mariadb" else name


def locks_rows(dialect: Dialect | str) -> bool:
    """Whether concurrent writers meet on row locks (``FOR UPDATE``, ``SKIP LOCKED``), rather
    than one database-wide write lock as on SQLite, where every writer runs alone."""
    return family(dialect) in ("postgresql", MYSQL)


def among(column: ColumnElement[str], dialect: Dialect | str, name: str) -> ColumnElement[bool]:
    """``column`` is one of the strings of the list parameter ``name``.

    On PostgreSQL ``column = ANY(:name)``, one array parameter: the statement's text is the
    same for a list of any length, so psycopg parses it once (it re-parses a statement of
    more than 50 placeholders on every run: a claim's lease of 50 ids was one) and
    PostgreSQL prepares it once. Elsewhere ``column IN (…)``, expanded to the list's length
    when the statement runs.
    """
    if family(dialect) == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(String())))
    return column.in_(bindparam(name, expanding=True))


def upsert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` in ``dialect`` (its name), which offers ``ON CONFLICT`` clauses
    (``on_conflict_do_nothing`` / ``on_conflict_do_update``) and ``excluded``."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise TypeError(f"{dialect!r} has no INSERT ... ON CONFLICT")


def insert_ignoring_conflicts(
    dialect: str, table: Table, conflict_columns: Sequence[str]
) -> Insert:
    """``INSERT ... ON CONFLICT (conflict_columns) DO NOTHING`` in ``dialect`` (its name).

    Every dialect decides the conflict inside the database, under the unique index, so
    concurrent duplicates are resolved without a read-then-write race. MySQL has no
    ``DO NOTHING``: a duplicate sets one of its own columns to itself (``INSERT IGNORE``
    would also turn a value too long or out of range into a warning and store it cut).
    """
    if family(dialect) == MYSQL:
        statement = mysql.insert(table)
        same: dict[str, Any] = {conflict_columns[0]: table.c[conflict_columns[0]]}
        return statement.on_duplicate_key_update(same)
    return upsert(dialect, table).on_conflict_do_nothing(index_elements=conflict_columns)
