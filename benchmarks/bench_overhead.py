"""Library CPU per delivery on the worker's hot path, counted in instructions (noise-free).

Run by hand (not part of the test suite; needs ``valgrind``)::

    .venv/bin/python benchmarks/bench_overhead.py             # ~2 minutes
    .venv/bin/python benchmarks/bench_overhead.py --time      # also CPU time, no valgrind
    .venv/bin/python benchmarks/bench_overhead.py --smoke     # CI's check that it runs

The scenario is the ``overhead`` part of ``bench_delivery.py``: a ``MemoryStore``, one
subscription, an ``AsyncRecordingTransport`` answering 200 at once, an ``AsyncWorker`` at
concurrency 50 draining ``--deliveries`` emitted events. Wall-clock time on a shared machine
moves by tens of percent between runs; instruction counts under ``valgrind --tool=callgrind``
move by well under 1%, so they show what a change saves.

Each figure is the difference of two child processes run under callgrind, so that start-up
and imports cancel out:

* **worker, per delivery** = (emit N + drain N) - (emit N), divided by N (both programs first
  drain an empty store, so one-time imports and thread start-up cancel out too);
* **emit, per event** = (emit N) - (emit 0), divided by N;
* **baseline**: a bare loop of N one-shot HMAC-SHA256 of the 1 KiB body (``hmac.digest``),
  the yardstick ``bench_delivery.py`` prints, minus an empty loop; the library's figures are
  also given as a multiple of it, which carries over to machines with other speeds.

Targets (issue #13): worker <= 20 us per delivery and emit <= 15 us per event, in this
machine's microseconds: instructions / the yardstick's instructions x the yardstick's time,
measured with ``timeit`` in the same run. The script exits 1 when a run misses one, except
with ``--smoke``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import (
    add_smoke_flag,
    exit_code,
    hmac_microseconds,
    machine_note,
    overhead_targets,
    report,
)
from bench_delivery import (
    DATA,
    SMALL_DATA,
    TENANT,
    TOPIC,
    settings_for,
    subscribed,
)

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.worker import AsyncWorker

BODIES = {"small": SMALL_DATA, "1k": DATA}


def scenario(mode: str, count: int, body: str) -> None:
    """Child process: one of the measured programs."""
    if mode == "hmac":
        key, payload = b"k" * 32, b"x" * 1024
        for _ in range(count):
            hmac.digest(key, payload, "sha256")
        return
    if mode == "loop":
        for _ in range(count):
            pass
        return
    # Warm-up, in both programs of a difference: a drain of nothing imports what the worker
    # loads lazily (anyio's backend) and starts the notice flusher's thread, once per process.
    asyncio.run(AsyncWorker(MemoryStore(), AsyncRecordingTransport()).drain())
    dispatcher = subscribed(MemoryStore(), "http://127.0.0.1:9/hook")
    data = BODIES[body]
    for _ in range(count):
        dispatcher.emit(TOPIC, data, tenant=TENANT)
    if mode == "emit":
        return
    worker = AsyncWorker(dispatcher.store, AsyncRecordingTransport(), settings=settings_for(50))
    report = asyncio.run(worker.drain())
    assert report.delivered == count, report


def instructions(mode: str, count: int, body: str) -> int:
    """Instructions the child executes in ``mode``, counted by callgrind."""
    with tempfile.TemporaryDirectory(prefix="acadio-callgrind-") as folder:
        out = Path(folder) / "callgrind.out"
        env = dict(os.environ, PYTHONHASHSEED="0")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                mode,
                str(count),
                body,
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        summary = re.search(r"^summary:\s*(\d+)", out.read_text(), re.MULTILINE)
        assert summary is not None, "no summary line in the callgrind output"
        return int(summary.group(1))


def cpu_seconds(mode: str, count: int, body: str) -> float:
    started = time.process_time()
    scenario(mode, count, body)
    return time.process_time() - started


def profile_drain(count: int, body: str) -> None:
    """Where the worker's time goes: cProfile of the drain alone, top 25 by own time."""
    import cProfile
    import pstats

    dispatcher = subscribed(MemoryStore(), "http://127.0.0.1:9/hook")
    for _ in range(count):
        dispatcher.emit(TOPIC, BODIES[body], tenant=TENANT)
    worker = AsyncWorker(dispatcher.store, AsyncRecordingTransport(), settings=settings_for(50))
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(worker.drain())
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--body", choices=sorted(BODIES), default="small")
    parser.add_argument("--time", action="store_true", help="CPU time instead (best of 5)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the drain")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.child:
        mode, count, body = args.child
        scenario(mode, int(count), body)
        return 0
    n, body = (50 if args.smoke else args.deliveries), args.body
    print(machine_note(smoke=args.smoke))
    if args.profile:
        profile_drain(n, body)
        return 0
    if args.time:

        def best(mode: str) -> float:
            return min(cpu_seconds(mode, n, body) for _ in range(5))

        emit, both = best("emit"), best("drain")
        yardstick = best("hmac") - best("loop")
        print(f"CPU time, {n} deliveries, {body} body, best of 5:")
        print(f"  worker, per delivery   {(both - emit) / n * 1e6:8.1f} us")
        print(f"  emit, per event        {emit / n * 1e6:8.1f} us")
        print(f"  1 KiB HMAC (baseline)  {yardstick / n * 1e6:8.2f} us")
        met = report(overhead_targets((both - emit) / n * 1e6, emit / n * 1e6))
        return exit_code(met, smoke=args.smoke)
    drain = instructions("drain", n, body)
    emit_n = instructions("emit", n, body)
    emit0 = instructions("emit", 0, body)
    yardstick = (instructions("hmac", n, body) - instructions("loop", n, body)) / n
    worker = (drain - emit_n) / n
    emit = (emit_n - emit0) / n
    print(f"instructions (callgrind), {n} deliveries, {body} body:")
    print(f"  worker, per delivery   {worker:12,.0f}   {worker / yardstick:6.1f}x baseline")
    print(f"  emit, per event        {emit:12,.0f}   {emit / yardstick:6.1f}x baseline")
    print(f"  baseline: 1 KiB HMAC   {yardstick:12,.0f}   1.0x")
    hmac_us = hmac_microseconds()
    worker_us, emit_us = worker / yardstick * hmac_us, emit / yardstick * hmac_us
    print(f"one 1 KiB HMAC takes {hmac_us:.2f} us here now, so:")
    print(f"  worker, per delivery   {worker_us:8.1f} us")
    print(f"  emit, per event        {emit_us:8.1f} us")
    met = report(overhead_targets(worker_us, emit_us))
    return exit_code(met, smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
