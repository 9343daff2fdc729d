"""Pruning a large history while the host emits: what it costs the host's emits.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_prune.py                    # 1,000,000 deliveries, ~10 min
    .venv/bin/python benchmarks/bench_prune.py --history 100000   # a shorter run
    .venv/bin/python benchmarks/bench_prune.py --smoke            # CI's check that it runs

For each store (SQLite, and PostgreSQL in a fresh database on 127.0.0.1:5432): a history of
``--history`` delivered deliveries, each with its event (1 KiB payload) and one attempt, 60
days old, is inserted with bulk SQL. Then a thread emits one event at a time, ``--pace``
apart, as a host's request handlers do, first for ``--quiet`` seconds alone (the baseline),
then while ``Store.prune`` deletes everything older than 30 days in batches of
``--batch-size`` events (the worker's default, 500). Printed per store: emit p50/p99/max
without and during pruning, the longest prune transaction, rows deleted per second (events,
deliveries and attempts together).

Target (issue #20): emit p99 during pruning <= 2x emit p99 without it, per store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import Target, add_smoke_flag, exit_code, machine_note, report
from bench_delivery import INSECURE, POSTGRES_ADMIN, fresh_sql_store

from acadio_webhooks import Dispatcher
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.retention import PruneReport

TENANT = "tenant-bench"
SECRET = "whsec-bench-0123456789abcdef"
TOPIC = "course/completion/create"
DATA = {"course_id": 7, "user_id": 42, "note": "x" * 900}
TARGET = 2.0
RETENTION = timedelta(days=30)


def build_history(store: SqlStore, size: int) -> Dispatcher:
    """``size`` old, delivered deliveries with their events and attempts, by bulk SQL; the
    dispatcher the emits go through (one subscription, so each emit stores a delivery)."""
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE, resolver=StaticResolver())
    integration = dispatcher.integrations.install(TENANT, secret=SECRET)
    subscription = dispatcher.integrations.subscribe(
        integration.id, "course/*", "http://127.0.0.1:9/hooks"
    )
    old = datetime.now(timezone.utc) - timedelta(days=60)
    sqlite = store.engine.dialect.name == "sqlite"
    stamp: object = old.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else old
    if sqlite:
        series = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
        source = "FROM n"
        ident = "printf('{prefix}%010d', i)"
    else:
        series = ""
        source = "FROM generate_series(0, :last) AS i"
        ident = "'{prefix}' || lpad(i::text, 10, '0')"
    params = {
        "last": size - 1,
        "stamp": stamp,
        "payload": b"x" * 1024,
        "tenant": TENANT,
        "topic": TOPIC,
        "subscription": subscription.id,
        "integration": integration.id,
    }
    statements = [
        "INSERT INTO acadio_events (id, tenant, topic, created_at, payload) "
        f"{series}SELECT {ident.format(prefix='evt_old')}, :tenant, :topic, :stamp, :payload "
        f"{source}",
        "INSERT INTO acadio_deliveries (id, event_id, subscription_id, integration_id, "
        "tenant, topic, status, attempts, created_at, updated_at) "
        f"{series}SELECT {ident.format(prefix='dlv_old')}, {ident.format(prefix='evt_old')}, "
        ":subscription, :integration, :tenant, :topic, 'delivered', 1, :stamp, :stamp "
        f"{source}",
        "INSERT INTO acadio_attempts (attempt_id, delivery_id, number, started_at, "
        "duration_ms, status_code, response_excerpt, succeeded) "
        f"{series}SELECT {ident.format(prefix='att_old')}, {ident.format(prefix='dlv_old')}, "
        f"1, :stamp, 12, 200, '', true {source}",
    ]
    with store.engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params)
    if not sqlite:
        with store.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
    return dispatcher


class Emitter(threading.Thread):
    """Emits one event every ``pace`` seconds until stopped; keeps each emit's latency."""

    def __init__(self, dispatcher: Dispatcher, pace: float) -> None:
        super().__init__(daemon=True)
        self.dispatcher = dispatcher
        self.pace = pace
        self.latencies: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.perf_counter()
            self.dispatcher.emit(TOPIC, DATA, tenant=TENANT)
            took = time.perf_counter() - began
            self.latencies.append(took)
            self.stopping.wait(max(0.0, self.pace - took))

    def stop(self) -> list[float]:
        self.stopping.set()
        self.join()
        return self.latencies


def p(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def measure(
    kind: str, admin_url: str, size: int, *, quiet: float, pace: float, batch: int
) -> list[Target]:
    with fresh_sql_store(kind, admin_url) as store:
        started = time.perf_counter()
        dispatcher = build_history(store, size)
        print(f"{kind}: {size:,} old deliveries built in {time.perf_counter() - started:.1f} s")
        alone = Emitter(dispatcher, pace)
        alone.start()
        time.sleep(quiet)
        without = alone.stop()

        beside = Emitter(dispatcher, pace)
        beside.start()
        transactions: list[float] = []
        total = PruneReport()
        began = time.perf_counter()
        batches = store.prune(datetime.now(timezone.utc) - RETENTION, limit=batch)
        while True:
            step = time.perf_counter()
            try:
                part = next(batches)
            except StopIteration:
                break
            transactions.append(time.perf_counter() - step)
            total = total + part
        elapsed = time.perf_counter() - began
        during = beside.stop()
    if total.deliveries != size:
        raise RuntimeError(f"pruned {total.deliveries:,} deliveries of {size:,}")
    rows = total.events + total.deliveries + total.attempts

    def ms(value: float) -> str:
        return f"{value * 1000:8.2f}"

    print(f"  emit latency (ms)   {'p50':>8} {'p99':>8} {'max':>8}  emits")
    for label, values in (("without pruning", without), ("during pruning", during)):
        print(
            f"  {label:<18}{ms(p(values, 50))} {ms(p(values, 99))} "
            f"{ms(max(values))}  {len(values):,}"
        )
    print(
        f"  pruned {rows:,} rows ({total.events:,} events, {total.deliveries:,} deliveries, "
        f"{total.attempts:,} attempts) in {elapsed:.1f} s: {rows / elapsed:,.0f} rows/s; "
        f"{len(transactions):,} transactions of {batch} events, longest "
        f"{max(transactions) * 1000:.1f} ms, median {statistics.median(transactions) * 1000:.1f} ms"
    )
    return [
        Target(
            f"{kind}: emit p99 during pruning / without",
            p(during, 99) / p(without, 99),
            TARGET,
            at_most=True,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--history", type=int, help="old deliveries (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per transaction")
    parser.add_argument("--quiet", type=float, help="seconds of emits without pruning (10)")
    parser.add_argument("--pace", type=float, default=0.005, help="seconds between emits")
    parser.add_argument(
        "--postgres-admin",
        default=POSTGRES_ADMIN,
        help="database URL used to create and drop the benchmark database",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    size = args.history or (2_000 if args.smoke else 1_000_000)
    quiet = args.quiet or (0.5 if args.smoke else 10.0)
    print(machine_note(smoke=args.smoke))
    print(
        f"history: {size:,} delivered deliveries 60 days old; one emit every "
        f"{args.pace * 1000:g} ms; prune batches of {args.batch_size} events"
    )
    targets: list[Target] = []
    for kind in args.stores.split(","):
        targets += measure(
            kind, args.postgres_admin, size, quiet=quiet, pace=args.pace, batch=args.batch_size
        )
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
