"""Faults during a run: the database goes away, the worker is killed, the mail server is down,
the clock jumps. Whatever happens, nothing ``emit`` accepted is lost and the counts reconcile.

PostgreSQL faults kill only the connections to this test's own database
(``pg_terminate_backend`` from a separate admin connection); the server itself is never
restarted, since other test runs share it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from acadio_webhooks._lanes import WAVES_HELD
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.messages import Settlement, WorkItem
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.errors import StorageError
from acadio_webhooks.ports.notifier import Notice
from acadio_webhooks.worker import AsyncWorker, WorkerSettings
from tests.loopback import loopback_receiver, wait_until
from tests.mail import MailCollector, free_port
from tests.reliability.hostile import HostileServer, answer, fails_first, gated
from tests.reliability.worlds import (
    INSECURE,
    SECRET,
    Figures,
    all_deliveries,
    eventually,
    ledger,
    serving,
    timeouts,
    unfinished,
)
from tests.services import mariadb_database, postgres_database

TOPIC = "course/completion/create"


class OffsetClock:
    """The system clock, moved by ``offset``: a later process, once leases have run out."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


def recover_after_leases(store: SqlStore) -> None:
    """Drain ``store`` with a fresh worker whose clock is past every lease (5 minutes) taken
    so far: what another process does once a stopped or killed worker's leases run out."""
    recovery = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE),
        clock=OffsetClock(timedelta(minutes=6)),
        settings=fast_settings(),
    )

    async def recover() -> None:
        await recovery.drain()
        await recovery.aclose()

    anyio.run(recover)


def fast_settings(**changes: object) -> WorkerSettings:
    options: dict[str, object] = {"poll_interval": 0.05, "concurrency": 16, "per_endpoint": 8}
    options.update(changes)
    return WorkerSettings(**options)  # type: ignore[arg-type]


# -- PostgreSQL: the store's connections are killed again and again during a run ---------------


class BackendKiller:
    """Terminates every connection to one database, every ``interval`` seconds, from an
    admin connection to another database (PostgreSQL's ``pg_terminate_backend``, MariaDB's
    ``KILL``)."""

    def __init__(self, url: str, interval: float) -> None:
        made = sa.make_url(url)
        assert made.database is not None
        self.database = made.database
        self.server = made.get_backend_name()
        self.interval = interval
        self.rounds = 0
        self.terminated = 0
        self._stop = threading.Event()
        self._admin = sa.create_engine(made.set(database="test"), isolation_level="AUTOCOMMIT")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._admin.connect() as conn:
            while not self._stop.wait(self.interval):
                self.terminated += self._kill_round(conn)
                self.rounds += 1

    def _kill_round(self, conn: sa.Connection) -> int:
        if self.server == "postgresql":
            query = sa.text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :database AND pid <> pg_backend_pid()"
            )
            return int(conn.execute(query, {"database": self.database}).scalar_one())
        found = sa.text(
            "SELECT id FROM information_schema.processlist "
            "WHERE db = :database AND id <> connection_id()"
        )
        killed = 0
        for (ident,) in conn.execute(found, {"database": self.database}):
            try:
                conn.exec_driver_sql(f"KILL CONNECTION {int(ident)}")
                killed += 1
            except sa.exc.OperationalError:
                pass
        return killed

    def __enter__(self) -> BackendKiller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._admin.dispose()


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def server_fault_url(request: pytest.FixtureRequest) -> Iterator[str]:
    server = postgres_database if request.param == "postgresql" else mariadb_database
    with server(prefix="acadio_hardening") as url:
        yield url


