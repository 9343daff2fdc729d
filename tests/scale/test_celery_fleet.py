"""The Celery path with a real broker and a real ``celery worker`` subprocess: the same checks
as the PostgreSQL fleet at a smaller size, a clean run on RabbitMQ and on Redis, and a run
whose worker is SIGKILLed (process group and all) mid-way and replaced.

N is ``ACADIO_WEBHOOKS_CELERY_EVENTS`` (default 300) events x 3 subscriptions.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.wakeup import APPLICATION_NAME
from acadio_webhooks.celery import CelerySettings
from tests.scale.fleet import (
    Fleet,
    Receiver,
    audit,
    delivered,
    emit_events,
    prepare_fleet,
    receiver_process,
    start_celery_worker,
    stop_processes,
    wait_for,
)
from tests.services import postgres_database, require_tcp_service

pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

EVENTS = int(os.environ.get("ACADIO_WEBHOOKS_CELERY_EVENTS", "300"))
PROCESSES = 2
LEASE = 10.0
BROKERS = {
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672),
    "redis": ("redis://127.0.0.1:6379/0", 6379),
}


@pytest.fixture
def db_url() -> Iterator[str]:
    with postgres_database("acadio_celery") as url:
        yield url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiver_process() as running:
        yield running


def broker_url(name: str) -> str:
    url, port = BROKERS[name]
    require_tcp_service(name, "127.0.0.1", port)
    return url


def progress(db_url: str, workers: list[subprocess.Popen[str]], log: Path) -> int:
    """Delivered so far; fails at once, with the worker's log, if a worker has exited."""
    for worker in workers:
        if worker.poll() is not None:
            tail = log.read_text()[-3000:] if log.exists() else "(no log)"
            raise AssertionError(f"celery worker exited with {worker.returncode}:\n{tail}")
    return delivered(db_url)


