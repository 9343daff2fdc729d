"""End-to-end delivery throughput: emit -> worker -> a loopback sink answering 200.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_delivery.py                 # everything, 20-30 minutes
    .venv/bin/python benchmarks/bench_delivery.py --quick         # a short run, ~3 minutes
    .venv/bin/python benchmarks/bench_delivery.py --smoke         # CI's check that it runs
    .venv/bin/python benchmarks/bench_delivery.py --only overhead,backlog --backlog 1000000

Three parts (``--only`` picks some):

``throughput``
    For each store (memory, SQLite, PostgreSQL, MariaDB) x transport (``HttptoolsTransport``
    when its extra is installed, ``AiohttpTransport``, ``AsyncHttpxTransport``) x concurrency
    (1, 10, 50): events are emitted up front (the emit
    time is reported separately, per event), then an ``AsyncWorker`` drains them to the sink of
    ``bench_transport.py`` (a subprocess answering every POST with an empty 200). Beside them,
    in the same run, the bare aiohttp and bare (sharded) httpx loops of ``bench_transport.py``
    send the same number of 1 KiB POSTs, and so does ``AiohttpTransport`` alone (no worker),
    which splits each pipeline's gap to bare aiohttp into the transport's share and the
    worker's; event bodies are about 1 KiB too. Rounds are
    interleaved (every set-up at every concurrency once per round, order rotated) and medians
    reported, with every ratio to the bare loops and the targets: with aiohttp at concurrency
    50, memory >= 0.7x, SQLite >= 0.5x and PostgreSQL >= 0.4x the bare aiohttp loop; the same
    targets are printed for httptools, the worker's default when installed, beside them. The
    process first sets its garbage collector up as ``acadio-webhooks worker`` does
    (``tune_worker_process``: start-up objects frozen, young generation with room for the
    attempts in flight) and runs on uvloop when it is installed (``--event-loop``); the bare
    loops run in the same process on the same loop and gain from both alike.
    PostgreSQL runs in a fresh database on 127.0.0.1:5432 (``--postgres-admin``), MariaDB
    (or MySQL) in one on 127.0.0.1:3306 (``--mariadb-admin``), each dropped afterwards and
    skipped with a message when its server is unreachable. No issue sets a target for
    MariaDB: its ratios are printed beside the others'.

``overhead``
    Everything outside the HTTP client, per delivery: the memory store and a transport that
    answers 200 at once (``AsyncRecordingTransport``), so what is left is matching, serialising
    (once per event), signing and the bookkeeping of emit, claim, settle and the worker.
    Process CPU time (all threads) and wall time; targets (those of ``bench_overhead.py``):
    worker <= 20 us per delivery, emit <= 15 us per event.

``backlog``
    Worker memory with a backlog of ``--backlog`` pending deliveries (default 1,000,000;
    100,000 with ``--quick``) in SQLite, inserted with bulk SQL (not through emit). A fresh
    worker process reports its resident set size (RSS) before and while it delivers a slice
    of the backlog (``--backlog-slice``) to a transport that answers 200 at once: it must stay
    flat, because the backlog is only ever read a claim batch at a time.

Every target is printed at the end as MET or MISSED; the script exits 1 when a run misses
one, except with ``--smoke``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, get_args

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_transport
from _targets import (
    Target,
    add_smoke_flag,
    exit_code,
    hmac_microseconds,
    machine_note,
    overhead_targets,
    report,
)

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.default import TransportName, default_async_transport
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import OutboundRequest, TransportResult
from acadio_webhooks.domain.signing import encode_event_body
from acadio_webhooks.event_loop import EventLoopName, resolve_event_loop
from acadio_webhooks.event_loop import run as run_event_loop
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import AsyncTransport
from acadio_webhooks.worker import AsyncWorker, WorkerSettings, tune_worker_process

CONCURRENCIES = bench_transport.CONCURRENCIES
SECRET = "whsec-bench-0123456789abcdef"
TENANT = "bench"
TOPIC = "course/completion/create"
# Makes the wire body about 1 KiB, the size of bench_transport.BODY.
DATA = {"course_id": 7, "user_id": 42, "score": 0.93, "note": "x" * 880}
RAW = "raw asyncio Protocol"
# Each transport's bare loop: httptools has none of its own; the raw Protocol client is what
# it is built like (a socket and a parser).
BARE = {"httptools": RAW, "aiohttp": "bare aiohttp", "httpx": "bare httpx, sharded"}
ALONE = "AiohttpTransport"  # our transport sending bench_transport's request, no worker
# The worker's default when the httptools extra is installed (as it is with [dev]).
HTTPTOOLS = "httptools" if "HttptoolsTransport" in bench_transport.SETUPS else None
ALONES = (ALONE, "HttptoolsTransport") if HTTPTOOLS else (ALONE,)
ONE_WORKER_TARGET = 7000.0  # deliveries/s, SQLite + aiohttp, c=50, one worker process
ONE_WORKER_TO_RAW = 0.2
TRANSPORTS = ("httptools", "aiohttp", "httpx") if HTTPTOOLS else ("aiohttp", "httpx")
TARGETS = {"memory": 0.7, "sqlite": 0.5, "postgresql": 0.4}
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
SERVERS = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
INSECURE = EndpointPolicy(allow_insecure=True)


def settings_for(concurrency: int) -> WorkerSettings:
    # One endpoint receives everything here, so the per-endpoint bound must not bind.
    return WorkerSettings(concurrency=concurrency, per_endpoint=concurrency)


# -- stores ------------------------------------------------------------------------------------


@contextmanager
def server_database(admin_url: str) -> Iterator[str | None]:
    """A fresh database on the server of ``admin_url`` (PostgreSQL or MariaDB, as
    tests/services.py makes them), dropped afterwards; None if the server is unreachable."""
    import sqlalchemy as sa

    name = f"acadio_bench_{secrets.token_hex(6)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    postgres = admin.dialect.name == "postgresql"
    quoted = f'"{name}"' if postgres else f"`{name}`"
    try:
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
        except sa.exc.OperationalError as exc:
            where = f"{admin.url.host}:{admin.url.port}"
            server = "PostgreSQL" if postgres else "MariaDB"
            print(f"{server} skipped: not reachable at {where} ({exc.orig})")
            yield None
            return
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                force = " WITH (FORCE)" if postgres else ""
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{force}")
    finally:
        admin.dispose()


@contextmanager
def fresh_sql_store(kind: str, admin_url: str) -> Iterator[Any]:
    """A fresh SqlStore of ``kind`` (``sqlite``: a temporary file; ``postgresql`` or
    ``mariadb``: a new database on ``admin_url``'s server, dropped afterwards), closed
    afterwards; exits when the server is unreachable."""
    from acadio_webhooks.adapters.storage.sql import SqlStore

    with ExitStack() as stack:
        if kind == "sqlite":
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="acadio-bench-"))
            store = SqlStore(Path(folder) / "bench.db")
        else:
            url = stack.enter_context(server_database(admin_url))
            if url is None:
                raise SystemExit(f"{SERVERS[kind]} is needed for --stores {kind}")
            store = SqlStore(url)
        stack.callback(store.close)
        yield store


def open_stores(stack: ExitStack, admins: dict[str, str], wanted: set[str]) -> dict[str, Store]:
    """The stores ``wanted`` (memory, sqlite, and the servers of ``admins`` by kind), closed
    with ``stack``; a server that is unreachable is left out."""
    from acadio_webhooks.adapters.storage.sql import SqlStore

    stores: dict[str, Store] = {}
    if "memory" in wanted:
        stores["memory"] = MemoryStore()
    if "sqlite" in wanted:
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="acadio-bench-"))
        stores["sqlite"] = SqlStore(Path(folder) / "bench.db")
    for kind in SERVERS:
        if kind in wanted:
            url = stack.enter_context(server_database(admins[kind]))
            if url is not None:
                stores[kind] = SqlStore(url)
    for store in stores.values():
        stack.callback(store.close)
    return stores


def subscribed(store: Store, url: str) -> Dispatcher:
    """A dispatcher on ``store`` with one integration subscribed to ``url``."""
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE, resolver=StaticResolver())
    integration = dispatcher.integrations.install(TENANT, secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", url)
    return dispatcher


def emit_events(dispatcher: Dispatcher, count: int) -> float:
    """Emit ``count`` events; seconds per event."""
    started = time.perf_counter()
    for _ in range(count):
        dispatcher.emit(TOPIC, DATA, tenant=TENANT)
    return (time.perf_counter() - started) / count


# -- throughput --------------------------------------------------------------------------------


def our_transport(name: TransportName) -> AsyncTransport:
    return default_async_transport(policy=INSECURE, resolver=StaticResolver(), name=name)


async def warm_up(transport: AsyncTransport, url: str, concurrency: int) -> None:
    """Open the connections first, as the bare loops do."""
    request = OutboundRequest(url=url, headers=bench_transport.HEADERS, body=bench_transport.BODY)

    async def three() -> None:
        for _ in range(3):
            result = await transport.send(request)
            assert result.status_code == 200, result

    await asyncio.gather(*(three() for _ in range(concurrency)))


@dataclass
class Sample:
    rate: float
    emit_seconds: float | None = None


async def delivery_rate(
    dispatcher: Dispatcher, transport_name: str, url: str, concurrency: int, count: int
) -> Sample:
    emit_seconds = emit_events(dispatcher, count)
    transport = our_transport(transport_name)
    try:
        await warm_up(transport, url, concurrency)
        worker = AsyncWorker(dispatcher.store, transport, settings=settings_for(concurrency))
        started = time.perf_counter()
        report = await worker.drain()
        elapsed = time.perf_counter() - started
    finally:
        await transport.close()
    if report.delivered != count:
        raise RuntimeError(f"delivered {report.delivered} of {count}: {report}")
    return Sample(count / elapsed, emit_seconds)


async def throughput(
    stores: dict[str, Store], url: str, rounds: int, count: int
) -> dict[tuple[str, int], list[Sample]]:
    dispatchers = {name: subscribed(store, url) for name, store in stores.items()}
    setups: list[str] = [*dict.fromkeys([*BARE.values(), RAW]), *ALONES] + [
        f"{store} + {transport}" for store in stores for transport in TRANSPORTS
    ]
    samples: dict[tuple[str, int], list[Sample]] = {}
    for round_index in range(rounds):
        shift = round_index % len(setups)
        order = setups[shift:] + setups[:shift]
        for concurrency in CONCURRENCIES:
            for setup in order:
                if setup in BARE.values() or setup in ALONES:
                    rate, _client_cpu = await bench_transport.measure(
                        setup, url, concurrency, count
                    )
                    sample = Sample(rate)
                else:
                    store, transport = setup.split(" + ")
                    sample = await delivery_rate(
                        dispatchers[store], transport, url, concurrency, count
                    )
                samples.setdefault((setup, concurrency), []).append(sample)
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return samples


def report_throughput(
    samples: dict[tuple[str, int], list[Sample]], stores: list[str]
) -> list[Target]:
    rate = {key: statistics.median(s.rate for s in values) for key, values in samples.items()}
    setups = list(dict.fromkeys(setup for setup, _ in samples))
    print("\ndeliveries (or bare requests) per second, median of rounds")
    print(f"{'set-up':<26}" + "".join(f"{'c=' + str(c):>10}" for c in CONCURRENCIES))
    for setup in setups:
        print(f"{setup:<26}" + "".join(f"{rate[setup, c]:>10.0f}" for c in CONCURRENCIES))

    print("\nemit, per event (median over every measurement of the store)")
    for store in stores:
        emits = [
            s.emit_seconds
            for (setup, _), values in samples.items()
            if setup.startswith(store + " ")
            for s in values
            if s.emit_seconds is not None
        ]
        print(f"  {store:<12}{statistics.median(emits) * 1e6:>8.0f} us")

    print("\nratio to the bare loop of the same client at the same concurrency")
    print(f"{'set-up':<26}" + "".join(f"{'c=' + str(c):>10}" for c in CONCURRENCIES))
    for store in stores:
        for transport in TRANSPORTS:
            setup = f"{store} + {transport}"
            ratios = [rate[setup, c] / rate[BARE[transport], c] for c in CONCURRENCIES]
            print(f"{setup:<26}" + "".join(f"{r:>9.2f}x" for r in ratios))
    print("\nratio to the bare aiohttp loop (the targets' baseline)")
    for store in stores:
        for transport in TRANSPORTS:
            setup = f"{store} + {transport}"
            ratios = [rate[setup, c] / rate[BARE["aiohttp"], c] for c in CONCURRENCIES]
            print(f"{setup:<26}" + "".join(f"{r:>9.2f}x" for r in ratios))

    for transport_alone in ALONES:
        ratios = [rate[transport_alone, c] / rate[BARE["aiohttp"], c] for c in CONCURRENCIES]
        print(f"{transport_alone + ' alone':<26}" + "".join(f"{r:>9.2f}x" for r in ratios))
    alone = [rate[ALONE, c] / rate[BARE["aiohttp"], c] for c in CONCURRENCIES]

    print("\nthe gap to bare aiohttp at c=50, split in two (their product is the ratio):")
    print(f"  our transport alone / bare aiohttp: {alone[-1]:.2f}x")
    for store in stores:
        pipeline = rate[f"{store} + aiohttp", 50]
        print(
            f"  {store} + aiohttp / our transport alone: {pipeline / rate[ALONE, 50]:.2f}x"
            " (claiming, signing, settling, recording)"
        )
    if HTTPTOOLS:
        print("and the same for httptools, whose transport alone outruns bare aiohttp:")
        for store in stores:
            pipeline = rate[f"{store} + httptools", 50]
            print(
                f"  {store} + httptools / HttptoolsTransport alone: "
                f"{pipeline / rate['HttptoolsTransport', 50]:.2f}x"
            )

    print(f"\nratio to the {RAW} client (the floor of one process)")
    for setup in [f"{store} + {t}" for store in stores for t in TRANSPORTS if t != "httpx"]:
        ratios = [rate[setup, c] / rate[RAW, c] for c in CONCURRENCIES]
        print(f"{setup:<26}" + "".join(f"{r:>9.2f}x" for r in ratios))

    targets = _pipeline_targets(rate, stores, "aiohttp")
    if HTTPTOOLS:
        # The set-ups name aiohttp: the default transport's figures go beside them.
        targets += _pipeline_targets(rate, stores, "httptools", label="httptools (the default)")
    return targets


def _pipeline_targets(
    rate: dict[tuple[str, int], float], stores: list[str], transport: str, label: str = ""
) -> list[Target]:
    """The pipeline targets of issue #13 for the pipelines with ``transport``."""
    label = label or transport
    bare = rate[BARE["aiohttp"], 50]
    targets = [
        Target(
            f"{store} + {label}, c=50 / bare aiohttp",
            rate[f"{store} + {transport}", 50] / bare,
            TARGETS[store],
        )
        for store in stores
        if store in TARGETS
    ]
    if "sqlite" in stores:
        one_worker = rate[f"sqlite + {transport}", 50]
        targets += [
            Target(
                f"one worker, sqlite + {label}, c=50 (bare aiohttp alone: {bare:,.0f}/s)",
                one_worker,
                ONE_WORKER_TARGET,
                unit=" deliveries/s",
            ),
            Target(
                f"one worker, sqlite + {label}, c=50 / {RAW}",
                one_worker / rate[RAW, 50],
                ONE_WORKER_TO_RAW,
            ),
        ]
    return targets


# -- overhead ----------------------------------------------------------------------------------


SMALL_DATA = {"course_id": 7, "user_id": 42, "completed": True, "score": 0.93, "grade": "A"}
"""A typical event's data (the body is about 200 bytes); the throughput runs send 1 KiB."""


def overhead(rounds: int, count: int) -> list[Target]:
    """Per-delivery cost outside HTTP, memory store, a transport that answers 200 at once."""
    print(f"\noverhead outside HTTP, memory store, {count} deliveries x {rounds} rounds (median)")
    print(f"  machine speed now: one HMAC-SHA256 of 1 KiB takes {hmac_microseconds():.2f} us")
    targets = []
    for label, data in (("~200 B body", SMALL_DATA), ("1 KiB body", DATA)):
        emit_cpu, drain_cpu, emit_wall, drain_wall = overhead_samples(data, rounds, count)
        total = _us([e + d for e, d in zip(emit_cpu, drain_cpu, strict=True)])
        walls = _us([e + d for e, d in zip(emit_wall, drain_wall, strict=True)])
        print(f"  {label}: {'CPU':>39}{'wall':>10}")
        print(
            f"    {'emit (match, serialise, store), /event':<40}{_us(emit_cpu):>6.1f}us"
            f"{_us(emit_wall):>8.1f}us"
        )
        print(
            f"    {'worker (claim, sign, settle), /delivery':<40}{_us(drain_cpu):>6.1f}us"
            f"{_us(drain_wall):>8.1f}us"
        )
        print(f"    {'total per delivery':<40}{total:>6.1f}us{walls:>8.1f}us")
        targets += overhead_targets(_us(drain_cpu), _us(emit_cpu), label=label)
    return targets


def _us(values: list[float]) -> float:
    return statistics.median(values) * 1e6


def overhead_samples(
    data: dict[str, Any], rounds: int, count: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    emit_cpu: list[float] = []
    drain_cpu: list[float] = []
    emit_wall: list[float] = []
    drain_wall: list[float] = []
    for _ in range(rounds):
        dispatcher = subscribed(MemoryStore(), "http://127.0.0.1:9/hook")
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            dispatcher.emit(TOPIC, data, tenant=TENANT)
        emit_cpu.append((time.process_time() - cpu) / count)
        emit_wall.append((time.perf_counter() - wall) / count)
        transport = AsyncRecordingTransport()
        worker = AsyncWorker(dispatcher.store, transport, settings=settings_for(50))
        cpu, wall = time.process_time(), time.perf_counter()
        report = asyncio.run(worker.drain())
        drain_cpu.append((time.process_time() - cpu) / count)
        drain_wall.append((time.perf_counter() - wall) / count)
        assert report.delivered == count, report
    return emit_cpu, drain_cpu, emit_wall, drain_wall


# -- backlog -----------------------------------------------------------------------------------

_SUBSCRIPTIONS = 10  # each backlog event fans out to this many subscriptions


def _sqlite_time(moment: datetime) -> str:
    """How the store's UtcDateTime keeps a time in SQLite (naive UTC text)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")


def build_backlog(path: Path, size: int) -> None:
    """A SQLite store with ``size`` pending deliveries, inserted with bulk SQL."""
    from acadio_webhooks.adapters.storage.sql import SqlStore

    store = SqlStore(path)
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE, resolver=StaticResolver())
    integration = dispatcher.integrations.install(TENANT, secret=SECRET)
    subscriptions = [
        dispatcher.integrations.subscribe(integration.id, "course/*", f"http://127.0.0.1:9/{n}")
        for n in range(_SUBSCRIPTIONS)
    ]
    store.close()
    created = datetime.now(timezone.utc) - timedelta(hours=1)
    stamp = _sqlite_time(created)
    data = {"course_id": 7, "user_id": 42, "score": 0.93}
    events = -(-size // _SUBSCRIPTIONS)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            for start in range(0, events, 10_000):
                event_rows = []
                delivery_rows = []
                for n in range(start, min(events, start + 10_000)):
                    event_id = f"evt_backlog{n:010d}"
                    body = encode_event_body(event_id, TOPIC, created, TENANT, data)
                    event_rows.append((event_id, TENANT, TOPIC, stamp, body))
                    for k, subscription in enumerate(subscriptions):
                        if n * _SUBSCRIPTIONS + k >= size:
                            break
                        delivery_rows.append(
                            (
                                f"dlv_backlog{n:010d}{k:02d}",
                                event_id,
                                subscription.id,
                                integration.id,
                                TENANT,
                                TOPIC,
                                stamp,
                                stamp,
                                stamp,
                            )
                        )
                conn.executemany(
                    "INSERT INTO acadio_events (id, tenant, topic, created_at, payload)"
                    " VALUES (?, ?, ?, ?, ?)",
                    event_rows,
                )
                conn.executemany(
                    "INSERT INTO acadio_deliveries (id, event_id, subscription_id,"
                    " integration_id, tenant, topic, status, attempts, next_attempt_at,"
                    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                    delivery_rows,
                )
    finally:
        conn.close()


def rss_kib() -> int:
    """This process's resident set size now (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class _Answering200:
    """An AsyncTransport that answers 200 at once and counts, stopping the worker at a limit
    (it keeps nothing, so the worker's own memory is what the RSS shows)."""

    def __init__(self, limit: int, checkpoints: int, stop: asyncio.Event) -> None:
        self.sent = 0
        self._limit = limit
        self._every = max(1, limit // checkpoints)
        self._stop = stop
        self.samples: list[tuple[int, int]] = []

    async def send(self, request: OutboundRequest) -> TransportResult:
        self.sent += 1
        if self.sent % self._every == 0:
            self.samples.append((self.sent, rss_kib()))
        if self.sent >= self._limit:
            self._stop.set()
        return TransportResult(status_code=200, duration=0.0001)

    async def close(self) -> None:
        pass


def backlog_worker(path: str, slice_size: int) -> None:
    """Child process: report RSS before and while delivering ``slice_size`` deliveries."""
    from acadio_webhooks.adapters.storage.sql import SqlStore

    before_open = rss_kib()
    store = SqlStore(path, create=False)

    async def run() -> dict[str, Any]:
        stop = asyncio.Event()
        transport = _Answering200(slice_size, 10, stop)
        worker = AsyncWorker(store, transport, settings=settings_for(50))
        opened = rss_kib()
        started = time.perf_counter()
        await worker.run(stop)
        return {
            "before_open": before_open,
            "opened": opened,
            "samples": transport.samples,
            "seconds": time.perf_counter() - started,
            "sent": transport.sent,
        }

    result = asyncio.run(run())
    with store.engine.connect() as conn:
        result["pending_after"] = conn.exec_driver_sql(
            "SELECT count(*) FROM acadio_deliveries WHERE status = 'pending'"
        ).scalar()
    store.close()
    print(json.dumps(result))


def backlog(size: int, slice_size: int) -> list[Target]:
    with tempfile.TemporaryDirectory(prefix="acadio-backlog-") as folder:
        path = Path(folder) / "backlog.db"
        started = time.perf_counter()
        build_backlog(path, size)
        built = time.perf_counter() - started
        megabytes = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        print(
            f"\nbacklog: {size:,} pending deliveries in SQLite ({megabytes:,.0f} MiB), "
            f"inserted in {built:.1f} s"
        )
        child = subprocess.run(
            [sys.executable, __file__, "--backlog-worker", str(path), str(slice_size)],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"  worker RSS before opening the store   {result['before_open'] / 1024:8.1f} MiB")
    print(f"  after opening it, before delivering   {result['opened'] / 1024:8.1f} MiB")
    for sent, kib in result["samples"]:
        print(f"  after {sent:>9,} deliveries              {kib / 1024:8.1f} MiB")
    rate = result["sent"] / result["seconds"]
    pending = result["pending_after"]
    print(f"  {result['sent']:,} delivered at {rate:,.0f}/s; still pending: {pending:,}")
    first = result["samples"][0][1]
    last = result["samples"][-1][1]
    growth = (last - first) / 1024
    print(f"  growth from the first to the last sample: {growth:+.1f} MiB")
    return [Target(f"backlog of {size:,}: worker RSS growth", growth, 10.0, True, " MiB")]


# -- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller runs")
    parser.add_argument(
        "--only",
        default="throughput,overhead,backlog",
        help="comma-separated parts to run (throughput, overhead, backlog)",
    )
    parser.add_argument("--stores", default="memory,sqlite,postgresql,mariadb")
    parser.add_argument(
        "--event-loop",
        choices=get_args(EventLoopName),
        default="auto",
        help="the throughput runs' event loop, bare loops included (default auto: uvloop "
        "when installed, as acadio-webhooks worker chooses)",
    )
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, quick 3)")
    parser.add_argument(
        "--deliveries", type=int, help="deliveries per measurement (default 1000, quick 300)"
    )
    parser.add_argument("--backlog", type=int, help="pending deliveries (default 1,000,000)")
    parser.add_argument("--backlog-slice", type=int, help="deliveries the worker makes (50,000)")
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
    parser.add_argument("--backlog-worker", nargs=2, help=argparse.SUPPRESS)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.backlog_worker:
        backlog_worker(args.backlog_worker[0], int(args.backlog_worker[1]))
        return 0
    parts = set(args.only.split(","))
    rounds = args.rounds or (1 if args.smoke else 3 if args.quick else 5)
    count = args.deliveries or (30 if args.smoke else 300 if args.quick else 1000)
    print(machine_note(smoke=args.smoke))
    targets: list[Target] = []
    if "overhead" in parts:
        targets += overhead(rounds, 200 if args.smoke else 2000 if args.quick else 10_000)
    if "throughput" in parts:
        with ExitStack() as stack:
            url = stack.enter_context(bench_transport.started_sink()) + "/hook"
            admins = {"postgresql": args.postgres_admin, "mariadb": args.mariadb_admin}
            stores = open_stores(stack, admins, set(args.stores.split(",")))
            print(
                f"sink at {url}; {rounds} rounds of {count} deliveries per set-up "
                f"and concurrency; stores: {', '.join(stores)}"
            )
            # As `acadio-webhooks worker` does at start-up (cli/_worker.py): the bare loops
            # run in this same process and gain from it alike.
            tuning = tune_worker_process(max(CONCURRENCIES))
            print(
                f"start-up objects frozen out of garbage collection: {tuning.frozen:,}; "
                f"young-generation threshold {tuning.young_threshold:,}"
            )
            loop = resolve_event_loop(args.event_loop)
            print(f"event loop: {loop} (the worker's default: uvloop when installed)")
            samples = run_event_loop(throughput(stores, url, rounds, count), loop=loop)
            targets += report_throughput(samples, list(stores))
    if "backlog" in parts:
        size = args.backlog or (2_000 if args.smoke else 100_000 if args.quick else 1_000_000)
        slice_size = args.backlog_slice or (500 if args.smoke else 20_000 if args.quick else 50_000)
        targets += backlog(size, min(size, slice_size))
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