def test_killed_database_connections_lose_nothing(server_fault_url: str, figures: Figures) -> None:
    paths = ["/a", "/b", "/c"]
    store = SqlStore(server_fault_url)
    database = store.engine.url.database
    assert database is not None
    assert database.startswith("acadio_hardening_")  # only ever our own database is hit
    # A claim whose commit landed but whose answer was cut leaves its deliveries leased to
    # nobody until the lease runs out: a short one, so that the test sees them sent.
    settings = fast_settings(lease=timedelta(seconds=5))
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE, settings=settings)
    accepted: list[str] = []
    refused = 0
    with loopback_receiver(SECRET) as receiver:
        integration = dispatcher.integrations.install("acme", secret=SECRET)
        for path in paths:
            dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url(path))
        dispatcher.start_worker(transport=AsyncHttpxTransport(policy=INSECURE))
        try:
            with BackendKiller(server_fault_url, interval=0.25) as killer:
                for number in range(240):
                    while True:  # a host whose emit failed retries it
                        try:
                            event_id = dispatcher.emit(TOPIC, {"n": number}, tenant="acme")
                        except StorageError:
                            refused += 1
                            time.sleep(0.02)
                            continue
                        assert event_id is not None
                        accepted.append(event_id)
                        break
                    time.sleep(0.01)

            def all_delivered() -> bool:
                try:
                    delivered = all_deliveries(store, status=DeliveryStatus.DELIVERED)
                except StorageError:
                    # The killer's last round may have closed a connection the pool lent
                    # again within its half-second without a ping: a read meeting it fails
                    # once, as docs/storage.md says, and the pool is replaced.
                    return False
                # Extra events (emits retried after a commit whose answer was cut) count
                # too: every delivery must have ended, not only as many as were accepted.
                return len(delivered) >= len(accepted) * len(paths) and unfinished(store) == 0

            wait_until(
                all_delivered, timeout=90, what="every accepted event delivered to every endpoint"
            )
        finally:
            dispatcher.close()  # stops the worker thread, also when the test failed
        received = {(r.path, r.event_id) for r in receiver.received if r.verified}

    store = SqlStore(server_fault_url)
    deliveries = all_deliveries(store)
    book = ledger(store, deliveries)
    store.close()
    assert killer.rounds >= 5
    assert killer.terminated >= killer.rounds // 2  # most rounds found connections to kill
    lost = [
        (path, event_id)
        for event_id in accepted
        for path in paths
        if (path, event_id) not in received
    ]
    assert lost == []
    # An emit whose commit landed but whose answer was cut may have been retried by the
    # host: such extra events are delivered too, never stuck.
    assert book.unfinished == 0
    assert book.by_status == {DeliveryStatus.DELIVERED: book.deliveries}
    assert book.deliveries >= len(accepted) * len(paths)
    assert book.attempts_recorded >= book.deliveries
    figures.add(
        "faults",
        faults_injected=killer.rounds,
        **{f"{killer.server}_kill_rounds": killer.rounds},
        connections_killed=killer.terminated,
        **{f"{killer.server}_deliveries": book.deliveries},
        emits_refused_during_faults=refused,
        deliveries_checked=book.deliveries,
        lost=len(lost),
    )


# -- SQLite: the database is locked by another process longer than the busy timeout ------------


def test_a_locked_sqlite_database_delays_but_loses_nothing(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    server = hostile_server
    listener = server.add("ok", answer(200))
    path = tmp_path / "locked.db"
    store = SqlStore(path, sqlite_busy_timeout=0.05)
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(50)]
    blocker = sqlite3.connect(path, isolation_level=None)
    worker = AsyncWorker(
        store, AsyncHttpxTransport(policy=INSECURE), clock=clock, settings=fast_settings()
    )
    refused = 0

    async def scenario() -> None:
        nonlocal refused
        blocker.execute("BEGIN EXCLUSIVE")  # no other writer from now on
        async with serving(worker):
            await anyio.sleep(0.5)  # the worker meets the lock, again and again
            try:
                dispatcher.emit(TOPIC, {"n": "during"}, tenant="acme")
            except StorageError:
                refused += 1
            blocker.execute("COMMIT")
            await eventually(lambda: listener.requests >= len(accepted), within=30)
            await eventually(lambda: unfinished(store) == 0, within=30)

    anyio.run(scenario)

    book = ledger(store)
    assert refused == 1
    assert book.by_status == {DeliveryStatus.DELIVERED: len(accepted)}
    assert set(listener.event_ids()) == set(accepted)
    assert book.attempts_recorded == book.attempts_counted == len(accepted)
    blocker.close()
    store.close()
    figures.add("faults", faults_injected=1, deliveries_checked=book.deliveries, lost=0)