def receipts(receiver: Receiver, fleet: Fleet) -> int:
    """Check every path saw every webhook-id; return the extra copies."""
    seen, refused = receiver.stats()
    assert refused == 0
    extra = 0
    for path in fleet.paths:
        counts = seen.get(path, {})
        assert len(counts) == EVENTS, f"{path} saw {len(counts)} distinct ids"
        extra += sum(n - 1 for n in counts.values())
    return extra


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
def test_celery_delivers_every_event_exactly_once(
    broker: str, db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    url = broker_url(broker)
    fleet = prepare_fleet(db_url, receiver)
    queue = f"acadio_test_{secrets.token_hex(4)}"
    log = tmp_path / "worker.log"
    worker = start_celery_worker(
        db_url, url, queue, tmp_path / "beat", processes=PROCESSES, lease=LEASE, log=log
    )
    started = time.monotonic()
    try:
        emit_events(db_url, fleet, EVENTS)
        wait_for(
            lambda: progress(db_url, [worker], log) == EVENTS * 3,
            timeout=300,
            what="every delivery",
            every=0.5,
        )
    finally:
        stop_processes([worker])
    elapsed = time.monotonic() - started
    result = audit(db_url)
    assert result.by_status == {"delivered": EVENTS * 3}
    assert result.delivered_not_once == 0
    duplicates = receipts(receiver, fleet)
    print(
        f"\ncelery on {broker}: {EVENTS * 3} deliveries in {elapsed:.1f} s; "
        f"{result.attempts} attempts; {duplicates} duplicate receipts"
    )
    assert duplicates == 0
    assert result.attempts == EVENTS * 3


def test_a_celery_worker_killed_mid_way_loses_nothing(
    db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    url = broker_url("rabbitmq")
    fleet = prepare_fleet(db_url, receiver)
    queue = f"acadio_test_{secrets.token_hex(4)}"
    log = tmp_path / "worker1.log"
    first = start_celery_worker(db_url, url, queue, tmp_path / "beat1", lease=LEASE, log=log)
    workers = [first]
    try:
        emit_events(db_url, fleet, EVENTS)
        wait_for(
            lambda: progress(db_url, workers, log) >= EVENTS,
            timeout=300,
            what="a third of the deliveries",
            every=0.1,
        )
        # The whole worker at once: parent, pool children and beat, no chance to ack.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
        # RabbitMQ hands the dead worker's unacknowledged messages to the next one; their
        # leases moved to tasks that died, so those copies find nothing to take, and the
        # pump reclaims the deliveries once the leases run out.
        log = tmp_path / "worker2.log"
        workers = [
            start_celery_worker(db_url, url, queue, tmp_path / "beat2", lease=LEASE, log=log)
        ]
        wait_for(
            lambda: progress(db_url, workers, log) == EVENTS * 3,
            timeout=300,
            what="every delivery after the kill",
            every=0.5,
        )
    finally:
        stop_processes([first, *workers])
    result = audit(db_url)
    assert result.by_status == {"delivered": EVENTS * 3}
    assert result.delivered_not_once == 0
    duplicates = receipts(receiver, fleet)
    print(f"\ncelery with its worker SIGKILLed: {duplicates} duplicate receipts")
    # Only attempts made but not yet recorded at the kill can arrive twice: at most one
    # chunk (the default's) per pool process.
    assert duplicates <= PROCESSES * CelerySettings().chunk


def listening(db_url: str) -> bool:
    """Whether a Celery worker holds its ``LISTEN`` connection to this database."""
    return connections(db_url, listener=True) > 0


def connections(db_url: str, *, listener: bool) -> int:
    """Connections to this database: the workers' ``LISTEN`` ones, or (``listener=False``)
    all the others but this query's own."""
    which = "=" if listener else "<>"
    with _admin_engine(db_url).connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    f"AND application_name {which} :name AND pid <> pg_backend_pid()"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
        )


def _admin_engine(db_url: str) -> sa.Engine:
    return sa.create_engine(
        db_url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=sa.pool.NullPool
    )


def test_an_idle_celery_worker_attempts_a_new_event_without_beat_or_kick(
    db_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    url = broker_url("rabbitmq")
    fleet = prepare_fleet(db_url, receiver)
    queue = f"acadio_test_{secrets.token_hex(4)}"
    log = tmp_path / "worker.log"
    # Beat would not pump for an hour: only the worker's LISTEN can start this delivery.
    worker = start_celery_worker(
        db_url, url, queue, tmp_path / "beat", lease=LEASE, pump_interval=3600.0, log=log
    )
    try:
        wait_for(lambda: listening(db_url), timeout=120, what="the worker's LISTEN")
        progress(db_url, [worker], log)
        time.sleep(2.0)  # the pump its (re)connection starts has found nothing and ended
        emit_events(db_url, fleet, 1)
        wait_for(lambda: progress(db_url, [worker], log) == 3, timeout=60, what="the new event")
    finally:
        stop_processes([worker])
    assert audit(db_url).by_status == {"delivered": 3}


def test_every_pool_process_opens_its_store_before_its_first_task(
    db_url: str, tmp_path: Path
) -> None:
    # Opened by the first task instead, the store and HTTP client (~0.2 s) delayed the first
    # deliveries after every worker start. Nothing is emitted here and beat waits an hour:
    # at most the one pump the LISTEN connection starts runs, in one process.
    url = broker_url("rabbitmq")
    SqlStore(db_url).close()  # the host's deployment created the tables
    queue = f"acadio_test_{secrets.token_hex(4)}"
    log = tmp_path / "worker.log"
    worker = start_celery_worker(
        db_url, url, queue, tmp_path / "beat", pump_interval=3600.0, log=log, processes=3
    )
    try:
        wait_for(lambda: listening(db_url), timeout=120, what="the worker's LISTEN")
        wait_for(
            lambda: (
                progress(db_url, [worker], log) == 0 and connections(db_url, listener=False) >= 3
            ),
            timeout=60,
            what="a store connection in each of the 3 pool processes",
        )
    finally:
        stop_processes([worker])
