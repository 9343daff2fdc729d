"""Real processes for the scale tests and the scale benchmark: a receiver, worker processes
(the ``acadio-webhooks worker`` command), Celery workers, and an audit of the store."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy

__all__ = [
    "ROOT",
    "SECRET",
    "Receiver",
    "receiver_process",
    "Fleet",
    "prepare_fleet",
    "emit_events",
    "start_worker",
    "stop_processes",
    "start_celery_worker",
    "Audit",
    "audit",
    "delivered",
    "wait_for",
]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-scale-0123456789abcdef"
TOPIC = "course/completion/create"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Receiver:
    """A running receiver process (see ``tests/scale/receiver.py``)."""

    process: subprocess.Popen[str]
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stats(self) -> tuple[dict[str, dict[str, int]], int]:
        """``({path: {webhook_id: times seen}}, refused)``."""
        with urllib.request.urlopen(self.url("/_stats"), timeout=30) as response:
            data = json.loads(response.read())
        return data["seen"], int(data["refused"])

    def reset(self) -> None:
        request = urllib.request.Request(self.url("/_reset"), method="POST")
        with urllib.request.urlopen(request, timeout=30):
            pass


@contextmanager
def receiver_process(*, secret: str | None = SECRET) -> Iterator[Receiver]:
    """Start the receiver (verifying with ``secret`` unless None); stop it afterwards."""
    command = [sys.executable, "-m", "tests.scale.receiver"]
    if secret is not None:
        command += ["--secret", secret]
    process = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"the receiver did not start: {line!r}")
        yield Receiver(process, int(line.split()[1]))
    finally:
        stop_processes([process], signal.SIGKILL)
        if process.stdout is not None:
            process.stdout.close()


@dataclass(frozen=True)
class Fleet:
    """What :func:`prepare_fleet` set up: the tenant and one endpoint path per subscription."""

    tenant: str
    paths: tuple[str, ...]


def prepare_fleet(db_url: str, receiver: Receiver, *, subscriptions: int = 3) -> Fleet:
    """One integration with ``subscriptions`` subscriptions to ``course/*``, one path each."""
    with Dispatcher(db_url, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher:
        integration = dispatcher.integrations.install("scale", secret=SECRET)
        paths = tuple(f"/s{n}" for n in range(subscriptions))
        for path in paths:
            dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url(path))
    return Fleet("scale", paths)


def emit_events(db_url: str, fleet: Fleet, count: int, *, per_transaction: int = 500) -> None:
    """Emit ``count`` events, ``per_transaction`` to a host transaction (the outbox path:
    one commit, and one notification, per transaction)."""
    with Dispatcher(db_url, endpoint_policy=EndpointPolicy(allow_insecure=True)) as dispatcher:
        store = dispatcher.store
        assert isinstance(store, SqlStore)
        done = 0
        while done < count:
            batch = min(per_transaction, count - done)
            with store.engine.begin() as conn:
                for n in range(done, done + batch):
                    dispatcher.emit(TOPIC, {"n": n}, tenant=fleet.tenant, connection=conn)
            done += batch


def start_worker(
    db_url: str,
    *,
    concurrency: int = 50,
    lease: float = 300.0,
    poll_interval: float = 1.0,
    transport: str = "aiohttp",
    per_endpoint: int | None = None,
) -> subprocess.Popen[str]:
    """An ``acadio-webhooks worker`` process on ``db_url`` (``per_endpoint`` None: the
    command's default)."""
    command = [
        sys.executable,
        "-m",
        "acadio_webhooks",
        "worker",
        "--db",
        db_url,
        "--concurrency",
        str(concurrency),
        "--lease",
        str(lease),
        "--poll-interval",
        str(poll_interval),
        "--transport",
        transport,
        "--allow-insecure-endpoints",
        "--log-level",
        "WARNING",
    ]
    if per_endpoint is not None:
        command += ["--per-endpoint", str(per_endpoint)]
    return subprocess.Popen(command, cwd=ROOT, env=_env(), text=True)


def start_celery_worker(
    db_url: str,
    broker: str,
    queue: str,
    schedule_file: Path,
    *,
    processes: int = 2,
    lease: float | None = None,
    chunk: int | None = None,
    batch: int | None = None,
    pump_interval: float | None = None,
    log: Path | None = None,
) -> subprocess.Popen[str]:
    """A real ``celery worker`` (prefork, with embedded beat for the pump) running
    ``tests/scale/celery_app.py``, in its own process group so it can be killed whole.
    Settings left None keep :class:`~acadio_webhooks.celery.CelerySettings`' defaults."""
    env = _env()
    env.update(ACADIO_CELERY_BROKER=broker, ACADIO_CELERY_DB=db_url, ACADIO_CELERY_QUEUE=queue)
    given = {"LEASE": lease, "CHUNK": chunk, "BATCH": batch, "PUMP_INTERVAL": pump_interval}
    env.update({f"ACADIO_CELERY_{key}": str(value) for key, value in given.items() if value})
    for key in (key for key, value in given.items() if not value):
        env.pop(f"ACADIO_CELERY_{key}", None)
    command = [
        sys.executable,
        "-m",
        "celery",
        "--quiet",
        "-A",
        "tests.scale.celery_app",
        "worker",
        "--beat",
        "--schedule",
        str(schedule_file),
        "--pool",
        "prefork",
        "--concurrency",
        str(processes),
        "--queues",
        queue,
        # A node name of its own: the default (celery@<host>) names an exclusive broker
        # queue (the pidbox) that a worker killed a moment ago, or another run's worker on
        # this machine, may still hold, and the new worker would exit RESOURCE_LOCKED.
        "--hostname",
        f"acadio-test-{secrets.token_hex(4)}@%h",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
        "--loglevel",
        "WARNING",
    ]
    output = log.open("w") if log is not None else None
    try:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            text=True,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
    finally:
        if output is not None:
            output.close()  # the child has its own copy


def stop_processes(
    processes: Sequence[subprocess.Popen[str]],
    how: signal.Signals = signal.SIGTERM,
    timeout: float = 60.0,
) -> list[int | None]:
    """Signal every process, wait up to ``timeout`` for each, kill stragglers; exit codes."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(how)
    codes: list[int | None] = []
    for process in processes:
        try:
            codes.append(process.wait(timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            codes.append(None)
    return codes


@dataclass(frozen=True)
class Audit:
    """The store's view of a run."""

    by_status: dict[str, int]
    delivered_not_once: int
    """Deliveries whose count of successful attempts is not exactly one."""
    attempts: int

    def count(self, status: str) -> int:
        return self.by_status.get(status, 0)


_engines: dict[str, sa.Engine] = {}


def _engine(db_url: str) -> sa.Engine:
    if db_url not in _engines:
        url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
        _engines[db_url] = sa.create_engine(url, poolclass=sa.pool.NullPool)
    return _engines[db_url]


def delivered(db_url: str) -> int:
    """How many deliveries the store records as delivered (cheap: for polling)."""
    with _engine(db_url).connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM acadio_deliveries WHERE status = 'delivered'")
            ).scalar_one()
        )


def audit(db_url: str) -> Audit:
    """Count deliveries per status and check each delivered one has one successful attempt."""
    with _engine(db_url).connect() as conn:
        by_status = dict(
            conn.execute(
                sa.text("SELECT status, count(*) FROM acadio_deliveries GROUP BY status")
            ).all()
        )
        not_once = conn.execute(
            sa.text(
                "SELECT count(*) FROM acadio_deliveries d WHERE d.status = 'delivered' AND "
                "(SELECT count(*) FROM acadio_attempts a WHERE a.delivery_id = d.id "
                "AND a.succeeded) <> 1"
            )
        ).scalar_one()
        attempts = conn.execute(sa.text("SELECT count(*) FROM acadio_attempts")).scalar_one()
    return Audit({str(k): int(v) for k, v in by_status.items()}, int(not_once), int(attempts))


def wait_for(
    condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.25
) -> None:
    """Poll ``condition`` until true; fail (not a timing assertion) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(every)