# -- a slow store: giving leases back takes a while ------------------------------------------


class SlowStore(SqlStore):
    """A store whose claims or releases take 0.3 s, as on a busy database server."""

    slow: str = ""

    def claim(self, **options: Any) -> list[WorkItem]:
        if self.slow == "claim":
            time.sleep(0.3)
        return super().claim(**options)

    def release(self, delivery_ids: Sequence[str], *, owner: str) -> None:
        if self.slow == "release":
            time.sleep(0.3)
        super().release(delivery_ids, owner=owner)


@pytest.mark.parametrize("slow", ["claim", "release"])
def test_drain_returns_only_when_nothing_is_due_even_with_a_slow_store(
    hostile_server: HostileServer, slow: str, tmp_path: Path, figures: Figures
) -> None:
    # One endpoint's backlog is larger than the waves a worker holds of it: the excess
    # is handed back, and claims leave the endpoint out while its waves are sent. drain()
    # must not end on a claim that left it out, nor while handed-back deliveries are still
    # on their way back to the store: both returned with deliveries still due.
    server = hostile_server
    listener = server.add("ok", answer(200))
    store = SlowStore(tmp_path / "slow.db")
    store.slow = slow
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(60)]
    worker = AsyncWorker(
        store, AsyncHttpxTransport(policy=INSECURE), clock=clock, settings=fast_settings()
    )

    async def drain() -> None:
        await worker.drain()
        await worker.aclose()

    anyio.run(drain)

    assert ledger(store).by_status == {DeliveryStatus.DELIVERED: len(accepted)}
    assert sorted(listener.event_ids()) == sorted(i for i in accepted if i)
    store.close()
    figures.add("faults", faults_injected=1, deliveries_checked=len(accepted), lost=0)


# -- a settle commits, but the acknowledgement is lost on the way back ------------------------


class AckLostStore(SqlStore):
    """Commits each of its first ``losses`` settles, then reports a failure, as a connection
    that dies after the database committed but before the client read the reply does."""

    losses = 0

    def settle(self, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> None:
        super().settle(settlements, owner=owner, now=now)
        if self.losses > 0:
            self.losses -= 1
            raise StorageError("settling deliveries failed (OperationalError)")


def test_a_settle_retried_after_a_lost_acknowledgement_records_each_attempt_once(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    server = hostile_server
    healthy = server.add("healthy", answer(200))
    broken = server.add("broken", answer(503))
    store = AckLostStore(tmp_path / "acks.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    for listener in (healthy, broken):
        dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(20)]
    store.losses = 4
    worker = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE),
        clock=clock,
        # Failures are final at once and never pause the endpoint: each attempt's verdict
        # and failure notification are on record after its first settle.
        policy=DeliveryPolicy(retry=RetryPolicy(max_retries=0), breaker=None),
        settings=fast_settings(batch_size=5),
    )

    async def scenario() -> None:
        async with serving(worker):
            # Counted only once a settle was acknowledged: every lost one was retried.
            await eventually(lambda: worker.metrics.snapshot().attempts == 40, within=30)

    anyio.run(scenario)

    book = ledger(store)
    assert store.losses == 0
    assert book.by_status == {DeliveryStatus.DELIVERED: 20, DeliveryStatus.FAILED: 20}
    assert book.attempts_recorded == book.attempts_counted == 40
    assert healthy.requests == broken.requests == 20
    [failing] = [s for s in dispatcher.integrations.subscriptions(integration.id)
                 if s.endpoint == broken.url()]  # fmt: skip
    assert failing.consecutive_failures == 20
    notified = [n for n in store.unsent_notifications() if n.kind.value == "delivery_failed"]
    assert sorted(n.event_id or "" for n in notified) == sorted(i or "" for i in accepted)
    store.close()
    figures.add("faults", faults_injected=4, acks_lost=4, deliveries_checked=40, lost=0)


