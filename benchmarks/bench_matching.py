"""How fast PatternIndex routes an event, against a linear scan of parsed Patterns.

Run by hand (not part of the test suite):

    .venv/bin/python benchmarks/bench_matching.py           # full run, about 10 s
    .venv/bin/python benchmarks/bench_matching.py --quick   # fewer events, a few seconds
    .venv/bin/python benchmarks/bench_matching.py --smoke   # CI's check that it runs

Subscriptions are generated to look like a real deployment: mostly literal catalog-like
topics spread over many areas and entities, some ``area/*``, a few ``area/*/action`` and
``*/*/action``, and very few ``*`` (see ``MIX``). Events are random topics of the same
universe. Timings are the best of ``--repeat`` runs; the process keeps the garbage collector
on, as a host would.

Targets (DESIGN.md): at 100k subscriptions <= 10 us/event and >= 1,000x the linear scan; at 1k
>= 50x; building 100k subscriptions <= 0.5 s. The script exits 1 when a run misses one, except
with ``--smoke``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from _targets import Target, add_smoke_flag, exit_code, machine_note, report

from acadio_webhooks.domain._grammar import parse_topic
from acadio_webhooks.domain.patterns import Pattern, PatternIndex

ACTIONS = ("create", "update", "complete", "report", "delete", "archive")
AREAS = 100
ENTITIES_PER_AREA = 50

# Share of subscriptions of each shape; the rest are literal topics. "typical" is the mix the
# targets are checked on; "wildcard-heavy" shows how the cost grows with the number of keys an
# event matches (building the result set is most of the cost at high fan-out).
MIXES = {
    "typical": {"area/*": 0.02, "area/*/action": 0.01, "*/*/action": 0.002, "*": 0.0001},
    "wildcard-heavy": {"area/*": 0.05, "area/*/action": 0.01, "*/*/action": 0.0048, "*": 0.0002},
}


def universe() -> tuple[list[str], list[str]]:
    """Catalog-like area names and every area/entity/action topic (30,000 of them)."""
    areas = ["course", "credits", "identity", "surveys", "assessment"] + [
        f"area-{n:02d}" for n in range(AREAS - 5)
    ]
    topics = [
        f"{area}/entity_{entity:02d}/{action}"
        for area in areas
        for entity in range(ENTITIES_PER_AREA)
        for action in ACTIONS
    ]
    return areas, topics


def subscriptions(
    count: int,
    mix: dict[str, float],
    areas: Sequence[str],
    topics: Sequence[str],
    rng: random.Random,
) -> list[tuple[str, str]]:
    """``count`` (key, pattern text) pairs whose shapes follow ``mix``."""
    shapes: dict[str, Callable[[], str]] = {
        "*": lambda: "*",
        "*/*/action": lambda: f"*/*/{rng.choice(ACTIONS)}",
        "area/*/action": lambda: f"{rng.choice(areas)}/*/{rng.choice(ACTIONS)}",
        "area/*": lambda: f"{rng.choice(areas)}/*",
    }
    drawn = []
    for number in range(count):
        roll, text = rng.random(), None
        for shape, share in mix.items():
            if roll < share:
                text = shapes[shape]()
                break
            roll -= share
        drawn.append((f"sub_{number:06d}", text or rng.choice(topics)))
    return drawn


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The shortest of ``repeat`` timed runs, in seconds."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return min(timings)


def build(pairs: Sequence[tuple[str, str]], cache_size: int) -> PatternIndex[str]:
    index = PatternIndex[str](cache_size=cache_size)
    for key, text in pairs:
        index.add(text, key)
    return index


def linear_scan(compiled: Sequence[tuple[str, Pattern]], topic: str) -> frozenset[str]:
    # The generous baseline: the topic is parsed once, not once per pattern as calling
    # Pattern.matches() in the loop would do.
    segments = parse_topic(topic)
    return frozenset(key for key, pattern in compiled if pattern._matches_segments(segments))


@dataclass
class Row:
    mix: str
    size: int
    build_s: float
    fanout: float
    index_us: float
    scan_us: float
    cached_us: float

    @property
    def ratio(self) -> float:
        return self.scan_us / self.index_us


def measure(size: int, mix: str, args: argparse.Namespace, rng: random.Random) -> Row:
    areas, topics = universe()
    pairs = subscriptions(size, MIXES[mix], areas, topics, rng)
    events = [rng.choice(topics) for _ in range(args.events)]
    scan_events = events[: max(1, args.events * 1000 // max(size, 1000) // 10)]

    build_seconds = best_of(args.repeat, lambda: build(pairs, cache_size=0))
    uncached = build(pairs, cache_size=0)
    compiled = [(key, Pattern(text)) for key, text in pairs]

    fanout = sum(len(uncached.match(topic)) for topic in events) / len(events)
    for topic in scan_events:  # the index must agree with the plain definition
        if uncached.match(topic) != linear_scan(compiled, topic):
            sys.exit(f"MISMATCH for {topic!r} at {size} subscriptions")

    def match_all() -> None:
        for topic in events:
            uncached.match(topic)

    def scan_all() -> None:
        for topic in scan_events:
            linear_scan(compiled, topic)

    index_us = best_of(args.repeat, match_all) / len(events) * 1e6
    scan_us = best_of(max(1, args.repeat // 2), scan_all) / len(scan_events) * 1e6

    cached = build(pairs, cache_size=4096)
    hot = [rng.choice(topics) for _ in range(1000)]
    hot_events = [rng.choice(hot) for _ in range(args.events)]
    for topic in hot:
        cached.match(topic)

    def match_hot() -> None:
        for topic in hot_events:
            cached.match(topic)

    cached_us = best_of(args.repeat, match_hot) / len(hot_events) * 1e6
    return Row(mix, size, build_seconds, fanout, index_us, scan_us, cached_us)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer events and repeats")
    parser.add_argument("--seed", type=int, default=2026)
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    args.events = 200 if args.smoke else 2_000 if args.quick else 20_000
    args.repeat = 1 if args.quick or args.smoke else 3
    rng = random.Random(args.seed)

    print(machine_note(smoke=args.smoke))
    print(f"{args.events} events, best of {args.repeat}")
    print(
        f"{'mix':>14} {'subscriptions':>13} {'build':>9} {'matches/ev':>10} {'index':>10} "
        f"{'linear scan':>13} {'ratio':>9} {'cache hit':>10}"
    )
    runs = [("typical", 10), ("typical", 1_000), ("typical", 100_000)]
    runs.append(("wildcard-heavy", 100_000))
    rows = [measure(size, mix, args, rng) for mix, size in runs]
    for row in rows:
        print(
            f"{row.mix:>14} {row.size:>13,} {row.build_s * 1000:>7.2f}ms "
            f"{row.fanout:>10.1f} {row.index_us:>8.2f}us {row.scan_us:>11.1f}us "
            f"{row.ratio:>8,.0f}x {row.cached_us:>8.2f}us"
        )

    by_size = {row.size: row for row in rows if row.mix == "typical"}
    typical_100k, typical_1k = by_size[100_000], by_size[1_000]
    met = report(
        [
            Target("100k subscriptions, per event", typical_100k.index_us, 10, True, " us"),
            Target("100k subscriptions, index / linear scan", typical_100k.ratio, 1_000),
            Target("1k subscriptions, index / linear scan", typical_1k.ratio, 50),
            Target("building 100k subscriptions", typical_100k.build_s, 0.5, True, " s"),
        ]
    )
    return exit_code(met, smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())
