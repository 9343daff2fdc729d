"""The SQL store: one SQLAlchemy Core implementation of the storage port for SQLite,
PostgreSQL and MySQL / MariaDB.

Every method is one transaction; writes on SQLite take the write lock up front
(``BEGIN IMMEDIATE``), so threads and processes sharing the file are safe. Driver errors leave
as :class:`~acadio_webhooks.errors.StorageError` with the driver's exception as ``__cause__``
and never with bound parameters (which may hold signing secrets) in any message.
"""

from __future__ import annotations

from acadio_webhooks.adapters.storage.sql._history_role import HistoryRole
from acadio_webhooks.adapters.storage.sql._queue_role import QueueRole
from acadio_webhooks.adapters.storage.sql._registry_role import RegistryRole
from acadio_webhooks.adapters.storage.sql._upkeep_role import UpkeepRole

__all__ = ["SqlStore"]


class SqlStore(RegistryRole, QueueRole, HistoryRole, UpkeepRole):
    """A :class:`~acadio_webhooks.ports.storage.Store` on SQLite, PostgreSQL or MySQL / MariaDB.

    ``target`` is a SQLite file path, a ``sqlite:///path``, ``postgresql://…`` or
    ``mysql://…`` URL (``postgresql://`` means psycopg 3, ``mysql://`` and ``mariadb://``
    PyMySQL), or an SQLAlchemy ``Engine``: a PostgreSQL or MySQL engine is
    shared (pool included), a SQLite engine only lends its URL (the store needs its own
    transaction settings). ``create=True`` migrates the schema to the newest revision on open.

    ``secret_box`` seals integrations' signing secrets before they reach the database (see
    :mod:`acadio_webhooks.adapters.storage.secret_box`). ``sqlite_synchronous`` trades
    durability for speed: ``NORMAL`` (default) survives a crash of the application, ``FULL``
    also a power cut. ``engine_options`` go to ``sqlalchemy.create_engine``.
    """
