"""An in-memory :class:`~acadio_webhooks.ports.storage.Store`: for tests and quick starts.

Everything lives in dicts behind one lock, so it is safe across threads of one process and
lost when the process ends. It passes the same contract suite as the SQL store, which is why
it is shipped for users' own tests. It cannot join a host's database transaction:
``enqueue(..., connection=...)`` raises ``TypeError``.
"""

from __future__ import annotations

from acadio_webhooks.adapters.storage.memory._history import HistoryPart
from acadio_webhooks.adapters.storage.memory._queue import QueuePart
from acadio_webhooks.adapters.storage.memory._registry import RegistryPart
from acadio_webhooks.adapters.storage.memory._upkeep import UpkeepPart

__all__ = ["MemoryStore"]


class MemoryStore(RegistryPart, QueuePart, HistoryPart, UpkeepPart):
    """A thread-safe store kept in process memory (see the module docstring): every role
    of :mod:`acadio_webhooks.ports.storage`, one module per role, over one shared state
    (:class:`~acadio_webhooks.adapters.storage.memory._base.MemoryBase`)."""
