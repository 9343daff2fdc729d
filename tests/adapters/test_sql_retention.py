"""Retention and erasure on SQL, beyond the contract every store keeps: each batch's
statements find their rows by index, and deleting batches start short so that the host's own
writes never wait long behind one."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.sql import Executable

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql._retention import _statements
from acadio_webhooks.domain.retention import PruneReport
from tests.adapters.sql_helpers import query_plan
from tests.contract.builders import at, delivery, event, integration, subscription

_INDEX_OF = {
    "kept": "ix_acadio_deliveries_event_id",
    "their_deliveries": "ix_acadio_deliveries_event_id",
    "count_attempts": "ix_acadio_attempts_delivery_id_number",
    "delete_attempts": "ix_acadio_attempts_delivery_id_number",
    "delete_deliveries": "pk_acadio_deliveries",
    "delete_events": "pk_acadio_events",
}


def _plan(store: SqlStore, statement: Executable) -> str:
    """The database's plan for ``statement`` as the driver receives it (ids expanded)."""
    ids = {"events": ["evt_a", "evt_b"], "deliveries": ["dlv_a", "dlv_b"], "before": at(0)}
    sent: list[tuple[str, Any]] = []

    def keep(*args: Any) -> None:
        sent.append((args[2], args[3]))  # statement, parameters

    with store.engine.begin() as conn:
        sa.event.listen(conn, "before_cursor_execute", keep)
        conn.execute(statement, ids)  # on empty tables: changes nothing
        sa.event.remove(conn, "before_cursor_execute", keep)
        [(sql, parameters)] = sent
        plan = query_plan(conn, sql, parameters)
        conn.rollback()
    return plan


@pytest.mark.parametrize("name", sorted(_INDEX_OF))
def test_each_batch_statement_finds_its_rows_by_index(store: SqlStore, name: str) -> None:
    with store.engine.connect() as conn:
        statement = getattr(_statements(conn), name)
    plan = _plan(store, statement)
    sqlite_index = _INDEX_OF[name].replace("pk_acadio_", "sqlite_autoindex_acadio_")
    assert _INDEX_OF[name] in plan or sqlite_index in plan, plan
    assert "Seq Scan" not in plan
    assert "SCAN acadio_" not in plan


def _old_events(store: SqlStore, count: int) -> None:
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    for number in range(count):
        old = event(created=number)
        store.enqueue(old, [delivery(old, sub)])
    store.cancel_pending(now=at(count), subscription_id=sub.id)


def test_a_deleting_prune_starts_with_short_batches_and_a_dry_run_does_not(
    store: SqlStore,
) -> None:
    _old_events(store, 120)
    counted = list(store.prune(at(10_000), limit=500, dry_run=True))
    assert counted[0].examined == 120  # reading holds no lock: one batch of the whole limit
    batches = list(store.prune(at(10_000), limit=500))
    assert batches[0].examined < 120  # a writer waiting behind it waits for a few rows only
    assert all(batch.examined <= 500 for batch in batches)
    total = sum(batches, PruneReport())
    assert (total.events, total.deliveries, total.attempts) == (120, 120, 0)
