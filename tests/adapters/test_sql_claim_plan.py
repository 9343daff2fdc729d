"""A claim on PostgreSQL reads the due index in order, whatever the statistics say, writes
its leases beside their rows, and the worker's statements find their rows by index whatever
the plans PostgreSQL kept.

Statistics that predate a burst (a store never analysed yet; a large one analysed while
nearly everything was delivered) make the planner expect a handful of due rows; for a
burst of 10,000 it then joined the whole backlog with its payloads and sorted it, on every
claim, until autovacuum analysed the table again: 85 ms per claim of 50, against 0.3 ms in
index order. The claim's transaction rules sorting out (``_queue._CLAIM_SETTINGS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.worker import SyncWorker, WorkerSettings
from tests.services import postgres_database

DUE_INDEX = "ix_acadio_deliveries_status_next_attempt_at_id"


@contextmanager
def _subscribed(prefix: str) -> Iterator[Dispatcher]:
    """A dispatcher on a fresh PostgreSQL database, tenant ``acme`` subscribed to
    ``course/*``."""
    with (
        postgres_database(prefix) as url,
        Dispatcher(url, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher,
    ):
        owner = dispatcher.integrations.install("acme", secret="whsec-plan-0123456789")
        dispatcher.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hook")
        yield dispatcher


@pytest.mark.services
def test_a_burst_into_a_table_never_analysed_is_claimed_in_index_order() -> None:
    # Without the claim's settings, PostgreSQL 15 chose here a bitmap scan of the whole
    # backlog, joined and sorted (the plan is checked, not the time it takes).
    with _subscribed("acadio_claim_plan") as dispatcher:
        event_ids = dispatcher.emit_many(
            NewEvent("course/completion/create", {"n": n, "pad": "x" * 1000}, tenant="acme")
            for n in range(10_000)
        )
        store = dispatcher.store
        assert isinstance(store, SqlStore)
        plans = _claim_plans(store.engine)
        items = store.claim(
            now=dispatcher.clock.now(), limit=50, owner="claimer", lease=timedelta(minutes=5)
        )
    assert sorted(item.event_id for item in items) == sorted(map(str, event_ids[:50]))
    assert len(plans) == 1, plans
    assert DUE_INDEX in plans[0]
    assert "Sort" not in plans[0], plans[0]


def _claim_plans(engine: sa.Engine) -> list[str]:
    """Plans of the claim's due-window statements, explained on the claim's own connection
    inside its transaction (so under the settings the claim made), as they run."""
    plans: list[str] = []

    def explain(conn: sa.Connection, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "FOR UPDATE OF acadio_deliveries" in statement:
            rows = cursor.connection.execute(f"EXPLAIN {statement}", parameters).fetchall()
            plans.append("\n".join(row[0] for row in rows))

    sa.event.listen(engine, "before_cursor_execute", explain)
    return plans


@pytest.mark.services
def test_leases_are_written_beside_their_rows() -> None:
    # Revision 0010 leaves half of each page of deliveries free: a lease touches no indexed
    # column, so PostgreSQL can write it as a HOT update instead of entering a new row
    # version in all seven indexes. On full pages (fillfactor 100) none of these 100 was
    # HOT; at 50, 94 (a page's last rows may still find it full).
    with _subscribed("acadio_hot_lease") as dispatcher:
        dispatcher.emit_many(
            NewEvent("course/completion/create", {"n": n}, tenant="acme") for n in range(300)
        )
        store = dispatcher.store
        assert isinstance(store, SqlStore)
        with store.engine.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT reloptions FROM pg_class WHERE relname = 'acadio_deliveries'"
            ).scalar_one()
        assert options == ["fillfactor=50"]
        updates = _lease_updates(store.engine)
        items = store.claim(
            now=dispatcher.clock.now(), limit=100, owner="claimer", lease=timedelta(minutes=5)
        )
    assert len(items) == 100
    [(updated, hot)] = updates
    assert updated == 100
    assert hot >= 90, f"only {hot} of {updated} leases were HOT updates"


def _lease_updates(engine: sa.Engine) -> list[tuple[int, int]]:
    """After each lease, the deliveries its transaction updated so far and how many of
    those updates were HOT, read on the claim's own connection."""
    counts: list[tuple[int, int]] = []

    def count(conn: sa.Connection, cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE acadio_deliveries SET lease_owner"):
            row = cursor.connection.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relname = 'acadio_deliveries'"
            ).fetchone()
            counts.append((row[0], row[1]))

    sa.event.listen(engine, "after_cursor_execute", count)
    return counts


@pytest.mark.services
def test_plans_kept_from_a_young_table_still_find_rows_by_index() -> None:
    # PostgreSQL keeps one plan for a statement psycopg prepared (on its fifth run), made on
    # the table as it was then; with nothing analysing the table again (autovacuum off), a
    # scan chosen for a near-empty table was kept: behind 50,000 delivered deliveries a
    # claim and a settle of 100 took 170 ms each (benchmarks/bench_history.py).
    with postgres_database("acadio_kept_plans") as url:
        store = SqlStore(url)
        try:
            dispatcher = Dispatcher(store, endpoint_policy=EndpointPolicy(allow_insecure=True))
            owner = dispatcher.integrations.install("acme", secret="whsec-plan-0123456789")
            dispatcher.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hook")
            worker = SyncWorker(
                store, RecordingTransport(), settings=WorkerSettings(concurrency=1, batch_size=10)
            )
            for _ in range(12):  # the statements are prepared, and their plans kept, now
                dispatcher.emit_many(
                    NewEvent("course/completion/create", {"n": n}, tenant="acme") for n in range(10)
                )
                assert worker.drain().delivered == 10
            _grow_history(store, 20_000)
            plans = _kept_plans(store)
        finally:
            store.close()
    assert plans, "no prepared statement of the worker was found"
    scans = {sql: plan for sql, plan in plans.items() if re.search(_HISTORY_SCAN, plan)}
    assert scans == {}


_HISTORY_SCAN = r"Seq Scan on acadio_(deliveries|attempts|events)\b"


def _grow_history(store: SqlStore, count: int) -> None:
    """``count`` delivered deliveries with an attempt each, written directly."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO acadio_events (id, tenant, topic, created_at, payload) "
            "SELECT 'evt_h' || n, 'acme', 'course/completion/create', now(), '\\x7b7d' "
            f"FROM generate_series(1, {count}) AS n"
        )
        conn.exec_driver_sql(
            "INSERT INTO acadio_deliveries (id, event_id, subscription_id, integration_id, "
            "tenant, topic, status, attempts, created_at, updated_at) "
            "SELECT 'dlv_h' || substr(e.id, 6), e.id, s.id, s.integration_id, 'acme', e.topic, "
            "'delivered', 1, now(), now() FROM acadio_events e, acadio_subscriptions s "
            "WHERE e.id LIKE 'evt_h%%'"
        )
        conn.exec_driver_sql(
            "INSERT INTO acadio_attempts (attempt_id, delivery_id, number, started_at, "
            "duration_ms, response_excerpt, succeeded) "
            "SELECT 'att_h' || substr(id, 6), id, 1, now(), 1.0, '', true "
            "FROM acadio_deliveries WHERE id LIKE 'dlv_h%%'"
        )


def _kept_plans(store: SqlStore) -> dict[str, str]:
    """The plan each statement prepared on the store's pooled connections would run with
    now, by its text."""
    plans: dict[str, str] = {}
    pool = store.engine.pool
    held = [store.engine.raw_connection() for _ in range(pool.checkedin())]
    try:
        for pooled in held:
            driver = pooled.driver_connection
            assert driver is not None
            cursor = psycopg.ClientCursor(driver)  # the arguments written in as literals
            cursor.execute(
                "SELECT name, statement, parameter_types::text[] FROM pg_prepared_statements "
                "WHERE NOT from_sql"
            )
            for name, statement, types in cursor.fetchall():
                arguments = [[] if kind.endswith("[]") else _STAND_INS.get(kind) for kind in types]
                listed = f"({', '.join(['%s'] * len(types))})" if types else ""
                cursor.execute(f"EXPLAIN EXECUTE {name}{listed}", arguments)
                plans[statement] = "\n".join(row[0] for row in cursor.fetchall())
            driver.rollback()
    finally:
        for pooled in held:
            pooled.close()
    return plans


_STAND_INS: dict[str, Any] = {
    "character varying": "x",
    "text": "x",
    "integer": 1,
    "double precision": 0.0,
    "timestamp with time zone": datetime(2030, 1, 1, tzinfo=UTC),
}
