"""Named leases in SQL, decided inside the database.

Acquiring is a single ``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE`` (the row is taken
over only when its lease expired or is already the caller's) with ``RETURNING``: a row comes
back exactly when the caller holds the lease afterwards. PostgreSQL locks the conflicting row
and evaluates the ``WHERE`` on its newest version, and SQLite runs writers one at a time
(``BEGIN IMMEDIATE``), so two owners can never both be told they hold it.

MySQL has neither a conditional ``ON DUPLICATE KEY UPDATE`` nor ``RETURNING`` on it, so it
takes three statements in the caller's transaction: make sure the row exists (which locks
it), take it over where the same condition holds (an ``UPDATE`` reads the newest version
under that lock), then read who holds it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, or_, select, update
from sqlalchemy.dialects import mysql

from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family, upsert
from acadio_webhooks.adapters.storage.sql.schema import leases

__all__ = ["acquire", "release"]


def acquire(conn: Connection, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew ``name`` for ``owner`` until ``now + ttl``; whether ``owner`` holds it."""
    takeable = or_(leases.c.expires_at <= now, leases.c.owner == owner)
    if family(conn.dialect) == MYSQL:
        return _acquire_on_mysql(conn, name, owner, until=now + ttl, takeable=takeable)
    statement = upsert(conn.dialect.name, leases).values(
        name=name, owner=owner, expires_at=now + ttl
    )
    statement = statement.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
        where=takeable,
    )
    return conn.execute(statement.returning(leases.c.name)).first() is not None


def _acquire_on_mysql(
    conn: Connection, name: str, owner: str, *, until: datetime, takeable: ColumnElement[bool]
) -> bool:
    there = mysql.insert(leases).values(name=name, owner=owner, expires_at=until)
    conn.execute(there.on_duplicate_key_update(name=leases.c.name))
    conn.execute(
        update(leases).where(leases.c.name == name, takeable).values(owner=owner, expires_at=until)
    )
    holder = conn.execute(select(leases.c.owner).where(leases.c.name == name)).scalar_one()
    return bool(holder == owner)


def release(conn: Connection, name: str, owner: str) -> None:
    """Delete ``name``'s lease if ``owner`` holds it."""
    conn.execute(delete(leases).where(leases.c.name == name, leases.c.owner == owner))
