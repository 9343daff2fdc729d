"""How big a pump round is, and in which order its tasks go out (pure: no I/O).

A pump chain hands out one *round* of deliveries, then queues its own next step behind the
round's attempt tasks. When that step runs, the workers have picked up the round: the time
it waited says how fast they take work, and the next round is sized to last about
:data:`ROUND_SECONDS`. Short rounds keep the queue shallow (an event for a quiet endpoint
waits behind at most one round); rounds long enough to keep every pool process busy keep
the throughput. The size adapts to the pool as it is — however many processes, however
fast the endpoints — instead of a figure the user must work out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from acadio_webhooks.domain.messages import WorkItem

__all__ = ["ROUND_SECONDS", "RoundSizer", "chunks_in_turn"]

ROUND_SECONDS = 0.25
"""About how long the pool takes to pick up one round of attempt tasks."""


@dataclass(frozen=True)
class RoundSizer:
    """Round sizes between ``chunk`` and ``largest`` deliveries, aiming at ``seconds``."""

    chunk: int
    largest: int
    seconds: float = ROUND_SECONDS

    def first(self) -> int:
        """The size of a chain's first round: a few tasks, before anything is measured."""
        return min(self.largest, self.chunk * 4)

    def next(self, size: int, handed: int, waited: float) -> int:
        """The next size after a round of ``size`` handed out ``handed`` deliveries and the
        chain's next step waited ``waited`` seconds behind them.

        A round less than half full says nothing about the workers' pace (they ran out of
        work, not of time): the size stays. Otherwise it moves towards the pace measured, at
        most halving or doubling per round, so that one odd wait cannot swing it.
        """
        if handed < size // 2:
            return size
        wanted = round(handed * self.seconds / max(waited, 0.001))
        least = max(self.chunk, size // 2)
        most = min(self.largest, size * 2)
        sized = max(least, min(most, wanted))
        # Whole chunks: a round of 157 would end in a task of 7, nearly all overhead.
        return max(self.chunk, sized - sized % self.chunk) if sized < self.largest else sized

    def share(self, size: int, per_endpoint: int | None) -> int:
        """Deliveries of one subscription a round hands out before every other
        subscription with due work had its turn: ``per_endpoint``, or an eighth of the
        round (at least a chunk)."""
        if per_endpoint is not None:
            return per_endpoint
        return max(self.chunk, size // 8)


def chunks_in_turn(items: Sequence[WorkItem], chunk: int) -> list[list[str]]:
    """Delivery ids in attempt tasks of at most ``chunk``, one subscription per task, in
    turns: the first task of every subscription, then the second of each, and so on, the
    subscriptions with least work first — a quiet endpoint's one delivery goes out ahead of
    a backlog's tasks, never behind them."""
    by_subscription: dict[str, list[str]] = {}
    for item in items:
        by_subscription.setdefault(item.subscription_id, []).append(item.delivery_id)
    queues = sorted(by_subscription.values(), key=len)
    tasks: list[list[str]] = []
    for start in range(0, max((len(ids) for ids in queues), default=0), chunk):
        tasks += [ids[start : start + chunk] for ids in queues if start < len(ids)]
    return tasks
