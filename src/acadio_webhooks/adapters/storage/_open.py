"""``open_store``: a store from one configuration string."""

from __future__ import annotations

import os
from typing import Any

from acadio_webhooks.ports.storage import Store

__all__ = ["open_store"]

_MEMORY = "memory://"


def open_store(url: str | os.PathLike[str], **options: Any) -> Store:
    """The store a configuration string names.

    * ``memory://`` — a :class:`~acadio_webhooks.adapters.storage.memory.MemoryStore`;
    * ``sqlite:///path/to/file.db`` or a bare file path — SQLite;
    * ``postgresql://user@host/db`` (also ``postgres://``, ``postgresql+psycopg://``) —
      PostgreSQL through psycopg 3;
    * ``mysql://user@host/db`` or ``mariadb://user@host/db`` — MySQL or MariaDB through
      PyMySQL.

    ``options`` go to :class:`~acadio_webhooks.adapters.storage.sql.SqlStore` (``create``,
    ``secret_box``, ...). ``ValueError`` for a URL of another kind.
    """
    if isinstance(url, str) and url.strip() == _MEMORY:
        if options:
            raise TypeError(f"memory:// takes no options, got {sorted(options)}")
        from acadio_webhooks.adapters.storage.memory import MemoryStore

        return MemoryStore()
    from acadio_webhooks.adapters.storage.sql.store import SqlStore

    return SqlStore(url, **options)
