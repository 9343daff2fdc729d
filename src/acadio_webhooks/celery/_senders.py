"""How an attempt task sends its chunk: one after another with a sync transport, or several
at once on the process's own event loop with an async one.

Celery tasks are synchronous, but an attempt mostly waits on the network: sent one after
another, a chunk of 50 to an endpoint that answers in 100 ms holds a pool process for five
seconds. When the host names no transport, each pool process keeps one event loop and the
fastest installed async transport (aiohttp with its extra, else httpx), and a task runs up
to ``concurrency`` attempts of its chunk at once — all to one endpoint, since a chunk never
mixes subscriptions. Either way every attempt goes through the same delivery core
(``_Runner.attempt`` / ``attempt_async``) as the workers, and no attempt starts after the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from acadio_webhooks.domain.messages import Settlement, WorkItem
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.worker._runner import _Runner

__all__ = ["AsyncSender", "Sender", "SyncSender"]


class Sender(Protocol):
    """Attempts a task's deliveries; returns the settlements of those it started, in the
    order they finished. Starts none after ``deadline`` (``time.monotonic()``) but the first."""

    def send_all(
        self, items: Sequence[WorkItem], runner: _Runner, deadline: float
    ) -> list[Settlement]: ...

    def close(self) -> None:
        """Close the transport (the pool process is stopping)."""


class SyncSender:
    """One attempt after another with a sync transport (one the host gave)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send_all(
        self, items: Sequence[WorkItem], runner: _Runner, deadline: float
    ) -> list[Settlement]:
        settlements: list[Settlement] = []
        for item in items:
            if settlements and time.monotonic() > deadline:
                break
            settlements.append(runner.attempt(item, self.transport))
        return settlements

    def close(self) -> None:
        self.transport.close()


class AsyncSender:
    """Up to ``concurrency`` attempts at once with an async transport, on an event loop this
    process keeps for its tasks (made after the fork, like the transport's connections)."""

    def __init__(self, transport: AsyncTransport, concurrency: int) -> None:
        self.transport = transport
        self.concurrency = concurrency
        self.loop = asyncio.new_event_loop()

    def send_all(
        self, items: Sequence[WorkItem], runner: _Runner, deadline: float
    ) -> list[Settlement]:
        return self.loop.run_until_complete(self._send_all(items, runner, deadline))

    def close(self) -> None:
        self.loop.run_until_complete(self.transport.close())
        self.loop.close()

    async def _send_all(
        self, items: Sequence[WorkItem], runner: _Runner, deadline: float
    ) -> list[Settlement]:
        settlements: list[Settlement] = []
        waiting = iter(items)
        started_any = False

        async def lane() -> None:
            nonlocal started_any
            for item in waiting:
                if started_any and time.monotonic() > deadline:
                    return
                started_any = True
                settlements.append(await runner.attempt_async(item, self.transport))

        await asyncio.gather(*(lane() for _ in range(min(self.concurrency, len(items)))))
        return settlements
