"""Store adapters: :class:`~.memory.MemoryStore` and the SQL store (SQLite, PostgreSQL)."""

from __future__ import annotations

__all__: list[str] = []
