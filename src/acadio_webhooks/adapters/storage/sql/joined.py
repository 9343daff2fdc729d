"""Joining a host's transaction that is not held by SQLAlchemy.

The transactional outbox (``emit(..., connection=...)``) takes the host's SQLAlchemy
``Connection``. A host whose database layer is something else — Django's ORM — holds its
transaction on a DB-API connection of its own: :class:`JoinedCursor` hands the store a cursor
of that connection, and the emit's statements run on it, inside the host's transaction,
neither begun nor committed by the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["JoinedCursor"]


@dataclass(frozen=True)
class JoinedCursor:
    """A DB-API cursor of the host's own connection, inside the host's open transaction.

    Pass it as ``connection=`` to ``emit``, ``emit_many`` or ``enqueue``/``enqueue_routed`` of
    a :class:`~acadio_webhooks.adapters.storage.sql.SqlStore` on the same database. Its
    driver must take the parameters the store's own driver takes (``sqlite3`` for SQLite,
    psycopg 3 for PostgreSQL, PyMySQL or mysqlclient for MySQL): the store's statements are
    prepared for its own engine's dialect. The host commits or rolls back; until it does,
    nothing the emit wrote is visible to workers.
    """

    cursor: Any
