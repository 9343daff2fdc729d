""":class:`CelerySettings`: how the Celery tasks pace and size their work, and what
:class:`~acadio_webhooks.celery.CeleryDelivery` accepts as its store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from acadio_webhooks.ports.storage import Store
from acadio_webhooks.worker.settings import UpkeepSettings

__all__ = ["CelerySettings", "StoreSource"]


@dataclass(frozen=True)
class CelerySettings(UpkeepSettings):
    """How the Celery integration paces itself. The defaults are the fast path: most
    deployments set nothing but ``queue``.

    * ``pump_interval`` — seconds between beat's pumps: the longest a due delivery waits
      when nothing else starts a pump (no ``LISTEN`` on this store, or a notification lost).
    * ``chunk`` — deliveries of one subscription per attempt task at most, attempted one
      after another and recorded together. Celery's per-task cost (a broker round trip, two
      database transactions, its own bookkeeping) dwarfs a fast attempt's: on the benchmark
      machine 10 per task delivered about 5x as much per process as 1. A process killed
      mid-task re-sends the chunk's attempts not yet recorded; ``task_seconds`` bounds how
      long a slow endpoint holds a process.
    * ``concurrency`` — attempts of one task in flight at once (all to one endpoint: a chunk
      is one subscription's), with the default transport; a host's own ``transport``
      attempts one after another.
    * ``task_seconds`` — an attempt task starts no attempt after this many seconds and gives
      the rest of its chunk back (due again at once, for the next round).
    * ``batch_size`` — the most deliveries one pump round hands out. Rounds size themselves
      below it to what the pool takes in about a quarter of a second.
    * ``per_endpoint`` — deliveries of one subscription a round hands out before every
      other subscription with due work has had its turn (None: an eighth of the round).
      Not a ceiling: what is left of a round goes to whoever has more due.
    * ``lease`` — how long a claimed delivery stays reserved: above a round's wait in the
      broker plus ``task_seconds`` plus the transport's total timeout (20 s by default);
      the 5 minutes default leaves room for a busy broker. A lease that runs out only
      wastes work: a later pump claims the delivery again and the late task finds nothing.
    * ``listen`` — each Celery worker process ``LISTEN`` s on PostgreSQL's due channel and
      starts a pump when deliveries are queued (no-op on other stores).
    * ``notify_interval``, ``notice_window``, ``notice_grace``, ``notice_lease`` — failure
      e-mails, as for :class:`~acadio_webhooks.worker.WorkerSettings`.
    * ``retention``, ``prune_interval``, ``prune_batch_size`` — how long history is kept
      and how it is pruned, as for :class:`~acadio_webhooks.worker.WorkerSettings`
      (``retention=None`` keeps everything and schedules no prune task).
    * ``queue`` — the Celery queue for every task (None: the app's default queue).
    """

    pump_interval: float = 1.0
    batch_size: int = 2000
    chunk: int = 50
    concurrency: int = 10
    task_seconds: float = 1.0
    per_endpoint: int | None = None
    lease: timedelta = timedelta(minutes=5)
    listen: bool = True
    queue: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        share = 1 if self.per_endpoint is None else self.per_endpoint
        if min(self.batch_size, self.chunk, self.concurrency, share) < 1:
            raise ValueError("batch_size, chunk, concurrency and per_endpoint must be >= 1")
        if self.pump_interval <= 0 or self.lease <= timedelta(0) or self.task_seconds <= 0:
            raise ValueError("pump_interval, task_seconds and lease must be positive")


StoreSource = Store | str | Callable[[], Store]
"""A store, a URL for :func:`~acadio_webhooks.adapters.storage.open_store`, or a factory."""
