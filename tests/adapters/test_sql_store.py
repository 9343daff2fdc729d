"""What only the SQL store promises: concurrency across threads and processes, durability,
the transactional outbox through a host connection, and secrets kept out of errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.models import DeliveryStatus, Subscription
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import DeliveryQuery, WouldWait
from tests.adapters.sql_helpers import claim_until_empty, query_plan, wipe
from tests.contract.builders import (
    LEASE,
    SECRET,
    at,
    delivery,
    event,
    integration,
    settlement,
    subscription,
)


def _subscribed(store: SqlStore) -> Subscription:
    owner = integration()
    store.add_integration(owner)
    made = subscription(owner)
    store.add_subscription(made)
    return made


def _backlog(store: SqlStore, sub: Subscription, count: int) -> set[str]:
    ids = set()
    for n in range(count):
        evt = event(created=n % 7)
        dlv = delivery(evt, sub, due=n % 5)
        store.enqueue(evt, [dlv])
        ids.add(dlv.id)
    return ids


# -- concurrency ---------------------------------------------------------------------------


def test_concurrent_threads_never_claim_the_same_delivery(store: SqlStore, target: str) -> None:
    expected = _backlog(store, _subscribed(store), 120)
    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda n: claim_until_empty(target, f"t{n}", 7), range(4)))
    claimed = [delivery_id for batch in batches for delivery_id in batch]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == expected


def test_concurrent_processes_on_one_sqlite_file_never_double_claim(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    store = SqlStore(path)
    expected = _backlog(store, _subscribed(store), 150)
    store.close()
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        pending = pool.starmap_async(claim_until_empty, [(path, f"p{n}", 5) for n in range(3)])
        batches = pending.get(timeout=90)
    claimed = [delivery_id for batch in batches for delivery_id in batch]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == expected


def test_concurrent_duplicates_store_one_event(store: SqlStore) -> None:
    sub = _subscribed(store)
    key = "acme:student-7:activity-3:2025-03-01"
    start = threading.Barrier(6)

    def emit(_: int) -> bool:
        evt = event(dedup_key=key)
        start.wait(timeout=30)
        return store.enqueue(evt, [delivery(evt, sub)])

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(emit, range(6)))
    assert results.count(True) == 1
    assert len(store.claim(now=at(10), limit=100, owner="w", lease=LEASE)) == 1


# -- durability ----------------------------------------------------------------------------


def test_sqlite_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    store = SqlStore(path)
    sub = _subscribed(store)
    events = [event(created=n) for n in range(2)]
    for evt in events:
        store.enqueue(evt, [delivery(evt, sub)])
    [first, _] = store.claim(now=at(1), limit=2, owner="w", lease=LEASE)
    store.settle([settlement(first, ok=True, started=2)], owner="w", now=at(3))
    revision = store.routing_revision()
    listed = store.list_deliveries(DeliveryQuery()).items
    store.close()

    reopened = SqlStore(path)
    try:
        assert reopened.get_subscription(sub.id) == sub
        assert [reopened.get_event(evt.id) for evt in events] == events
        assert reopened.list_deliveries(DeliveryQuery()).items == listed
        assert reopened.get_delivery(first.delivery_id).status is DeliveryStatus.DELIVERED
        assert len(reopened.list_attempts(first.delivery_id)) == 1
        assert reopened.routing_revision() == revision
        [second] = reopened.claim(now=at(100), limit=5, owner="w2", lease=LEASE)
        assert second.signing_keys == (SECRET.encode(),)
    finally:
        reopened.close()


# -- the transactional outbox --------------------------------------------------------------


def _grades(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM lms_grades").scalar_one())


def test_outbox_rollback_stores_nothing(store: SqlStore, host_engine: sa.Engine) -> None:
    sub = _subscribed(store)
    evt = event()
    dlv = delivery(evt, sub)
    with host_engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO lms_grades (student) VALUES ('s-1')")
        assert store.enqueue(evt, [dlv], connection=conn) is True
        conn.rollback()
    assert _grades(host_engine) == 0
    with pytest.raises(NotFound):
        store.get_event(evt.id)
    with pytest.raises(NotFound):
        store.get_delivery(dlv.id)
    assert store.claim(now=at(5), limit=10, owner="w", lease=LEASE) == []


def test_outbox_commit_stores_event_and_deliveries(store: SqlStore, host_engine: sa.Engine) -> None:
    sub = _subscribed(store)
    evt = event(dedup_key="k-1")
    dlv = delivery(evt, sub)
    with host_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO lms_grades (student) VALUES ('s-1')")
        assert store.enqueue(evt, [dlv], connection=conn) is True
        again = event(dedup_key="k-1")
        assert store.enqueue(again, [delivery(again, sub)], connection=conn) is False
    assert _grades(host_engine) == 1
    assert store.get_event(evt.id) == evt
    [item] = store.claim(now=at(5), limit=10, owner="w", lease=LEASE)
    assert item.delivery_id == dlv.id


# -- secrets stay out of errors ------------------------------------------------------------


_REFUSE_UPDATES = {
    "sqlite": [
        "CREATE TRIGGER refuse BEFORE UPDATE ON acadio_integrations "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
        "CREATE TRIGGER refuse BEFORE UPDATE ON acadio_integrations "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
    "mysql": [
        "CREATE TRIGGER refuse BEFORE UPDATE ON acadio_integrations "
        "FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'"
    ],
}


def test_driver_errors_never_show_bound_secrets(store: SqlStore) -> None:
    owner = integration()
    store.add_integration(owner)
    with store.engine.begin() as conn:
        for statement in _REFUSE_UPDATES[store.dialect]:
            conn.exec_driver_sql(statement)
    try:
        with pytest.raises(StorageError) as raised:
            store.update_integration(owner.model_copy(update={"active": False}))
        assert raised.value.__cause__ is not None
        shown = "".join(traceback.format_exception(raised.value))
        assert "updating an integration failed" in shown
        assert SECRET not in shown
        assert SECRET not in repr(raised.value.__cause__)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER refuse"
                + (" ON acadio_integrations" if store.dialect == "postgresql" else "")
            )


def test_engines_hide_parameters(store: SqlStore) -> None:
    assert store.engine.hide_parameters is True


def test_repr_hides_the_database_password() -> None:
    store = SqlStore("postgresql://acadio:hunter2-password@127.0.0.1:1/x", create=False)
    try:
        assert "hunter2" not in repr(store)
        assert store.engine.url.drivername == "postgresql+psycopg"
    finally:
        store.close()


# -- engines -------------------------------------------------------------------------------


def test_a_host_sqlite_engine_lends_only_its_url(tmp_path: Path) -> None:
    host = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    store = SqlStore(host)
    try:
        assert store.engine is not host
        assert store.engine.url == host.url
        _subscribed(store)
    finally:
        store.close()
    with host.connect() as conn:  # the host's engine is untouched and still works
        assert conn.exec_driver_sql("SELECT count(*) FROM acadio_integrations").scalar_one() == 1
    host.dispose()


@pytest.mark.services
def test_a_host_postgresql_engine_is_shared_and_left_open(postgres_url: str) -> None:
    host = sa.create_engine(postgres_url)
    store = SqlStore(host)
    wipe(store)
    try:
        assert store.engine.pool is host.pool
        assert store.engine.hide_parameters is True
        assert host.hide_parameters is False
        _subscribed(store)
    finally:
        store.close()
    with host.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM acadio_integrations").scalar_one() == 1
    host.dispose()


@pytest.mark.services
def test_a_host_mariadb_engine_is_shared_at_read_committed(mariadb_url: str) -> None:
    host = sa.create_engine(mariadb_url)  # MariaDB's default: REPEATABLE READ
    store = SqlStore(host)
    wipe(store)
    try:
        assert store.engine.pool is host.pool
        assert store.engine.hide_parameters is True
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@tx_isolation").scalar_one() == "READ-COMMITTED"
        _subscribed(store)
    finally:
        store.close()
    with host.connect() as conn:  # the host's own connections keep the host's level
        assert conn.exec_driver_sql("SELECT @@tx_isolation").scalar_one() == "REPEATABLE-READ"
        assert conn.exec_driver_sql("SELECT count(*) FROM acadio_integrations").scalar_one() == 1
    host.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = SqlStore(tmp_path / "wal.db")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
    finally:
        store.close()


def test_claim_walks_the_due_index(store: SqlStore) -> None:
    from acadio_webhooks.adapters.storage.sql._due import _due_candidates, _due_window
    from acadio_webhooks.domain.core import PAUSE_HORIZON

    if store.dialect == "mysql":  # reads the window without locks (_due_rows_locked_apart)
        query = _due_candidates((), None).params(b_now=at(0), b_limit=50)
    else:
        query = _due_window(lock=store.dialect == "postgresql").params(
            b_now=at(0), b_horizon=at(0) + PAUSE_HORIZON, b_limit=50
        )
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    with store.engine.begin() as conn:
        plan = query_plan(conn, str(compiled))
    assert "ix_acadio_deliveries_status_next_attempt_at_id" in plan
    assert "SCAN acadio_deliveries\n" not in plan + "\n"
    # The index yields rows in claim order: nothing sorts the whole due backlog.
    assert "TEMP B-TREE" not in plan
    assert "Sort" not in plan


@pytest.mark.services
def test_a_mysql_claim_locks_its_window_by_primary_key(mariadb_url: str) -> None:
    # Through the due index, the lock would take every leased row it passed (see
    # _due_rows_locked_apart): the locking statement must look rows up by primary key.
    from acadio_webhooks.adapters.storage.sql._due import _LOCK_DUE

    store = SqlStore(mariadb_url)
    try:
        wipe(store)
        owner = integration()
        store.add_integration(owner)
        sub = subscription(owner)
        store.add_subscription(sub)
        backlog = [event(created=n) for n in range(300)]
        for evt in backlog:
            store.enqueue(evt, [delivery(evt, sub)])
        window = [d.id for d in store.list_deliveries(DeliveryQuery(limit=50)).items]
        query = _LOCK_DUE.params(b_ids=window, b_now=at(1000))
        compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE TABLE acadio_deliveries")
            plan = query_plan(conn, str(compiled))
        assert plan.startswith("SEARCH acadio_deliveries USING pk_acadio_deliveries"), plan
    finally:
        wipe(store)
        store.close()


# -- calls that give up rather than wait (the async worker's fast path on SQLite) -------------


@contextmanager
def _write_lock_held(path: Path, seconds: float | None = None) -> Iterator[None]:
    """Another connection's writing transaction on ``path``: ended after ``seconds`` by a
    thread of its own, or at the end of the block."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    ended = threading.Event()

    def end() -> None:
        ended.wait(seconds)
        other.execute("COMMIT")
        other.close()

    ender = threading.Thread(target=end)
    ender.start()
    try:
        yield
    finally:
        ended.set()
        ender.join()


