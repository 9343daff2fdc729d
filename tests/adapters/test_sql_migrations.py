"""The shipped Alembic migrations build exactly ``schema.metadata``, step by step, on SQLite
and PostgreSQL, keep data across upgrades, and never touch the host's own tables."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.migrate import (
    alembic_config,
    current_revision,
    head_revision,
)
from acadio_webhooks.adapters.storage.sql.schema import (
    TABLE_PREFIX,
    VERSION_TABLE,
    UtcDateTime,
    deliveries,
    events,
    metadata,
    subscriptions,
)
from acadio_webhooks.domain.models import Delivery, Event, Subscription
from tests.contract.builders import (
    LEASE,
    at,
    delivery,
    event,
    integration,
    settlement,
    subscription,
)
from tests.services import mariadb_database, postgres_database


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with nothing in it but one table of the host application."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        _add_host_table(url)
        yield url
        return
    server = postgres_database if request.param == "postgresql" else mariadb_database
    with server("acadio_migrate") as url:
        _add_host_table(url)
        yield url


def _add_host_table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE lms_courses (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO lms_courses (id) VALUES (7)")
    engine.dispose()


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or (name is not None and name.startswith(TABLE_PREFIX))


def _schema_diff(store: SqlStore) -> list[object]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_name": _ours, "compare_type": True, "version_table": VERSION_TABLE},
        )
        return list(compare_metadata(context, metadata))


def _add_subscription_as_of_0002(store: SqlStore, sub: Subscription) -> None:
    """Write ``sub`` as a store at revision 0002 did: without later columns (``headers``,
    ``rate_limit``)."""
    with store.engine.begin() as conn:
        conn.execute(
            subscriptions.insert().values(sub.model_dump(exclude={"headers", "rate_limit"}))
        )


def _enqueue_as_of_0002(store: SqlStore, evt: Event, dlv: Delivery) -> None:
    """Write ``evt`` and ``dlv`` as a store at revision 0002 did: without ``subject`` and
    ``trace_context``."""
    with store.engine.begin() as conn:
        conn.execute(events.insert().values(evt.model_dump(exclude={"subject", "trace_context"})))
        conn.execute(deliveries.insert().values(dlv.model_dump()))


def _tables(store: SqlStore) -> set[str]:
    return {t for t in sa.inspect(store.engine).get_table_names() if t.startswith(TABLE_PREFIX)}


def test_migrating_an_empty_database_builds_exactly_the_metadata(empty_database: str) -> None:
    store = SqlStore(empty_database, create=False)
    try:
        assert _tables(store) == set()
        store.migrate()
        assert _schema_diff(store) == []
        assert _tables(store) == {*metadata.tables, VERSION_TABLE}
        with store.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert conn.exec_driver_sql("SELECT id FROM lms_courses").scalar_one() == 7
        assert store.routing_revision() == 0
    finally:
        store.close()


def test_each_revision_upgrades_and_downgrades_in_turn(empty_database: str) -> None:
    revisions = [
        script.revision
        for script in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
    ]
    store = SqlStore(empty_database, create=False)
    try:
        for revision in revisions:
            store.migrate(revision)
            with store.engine.connect() as conn:
                assert current_revision(conn) == revision
        assert _schema_diff(store) == []
        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert _tables(store) == {VERSION_TABLE}
        store.migrate()
        assert _schema_diff(store) == []
    finally:
        store.close()


def test_data_written_survives_upgrading_and_reopening(empty_database: str) -> None:
    first = SqlStore(empty_database, create=False)
    first.migrate()  # from base, as a new installation does
    owner = integration()
    first.add_integration(owner)
    sub = subscription(owner)
    first.add_subscription(sub)
    evt = event()
    first.enqueue(evt, [delivery(evt, sub)])
    first.close()

    # Opening again with create=True runs the upgrade to head over existing data.
    again = SqlStore(empty_database)
    try:
        assert again.get_integration(owner.id) == owner
        assert again.get_subscription(sub.id) == sub
        assert again.get_event(evt.id) == evt
        [item] = again.claim(now=at(1), limit=5, owner="w", lease=LEASE)
        assert item.event_id == evt.id
    finally:
        again.close()


def test_attempts_recorded_before_attempt_ids_get_one_each(empty_database: str) -> None:
    store = SqlStore(empty_database, create=False)
    try:
        store.migrate("0002")
        owner = integration()
        store.add_integration(owner)
        sub = subscription(owner)
        _add_subscription_as_of_0002(store, sub)
        evt = event()
        dlv = delivery(evt, sub)
        _enqueue_as_of_0002(store, evt, dlv)
        with store.engine.begin() as conn:
            for number in (1, 2):
                conn.execute(
                    sa.text(
                        "INSERT INTO acadio_attempts (delivery_id, number, started_at, "
                        "duration_ms, status_code, response_excerpt, succeeded) VALUES "
                        "(:delivery, :number, :started, 12.5, 503, 'down', false)"
                    ).bindparams(sa.bindparam("started", type_=UtcDateTime)),
                    {"delivery": dlv.id, "number": number, "started": at(number)},
                )

        store.migrate()

        recorded = store.list_attempts(dlv.id)
        assert [a.number for a in recorded] == [1, 2]
        assert len({a.id for a in recorded}) == 2
        assert all(a.id.startswith("att_legacy_") for a in recorded)
        [item] = store.claim(now=at(3), limit=1, owner="w", lease=LEASE)
        store.settle([settlement(item, ok=True, started=4)], owner="w", now=at(5))
        assert len(store.list_attempts(dlv.id)) == 3
    finally:
        store.close()


def test_concurrent_openers_migrate_once(empty_database: str) -> None:
    def open_and_close(_: int) -> None:
        SqlStore(empty_database).close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(open_and_close, range(3)))
    store = SqlStore(empty_database, create=False)
    try:
        assert _schema_diff(store) == []
    finally:
        store.close()


@pytest.mark.parametrize("url", ["postgresql+psycopg://", "sqlite://", "mysql+pymysql://"])
def test_migrations_render_as_sql_for_dbas(url: str) -> None:
    config = alembic_config(url=url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    script = config.output_buffer.getvalue()
    for table in metadata.tables:
        assert f"CREATE TABLE {table} " in script
    assert "INSERT INTO acadio_routing_revision" in script


def test_0003_adds_the_lease_table_to_a_store_in_use_and_drops_only_it(
    empty_database: str,
) -> None:
    store = SqlStore(empty_database, create=False)
    try:
        store.migrate("0002")
        assert "acadio_leases" not in _tables(store)
        owner = integration()
        store.add_integration(owner)
        sub = subscription(owner)
        _add_subscription_as_of_0002(store, sub)

        store.migrate()
        assert store.get_subscription(sub.id) == sub
        assert store.acquire_lease("notices", "flusher-a", now=at(0), ttl=LEASE) is True
        assert store.acquire_lease("notices", "flusher-b", now=at(1), ttl=LEASE) is False

        with store.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0002")
        assert _tables(store) == {*metadata.tables, VERSION_TABLE} - {"acadio_leases"}
        with store.engine.connect() as conn:  # today's store reads columns 0002 lacks
            kept = conn.execute(sa.select(subscriptions.c.id, subscriptions.c.endpoint)).one()
        assert tuple(kept) == (sub.id, sub.endpoint)
    finally:
        store.close()
