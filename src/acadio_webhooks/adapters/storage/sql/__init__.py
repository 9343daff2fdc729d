"""The SQL store: SQLite (the embedded default) and PostgreSQL through SQLAlchemy Core.

:func:`open_store` (also here for convenience) picks memory, SQLite or PostgreSQL from a URL.
"""

from __future__ import annotations

from acadio_webhooks.adapters.storage._open import open_store
from acadio_webhooks.adapters.storage.sql.store import SqlStore

__all__ = ["SqlStore", "open_store"]