def _state(store: SqlStore, delivery_id: str) -> tuple[DeliveryStatus, int]:
    found = store.get_delivery(delivery_id)
    return found.status, found.attempts


@dataclass
class _BusyFile:
    """A SQLite store waiting up to 30 s for a lock, with one pending delivery."""

    path: Path
    store: SqlStore
    pending: str

    def without_waiting(self) -> AbstractContextManager[None]:
        block = self.store.without_waiting()
        assert block is not None
        return block


@pytest.fixture
def busy_file(tmp_path: Path) -> Iterator[_BusyFile]:
    path = tmp_path / "busy.db"
    store = SqlStore(path, sqlite_busy_timeout=30)
    [pending] = _backlog(store, _subscribed(store), 1)
    yield _BusyFile(path, store, pending)
    store.close()


def test_a_sqlite_call_without_waiting_gives_up_at_once_and_changes_nothing(
    busy_file: _BusyFile,
) -> None:
    store = busy_file.store
    with _write_lock_held(busy_file.path), pytest.raises(WouldWait), busy_file.without_waiting():
        # Waiting would take the lock holder's whole transaction (the block ends it).
        store.claim(now=at(10), limit=10, owner="w1", lease=LEASE)
    # Not leased: another worker can claim it.
    assert [i.delivery_id for i in store.claim(now=at(10), limit=10, owner="w2", lease=LEASE)]
    assert _state(store, busy_file.pending) == (DeliveryStatus.PENDING, 0)


