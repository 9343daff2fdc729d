"""The outbox for asyncio hosts: ``await AsyncDispatcher.emit(..., connection=conn)`` with the
host's SQLAlchemy ``AsyncConnection`` (or ``AsyncSession``) inside its own transaction.

The emit's statements are the sync ones every other emit runs; ``AsyncConnection.run_sync``
hands them a sync ``Connection`` over the same async driver connection (asyncpg, psycopg's
async mode, aiosqlite), so they run on the event loop, in the host's transaction, with no
worker thread: a rollback stores nothing and a commit delivers. This is SQLAlchemy's own
bridge (a greenlet per call), not a second copy of the outbox.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["async_host_connection", "run_joined"]

_T = TypeVar("_T")


def async_host_connection(connection: object) -> Any | None:
    """``connection`` if it is an SQLAlchemy ``AsyncConnection`` or ``AsyncSession``, else None.

    A host holding one has imported ``sqlalchemy.ext.asyncio`` already: nothing is imported
    here for every other emit.
    """
    asyncio_ext = sys.modules.get("sqlalchemy.ext.asyncio")
    if asyncio_ext is None or connection is None:
        return None
    if isinstance(connection, (asyncio_ext.AsyncConnection, asyncio_ext.AsyncSession)):
        return connection
    return None


async def run_joined(connection: Any, work: Callable[[Any], _T]) -> _T:
    """``work(sync_connection)`` on the host's async connection (a session's, for an
    ``AsyncSession``), in its current transaction; neither begun nor committed here."""
    asyncio_ext = sys.modules["sqlalchemy.ext.asyncio"]
    if isinstance(connection, asyncio_ext.AsyncSession):
        connection = await connection.connection()
    result: _T = await connection.run_sync(work)
    return result
