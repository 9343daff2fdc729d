"""Helpers for tests that run on a shared SQL database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, update

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


def query_plan(conn: Connection, sql: str, parameters: Any = None) -> str:
    """The database's plan for ``sql``, as text in which index names appear.

    MySQL's rows are written in the other databases' words, so that one set of assertions
    holds everywhere: a full scan reads ``SCAN <table>``, a sort ``Sort``, the primary key
    ``pk_<table>`` (the store's name for it elsewhere). PostgreSQL is told to avoid scans: on
    a table this small it would scan whatever the indexes, and the plan is to show whether an
    index *can* serve the statement as written.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", parameters))
    if dialect == "sqlite":
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
        return "\n".join(str(row[-1]) for row in rows)
    lines = []
    for row in conn.exec_driver_sql(f"EXPLAIN {sql}", parameters).mappings():
        table, key, extra = row["table"], row["key"], row["Extra"] or ""
        key = f"pk_{table}" if key == "PRIMARY" else key
        scan = f"SCAN {table}" if row["type"] == "ALL" else f"SEARCH {table}"
        sort = " Sort" if "filesort" in extra else ""
        lines.append(f"{scan} USING {key}{sort} ({extra})")
    return "\n".join(lines)
