"""Garbage-collector settings for a process that does nothing but run a worker."""

from __future__ import annotations

import gc
from dataclasses import dataclass

YOUNG_OBJECTS_PER_ATTEMPT = 200
"""Room kept in the young generation per attempt in flight. An aiohttp attempt holds about
80 collector-tracked objects while it waits for its endpoint (coroutines, futures, timers,
header dicts; 4,150 young objects at concurrency 50), so this is that count with margin for
httpx's and for a slow endpoint's buffers."""

YOUNG_THRESHOLD_FLOOR = 10_000
"""The least threshold set, whatever the concurrency: small workers gain from fewer young
collections too, and 10,000 young objects are about a MiB."""


@dataclass(frozen=True)
class ProcessTuning:
    """What :func:`tune_worker_process` did: ``frozen`` start-up objects moved out of every
    later collection, and the young generation's threshold before and after."""

    frozen: int
    young_threshold_before: int
    young_threshold: int


def young_threshold_for(concurrency: int) -> int:
    """The young-generation threshold that leaves room for ``concurrency`` attempts in flight."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    return max(YOUNG_THRESHOLD_FLOOR, concurrency * YOUNG_OBJECTS_PER_ATTEMPT)


def tune_worker_process(concurrency: int) -> ProcessTuning:
    """Set the garbage collector up for a process that only runs a worker.

    Call it once, after start-up (imports, the store's engine, the transport) and before
    delivering, in a process of the worker's own: ``acadio-webhooks worker`` does, and so can
    a host's own delivery process (a custom runner, or a Celery worker process that serves
    only the webhook queue, from ``worker_process_init``). Never in a web process: the
    settings are the whole interpreter's.

    Two things, both measured in ``docs/performance.md``:

    * **Freeze start-up objects** (``gc.freeze()``): full collections stop walking the
      ~100,000 objects of the imports.
    * **Raise the young generation's threshold** above what the attempts in flight hold. The
      collector counts tracked allocations minus deallocations and runs a young collection
      when the count passes the threshold (700 by default). Fifty attempts in flight hold
      about 4,000 such objects, so with the default every ~50 deliveries a young collection
      walked them all and freed nothing: 12-20 us per delivery of a ~250 us total on SQLite
      with aiohttp. With room for them, young collections come only when objects really pile
      up. Cyclic garbage waits that much longer: a few MiB at most.

    An existing threshold that is higher already is kept. Returns what it did.
    """
    wanted = young_threshold_for(concurrency)
    gc.collect()
    gc.freeze()
    before, middle, old = gc.get_threshold()
    threshold = max(before, wanted)
    gc.set_threshold(threshold, middle, old)
    return ProcessTuning(
        frozen=gc.get_freeze_count(),
        young_threshold_before=before,
        young_threshold=threshold,
    )