# -- the database is unreachable when the worker stops -----------------------------------------


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process's exclusive transaction: no write gets through the busy timeout."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("COMMIT")
        blocker.close()


@contextmanager
def postgres_closed(database: str) -> Iterator[None]:
    """The database refuses new connections and its open ones are terminated."""
    admin = sa.create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT"
    )

    def allow(allowed: bool) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS {allowed}')

    allow(False)
    try:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :database AND pid <> pg_backend_pid()"
                ),
                {"database": database},
            )
        yield
    finally:
        allow(True)
        admin.dispose()


@contextmanager
def mariadb_account(url: str) -> Iterator[tuple[str, Callable[[], AbstractContextManager[None]]]]:
    """An account of its own on ``url``'s database (so locking it never touches the
    server's other users), and how to shut it out: ``ACCOUNT LOCK`` refuses its new
    connections and ``KILL`` ends its open ones."""
    made = sa.make_url(url)
    database = made.database
    assert database is not None
    user = database[-32:]  # unique per test database, within MariaDB's name limit
    admin = sa.create_engine(made.set(database="test"), isolation_level="AUTOCOMMIT")

    def run(statement: str) -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(statement.replace("%", "%%"))  # PyMySQL's own parameter marks

    @contextmanager
    def locked_out() -> Iterator[None]:
        run(f"ALTER USER '{user}'@'%' ACCOUNT LOCK")
        try:
            with admin.connect() as conn:
                found = sa.text("SELECT id FROM information_schema.processlist WHERE user = :user")
                for (ident,) in conn.execute(found, {"user": user}).all():
                    try:
                        conn.exec_driver_sql(f"KILL CONNECTION {int(ident)}")
                    except sa.exc.OperationalError:
                        pass  # it ended by itself meanwhile
            yield
        finally:
            run(f"ALTER USER '{user}'@'%' ACCOUNT UNLOCK")

    run(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'fault-test'")
    try:
        run(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%'")
        own = made.set(username=user, password="fault-test")
        yield own.render_as_string(hide_password=False), locked_out
    finally:
        run(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def stopping_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SqlStore, Callable[[], AbstractContextManager[None]]]]:
    """A store, and how to make its database unreachable for a while."""
    if request.param == "sqlite":
        path = tmp_path / "stop.db"
        store = SqlStore(path, sqlite_busy_timeout=0.05)
        yield store, lambda: sqlite_locked(path)
        store.close()
        return
    if request.param == "mariadb":
        with (
            mariadb_database(prefix="acadio_hardening") as url,
            mariadb_account(url) as (
                own_url,
                locked_out,
            ),
        ):
            store = SqlStore(own_url)
            yield store, locked_out
            store.close()
        return
    with postgres_database(prefix="acadio_hardening") as url:
        store = SqlStore(url)
        database = store.engine.url.database
        assert database is not None
        assert database.startswith("acadio_hardening_")  # only ever our own database is hit
        yield store, lambda: postgres_closed(database)
        store.close()


def test_a_worker_stopping_while_the_database_is_unreachable_stops_cleanly(
    hostile_server: HostileServer,
    stopping_store: tuple[SqlStore, Callable[[], AbstractContextManager[None]]],
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    store, unreachable = stopping_store
    gate = threading.Event()
    listener = hostile_server.add("gated", gated(gate))
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(10)]
    # Two attempts in flight, the rest of the waves the worker holds claimed and waiting for a
    # slot when the stop comes.
    waiting = 2 * WAVES_HELD - 2
    worker = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE),
        settings=fast_settings(concurrency=2, per_endpoint=2),
    )

    async def scenario() -> None:
        stop = asyncio.Event()
        stopped = anyio.Event()

        async def run_worker() -> None:
            try:
                await worker.run(stop)  # an exception here fails the test
            finally:
                stopped.set()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(run_worker)
                await eventually(lambda: listener.requests == 2, within=30)
                with unreachable():
                    stop.set()
                    gate.set()  # the attempts in flight end; recording them fails too
                    with anyio.fail_after(30):
                        await stopped.wait()
        finally:
            await worker.aclose()

    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.worker"):
        anyio.run(scenario)  # stop() returned: nothing raised

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("recording 2 attempts made before stopping failed" in m for m in warnings)
    given_back = f"giving back {waiting} claimed deliveries not yet attempted failed"
    assert any(given_back in m for m in warnings), warnings
    # The database is back; once the leases have run out, another worker takes over.
    recover_after_leases(store)

    book = ledger(store)
    assert book.by_status == {DeliveryStatus.DELIVERED: len(accepted)}
    assert set(listener.event_ids()) == set(accepted)
    assert book.attempts_recorded == book.attempts_counted
    figures.add("faults", faults_injected=1, deliveries_checked=len(accepted), lost=0)


