"""What emitting costs on the SQL stores, per event: ``emit``, ``emit_many`` in batches of
1, 100 and 1000, and two baselines measured in the same run.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_emit.py              # SQLite, PostgreSQL, MariaDB, ~8 min
    .venv/bin/python benchmarks/bench_emit.py --quick      # a smoke run, ~1 minute
    .venv/bin/python benchmarks/bench_emit.py --stores sqlite --rounds 20

Every event is ``course/completion/create`` with a ~200-byte body for a tenant with two
matching subscriptions, so it stores one event row and two delivery rows. Cases:

``per-event path (before)``
    What ``emit`` did before it became one transaction, copied from commit aebfad8 with the
    store code it ran: read the routing revision in a transaction of its own, re-read the
    tenant's routes when it moved, plan the event, insert it in a second transaction.
``bare insert, batch N``
    SQLAlchemy Core inserting rows equivalent to N events' (made in advance, nothing
    validated, routed or serialised) with one ``executemany`` per table, in one transaction
    per N events.
``raw driver, batch N``
    The floor: the same rows, already converted to what the database stores, inserted through
    the DB-API driver itself (``sqlite3``: ``BEGIN IMMEDIATE`` ... ``COMMIT`` as the store
    does; psycopg: a commit per transaction), no SQLAlchemy in between.
``emit``, ``emit_many, batch N``
    The dispatcher as shipped.
``async emit (thread)``, ``async emit, joined``
    ``AsyncDispatcher.emit`` without a connection (a worker thread), and joined to the host's
    ``AsyncConnection`` (aiosqlite, asyncpg) with its begin and commit (``_async_emit.py``);
    not on MariaDB, whose async drivers are not tested.

Rounds are short and interleaved (every case once per round on ``--events`` events, the
order rotated) and the tables are emptied between rounds, so a slow moment of a shared machine
hits every case of a round alike; the table shows the median per event over rounds, and each
ratio is taken within a round, its median and interquartile range over rounds reported.
PostgreSQL runs in a fresh database on 127.0.0.1:5432 (``--postgres-admin``), MariaDB in one
on 127.0.0.1:3306 (``--mariadb-admin``), each dropped afterwards and skipped with a message
when unreachable.

Targets (issue #13): a single ``emit`` <= 2x the raw driver's batch of 1 on SQLite and <= 1.3x
on PostgreSQL; ``emit_many`` of 1,000 events on SQLite >= 20,000 events/s and >= 0.5x the raw
driver's batch of 1,000 (its time / ours). No issue sets one for MariaDB: its table is printed
beside the others. The script exits 1 when a run misses one, except with ``--smoke``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _async_emit import AsyncEmits
from _targets import Target, add_smoke_flag, exit_code, hmac_microseconds, machine_note
from _targets import report as report_targets
from bench_delivery import (
    MARIADB_ADMIN,
    POSTGRES_ADMIN,
    SECRET,
    SERVERS,
    SMALL_DATA,
    TENANT,
    TOPIC,
    server_database,
)
from sqlalchemy import Connection, Engine, Table, delete, func, select

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql import _codec as codec
from acadio_webhooks.adapters.storage.sql._queue import DUE_CHANNEL
from acadio_webhooks.adapters.storage.sql.schema import (
    deliveries,
    events,
    integrations,
    routing_revision,
    subscriptions,
)
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.domain.patterns import PatternIndex
from acadio_webhooks.domain.planning import check_event_fields, plan_event
from acadio_webhooks.domain.store_rules import check_batch

BATCHES = (1, 100, 1000)
BEFORE = "per-event path (before)"


class PerEventPath:
    """``emit`` as it was before it became one transaction (at commit aebfad8), copied with
    the store code it ran, statements built on every call as they were: the routing revision
    read in a transaction of its own (the dispatcher's ``_Routing.matching``), the routes
    re-read when it moved, the event planned, then ``enqueue`` in a second transaction."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._store: SqlStore = dispatcher.store  # type: ignore[assignment]
        self._tenants: dict[str, tuple[int, PatternIndex[str], dict[str, str]]] = {}

    def _revision(self, conn: Connection) -> int:
        query = select(routing_revision.c.revision).where(routing_revision.c.id == 1)
        return int(conn.execute(query).scalar_one())

    def _routes(self, tenant: str) -> tuple[int, list[Any]]:
        s, i = subscriptions, integrations
        query = (
            select(s.c.id, s.c.integration_id, s.c.pattern)
            .join(i, i.c.id == s.c.integration_id)
            .where(i.c.tenant == tenant, i.c.active.is_(True), s.c.active.is_(True))
            .order_by(s.c.created_at, s.c.id)
        )
        with self._store._transaction("reading routes") as conn:
            return self._revision(conn), list(conn.execute(query).all())

    def _matching(self, tenant: str, topic: str) -> list[tuple[str, str]]:
        with self._store._transaction("reading the routing revision") as conn:
            revision = self._revision(conn)
        cached = self._tenants.get(tenant)
        if cached is None or cached[0] != revision:
            snapshot_revision, routes = self._routes(tenant)
            index: PatternIndex[str] = PatternIndex()
            owners: dict[str, str] = {}
            for subscription_id, integration_id, pattern in routes:
                index.add(pattern, subscription_id)
                owners[subscription_id] = integration_id
            cached = (snapshot_revision, index, owners)
            self._tenants[tenant] = cached
        _, index, owners = cached
        return [(sub, owners[sub]) for sub in sorted(index.match(topic))]

    def _enqueue(self, event: Event, batch: Sequence[Delivery]) -> bool:
        # SqlStore.enqueue as it was, for events without a dedup key (all the benchmark has).
        with self._store._transaction("enqueueing an event", write=True) as conn:
            conn.execute(events.insert(), codec.event_row(event))
            if batch:
                conn.execute(deliveries.insert(), [codec.delivery_row(d) for d in batch])
                if conn.dialect.name == "postgresql":
                    conn.execute(select(func.pg_notify(DUE_CHANNEL, "")))
        return True

    def emit(self, topic: str, data: dict[str, Any], *, tenant: str) -> str | None:
        known = self._dispatcher.catalog[topic]
        occurred_at = datetime.now(timezone.utc)
        check_event_fields(tenant, None, occurred_at)
        planned = plan_event(
            topic=known,
            data=data,
            tenant=tenant,
            occurred_at=occurred_at,
            routes=self._matching(tenant, known.name),
        )
        check_batch(planned.event.id, planned.deliveries)
        if not self._enqueue(planned.event, planned.deliveries):
            return None
        return planned.event.id


class BareInsert:
    """The floor: rows equivalent to ``batch`` events', made in advance, inserted with one
    ``executemany`` per table in one transaction."""

    ID_PREFIX = "bare"

    def __init__(self, dispatcher: Dispatcher, batch: int) -> None:
        self._engine = dispatcher.store.engine  # type: ignore[attr-defined]
        self._batch = batch
        # One planned event serves as a template: its rows are copied with fresh ids.
        self._template = plan_event(
            topic=dispatcher.catalog[TOPIC],
            data=SMALL_DATA,
            tenant=TENANT,
            occurred_at=datetime.now(timezone.utc),
            routes=PerEventPath(dispatcher)._matching(TENANT, TOPIC),
        )
        self._serial = 0

    def _rows(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        event_rows, delivery_rows = [], []
        for _ in range(self._batch):
            self._serial += 1
            event_id = f"evt_{self.ID_PREFIX}{self._batch:04d}{self._serial:022d}"
            event_rows.append({**codec.event_row(self._template.event), "id": event_id})
            for n, planned in enumerate(self._template.deliveries):
                row = codec.delivery_row(planned)
                row.update(id=f"dlv_{event_id[4:]}{n:02d}", event_id=event_id)
                delivery_rows.append(row)
        return event_rows, delivery_rows

    def run(self, count: int) -> float:
        """Insert ``count`` events' rows; seconds spent inserting (row making excluded)."""
        prepared = [self._rows() for _ in range(count // self._batch)]
        started = time.perf_counter()
        for event_rows, delivery_rows in prepared:
            with self._engine.begin() as conn:
                conn.execute(events.insert(), event_rows)
                conn.execute(deliveries.insert(), delivery_rows)
        return time.perf_counter() - started


class RawInsert(BareInsert):
    """The same rows as :class:`BareInsert`, converted in advance to the values the database
    stores (each column type's own bind processor), inserted through the DB-API driver."""

    ID_PREFIX = "raw0"  # the same length as BareInsert's: rows of the same size

    def __init__(self, dispatcher: Dispatcher, batch: int) -> None:
        super().__init__(dispatcher, batch)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._events_sql, self._event_values = _raw_insert(self._engine, events)
        self._deliveries_sql, self._delivery_values = _raw_insert(self._engine, deliveries)

    def run(self, count: int) -> float:
        prepared = []
        for _ in range(count // self._batch):
            event_rows, delivery_rows = self._rows()
            prepared.append(
                (
                    [self._event_values(row) for row in event_rows],
                    [self._delivery_values(row) for row in delivery_rows],
                )
            )
        pooled = self._engine.raw_connection()
        try:
            connection: Any = pooled.driver_connection
            cursor = connection.cursor()
            started = time.perf_counter()
            for event_rows, delivery_rows in prepared:
                if self._sqlite:  # autocommit mode, as the store sets it: begin explicitly
                    cursor.execute("BEGIN IMMEDIATE")
                cursor.executemany(self._events_sql, event_rows)
                cursor.executemany(self._deliveries_sql, delivery_rows)
                if self._sqlite:
                    cursor.execute("COMMIT")
                else:
                    connection.commit()
            elapsed = time.perf_counter() - started
            cursor.close()
        finally:
            pooled.close()
        return elapsed


def _raw_insert(
    engine: Engine, table: Table
) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """The driver's INSERT for ``table`` and a function turning a row into its parameters."""
    columns = list(table.columns)
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(column.name for column in columns)
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join([marker] * len(columns))})"
    converters = [column.type.bind_processor(engine.dialect) for column in columns]

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        found = []
        for column, convert in zip(columns, converters, strict=True):
            value = row.get(column.name, _default(column))
            found.append(convert(value) if convert is not None else value)
        return tuple(found)

    return sql, values


def _default(column: Any) -> Any:
    """A column's Python-side default for a row that leaves it out (the ORM would fill it)."""
    default = column.default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)
    return default.arg


def cases(dispatcher: Dispatcher) -> dict[str, Callable[[int], float]]:
    """Each case: a function storing ``count`` events, returning the seconds it took."""
    before = PerEventPath(dispatcher)

    def timed(work: Callable[[], object], times: int) -> float:
        started = time.perf_counter()
        for _ in range(times):
            work()
        return time.perf_counter() - started

    def emit_many(batch: int) -> Callable[[int], float]:
        items = [NewEvent(TOPIC, SMALL_DATA, tenant=TENANT) for _ in range(batch)]
        return lambda count: timed(lambda: dispatcher.emit_many(items), count // batch)

    found: dict[str, Callable[[int], float]] = {
        BEFORE: lambda count: timed(lambda: before.emit(TOPIC, SMALL_DATA, tenant=TENANT), count),
        "emit": lambda count: timed(
            lambda: dispatcher.emit(TOPIC, SMALL_DATA, tenant=TENANT), count
        ),
    }
    for batch in BATCHES:
        found[f"emit_many, batch {batch}"] = emit_many(batch)
    for batch in BATCHES:
        found[f"bare insert, batch {batch}"] = BareInsert(dispatcher, batch).run
    for batch in (1, max(BATCHES)):
        found[f"raw driver, batch {batch}"] = RawInsert(dispatcher, batch).run
    return found


def subscribed(store: SqlStore) -> Dispatcher:
    dispatcher = Dispatcher(
        store, endpoint_policy=EndpointPolicy(allow_insecure=True), resolver=StaticResolver()
    )
    integration = dispatcher.integrations.install(TENANT, secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", "http://127.0.0.1:9/a")
    dispatcher.integrations.subscribe(integration.id, TOPIC, "http://127.0.0.1:9/b")
    return dispatcher


def empty(store: SqlStore) -> None:
    """Delete every event and delivery, leaving no work behind for the next case to pay."""
    with store.engine.begin() as conn:
        conn.execute(delete(deliveries))
        conn.execute(delete(events))
    if store.engine.dialect.name == "sqlite":
        # The deletions filled SQLite's write-ahead log; the first commit after them would
        # copy it back into the database (an automatic checkpoint) and be timed for it.
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(store: SqlStore, rounds: int, count: int) -> dict[str, list[float]]:
    """Seconds per event of every case, one sample per round."""
    dispatcher = subscribed(store)
    asynchronous = AsyncEmits(store, TOPIC, SMALL_DATA, TENANT)
    try:
        return _measured({**cases(dispatcher), **asynchronous.cases()}, store, rounds, count)
    finally:
        asynchronous.close()


def _measured(
    runs: dict[str, Callable[[int], float]], store: SqlStore, rounds: int, count: int
) -> dict[str, list[float]]:
    for run in runs.values():  # warm up: connections, statement caches, prepared statements
        run(max(BATCHES))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for round_index in range(rounds):
        empty(store)
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(runs[name](count) / count)
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    empty(store)
    return samples


def _round_ratios(samples: dict[str, list[float]], case: str, baseline: str) -> list[float]:
    """``case``'s time / ``baseline``'s time within each round."""
    return [a / b for a, b in zip(samples[case], samples[baseline], strict=True)]


def _ratios(samples: dict[str, list[float]], case: str, baseline: str) -> str:
    ratios = _round_ratios(samples, case, baseline)
    low, middle, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return f"{middle:6.2f}x ({low:.2f}-{high:.2f})"


def report(label: str, samples: dict[str, list[float]]) -> None:
    print(f"\n{label}: microseconds per event (median of rounds); ratios within each round,")
    print("median (q1-q3) over rounds: speed-up over the per-event path, and x the floor")
    print(f"  {'case':<26}{'per event':>12}{'speed-up':>24}{'x bare insert':>26}")
    for case, values in samples.items():
        per_event = statistics.median(values) * 1e6
        if case.startswith(("bare insert", "raw driver")):
            print(f"  {case:<26}{per_event:>9.1f} us")
            continue
        speedup = _ratios(samples, BEFORE, case)
        batch = int(case.rsplit(" ", 1)[-1]) if "batch" in case else 1
        floor = _ratios(samples, case, f"bare insert, batch {batch}")
        print(f"  {case:<26}{per_event:>9.1f} us{speedup:>24}{floor:>26}")
    for case in [name for name in samples if name.startswith("async")]:
        print(f"  {case} / emit (time): {_ratios(samples, case, 'emit').strip()}")


def _median_ratio(samples: dict[str, list[float]], case: str, baseline: str) -> float:
    """The median over rounds of ``case``'s time / ``baseline``'s time within each round."""
    return statistics.median(_round_ratios(samples, case, baseline))


def targets(label: str, samples: dict[str, list[float]]) -> list[Target]:
    """The targets for one store: emit latency against the raw driver, and batch throughput."""
    if label not in ("SQLite", "PostgreSQL"):
        return []
    biggest = max(BATCHES)
    emit_bound = 2.0 if label == "SQLite" else 1.3
    found = [
        Target(
            f"{label}: emit / raw driver, batch 1 (time)",
            _median_ratio(samples, "emit", "raw driver, batch 1"),
            emit_bound,
            at_most=True,
        )
    ]
    if label == "SQLite":
        per_event = statistics.median(samples[f"emit_many, batch {biggest}"])
        raw_per_event = statistics.median(samples[f"raw driver, batch {biggest}"])
        found += [
            Target(
                # The driver's own rate on the same rows bounds this one: printed beside it.
                f"{label}: emit_many, batch {biggest}, events/s "
                f"(raw driver: {1 / raw_per_event:,.0f}/s)",
                1 / per_event,
                20_000,
                unit="/s",
            ),
            Target(
                f"{label}: raw driver / emit_many, batch {biggest} (time)",
                _median_ratio(
                    samples, f"raw driver, batch {biggest}", f"emit_many, batch {biggest}"
                ),
                0.5,
            ),
        ]
    return found


def stores(
    stack: ExitStack, wanted: set[str], admins: dict[str, str]
) -> Iterator[tuple[str, SqlStore]]:
    if "sqlite" in wanted:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="acadio-bench-emit-"))
        store = SqlStore(Path(folder) / "emit.db")
        stack.callback(store.close)
        yield "SQLite", store
    for kind, label in SERVERS.items():
        if kind in wanted:
            url = stack.enter_context(server_database(admins[kind]))
            if url is not None:
                store = SqlStore(url)
                stack.callback(store.close)
                yield label, store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and events")
    parser.add_argument("--stores", default="sqlite,postgresql,mariadb")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 15, quick 4)")
    parser.add_argument("--events", type=int, help="events per case per round (1000)")
    parser.add_argument(
        "--postgres-admin",
        default=POSTGRES_ADMIN,
        help="database URL used to create and drop the benchmark database",
    )
    parser.add_argument(
        "--mariadb-admin",
        default=MARIADB_ADMIN,
        help="MariaDB URL used to create and drop the benchmark database",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.smoke else 4 if args.quick else 15)
    count = args.events or 1000
    if count % max(BATCHES):
        parser.error(f"--events must be a multiple of {max(BATCHES)}")
    print(machine_note(smoke=args.smoke))
    print(f"machine speed now: one HMAC-SHA256 of 1 KiB takes {hmac_microseconds():.2f} us")
    print(f"{rounds} rounds of {count} events per case; each event stores 1 event + 2 deliveries")
    found: list[Target] = []
    with ExitStack() as stack:
        admins = {"postgresql": args.postgres_admin, "mariadb": args.mariadb_admin}
        for label, store in stores(stack, set(args.stores.split(",")), admins):
            samples = measure(store, rounds, count)
            report(label, samples)
            found += targets(label, samples)
    return exit_code(report_targets(found), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
