"""The Celery path at its defaults, each figure against an ``AsyncWorker`` in the same run.

    python benchmarks/bench_celery.py [--events N] [--backlog N] [--rounds R]
                                      [--broker URL] [--processes P]
    python benchmarks/bench_celery.py --smoke     # CI's check that it runs

Needs PostgreSQL on 127.0.0.1:5432 and a broker (RabbitMQ by default). One loopback receiver
process answers every POST with 200 at once; every case runs in a fresh PostgreSQL database.
Events carry about 1 KiB of data. Issue #22's targets:

1. **Drain at defaults.** ``--events`` (2,000) events to one endpoint, committed at once: the
   deliveries/s, from that commit, of a ``celery worker --beat --concurrency 2`` running
   ``CeleryDelivery`` with ``CelerySettings()`` (only the queue named), against an
   ``acadio-webhooks worker`` (``AsyncWorker``, concurrency 50, all 50 for the one endpoint,
   aiohttp) on the same store and receiver. Target >= 0.8x.
2. **Fair without a ceiling.** With ``--backlog`` (10,000) deliveries of endpoint A committed,
   50 events for endpoint B are emitted one every 100 ms; each B delivery's wait is its first
   attempt's start minus its event's ``created_at`` (both from the store). Target: p99 <= 1 s,
   and A's backlog still drains at >= 0.8x the worker's rate of item 1.
3. **No kick needed.** In an idle system, 20 single events (one every 0.5 s, nothing called
   after the emit): p50 of the same wait <= 200 ms. And ``CeleryDelivery.kick()`` in the
   emitting process: median cost <= 50 us.

Rounds of item 1 alternate worker and Celery; medians are reported. The machine's load is
printed first: the receiver, PostgreSQL, the broker and the workers share its cores.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402 - after the path set-up above
from _targets import Target, add_smoke_flag, exit_code, machine_note, report  # noqa: E402

from acadio_webhooks.adapters.storage.sql import SqlStore  # noqa: E402
from acadio_webhooks.dispatcher import Dispatcher, NewEvent  # noqa: E402
from acadio_webhooks.domain.endpoints import EndpointPolicy  # noqa: E402
from tests.scale.fleet import (  # noqa: E402
    Receiver,
    delivered,
    receiver_process,
    start_celery_worker,
    start_worker,
    stop_processes,
    wait_for,
)
from tests.services import postgres_database  # noqa: E402

SECRET = "whsec-bench-celery-0123456789"
PAD = "x" * 1000  # about 1 KiB of event data, like the delivery benchmark's
POLICY = EndpointPolicy(allow_insecure=True)


@dataclass(frozen=True)
class Setup:
    db_url: str
    dispatcher: Dispatcher


@contextmanager
def fresh_setup(receiver: Receiver) -> Iterator[Setup]:
    """A fresh database with one integration: endpoint A takes ``course/*``, B
    ``identity/*``."""
    with (
        postgres_database("acadio_bench") as db_url,
        Dispatcher(db_url, endpoint_policy=POLICY) as dispatcher,
    ):
        integration = dispatcher.integrations.install("bench", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/a"))
        dispatcher.integrations.subscribe(integration.id, "identity/*", receiver.url("/b"))
        yield Setup(db_url, dispatcher)


def emit_backlog(setup: Setup, count: int) -> None:
    """``count`` events for endpoint A, committed in one transaction (one ``NOTIFY``)."""
    setup.dispatcher.emit_many(
        NewEvent("course/completion/create", {"n": n, "pad": PAD}, tenant="bench")
        for n in range(count)
    )


def emit_one(setup: Setup, n: int) -> None:
    setup.dispatcher.emit("identity/user/create", {"n": n, "pad": PAD}, tenant="bench")


def drain_rate(setup: Setup, count: int) -> float:
    """Commit ``count`` deliveries for A; deliveries/s until the store records the last."""
    before = delivered(setup.db_url)
    emit_backlog(setup, count)
    started = time.perf_counter()  # the commit: from here the workers race
    wait_for(
        lambda: delivered(setup.db_url) >= before + count,
        timeout=1800,
        what="the backlog",
        every=0.05,
    )
    return count / (time.perf_counter() - started)


def waits(setup: Setup, topic_prefix: str) -> list[float]:
    """Seconds from each event's ``created_at`` to its delivery's first attempt."""
    store = setup.dispatcher.store
    assert isinstance(store, SqlStore)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.created_at, min(a.started_at) FROM acadio_events e "
                "JOIN acadio_deliveries d ON d.event_id = e.id "
                "JOIN acadio_attempts a ON a.delivery_id = d.id "
                "WHERE e.topic LIKE :prefix GROUP BY e.id, e.created_at"
            ),
            {"prefix": f"{topic_prefix}%"},
        ).all()
    return sorted((attempted - created).total_seconds() for created, attempted in rows)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextmanager
def celery_worker(setup: Setup, broker: str, processes: int) -> Iterator[str]:
    """A ``celery worker --beat`` at ``CelerySettings()`` defaults; yields its queue."""
    queue = f"acadio_bench_{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp:
        worker = start_celery_worker(
            setup.db_url, broker, queue, Path(tmp) / "beat", processes=processes
        )
        try:
            time.sleep(4.0)  # the pool and beat start
            if worker.poll() is not None:
                raise RuntimeError(f"the celery worker exited with {worker.returncode}")
            yield queue
        finally:
            stop_processes([worker])


def round_of_drains(
    receiver: Receiver, broker: str, processes: int, events: int
) -> dict[str, float]:
    rates: dict[str, float] = {}
    with fresh_setup(receiver) as setup:
        worker = start_worker(setup.db_url, concurrency=50, per_endpoint=50)
        try:
            time.sleep(2.0)
            rates["worker"] = drain_rate(setup, events)
        finally:
            stop_processes([worker])
    with fresh_setup(receiver) as setup, celery_worker(setup, broker, processes):
        rates["celery"] = drain_rate(setup, events)
    return rates


def fairness(
    receiver: Receiver, broker: str, processes: int, backlog: int, probes: int
) -> tuple[list[float], float]:
    """B's waits while A drains ``backlog``; A's deliveries/s meanwhile."""
    with fresh_setup(receiver) as setup, celery_worker(setup, broker, processes):
        emit_backlog(setup, backlog)
        started = time.perf_counter()
        for n in range(probes):
            time.sleep(0.1)
            emit_one(setup, n)
        wait_for(
            lambda: delivered(setup.db_url) >= backlog + probes,
            timeout=3600,
            what="A's backlog and B's events",
            every=0.05,
        )
        a_rate = backlog / (time.perf_counter() - started)
        return waits(setup, "identity/"), a_rate


def idle_latency(receiver: Receiver, broker: str, processes: int, probes: int) -> list[float]:
    with fresh_setup(receiver) as setup, celery_worker(setup, broker, processes):
        for n in range(probes):
            emit_one(setup, n)
            time.sleep(0.5)
        wait_for(lambda: delivered(setup.db_url) >= probes, timeout=120, what="the idle events")
        return waits(setup, "identity/")


def kick_cost(broker: str, calls: int) -> float:
    """Median seconds of one ``kick()`` in a process that only emits (the host's)."""
    from celery import Celery

    from acadio_webhooks.celery import CeleryDelivery, CelerySettings

    queue = f"acadio_bench_kick_{secrets.token_hex(4)}"
    app = Celery("bench-host", broker=broker, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = True
    with postgres_database("acadio_bench") as db_url:
        webhooks = CeleryDelivery(app, db_url, settings=CelerySettings(queue=queue), schedule=False)
        webhooks.kick()  # the broker connection opens on first use, as in a host
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            webhooks.kick()
            times.append(time.perf_counter() - started)
            time.sleep(0.001)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)
        return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672//")
    add_smoke_flag(parser)
    args = parser.parse_args()
    probes, idle_probes, kicks = 50, 20, 2000
    if args.smoke:
        args.events, args.backlog, args.rounds = 40, 100, 1
        probes, idle_probes, kicks = 5, 3, 20
    print(machine_note(smoke=args.smoke))
    print(
        f"Celery: {args.processes} prefork processes, CelerySettings() defaults; "
        f"worker: acadio-webhooks worker --concurrency 50 --per-endpoint 50 --transport aiohttp\n"
    )
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Celery warns at every start that this machine's benchmarks run as root.
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    with receiver_process(secret=None) as receiver:
        rounds = []
        for number in range(args.rounds):
            rates = round_of_drains(receiver, args.broker, args.processes, args.events)
            print(
                f"round {number + 1}: {args.events} deliveries to one endpoint — worker "
                f"{rates['worker']:,.0f}/s, celery {rates['celery']:,.0f}/s",
                flush=True,
            )
            rounds.append(rates)
        worker = statistics.median(r["worker"] for r in rounds)
        celery = statistics.median(r["celery"] for r in rounds)
        print(f"medians: worker {worker:,.0f}/s, celery {celery:,.0f}/s")

        b_waits, a_rate = fairness(receiver, args.broker, args.processes, args.backlog, probes)
        print(
            f"\nfairness: {args.backlog:,} for A, {probes} for B one every 100 ms — B waited "
            f"p50 {percentile(b_waits, 0.5) * 1e3:,.0f} ms, p99 "
            f"{percentile(b_waits, 0.99) * 1e3:,.0f} ms, max {max(b_waits) * 1e3:,.0f} ms; "
            f"A drained at {a_rate:,.0f}/s",
            flush=True,
        )
        idle = idle_latency(receiver, args.broker, args.processes, idle_probes)
        print(
            f"idle: {idle_probes} single events, no kick — waited p50 "
            f"{percentile(idle, 0.5) * 1e3:,.0f} ms, max {max(idle) * 1e3:,.0f} ms",
            flush=True,
        )
    kick = kick_cost(args.broker, kicks)
    print(f"kick(): median {kick * 1e6:,.1f} us over {kicks} calls")

    targets = [
        Target("1. celery at defaults / worker, one endpoint", celery / worker, 0.8),
        Target("2. B's wait behind A's backlog, p99", percentile(b_waits, 0.99), 1.0, True, " s"),
        Target("2. A's drain meanwhile / worker", a_rate / worker, 0.8),
        Target("3. idle wait without kick, p50", percentile(idle, 0.5) * 1e3, 200, True, " ms"),
        Target("3. kick() in the host", kick * 1e6, 50, True, " us"),
    ]
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