# -- the worker process is SIGKILLed with attempts in flight -----------------------------------


def test_a_worker_killed_mid_attempt_loses_nothing(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    gate = threading.Event()
    server = hostile_server
    listener = server.add("gated", gated(gate))
    database = f"sqlite:///{tmp_path / 'killed.db'}"
    store = SqlStore(database)
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    # Each killed worker strands what it holds claimed (WAVES_HELD waves of its 8 lanes) until
    # the leases run out: the next one must still find 8 deliveries due.
    held = WAVES_HELD * 8
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(3 * held + 24)]
    command = [sys.executable, "-m", "acadio_webhooks", "worker", "--db", database,
               "--allow-insecure-endpoints", "--poll-interval", "0.1", "--concurrency", "8",
               "--log-level", "WARNING"]  # fmt: skip
    kills = 0
    for _ in range(3):
        seen = listener.requests
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: listener.requests >= seen + 8, timeout=60, what="attempts in flight")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(30)
        assert process.returncode == -signal.SIGKILL
        kills += 1
    in_flight_when_killed = listener.requests
    gate.set()
    assert ledger(store).attempts_recorded == 0  # every attempt so far died with its worker

    # Another worker, once the dead ones' leases (5 minutes) have run out.
    recover_after_leases(store)

    book = ledger(store)
    assert book.by_status == {DeliveryStatus.DELIVERED: len(accepted)}
    assert set(listener.event_ids()) == set(accepted)
    assert book.attempts_recorded == book.attempts_counted == len(accepted)
    redelivered = listener.requests - len(accepted)
    assert redelivered == in_flight_when_killed >= 24  # at-least-once: receivers de-duplicate
    store.close()
    figures.add(
        "faults",
        faults_injected=kills,
        worker_sigkills=kills,
        deliveries_checked=book.deliveries,
        redelivered_after_kill=redelivered,
        lost=0,
    )


# -- the mail server is down: notices wait, deliveries do not ---------------------------------


