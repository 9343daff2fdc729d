"""The SQL store: SQLite (the embedded default), PostgreSQL and MySQL / MariaDB through
SQLAlchemy Core.

:func:`open_store` (also here for convenience) picks memory, SQLite, PostgreSQL or MySQL from
a URL; :class:`JoinedCursor` lets a host whose transaction is not SQLAlchemy's (Django) emit in
it.
"""

from __future__ import annotations

from acadio_webhooks.adapters.storage._open import open_store
from acadio_webhooks.adapters.storage.sql.joined import JoinedCursor
from acadio_webhooks.adapters.storage.sql.store import SqlStore

__all__ = ["JoinedCursor", "SqlStore", "open_store"]
