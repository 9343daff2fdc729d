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


def claim_until_empty(target: str, owner: str, batch: int) -> list[str]:
    """Claim (never settle) until nothing is due; return the claimed delivery ids.

    Module-level so that ``multiprocessing`` can run it in a child process.
    """
    from datetime import timedelta

    from tests.contract.builders import at

    store = SqlStore(target, create=False)
    claimed: list[str] = []
    try:
        while items := store.claim(now=at(10), limit=batch, owner=owner, lease=timedelta(hours=1)):
            claimed.extend(item.delivery_id for item in items)
    finally:
        store.close()
    return claimed
