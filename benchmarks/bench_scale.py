"""Delivery throughput at scale, each figure a ratio to a bare aiohttp loop in the same run.

    python benchmarks/bench_scale.py [--events N] [--subscriptions S] [--workers 1,2,4]
                                     [--celery-broker URL] [--celery-chunk C]
    python benchmarks/bench_scale.py --smoke     # CI's check that it runs

Needs PostgreSQL on 127.0.0.1:5432 (and a broker for the Celery case). Every case delivers
``events x subscriptions`` webhooks to one fast loopback receiver process (aiohttp, counts ids,
no verification), each subscription its own endpoint path:

- ``bare aiohttp loop``: one process POSTs the same number of pre-built requests with
  aiohttp, 50 at a time — no store, no signing: the floor the others are compared to;
- ``postgres fleet, K workers``: K ``acadio-webhooks worker --transport aiohttp``
  processes (concurrency 50, 10 per endpoint) share one PostgreSQL store. They start idle;
  the whole backlog is committed in one transaction (its NOTIFY wakes them) and the clock
  runs from that commit until the store records the last delivery;
- ``celery, 2 processes``: a ``celery worker --concurrency 2`` (prefork, beat embedded for
  the pump) on the same kind of backlog, ``--celery-chunk`` deliveries per attempt task.

Each line prints deliveries/s and the ratio to the bare loop; the last lines print the two
ratios the scaling targets are stated in (2 workers vs 1; Celery vs the fleet at equal
process count). On a 2-core machine the receiver, PostgreSQL and the workers share the same
two cores, so read the ratios, not the absolute numbers (see docs/scale.md).

Targets: 2 workers >= 1.6x 1 worker; Celery >= 0.3x the fleet at 2 processes. The script
exits 1 when a run misses one, except with ``--smoke``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402 - after the path set-up above
from _targets import Target, add_smoke_flag, exit_code, machine_note, report  # noqa: E402

from tests.scale.fleet import (  # noqa: E402
    Receiver,
    delivered,
    emit_events,
    prepare_fleet,
    receiver_process,
    start_celery_worker,
    start_worker,
    stop_processes,
    wait_for,
)
from tests.services import postgres_database  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class CpuUse:
    """CPU seconds spent during one timed case, by whom."""

    machine_busy: float = 0.0
    machine_total: float = 0.0
    postgres: float = 0.0
    workers: float = 0.0
    receiver: float = 0.0

    @property
    def busy_share(self) -> float:
        return self.machine_busy / self.machine_total if self.machine_total else 0.0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _process_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, parent pid, CPU jiffies) for every process."""
    table: dict[int, tuple[str, int, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        table[int(stat.parent.name)] = (name, int(rest[1]), int(rest[11]) + int(rest[12]))
    return table


def _split_ticks(roots: set[int], receiver: int) -> tuple[int, int, int]:
    """Jiffies of PostgreSQL, of ``roots`` and all their descendants, and of ``receiver``."""
    table = _process_table()
    postgres = sum(t for name, _parent, t in table.values() if name.startswith("postgres"))
    receiving = table.get(receiver, ("", 0, 0))[2]
    tree = 0
    for pid, (_name, _parent, ticks) in table.items():
        seen = pid
        while seen > 1:
            if seen in roots:
                tree += ticks
                break
            seen = table.get(seen, ("", 0, 0))[1]
    return postgres, tree, receiving


class CpuMeter:
    """CPU spent between ``start`` and ``stop``: the machine's, PostgreSQL's, and that of the
    worker processes (``roots`` and their descendants: Celery's pool children too)."""

    def __init__(self, receiver: int) -> None:
        self.use = CpuUse()
        self.roots: set[int] = set()
        self.receiver = receiver

    def start(self) -> None:
        self._machine = _machine_ticks()
        self._split = _split_ticks(self.roots, self.receiver)

    def stop(self) -> None:
        busy, total = _machine_ticks()
        postgres, tree, receiving = _split_ticks(self.roots, self.receiver)
        self.use.machine_busy = (busy - self._machine[0]) / CLOCK_TICKS
        self.use.machine_total = (total - self._machine[1]) / CLOCK_TICKS
        self.use.postgres = (postgres - self._split[0]) / CLOCK_TICKS
        self.use.workers = (tree - self._split[1]) / CLOCK_TICKS
        self.use.receiver = (receiving - self._split[2]) / CLOCK_TICKS


async def _bare_loop(urls: list[str], total: int, concurrency: int) -> float:
    body = b'{"id":"evt_x","topic":"course/completion/create","data":{"n":1}}'
    headers = {"content-type": "application/json", "webhook-id": "evt_x"}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(total):
        queue.put_nowait(urls[n % len(urls)])
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                url = queue.get_nowait()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def bare_aiohttp(receiver: Receiver, paths: tuple[str, ...], total: int) -> float:
    """Deliveries/s of a bare aiohttp POST loop in this process."""
    seconds = asyncio.run(_bare_loop([receiver.url(p) for p in paths], total, 50))
    return total / seconds


def _timed_backlog(
    db_url: str, receiver: Receiver, events: int, subscriptions: int, meter: CpuMeter
) -> float:
    """Commit the backlog at once, then seconds until the store records the last delivery."""
    fleet = prepare_fleet(db_url, receiver, subscriptions=subscriptions)
    total = events * subscriptions
    time.sleep(2.0)  # let the workers finish starting and go idle
    emit_events(db_url, fleet, events, per_transaction=events)
    meter.start()
    started = time.perf_counter()  # the backlog's commit: from here the workers race
    wait_for(
        lambda: delivered(db_url) == total,
        timeout=1800,
        what="the backlog",
        every=0.1,
    )
    elapsed = time.perf_counter() - started
    meter.stop()
    return total / elapsed


def postgres_fleet(
    receiver: Receiver, workers: int, events: int, subscriptions: int, meter: CpuMeter
) -> float:
    """Deliveries/s of ``workers`` worker processes sharing PostgreSQL."""
    with postgres_database("acadio_bench") as db_url:
        fleet = [start_worker(db_url, concurrency=50) for _ in range(workers)]
        meter.roots = {process.pid for process in fleet}
        try:
            return _timed_backlog(db_url, receiver, events, subscriptions, meter)
        finally:
            stop_processes(fleet)


def celery_path(
    receiver: Receiver,
    broker: str,
    processes: int,
    chunk: int,
    events: int,
    subscriptions: int,
    meter: CpuMeter,
) -> float:
    """Deliveries/s of a Celery worker with ``processes`` pool processes."""
    with postgres_database("acadio_bench") as db_url, tempfile.TemporaryDirectory() as tmp:
        queue = f"acadio_bench_{secrets.token_hex(4)}"
        worker = start_celery_worker(
            db_url,
            broker,
            queue,
            Path(tmp) / "beat",
            processes=processes,
            chunk=chunk,
            batch=2000,
            pump_interval=0.5,
        )
        meter.roots = {worker.pid}
        try:
            time.sleep(3.0)  # the pool and beat take longer to start than the fleet
            return _timed_backlog(db_url, receiver, events, subscriptions, meter)
        finally:
            stop_processes([worker])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--celery-broker", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--celery-chunk", default="1,10", help="chunk sizes to run, e.g. 1,10")
    parser.add_argument("--no-celery", action="store_true")
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.events, args.subscriptions, args.workers, args.celery_chunk = 40, 2, "1,2", "10"
    print(machine_note(smoke=args.smoke))
    total = args.events * args.subscriptions
    paths = tuple(f"/s{n}" for n in range(args.subscriptions))
    counts = [int(n) for n in args.workers.split(",")]
    print(f"{args.events} events x {args.subscriptions} subscriptions = {total} deliveries\n")

    results: dict[str, float] = {}
    with receiver_process(secret=None) as receiver:

        def case(name: str, run: Callable[[CpuMeter], float]) -> None:
            receiver.reset()
            meter = CpuMeter(receiver.process.pid)
            results[name] = run(meter)
            base = results.get("bare aiohttp loop", results[name])
            line = f"{name:32} {results[name]:8.0f} deliveries/s  {results[name] / base:5.2f}x bare"
            use = meter.use
            if use.machine_total:
                line += (
                    f"  | machine {use.busy_share:4.0%} busy; per delivery: workers "
                    f"{use.workers / total * 1e3:.2f} ms CPU, PostgreSQL "
                    f"{use.postgres / total * 1e3:.2f} ms, receiver "
                    f"{use.receiver / total * 1e3:.2f} ms"
                )
            print(line, flush=True)

        case("bare aiohttp loop", lambda _meter: bare_aiohttp(receiver, paths, total))
        for count in counts:
            case(
                f"postgres fleet, {count} worker(s)",
                lambda meter, count=count: postgres_fleet(
                    receiver, count, args.events, args.subscriptions, meter
                ),
            )
        if not args.no_celery:
            for chunk in (int(n) for n in args.celery_chunk.split(",")):
                case(
                    f"celery, 2 processes, chunk {chunk}",
                    lambda meter, chunk=chunk: celery_path(
                        receiver,
                        args.celery_broker,
                        2,
                        chunk,
                        args.events,
                        args.subscriptions,
                        meter,
                    ),
                )

    one, two = (
        results.get("postgres fleet, 1 worker(s)"),
        results.get("postgres fleet, 2 worker(s)"),
    )
    targets = []
    if one and two:
        targets.append(Target("2 workers / 1 worker", two / one, 1.6))
        targets += [
            Target(f"{name} / fleet at 2 processes", value / two, 0.3)
            for name, value in results.items()
            if name.startswith("celery")
        ]
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
