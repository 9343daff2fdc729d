"""The garbage collector in a worker process: Python's default young-generation threshold
against the one ``tune_worker_process`` sets (what ``acadio-webhooks worker`` runs with).

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_worker_gc.py            # 8 rounds, about a minute
    .venv/bin/python benchmarks/bench_worker_gc.py --quick    # 4 rounds
    .venv/bin/python benchmarks/bench_worker_gc.py --smoke    # CI's check that it runs

One process, SQLite (or ``--store memory``), ``AiohttpTransport`` at concurrency 50, the
loopback sink of ``bench_transport.py`` in a subprocess. Start-up objects are frozen once for
both sides (``gc.freeze()``); then each round drains the same number of deliveries once with
the default threshold and once with the tuned one, in alternating order. Per side: deliveries
per second, process CPU per delivery, young collections per 1,000 deliveries and the
collector's own time per delivery (``gc.callbacks``), medians of the rounds.

Targets (ours, from the profile in ``docs/performance.md``; no issue names one): the tuned
collector costs <= 2 us per delivery, and the tuned process delivers no slower than the
default (>= 1.0x; noisy on a busy machine, read it with the rounds it took).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_delivery
import bench_transport
from _targets import Target, add_smoke_flag, exit_code, machine_note, report

from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.event_loop import resolve_event_loop
from acadio_webhooks.event_loop import run as run_event_loop
from acadio_webhooks.worker import AsyncWorker, tune_worker_process

CONCURRENCY = 50
SIDES = ("default", "tuned")


@dataclass
class _Collections:
    """Young collections and the collector's time, counted through ``gc.callbacks``."""

    young: int = 0
    seconds: float = 0.0
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        if info["generation"] == 0:
            self.young += 1


@dataclass(frozen=True)
class Sample:
    rate: float
    cpu_us: float
    young_per_1000: float
    collector_us: float


async def drain_once(dispatcher: Dispatcher, url: str, count: int) -> Sample:
    """Emit ``count`` events, then drain them with a fresh worker; its figures."""
    bench_delivery.emit_events(dispatcher, count)
    transport = bench_delivery.our_transport("aiohttp")
    counted = _Collections()
    try:
        await bench_delivery.warm_up(transport, url, CONCURRENCY)
        worker = AsyncWorker(
            dispatcher.store, transport, settings=bench_delivery.settings_for(CONCURRENCY)
        )
        gc.callbacks.append(counted)
        started, cpu_started = time.perf_counter(), time.process_time()
        drained = await worker.drain()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        if counted in gc.callbacks:
            gc.callbacks.remove(counted)
        await transport.close()
    if drained.delivered != count:
        raise RuntimeError(f"delivered {drained.delivered} of {count}: {drained}")
    return Sample(
        rate=count / elapsed,
        cpu_us=cpu / count * 1e6,
        young_per_1000=counted.young / count * 1000,
        collector_us=counted.seconds / count * 1e6,
    )


async def compare(
    dispatcher: Dispatcher, url: str, thresholds: dict[str, int], rounds: int, count: int
) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {side: [] for side in SIDES}
    _, middle, old = gc.get_threshold()
    await drain_once(dispatcher, url, min(count, 300))  # imports, caches, the store's pages
    for round_index in range(rounds):
        for side in SIDES if round_index % 2 == 0 else tuple(reversed(SIDES)):
            gc.set_threshold(thresholds[side], middle, old)
            samples[side].append(await drain_once(dispatcher, url, count))
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return samples


def report_sides(samples: dict[str, list[Sample]], thresholds: dict[str, int]) -> list[Target]:
    median = {
        side: Sample(
            rate=statistics.median(s.rate for s in values),
            cpu_us=statistics.median(s.cpu_us for s in values),
            young_per_1000=statistics.median(s.young_per_1000 for s in values),
            collector_us=statistics.median(s.collector_us for s in values),
        )
        for side, values in samples.items()
    }
    print(
        f"\n{'side':<22}{'deliveries/s':>14}{'CPU us/deliv':>14}"
        f"{'young/1000':>12}{'collector us':>14}"
    )
    for side in SIDES:
        m = median[side]
        label = f"{side} ({thresholds[side]:,})"
        print(
            f"{label:<22}{m.rate:>14.0f}{m.cpu_us:>14.1f}"
            f"{m.young_per_1000:>12.1f}{m.collector_us:>14.1f}"
        )
    wins = sum(
        tuned.rate >= default.rate
        for default, tuned in zip(samples["default"], samples["tuned"], strict=True)
    )
    speed = median["tuned"].rate / median["default"].rate
    print(f"\ntuned / default, deliveries per second: {speed:.2f}x")
    cpu = median["tuned"].cpu_us / median["default"].cpu_us
    print(f"tuned / default, CPU per delivery: {cpu:.2f}x")
    print(f"rounds in which the tuned side was at least as fast: {wins} of {len(samples['tuned'])}")
    return [
        Target(
            "collector, tuned process, per delivery", median["tuned"].collector_us, 2.0, True, " us"
        ),
        Target("tuned / default, deliveries per second", speed, 1.0),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 rounds instead of 8")
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--rounds", type=int, help="rounds, each side once per round")
    parser.add_argument("--deliveries", type=int, help="deliveries per drain (default 3,000)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.smoke else 4 if args.quick else 8)
    count = args.deliveries or (100 if args.smoke else 3000)
    print(machine_note(smoke=args.smoke))
    with ExitStack() as stack:
        url = stack.enter_context(bench_transport.started_sink()) + "/hook"
        stores = bench_delivery.open_stores(stack, {}, {args.store})
        dispatcher = bench_delivery.subscribed(stores[args.store], url)
        default = gc.get_threshold()[0]
        tuning = tune_worker_process(CONCURRENCY)
        thresholds = {"default": default, "tuned": tuning.young_threshold}
        loop = resolve_event_loop("auto")
        print(
            f"{args.store} + aiohttp, concurrency {CONCURRENCY}, {loop} event loop; "
            f"{rounds} rounds of {count} deliveries a side; "
            f"{tuning.frozen:,} start-up objects frozen for both sides"
        )
        samples = run_event_loop(compare(dispatcher, url, thresholds, rounds, count), loop=loop)
    return exit_code(report(report_sides(samples, thresholds)), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
