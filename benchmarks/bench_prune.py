"""Pruning a large history while the host emits: what it costs the host's emits.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_prune.py                    # 1,000,000 deliveries
    .venv/bin/python benchmarks/bench_prune.py --history 100000   # a shorter run
    .venv/bin/python benchmarks/bench_prune.py --smoke            # CI's check that it runs

For each store (SQLite, and PostgreSQL in a fresh database on 127.0.0.1:5432): a history of
``--history`` delivered deliveries, each with its event (1 KiB payload) and one attempt, 60
days old, is inserted with bulk SQL. Then a thread emits one event at a time, ``--pace``
apart, as a host's request handlers do, first for ``--quiet`` seconds alone (the baseline),
then while ``Store.prune`` deletes everything older than 30 days through a store of its own,
as the worker's retention does (batches of at most ``--batch-size`` events, the worker's
default, paced by the store).

``--layouts`` says where the pruning runs: ``process`` (default) in a process of its own, as
with ``acadio-webhooks worker`` or ``acadio-webhooks prune`` beside the host's web
processes; ``thread`` in the emitting process, as with ``start_worker()`` inside the host
(the two then share one interpreter lock). Printed per store and layout: emit p50/p99/max
without and during pruning, the longest prune transaction, rows deleted per second (events,
deliveries and attempts together).

Target (issue #20): emit p99 during pruning <= 2x emit p99 without it, per store and layout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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
    with store.engine.begin() as conn:  # ANALYZE's statistics are kept only when it commits
        conn.execute(sa.text("ANALYZE"))
    if sqlite:  # a settled database: not one whose next commit copies gigabytes of log
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
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


class TransactionTimer:
    """How long each transaction of one store lasted, from its BEGIN to its connection's
    return to the pool (after the commit)."""

    def __init__(self, store: SqlStore) -> None:
        self.durations: list[float] = []
        self._began = 0.0
        sa.event.listen(store.engine, "begin", self._begin)
        sa.event.listen(store.engine.pool, "checkin", self._end)

    def _begin(self, _conn: object) -> None:
        self._began = time.perf_counter()

    def _end(self, *_args: object) -> None:
        if self._began:
            self.durations.append(time.perf_counter() - self._began)
            self._began = 0.0


def prune_all(url: str, batch: int) -> dict[str, Any]:
    """Prune everything older than ``RETENTION`` through a store of its own; what went, how
    long it took and how long its transactions were."""
    store = SqlStore(url, create=False)
    try:
        timer = TransactionTimer(store)
        total = PruneReport()
        began = time.perf_counter()
        for part in store.prune(datetime.now(timezone.utc) - RETENTION, limit=batch):
            total = total + part
        elapsed = time.perf_counter() - began
    finally:
        store.close()
    return {
        "events": total.events,
        "deliveries": total.deliveries,
        "attempts": total.attempts,
        "elapsed": elapsed,
        "transactions": timer.durations,
    }


def prune_elsewhere(layout: str, url: str, batch: int, emitting: Emitter) -> dict[str, Any]:
    """``prune_all`` in a child process or a thread; ``emitting`` starts once it is ready."""
    if layout == "thread":
        outcome: dict[str, Any] = {}
        pruner = threading.Thread(target=lambda: outcome.update(prune_all(url, batch)))
        emitting.start()
        pruner.start()
        pruner.join()
        return outcome
    child = subprocess.Popen(
        [sys.executable, __file__, "--prune-url", url, "--batch-size", str(batch)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError("the pruning process did not start")
    emitting.start()
    child.stdin.write("go\n")
    child.stdin.flush()
    outcome = json.loads(child.stdout.readline())
    if child.wait() != 0:
        raise RuntimeError(f"the pruning process exited with {child.returncode}")
    return dict(outcome)


def child_main(url: str, batch: int) -> int:
    """The ``process`` layout's pruner: says ready, waits for go, prints its outcome."""
    SqlStore(url, create=False).close()  # imports done, the database reachable
    print("ready", flush=True)
    sys.stdin.readline()
    print(json.dumps(prune_all(url, batch)), flush=True)
    return 0


def measure(
    kind: str, admin_url: str, size: int, *, layout: str, quiet: float, pace: float, batch: int
) -> list[Target]:
    with fresh_sql_store(kind, admin_url) as store:
        started = time.perf_counter()
        dispatcher = build_history(store, size)
        print(
            f"{kind}, pruning in a {layout}: {size:,} old deliveries built in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        alone = Emitter(dispatcher, pace)
        alone.start()
        time.sleep(quiet)
        without = alone.stop()
        beside = Emitter(dispatcher, pace)
        url = store.engine.url.render_as_string(hide_password=False)
        outcome = prune_elsewhere(layout, url, batch, beside)
        during = beside.stop()
    if outcome["deliveries"] != size:
        raise RuntimeError(f"pruned {outcome['deliveries']:,} deliveries of {size:,}")
    rows = outcome["events"] + outcome["deliveries"] + outcome["attempts"]
    elapsed = outcome["elapsed"]
    transactions: list[float] = outcome["transactions"]

    def ms(value: float) -> str:
        return f"{value * 1000:8.2f}"

    print(f"  emit latency (ms)   {'p50':>8} {'p99':>8} {'max':>8}  emits")
    for label, values in (("without pruning", without), ("during pruning", during)):
        print(
            f"  {label:<18}{ms(p(values, 50))} {ms(p(values, 99))} "
            f"{ms(max(values))}  {len(values):,}"
        )
    print(
        f"  pruned {rows:,} rows in {elapsed:.1f} s: {rows / elapsed:,.0f} rows/s; "
        f"{len(transactions):,} transactions, {size / len(transactions):,.0f} events each "
        f"on average; longest {ms(max(transactions)).strip()} ms, "
        f"p99 {ms(p(transactions, 99)).strip()} ms, "
        f"median {ms(statistics.median(transactions)).strip()} ms",
        flush=True,
    )
    return [
        Target(
            f"{kind}, pruning in a {layout}: emit p99 during pruning / without",
            p(during, 99) / p(without, 99),
            TARGET,
            at_most=True,
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--layouts", default="process,thread", help="process, thread or both")
    parser.add_argument("--history", type=int, help="old deliveries (default 1,000,000)")
    parser.add_argument("--batch-size", type=int, default=500, help="events per transaction")
    parser.add_argument("--quiet", type=float, help="seconds of emits without pruning (10)")
    parser.add_argument("--pace", type=float, default=0.005, help="seconds between emits")
    parser.add_argument(
        "--postgres-admin",
        default=POSTGRES_ADMIN,
        help="database URL used to create and drop the benchmark database",
    )
    parser.add_argument("--prune-url", help=argparse.SUPPRESS)  # the process layout's child
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.prune_url:
        return child_main(args.prune_url, args.batch_size)
    size = args.history or (2_000 if args.smoke else 1_000_000)
    quiet = args.quiet or (0.5 if args.smoke else 10.0)
    print(machine_note(smoke=args.smoke))
    print(
        f"history: {size:,} delivered deliveries 60 days old; one emit every "
        f"{args.pace * 1000:g} ms; prune batches of at most {args.batch_size} events"
    )
    targets: list[Target] = []
    for kind in args.stores.split(","):
        for layout in args.layouts.split(","):
            targets += measure(
                kind,
                args.postgres_admin,
                size,
                layout=layout,
                quiet=quiet,
                pace=args.pace,
                batch=args.batch_size,
            )
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
