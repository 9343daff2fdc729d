"""The outbox for asyncio hosts: ``AsyncDispatcher.emit(..., connection=)`` with the host's own
SQLAlchemy ``AsyncConnection`` or ``AsyncSession`` on SQLite (aiosqlite) and PostgreSQL
(asyncpg, psycopg): the event commits with the host's row or rolls back with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from acadio_webhooks import (
    AsyncDispatcher,
    Dispatcher,
    NewEvent,
    PayloadMismatch,
    SqlStore,
    verify,
)
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.ports.storage import DeliveryQuery
from tests.adapters.sql_helpers import wipe

pytestmark = pytest.mark.anyio

SECRET = "whsec-async-outbox-0123456789"
COMPLETION = "course/completion/create"
HOST_TABLES = MetaData()
completions = Table(
    "lms_completions",
    HOST_TABLES,
    Column("id", Integer, primary_key=True),
    Column("student_id", Integer, nullable=False),
)


class CourseCompletion(pydantic.BaseModel):
    student_id: int
    course_id: int


CATALOG = TOPICS.copy()
CATALOG.attach_schema(COMPLETION, CourseCompletion)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Host:
    """An asyncio host: its own async engine and table, and an AsyncDispatcher on the same
    database (given the host's async URL as it is)."""

    def __init__(self, engine: AsyncEngine, store: SqlStore) -> None:
        self.engine = engine
        self.store = store
        self.clock = FakeClock()
        self.transport = AsyncRecordingTransport()
        self.dispatcher = AsyncDispatcher(
            store,
            clock=self.clock,
            catalog=CATALOG,
            transport=self.transport,
            resolver=StaticResolver({"hooks.example.com": ["93.184.216.34"]}),
        )
        integration = self.dispatcher.integrations.install("acme", secret=SECRET)
        self.dispatcher.integrations.subscribe(
            integration.id, "course/*", "https://hooks.example.com/in"
        )

    async def rows(self) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(completions))).scalar_one()
            )

    def events(self) -> int:
        return len(self.store.list_deliveries(DeliveryQuery(limit=100)).items)


def _async_url(sync_url: str, driver: str) -> str:
    return make_url(sync_url).set(drivername=driver).render_as_string(hide_password=False)


@pytest.fixture(
    params=[
        "sqlite+aiosqlite",
        pytest.param("postgresql+asyncpg", marks=pytest.mark.services),
        pytest.param("postgresql+psycopg", marks=pytest.mark.services),
    ]
)
async def host(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Host]:
    driver: str = request.param
    if driver.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{tmp_path / 'lms.db'}"
        store = SqlStore(url)
    else:
        url = _async_url(request.getfixturevalue("postgres_url"), driver)
        store = SqlStore(url)
        wipe(store)
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(HOST_TABLES.drop_all)
        await conn.run_sync(HOST_TABLES.create_all)
    try:
        yield Host(engine, store)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(HOST_TABLES.drop_all)
        await engine.dispose()
        store.close()


async def test_a_rolled_back_transaction_stores_and_sends_nothing(host: Host) -> None:
    async with host.engine.connect() as conn:
        await conn.execute(completions.insert().values(student_id=7))
        event_id = await host.dispatcher.emit(
            COMPLETION, {"student_id": 7, "course_id": 3}, tenant="acme", connection=conn
        )
        assert event_id is not None
        await conn.rollback()
    assert await host.rows() == 0
    assert host.events() == 0
    await host.dispatcher.drain()
    assert host.transport.requests == []


async def test_a_committed_transaction_delivers_a_signed_event(host: Host) -> None:
    async with host.engine.begin() as conn:
        await conn.execute(completions.insert().values(student_id=7))
        event_id = await host.dispatcher.emit(
            COMPLETION, {"student_id": "7", "course_id": 3}, tenant="acme", connection=conn
        )
    assert await host.rows() == 1
    await host.dispatcher.drain()
    [request] = host.transport.requests
    event = verify(request.body, request.headers, SECRET, now=host.clock.now())
    assert event.id == event_id
    assert event.data == {"student_id": 7, "course_id": 3}


async def test_an_async_session_and_emit_many_join_the_same_way(host: Host) -> None:
    async with AsyncSession(host.engine) as session:
        await session.execute(completions.insert().values(student_id=8))
        ids = await host.dispatcher.emit_many(
            [
                NewEvent(COMPLETION, {"student_id": 8, "course_id": c}, tenant="acme")
                for c in (1, 2)
            ],
            connection=session,
        )
        assert all(ids)
        assert host.events() == 0, "not visible to the store before the host commits"
        await session.commit()
    assert await host.rows() == 1
    assert host.events() == 2


async def test_data_that_does_not_fit_writes_nothing_and_leaves_the_transaction_usable(
    host: Host,
) -> None:
    async with host.engine.begin() as conn:
        with pytest.raises(PayloadMismatch, match=r"data\['course_id'\]"):
            await host.dispatcher.emit(
                COMPLETION, {"student_id": 7}, tenant="acme", connection=conn
            )
        await conn.execute(completions.insert().values(student_id=7))
    assert await host.rows() == 1
    assert host.events() == 0


async def test_the_sync_dispatcher_says_where_an_async_connection_goes(host: Host) -> None:
    sync = Dispatcher(host.store, catalog=CATALOG)
    async with host.engine.connect() as conn:
        with pytest.raises(TypeError, match=r"joins through AsyncDispatcher\.emit"):
            sync.emit(COMPLETION, {"student_id": 7, "course_id": 3}, tenant="acme", connection=conn)
