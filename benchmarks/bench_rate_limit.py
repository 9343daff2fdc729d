"""Rate limits cost the other endpoints nothing: one worker, 200 endpoints, 10 limited to 5/s.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_rate_limit.py            # SQLite and PostgreSQL, ~2 min
    .venv/bin/python benchmarks/bench_rate_limit.py --smoke    # CI's check that it runs
    .venv/bin/python benchmarks/bench_rate_limit.py --stores sqlite --rounds 7

Each run starts from a fresh store with 200 integrations (one tenant each), each with one
subscription to its own path of a loopback sink (``bench_transport.py``'s, a subprocess that
answers every POST with an empty 200), and ``--per-endpoint`` events per endpoint emitted up
front, interleaved across endpoints (``emit_many``). One ``AsyncWorker`` at its default
settings (concurrency 50, 10 per endpoint, batches of 100) with ``AiohttpTransport`` then
delivers until the 190 unlimited endpoints have every delivery; the figure is their
deliveries per second, from the worker's start to the last of them.

Two set-ups, interleaved round by round in the same process: **limited**, where 10 of the
200 endpoints (every 20th) have ``rate_limit=5`` and so a backlog that leaves at 5/s while
the run lasts, and **unlimited**, the same run with no limits. Target: the 190 endpoints'
throughput with limits >= 0.9x without (medians of the rounds), per store. Also printed:
the most any limited endpoint received in one second of the limited runs (at most the
limit plus its one-second burst, 10).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_transport
from _targets import Target, add_smoke_flag, exit_code, machine_note, report
from bench_delivery import INSECURE, POSTGRES_ADMIN, fresh_sql_store, our_transport

from acadio_webhooks import Dispatcher, NewEvent
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.domain.messages import OutboundRequest, TransportResult
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import AsyncTransport
from acadio_webhooks.worker import AsyncWorker

ENDPOINTS = 200
LIMITED_EVERY = 20  # 10 of the 200
RATE = 5.0
TARGET = 0.9
SECRET = "whsec-bench-0123456789abcdef"
TOPIC = "course/completion/create"
DATA = {"course_id": 7, "user_id": 42, "note": "x" * 900}


def is_limited(endpoint: int) -> bool:
    return endpoint % LIMITED_EVERY == 0


class CountingTransport:
    """Passes requests on; records when each endpoint's deliveries completed, and sets
    ``done`` once the unlimited endpoints have ``expected`` successes."""

    def __init__(self, inner: AsyncTransport, expected: int) -> None:
        self.inner = inner
        self.expected = expected
        self.unlimited = 0
        self.last_unlimited = 0.0
        self.limited_at: list[tuple[str, float]] = []
        self.done = asyncio.Event()

    async def send(self, request: OutboundRequest) -> TransportResult:
        result = await self.inner.send(request)
        now = time.perf_counter()
        path = urlsplit(request.url).path
        if result.status_code != 200:
            raise RuntimeError(f"the sink answered {result}")
        if is_limited(int(path.rsplit("e", 1)[1])):
            self.limited_at.append((path, now))
        else:
            self.unlimited += 1
            self.last_unlimited = now
            if self.unlimited == self.expected:
                self.done.set()
        return result

    async def close(self) -> None:
        await self.inner.close()


def populate(store: Store, url: str, per_endpoint: int, *, limits: bool) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE, resolver=StaticResolver())
    hooks = dispatcher.integrations
    for endpoint in range(ENDPOINTS):
        integration = hooks.install(f"t{endpoint:03d}", secret=SECRET)
        hooks.subscribe(
            integration.id,
            "course/*",
            f"{url}/e{endpoint}",
            rate_limit=RATE if limits and is_limited(endpoint) else None,
        )
    for _ in range(per_endpoint):
        dispatcher.emit_many(
            NewEvent(TOPIC, DATA, tenant=f"t{endpoint:03d}") for endpoint in range(ENDPOINTS)
        )


async def one_run(
    kind: str, admin_url: str, url: str, per_endpoint: int, *, limits: bool
) -> tuple[float, int]:
    """The unlimited endpoints' deliveries per second; the most one limited endpoint got
    in one second."""
    expected = (ENDPOINTS - ENDPOINTS // LIMITED_EVERY) * per_endpoint
    with fresh_sql_store(kind, admin_url) as store:
        populate(store, url, per_endpoint, limits=limits)
        transport = CountingTransport(our_transport("aiohttp"), expected)
        worker = AsyncWorker(store, transport)
        stop = asyncio.Event()
        started = time.perf_counter()
        running = asyncio.create_task(worker.run(stop))
        try:
            await asyncio.wait_for(transport.done.wait(), timeout=600)
        finally:
            stop.set()
            await running
            await transport.close()
    rate = expected / (transport.last_unlimited - started)
    return rate, most_in_one_second(transport.limited_at)


def most_in_one_second(sent: list[tuple[str, float]]) -> int:
    most = 0
    by_path: dict[str, list[float]] = {}
    for path, at in sent:
        by_path.setdefault(path, []).append(at)
    for times in by_path.values():
        times.sort()
        start = 0
        for end, at in enumerate(times):
            while at - times[start] > 1.0:
                start += 1
            most = max(most, end - start + 1)
    return most


async def benchmark(
    stores: list[str], admin_url: str, url: str, rounds: int, per_endpoint: int
) -> list[Target]:
    rates: dict[tuple[str, bool], list[float]] = {}
    most: Counter[str] = Counter()
    for round_index in range(rounds):
        for kind in stores:
            order = [True, False] if round_index % 2 == 0 else [False, True]
            for limits in order:
                rate, seen = await one_run(kind, admin_url, url, per_endpoint, limits=limits)
                rates.setdefault((kind, limits), []).append(rate)
                if limits:
                    most[kind] = max(most[kind], seen)
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    print("\ndeliveries per second to the 190 unlimited endpoints, median of rounds")
    print(f"{'store':<12}{'no limits':>12}{'10 limited':>12}{'ratio':>8}{'max/s seen':>12}")
    targets = []
    for kind in stores:
        free = statistics.median(rates[(kind, False)])
        limited = statistics.median(rates[(kind, True)])
        print(f"{kind:<12}{free:>12,.0f}{limited:>12,.0f}{limited / free:>8.2f}{most[kind]:>12}")
        targets.append(
            Target(f"{kind}: unlimited endpoints' throughput, limits/none", limited / free, TARGET)
        )
        targets.append(
            Target(
                f"{kind}: most one 5/s endpoint got in one second",
                most[kind],
                2 * RATE,
                at_most=True,
                unit="",
            )
        )
    return targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    parser.add_argument("--per-endpoint", type=int, help="events per endpoint (default 25)")
    parser.add_argument(
        "--postgres-admin",
        default=POSTGRES_ADMIN,
        help="database URL used to create and drop the benchmark databases",
    )
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.smoke else 5)
    per_endpoint = args.per_endpoint or (2 if args.smoke else 25)
    stores = args.stores.split(",")
    print(machine_note(smoke=args.smoke))
    with ExitStack() as stack:
        url = stack.enter_context(bench_transport.started_sink())
        print(
            f"sink at {url}; {ENDPOINTS} endpoints x {per_endpoint} events, "
            f"{ENDPOINTS // LIMITED_EVERY} limited to {RATE:g}/s; {rounds} rounds; "
            f"stores: {', '.join(stores)}"
        )
        targets = asyncio.run(benchmark(stores, args.postgres_admin, url, rounds, per_endpoint))
    return exit_code(report(targets), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