def test_mail_server_down_delays_notices_but_not_deliveries(
    hostile_server: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    server = hostile_server
    broken = server.add("broken", answer(500, b"down"))
    healthy = server.add("healthy", answer(200))
    store = SqlStore(tmp_path / "mail.db")
    clock = FakeClock()
    port = free_port()  # nothing listens there yet
    notifier = SmtpNotifier("127.0.0.1", port, sender="webhooks@lms.example.com", timeout=2)
    settings = fast_settings(
        notify_interval=0.1, notice_window=timedelta(0), notice_grace=timedelta(0)
    )
    # The first failure is final; no circuit breaker pauses the failing endpoint (its pauses
    # would outlast this test's frozen clock), so every failure is attempted at once.
    policy = DeliveryPolicy(retry=RetryPolicy(max_retries=0), breaker=None)
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    failing = dispatcher.integrations.install(
        "failing", secret=SECRET, notification_email="ops@failing.example.com"
    )
    working = dispatcher.integrations.install("working", secret=SECRET)
    dispatcher.integrations.subscribe(failing.id, "course/*", broken.url())
    dispatcher.integrations.subscribe(working.id, "course/*", healthy.url())
    failed_ids = [dispatcher.emit(TOPIC, {"n": n}, tenant="failing") for n in range(10)]
    for n in range(10):
        dispatcher.emit(TOPIC, {"n": n}, tenant="working")
    worker = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE, timeouts=timeouts(5.0)),
        clock=clock,
        policy=policy,
        settings=settings,
        notifier=notifier,
    )
    mail = MailCollector()
    controller = Controller(mail, hostname="127.0.0.1", port=port)

    def refused_flushes() -> int:
        return sum("retrying at the next flush" in r.getMessage() for r in caplog.records)

    async def scenario() -> None:
        async with serving(worker):
            await eventually(lambda: unfinished(store) == 0, within=30)
            await eventually(lambda: refused_flushes() >= 3, within=30)
            assert len(store.unsent_notifications()) >= len(failed_ids)  # all still queued
            controller.start()  # the mail server comes back
            await eventually(lambda: not store.unsent_notifications(), within=30)

    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notify"):
        try:
            anyio.run(scenario)
        finally:
            controller.stop()

    book = ledger(store)
    assert book.by_status == {DeliveryStatus.DELIVERED: 10, DeliveryStatus.FAILED: 10}
    assert healthy.requests == 10
    mailed = "\n".join(m.message.get_content() for m in mail.received)
    assert all(event_id in mailed for event_id in failed_ids if event_id)
    assert {m.rcpt_tos[0] for m in mail.received} == {"ops@failing.example.com"}
    store.close()
    figures.add(
        "faults",
        faults_injected=1,
        notice_flushes_refused=refused_flushes(),
        deliveries_checked=book.deliveries,
        notices_lost=0,
        lost=0,
    )


