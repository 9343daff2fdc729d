"""Store adapters: :class:`~.memory.MemoryStore` and the SQL store (SQLite, PostgreSQL).

:func:`open_store` picks one from a URL; the adapters themselves are imported lazily by it.
"""

from __future__ import annotations

from acadio_webhooks.adapters.storage._open import open_store

__all__ = ["open_store"]