def test_only_the_first_write_of_a_call_without_waiting_may_give_up(busy_file: _BusyFile) -> None:
    # A call whose first transaction committed must not stop halfway: the later ones wait for
    # the lock as every other write does, and succeed once it is free.
    store = busy_file.store
    with busy_file.without_waiting():
        [item] = store.claim(now=at(10), limit=10, owner="w1", lease=LEASE)
        # Held when settle begins and for 0.2 s more: settle succeeds only by waiting.
        with _write_lock_held(busy_file.path, seconds=0.2):
            store.settle([settlement(item, ok=True, started=10)], owner="w1", now=at(11))
    assert _state(store, busy_file.pending) == (DeliveryStatus.DELIVERED, 1)


def test_a_call_without_waiting_leaves_the_busy_timeout_of_later_calls(
    busy_file: _BusyFile,
) -> None:
    store = busy_file.store
    with _write_lock_held(busy_file.path), pytest.raises(WouldWait), busy_file.without_waiting():
        store.claim(now=at(10), limit=10, owner="w1", lease=LEASE)
    # The pool's connections still wait for a held lock instead of failing at once.
    with _write_lock_held(busy_file.path, seconds=0.2):
        claimed = store.claim(now=at(10), limit=10, owner="w1", lease=LEASE)
    assert len(claimed) == 1
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000


def test_only_sqlite_offers_calls_without_waiting(store: SqlStore) -> None:
    if store.dialect == "sqlite":
        assert store.without_waiting() is not None
    else:
        assert store.without_waiting() is None
