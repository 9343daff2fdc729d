"""Named leases in SQL: one statement each, decided inside the database.

Acquiring is a single ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`` (the row is taken
over only when its lease expired or is already the caller's) with ``RETURNING``: a row comes
back exactly when the caller holds the lease afterwards. PostgreSQL locks the conflicting row
and evaluates the ``WHERE`` on its newest version, and SQLite runs writers one at a time
(``BEGIN IMMEDIATE``), so two owners can never both be told they hold it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_

from acadio_webhooks.adapters.storage.sql._dialect import upsert
from acadio_webhooks.adapters.storage.sql.schema import leases

__all__ = ["acquire", "release"]


def acquire(conn: Connection, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew ``name`` for ``owner`` until ``now + ttl``; whether ``owner`` holds it."""
    statement = upsert(conn.dialect.name, leases).values(
        name=name, owner=owner, expires_at=now + ttl
    )
    statement = statement.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
        where=or_(leases.c.expires_at <= now, leases.c.owner == owner),
    )
    return conn.execute(statement.returning(leases.c.name)).first() is not None


def release(conn: Connection, name: str, owner: str) -> None:
    """Delete ``name``'s lease if ``owner`` holds it."""
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))
