"""Emitting on the SQL store: one transaction of a few statements per emit or batch, the
routing cache honest across processes, and ``emit_many`` inside the host's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import JoinedCursor, SqlStore
from acadio_webhooks.adapters.storage.sql import _engine as engine_module
from acadio_webhooks.adapters.storage.sql import _store_base as store_module
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.errors import StorageError
from acadio_webhooks.ports.storage import DeliveryQuery
from tests.adapters.sql_helpers import wipe

SECRET = "whsec-sql-emit-0123456789"
RESOLVER = StaticResolver({"hooks.example.com": ["93.184.216.34"]})
TOPIC = "course/completion/create"


KINDS = {  # the first text a statement contains names it
    "(SELECT acadio_routing_revision.revision": "insert event, read revision",
    "SELECT acadio_routing_revision.revision": "read revision",
    "FROM acadio_subscriptions JOIN acadio_integrations": "read routes",
    "FROM acadio_subscriptions INNER JOIN acadio_integrations": "read routes",
    "INSERT INTO acadio_events": "insert events",
    "SELECT acadio_events.id": "read stored ids",
    "INSERT INTO acadio_deliveries": "insert deliveries",
    "SELECT pg_notify(": "notify",
}


class Statements:
    """The statements and commits an engine runs."""

    def __init__(self) -> None:
        self.run: list[str] = []
        self.commits = 0

    def kinds(self) -> list[str]:
        """What each statement did (its text when unknown), the transaction's own ``BEGIN``
        and ``COMMIT`` left out (they are counted as ``commits``)."""
        named = []
        for sql in self.run:
            flat = " ".join(sql.split())
            if flat.startswith("BEGIN") or flat == "COMMIT":
                continue
            named.append(next((kind for text, kind in KINDS.items() if text in flat), flat))
        return named


class _RecordingCursor:
    """A driver cursor that notes the SQL it runs."""

    def __init__(self, cursor: Any, seen: Statements) -> None:
        self._cursor = cursor
        self._seen = seen

    def execute(self, sql: str, *args: Any) -> Any:
        self._seen.run.append(sql)
        return self._cursor.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        self._seen.run.append(sql)
        return self._cursor.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


@contextmanager
def recorded(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    """What the store runs: through SQLAlchemy (its events) and in the transactions it runs
    on the driver itself (emits without a host connection)."""
    seen = Statements()
    engine = store.engine
    on_driver = store_module.driver_transaction

    def driver_transaction(engine: sa.Engine, work: Callable[[Any], Any]) -> Any:
        result = on_driver(engine, lambda cursor: work(_RecordingCursor(cursor, seen)))
        seen.commits += 1
        return result

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.run.append(sql)

    def commit(_conn: Any) -> None:
        seen.commits += 1

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine, "commit", commit)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(store_module, "driver_transaction", driver_transaction)
            yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine, "commit", commit)


def subscribed(store: SqlStore) -> tuple[Dispatcher, str]:
    dispatcher = Dispatcher(store, resolver=RESOLVER)
    owner = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(owner.id, "course/*", "https://hooks.example.com/a")
    dispatcher.integrations.subscribe(owner.id, TOPIC, "https://hooks.example.com/b")
    return dispatcher, owner.id


def expected_kinds(store: SqlStore, *, single: bool, routes: bool) -> list[str]:
    # A single event is inserted by the statement that reads the routing revision; a batch
    # reads the revision first and inserts its events with one multi-row statement, and so
    # does a single event on MySQL, which has no INSERT ... RETURNING.
    together = single and store.dialect != "mysql"
    kinds = ["insert event, read revision"] if together else ["read revision"]
    kinds += ["read routes"] if routes else []
    kinds += [] if together else ["insert events"]
    kinds += ["insert deliveries"]
    return kinds + (["notify"] if store.dialect == "postgresql" else [])


def test_an_emit_is_one_transaction_reading_routes_only_after_a_change(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, _ = subscribed(store)
    with recorded(store, monkeypatch) as first:
        dispatcher.emit(TOPIC, {"n": 1}, tenant="acme")
    with recorded(store, monkeypatch) as second:
        dispatcher.emit(TOPIC, {"n": 2}, tenant="acme")
    with recorded(store, monkeypatch) as repeated:
        dispatcher.emit(TOPIC, {"n": 2}, tenant="acme", dedup_key="once")
        dispatcher.emit(TOPIC, {"n": 2}, tenant="acme", dedup_key="once")
    assert (first.commits, second.commits, repeated.commits) == (1, 1, 2)
    assert first.kinds() == expected_kinds(store, single=True, routes=True)
    assert second.kinds() == expected_kinds(store, single=True, routes=False)
    keyed = expected_kinds(store, single=True, routes=False)
    if store.dialect == "mysql":
        # Whether a keyed insert went in shows in the table only: its id is looked up.
        keyed.insert(2, "read stored ids")
        suppressed = ["read revision", "insert events", "read stored ids"]
    else:
        # The suppressed repeat is one statement: nothing to route, nothing to deliver.
        suppressed = ["insert event, read revision"]
    assert repeated.kinds() == keyed + suppressed


def test_a_batch_is_one_transaction_of_the_same_statements(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, _ = subscribed(store)
    with recorded(store, monkeypatch) as batch:
        ids = dispatcher.emit_many(NewEvent(TOPIC, {"n": n}, tenant="acme") for n in range(300))
    assert batch.commits == 1
    assert batch.kinds() == expected_kinds(store, single=False, routes=True)
    assert len(store.list_deliveries(DeliveryQuery(limit=1000)).items) == 600
    assert all(ids)


def test_a_batch_with_dedup_keys_learns_what_it_stored_in_one_more_statement(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, _ = subscribed(store)
    dispatcher.emit(TOPIC, {}, tenant="acme", dedup_key="k-1")
    with recorded(store, monkeypatch) as batch:
        ids = dispatcher.emit_many(
            NewEvent(TOPIC, {"n": n}, tenant="acme", dedup_key=f"k-{n % 4}") for n in range(8)
        )
    # k-1 was stored before; k-0, k-2 and k-3 by their first event, repeats suppressed.
    assert [event_id is not None for event_id in ids] == [True, False, True, True] + [False] * 4
    assert batch.commits == 1
    assert batch.kinds() == [
        "read revision",
        "insert events",
        "read stored ids",
        "insert deliveries",
        *(["notify"] if store.dialect == "postgresql" else []),
    ]
    stored = store.list_deliveries(DeliveryQuery(limit=100)).items
    assert {d.event_id for d in stored} >= {ids[0], ids[2], ids[3]}
    assert len(stored) == 2 * 4


def test_an_emit_in_the_host_transaction_runs_the_same_statements(
    store: SqlStore, host_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatcher, _ = subscribed(store)
    dispatcher.emit(TOPIC, {}, tenant="acme")  # routes read and cached
    with recorded(store, monkeypatch) as own:
        dispatcher.emit(TOPIC, {}, tenant="acme")
    joined = Statements()
    with host_engine.begin() as conn:
        sa.event.listen(conn, "before_cursor_execute", lambda *a: joined.run.append(a[2]))
        dispatcher.emit(TOPIC, {}, tenant="acme", connection=conn)
    assert joined.kinds() == own.kinds() == expected_kinds(store, single=True, routes=False)


def test_a_subscription_added_by_another_process_reaches_the_next_emit(target: str) -> None:
    # Two stores with engines (and pools) of their own stand for two processes.
    emitting = SqlStore(target)
    elsewhere = SqlStore(target)
    try:
        dispatcher, integration_id = subscribed(emitting)
        admin = Dispatcher(elsewhere, resolver=RESOLVER)
        before = dispatcher.emit(TOPIC, {}, tenant="acme")
        added = admin.integrations.subscribe(
            integration_id, "*/*/create", "https://hooks.example.com/c"
        )
        after = dispatcher.emit(TOPIC, {}, tenant="acme")
        [batched] = dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="acme")])
        admin.integrations.unsubscribe(added.id)
        [removed] = dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="acme")])
        routed = {
            (d.event_id, d.subscription_id)
            for d in elsewhere.list_deliveries(DeliveryQuery(limit=100)).items
        }
    finally:
        emitting.close()
        elsewhere.close()
    assert (before, added.id) not in routed
    assert (after, added.id) in routed
    assert (batched, added.id) in routed
    assert (removed, added.id) not in routed


def _grades(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM lms_grades").scalar_one())


def test_a_batch_commits_with_the_host_transaction(store: SqlStore, host_engine: sa.Engine) -> None:
    dispatcher, _ = subscribed(store)
    with host_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO lms_grades (student) VALUES ('s-1')")
        ids = dispatcher.emit_many(
            [
                NewEvent(TOPIC, {"n": 1}, tenant="acme", dedup_key="k"),
                NewEvent(TOPIC, {"n": 2}, tenant="acme", dedup_key="k"),
                NewEvent(TOPIC, {"n": 3}, tenant="acme"),
            ],
            connection=conn,
        )
    assert _grades(host_engine) == 1
    assert ids[1] is None
    stored = store.list_deliveries(DeliveryQuery(limit=100)).items
    assert {d.event_id for d in stored} == {ids[0], ids[2]}


def test_a_batch_rolls_back_with_the_host_transaction(
    store: SqlStore, host_engine: sa.Engine
) -> None:
    dispatcher, _ = subscribed(store)
    with host_engine.connect() as conn:
        conn.exec_driver_sql("INSERT INTO lms_grades (student) VALUES ('s-1')")
        ids = dispatcher.emit_many(
            [NewEvent(TOPIC, {"n": n}, tenant="acme") for n in range(5)], connection=conn
        )
        conn.rollback()
    assert all(ids)
    assert _grades(host_engine) == 0
    assert store.list_deliveries(DeliveryQuery()).items == ()
    # The routing index cached inside the rolled-back transaction is still right.
    assert len(dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="acme")])) == 1
    assert len(store.list_deliveries(DeliveryQuery()).items) == 2


def test_a_bad_batch_in_the_host_transaction_writes_nothing(
    store: SqlStore, host_engine: sa.Engine
) -> None:
    dispatcher, _ = subscribed(store)
    with host_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO lms_grades (student) VALUES ('s-1')")
        with pytest.raises(ValueError, match=r"events\[1\]\.data"):
            dispatcher.emit_many(
                [NewEvent(TOPIC, {}, tenant="acme"), NewEvent(TOPIC, {"x": b"?"}, tenant="acme")],
                connection=conn,
            )
    assert _grades(host_engine) == 1  # the host's own work is untouched: nothing was sent
    assert store.list_deliveries(DeliveryQuery()).items == ()


def test_a_failed_emit_stores_nothing_says_what_failed_and_the_next_one_works(
    store: SqlStore,
) -> None:
    dispatcher, _ = subscribed(store)
    with store.engine.begin() as conn:  # the deliveries table goes missing
        conn.exec_driver_sql("ALTER TABLE acadio_deliveries RENAME TO parked_deliveries")
    try:
        with pytest.raises(StorageError, match=r"^enqueueing events failed \(\w+\)$") as raised:
            dispatcher.emit(TOPIC, {"grade": "A"}, tenant="acme")
        assert raised.value.__cause__ is not None
        with pytest.raises(StorageError, match="enqueueing events failed"):
            dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="acme")] * 3)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE parked_deliveries RENAME TO acadio_deliveries")
    with store.engine.connect() as conn:  # the events were rolled back with the deliveries
        assert conn.exec_driver_sql("SELECT count(*) FROM acadio_events").scalar_one() == 0
    event_id = dispatcher.emit(TOPIC, {}, tenant="acme")
    assert {d.event_id for d in store.list_deliveries(DeliveryQuery()).items} == {event_id}


def _terminate_other_backends(admin: sa.Engine) -> None:
    with admin.connect() as conn:
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def admin(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The connections the pool pinged before lending them (the dialect's own ping runs)."""
    pinged: list[object] = []
    ping = PGDialect_psycopg.do_ping

    def counted(self: PGDialect_psycopg, dbapi_connection: Any) -> bool:
        pinged.append(dbapi_connection)
        return ping(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    return pinged


@pytest.mark.services
def test_an_emit_over_a_connection_the_server_dropped_runs_again_on_a_new_one(
    postgres_url: str, admin: sa.Engine
) -> None:
    # No ping at all: the pool lends the dead connection, the emit finds out before its
    # COMMIT was sent, so nothing was stored, and it runs again on a fresh connection.
    store = SqlStore(postgres_url, engine_options={"pool_pre_ping": False, "pool_size": 1})
    try:
        wipe(store)
        dispatcher, _ = subscribed(store)
        first = dispatcher.emit(TOPIC, {}, tenant="acme")
        _terminate_other_backends(admin)
        second = dispatcher.emit(TOPIC, {}, tenant="acme")
        [third] = dispatcher.emit_many([NewEvent(TOPIC, {}, tenant="acme")])
        stored = store.list_deliveries(DeliveryQuery(limit=100)).items
    finally:
        store.close()
    assert sorted(d.event_id for d in stored) == sorted(2 * [first, second, third])


@pytest.mark.services
def test_a_connection_used_a_moment_ago_is_lent_without_a_ping(
    postgres_url: str, admin: sa.Engine, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING", 3600.0)
    store = SqlStore(postgres_url)
    try:
        wipe(store)
        dispatcher, _ = subscribed(store)
        for _ in range(5):
            dispatcher.emit(TOPIC, {}, tenant="acme")
        assert pings == []
        # Closed within the window: the emit finds out and runs again; what reads through
        # SQLAlchemy meets a fresh connection, the dead one having been dropped.
        _terminate_other_backends(admin)
        assert dispatcher.emit(TOPIC, {}, tenant="acme")
        assert len(store.list_deliveries(DeliveryQuery(limit=100)).items) == 2 * 6
    finally:
        store.close()


@pytest.mark.services
def test_a_connection_left_idle_is_pinged_and_replaced_when_the_server_closed_it(
    postgres_url: str, admin: sa.Engine, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING", 0.0)
    store = SqlStore(postgres_url, engine_options={"pool_size": 2})
    try:
        wipe(store)
        dispatcher, _ = subscribed(store)
        dispatcher.emit(TOPIC, {}, tenant="acme")
        assert pings  # every reuse is "idle" with a window of 0
        _terminate_other_backends(admin)
        pinged = len(pings)
        # The ping finds the connection gone; the pool connects afresh and nothing fails,
        # neither on SQLAlchemy's path nor on the emit's.
        assert len(store.list_deliveries(DeliveryQuery(limit=100)).items) == 2
        assert dispatcher.emit(TOPIC, {}, tenant="acme")
        assert len(pings) > pinged
    finally:
        store.close()


@pytest.mark.services
def test_a_pre_ping_the_host_asks_for_pings_at_every_checkout(
    postgres_url: str, pings: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "IDLE_BEFORE_PING", 3600.0)
    store = SqlStore(postgres_url, engine_options={"pool_pre_ping": True, "pool_size": 1})
    try:
        wipe(store)
        dispatcher, _ = subscribed(store)
        pinged = len(pings)
        for _ in range(3):
            dispatcher.emit(TOPIC, {}, tenant="acme")
    finally:
        store.close()
    assert len(pings) - pinged == 3  # SQLAlchemy's own pre-ping, not the idle window


def test_an_emit_on_a_joined_driver_cursor_commits_and_rolls_back_with_the_host(
    tmp_path: Path,
) -> None:
    # A host whose transaction is not SQLAlchemy's (Django) hands over its own cursor.

    store = SqlStore(tmp_path / "joined.db")
    try:
        dispatcher, _ = subscribed(store)
        host = sqlite3.connect(tmp_path / "joined.db", isolation_level=None)
        host.execute("CREATE TABLE lms_grades (student TEXT NOT NULL)")
        for outcome in ("ROLLBACK", "COMMIT"):
            host.execute("BEGIN IMMEDIATE")
            host.execute("INSERT INTO lms_grades VALUES ('ada')")
            cursor = host.cursor()
            dispatcher.emit(
                TOPIC, {"outcome": outcome}, tenant="acme", connection=JoinedCursor(cursor)
            )
            # Not committed yet: the store's own connection (a worker's) sees nothing.
            assert store.list_deliveries(DeliveryQuery()).items == ()
            host.execute(outcome)
        host.close()
        stored = store.list_deliveries(DeliveryQuery()).items
        assert len(stored) == 2  # the committed event's, one per subscription
        assert {store.get_event(d.event_id).payload.count(b"COMMIT") for d in stored} == {1}
    finally:
        store.close()
