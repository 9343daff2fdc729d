"""The SQL store: SQLite (the embedded default) and PostgreSQL through SQLAlchemy Core."""

from __future__ import annotations

from acadio_webhooks.adapters.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
