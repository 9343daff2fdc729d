"""Helpers for tests that run on a shared SQL database."""

from __future__ import annotations

from sqlalchemy import delete, update

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import metadata, routing_revision


def wipe(store: SqlStore) -> None:
    """Empty every store table (children first) so a test starts from a clean database."""
    with store.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table is not routing_revision:
                conn.execute(delete(table))
        conn.execute(update(routing_revision).values(revision=0))