class BuggyNotifier:
    """A host's own notifier with a bug: it raises something other than NotificationError."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, notice: Notice) -> None:
        self.calls += 1
        raise KeyError("bug in the host's notifier")


def test_a_notifier_bug_is_logged_and_deliveries_go_on(
    hostile_server: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    server = hostile_server
    broken = server.add("broken", answer(500))
    healthy = server.add("healthy", answer(200))
    store = SqlStore(tmp_path / "buggy.db")
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    failing = dispatcher.integrations.install(
        "failing", secret=SECRET, notification_email="ops@failing.example.com"
    )
    dispatcher.integrations.subscribe(failing.id, "course/*", broken.url())
    dispatcher.integrations.subscribe(failing.id, "course/*", healthy.url())
    notifier = BuggyNotifier()
    worker = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE),
        clock=clock,
        policy=DeliveryPolicy(retry=RetryPolicy(max_retries=0), breaker=None),
        settings=fast_settings(
            notify_interval=0.05, notice_window=timedelta(0), notice_grace=timedelta(0)
        ),
        notifier=notifier,
    )

    async def scenario() -> None:
        async with serving(worker):
            dispatcher.emit(TOPIC, {"n": 0}, tenant="failing")
            worker.wake()
            await eventually(lambda: notifier.calls >= 2, within=30)
            for n in range(1, 20):  # the worker is still delivering after the bug
                dispatcher.emit(TOPIC, {"n": n}, tenant="failing")
            worker.wake()
            await eventually(lambda: healthy.requests == 20, within=30)
            await eventually(lambda: unfinished(store) == 0, within=30)

    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.worker"):
        anyio.run(scenario)

    assert any("KeyError" in (r.exc_text or "") for r in caplog.records)
    assert store.unsent_notifications()  # kept for when the notifier is fixed
    store.close()
    figures.add("faults", faults_injected=1, deliveries_checked=40, lost=0)


# -- the clock jumps backwards and forwards during a run ---------------------------------------


def test_clock_jumps_lose_nothing(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    server = hostile_server
    flaky = server.add("flaky", fails_first(503))
    gate = threading.Event()
    held = server.add("held", gated(gate))
    store = SqlStore(tmp_path / "clock.db")
    start = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
    clock = FakeClock(start)
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE)
    first = dispatcher.integrations.install("flaky", secret=SECRET)
    second = dispatcher.integrations.install("held", secret=SECRET)
    dispatcher.integrations.subscribe(first.id, "course/*", flaky.url())
    dispatcher.integrations.subscribe(second.id, "course/*", held.url())
    # Room for every held attempt twice over: the forward jump below claims them again. The
    # flaky endpoint fails 20 times in a row on purpose; no circuit breaker pauses it, so that
    # what moves deliveries here is the clock alone.
    settings = fast_settings(per_endpoint=16)
    worker = AsyncWorker(
        store,
        AsyncHttpxTransport(policy=INSECURE),
        clock=clock,
        policy=DeliveryPolicy(breaker=None),
        settings=settings,
    )
    flaky_ids: list[str | None] = []
    held_ids: list[str | None] = []

    def emit(tenant: str, count: int, into: list[str | None]) -> None:
        into.extend(dispatcher.emit(TOPIC, {"n": n}, tenant=tenant) for n in range(count))
        worker.wake()

    async def scenario() -> None:
        async with serving(worker):
            # Every first attempt fails; retries are due about 5 s later (fake time).
            emit("flaky", 20, flaky_ids)
            await eventually(lambda: flaky.requests == 20, within=30)
            await eventually(lambda: ledger(store).attempts_recorded == 20, within=30)
            # The clock jumps back a day: nothing becomes due early, events emitted now
            # (dated a day back) still go out at once.
            clock.set(start - timedelta(days=1))
            emit("flaky", 10, flaky_ids)
            await eventually(lambda: flaky.requests == 30, within=30)
            # Settled, so that the jumps below leave no attempt in flight past its lease.
            await eventually(lambda: ledger(store).attempts_recorded == 30, within=30)
            await anyio.sleep(0.3)
            assert flaky.requests == 30  # no retry fired while the clock was behind
            # Forward two days: every retry is due.
            clock.set(start + timedelta(days=2))
            worker.wake()
            await eventually(lambda: flaky.requests == 60, within=30)
            await eventually(lambda: ledger(store).attempts_recorded == 60, within=30)
            # Forward past the lease while attempts are in flight: the deliveries are
            # claimed again and sent twice (at least once), never lost.
            emit("held", 5, held_ids)
            await eventually(lambda: held.requests == 5, within=30)
            clock.advance(hours=1)
            worker.wake()
            await eventually(lambda: held.requests == 10, within=30)
            gate.set()
            await eventually(lambda: unfinished(store) == 0, within=30)

    anyio.run(scenario)

    deliveries = all_deliveries(store)
    book = ledger(store, deliveries)
    assert book.by_status == {DeliveryStatus.DELIVERED: 35}
    assert sorted(flaky.event_ids()) == sorted(2 * [i for i in flaky_ids if i])
    assert sorted(held.event_ids()) == sorted(2 * [i for i in held_ids if i])
    assert book.attempts_recorded == 70  # every attempt made is on record
    assert book.attempts_counted == 65  # a double-claimed delivery counts its attempt once
    store.close()
    figures.add("faults", faults_injected=3, clock_jumps=3, deliveries_checked=35, lost=0)
