"""Whether a worker's claims and settles cost the same after a long history as after a short
one, on every SQL store: what the worker pays for the database itself, without HTTP.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_history.py                        # ~3 minutes
    .venv/bin/python benchmarks/bench_history.py --stores postgresql --history 200000
    .venv/bin/python benchmarks/bench_history.py --smoke               # CI's check that it runs

For each store a fresh database (SQLite: a temporary file; PostgreSQL and MariaDB: a new
database on 127.0.0.1, dropped afterwards) gets one subscription, then ``--window``
deliveries are emitted and drained by a ``SyncWorker`` whose transport answers 200 at once,
first after a short history (``--window`` deliveries delivered before) and then after a long
one (``--history``), on the same connections: plans a driver prepared early are the ones the
long window runs on, as in a worker that has run for days. Each window is drained ``--rounds``
times (fresh emits each time) and the median is kept. The figures: deliveries per second,
the milliseconds of one claim and one settle (batches of 100), the process's CPU per
delivery. A statement that scans the history instead of finding its rows by index makes the
long window slower by the factor the history grew; the target is that none does (long /
short, time per delivery, at most 1.5x), on each store.

PostgreSQL here runs with ``autovacuum`` off (this machine's server): nothing analyses the
tables while they grow, which is the case a plan made on an empty table has to survive.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import Target, add_smoke_flag, exit_code, machine_note, report
from bench_delivery import DATA, SERVERS, TENANT, TOPIC, fresh_sql_store, subscribed

from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.messages import OutboundRequest, TransportResult
from acadio_webhooks.worker import SyncWorker, WorkerSettings

STORES = ("sqlite", "postgresql", "mariadb")
BATCH = 100
GROWTH_TARGET = 1.5  # long-history / short-history time per delivery, at most
ADMINS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


class InstantTransport:
    """Answers every request with 200 at once: the worker's time is the store's and its own.
    (Not ``RecordingTransport``, which would keep every request of the long history.)"""

    def send(self, request: OutboundRequest) -> TransportResult:
        return TransportResult(status_code=200, duration=0.0001)

    def close(self) -> None:
        pass


@dataclass
class Window:
    """One drained window: seconds and CPU per delivery, and the store calls' durations."""

    wall: float = 0.0
    cpu: float = 0.0
    claims: list[float] = field(default_factory=list)
    settles: list[float] = field(default_factory=list)


@contextmanager
def timed_calls(store: Any, window: Window) -> Iterator[None]:
    """Time the store's ``claim`` and ``settle`` into ``window`` while the block runs."""

    def timing(name: str, into: list[float]) -> Callable[..., Any]:
        original = getattr(store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - started)

        return call

    store.claim = timing("claim", window.claims)
    store.settle = timing("settle", window.settles)
    try:
        yield
    finally:
        del store.claim, store.settle  # the class's methods again


def drain_window(dispatcher: Dispatcher, worker: SyncWorker, count: int) -> Window:
    """Emit ``count`` events and drain them; the window's figures."""
    for start in range(0, count, 1000):
        batch = min(1000, count - start)
        dispatcher.emit_many(NewEvent(TOPIC, DATA, tenant=TENANT) for _ in range(batch))
    window = Window()
    with timed_calls(dispatcher.store, window):
        cpu, wall = time.process_time(), time.perf_counter()
        report_ = worker.drain()
        window.wall = (time.perf_counter() - wall) / count
        window.cpu = (time.process_time() - cpu) / count
    if report_.delivered != count:
        raise RuntimeError(f"delivered {report_.delivered} of {count}: {report_}")
    return window


def grow(dispatcher: Dispatcher, worker: SyncWorker, count: int) -> None:
    """Add ``count`` delivered deliveries (and their events and attempts) to the history."""
    done = 0
    while done < count:
        step = min(10_000, count - done)
        drain_window(dispatcher, worker, step)
        done += step


@dataclass
class Measured:
    short: list[Window]
    long: list[Window]


def measure(kind: str, admin: str, *, window: int, history: int, rounds: int) -> Measured:
    with fresh_sql_store(kind, admin) as store:
        dispatcher = subscribed(store, "http://127.0.0.1:9/hook")
        worker = SyncWorker(
            store,
            InstantTransport(),
            settings=WorkerSettings(concurrency=1, batch_size=BATCH),
        )
        drain_window(dispatcher, worker, window)  # connections, statements, plans
        short = [drain_window(dispatcher, worker, window) for _ in range(rounds)]
        grow(dispatcher, worker, history)
        long = [drain_window(dispatcher, worker, window) for _ in range(rounds)]
        return Measured(short, long)


def _median(windows: list[Window], pick: Callable[[Window], float]) -> float:
    return statistics.median(pick(w) for w in windows)


def _median_call(windows: list[Window], pick: Callable[[Window], list[float]]) -> float:
    return statistics.median(statistics.median(pick(w)) for w in windows)


def print_table(results: dict[str, Measured], *, window: int, history: int) -> None:
    print(
        f"\nSyncWorker, instant transport, batches of {BATCH}; windows of {window:,} deliveries "
        f"after {window:,} (short) and {history:,} (long) delivered; medians of rounds"
    )
    print(
        f"  {'store':<12}{'history':<8}{'deliveries/s':>14}{'claim ms':>10}"
        f"{'settle ms':>11}{'CPU us/deliv':>14}"
    )
    for kind, measured in results.items():
        for label, windows in (("short", measured.short), ("long", measured.long)):
            rate = 1 / _median(windows, lambda w: w.wall)
            claim = _median_call(windows, lambda w: w.claims) * 1e3
            settle = _median_call(windows, lambda w: w.settles) * 1e3
            cpu = _median(windows, lambda w: w.cpu) * 1e6
            print(f"  {kind:<12}{label:<8}{rate:>14,.0f}{claim:>10.2f}{settle:>11.2f}{cpu:>14.1f}")


def targets(results: dict[str, Measured]) -> list[Target]:
    found = []
    for kind, measured in results.items():
        long, short = (_median(w, lambda w: w.wall) for w in (measured.long, measured.short))
        growth = long / short
        found.append(
            Target(
                f"{kind}: long / short history, time per delivery",
                growth,
                GROWTH_TARGET,
                at_most=True,
            )
        )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--window", type=int, default=2_000, help="deliveries per window")
    parser.add_argument("--history", type=int, default=50_000, help="the long history")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-admin", default=ADMINS["postgresql"])
    parser.add_argument("--mariadb-admin", default=ADMINS["mariadb"])
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.window, args.history, args.rounds = 200, 600, 1
    wanted = [kind for kind in args.stores.split(",") if kind]
    unknown = sorted(set(wanted) - set(STORES))
    if unknown:
        parser.error(f"unknown stores {unknown}; choose from {', '.join(STORES)}")
    print(machine_note(smoke=args.smoke))
    admins = {"sqlite": "", "postgresql": args.postgres_admin, "mariadb": args.mariadb_admin}
    results = {}
    for kind in wanted:
        print(f"  {SERVERS.get(kind, 'SQLite')}: measuring", file=sys.stderr, flush=True)
        results[kind] = measure(
            kind, admins[kind], window=args.window, history=args.history, rounds=args.rounds
        )
    print_table(results, window=args.window, history=args.history)
    return exit_code(report(targets(results)), smoke=args.smoke)


if __name__ == "__main__":
    raise SystemExit(main())
