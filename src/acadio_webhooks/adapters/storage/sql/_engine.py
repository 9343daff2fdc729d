"""Engines for the SQL store: URL normalisation, SQLite's concurrency settings, error hiding.

SQLite is made safe for many threads and processes on one file by three settings: WAL (readers
never block the writer), a busy timeout (a writer waits for the lock instead of failing), and
``BEGIN IMMEDIATE`` for every writing transaction (it takes the write lock up front, so two
transactions can never both read and then dead-lock upgrading to write). pysqlite's own
transaction handling is switched off so that the store emits its own ``BEGIN``.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.exc import ArgumentError, InvalidatePoolError

from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family
from acadio_webhooks.ports.storage import WouldWait

__all__ = [
    "WITHOUT_WAITING",
    "WRITE",
    "OpenedEngine",
    "driver_transaction",
    "normalise_url",
    "open_engine",
]

WRITE = "acadio_write"
"""Execution option that makes the store's SQLite ``BEGIN`` an ``IMMEDIATE`` one."""

WITHOUT_WAITING = "acadio_without_waiting"
"""With :data:`WRITE`: the SQLite ``BEGIN IMMEDIATE`` raises ``WouldWait`` at once instead of
waiting for the write lock another connection holds."""

_T = TypeVar("_T")

# The async drivers' names too: an asyncio host passes its engine's URL as it is, and the
# store opens the same database through the sync driver.
_POSTGRES_NAMES = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg_async",
    "postgresql+asyncpg",
}
_SQLITE_NAMES = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}
_MYSQL_NAMES = {
    "mysql",
    "mysql+pymysql",
    "mysql+aiomysql",
    "mysql+asyncmy",
    "mariadb",
    "mariadb+pymysql",
    "mariadb+aiomysql",
    "mariadb+asyncmy",
}
_MYSQL_ISOLATION = "READ COMMITTED"
_SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


def normalise_url(target: str | os.PathLike[str] | URL) -> URL:
    """The SQLAlchemy URL for a store target.

    A path (or a string without ``://``) is a SQLite file; ``postgres://`` and
    ``postgresql://`` mean PostgreSQL through psycopg 3; ``mysql://`` and ``mariadb://``
    MySQL or MariaDB through PyMySQL, in ``utf8mb4``. An async driver's URL
    (``sqlite+aiosqlite``, ``postgresql+asyncpg``, ``mysql+aiomysql``...) names the same
    database, opened through these sync drivers. In-memory SQLite is refused: each
    connection would see its own empty database (use ``MemoryStore`` instead).
    """
    if isinstance(target, URL):
        url = target
    elif isinstance(target, os.PathLike) or "://" not in target:
        url = URL.create("sqlite", database=str(Path(target)))
    else:
        try:
            url = make_url(target)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL (expected {_EXPECTED})") from exc
    if url.drivername in _POSTGRES_NAMES:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in _MYSQL_NAMES:
        # MySQL's "utf8" holds three bytes a character at most; an emoji in an event's topic
        # or a dedup key would be refused or mangled.
        driver = url.get_backend_name() + "+pymysql"
        return url.set(drivername=driver).update_query_dict({"charset": "utf8mb4"})
    if url.drivername in _SQLITE_NAMES:
        url = url.set(drivername="sqlite")
        database = url.database or ""
        if database in ("", ":memory:") or url.query.get("mode") == "memory":
            raise ValueError(
                "in-memory SQLite is not shared between connections; "
                "use a file path, or MemoryStore for a store that lives in memory"
            )
        return url
    raise ValueError(f"unsupported database {url.drivername!r}: use {_EXPECTED}")


_EXPECTED = "sqlite:///path, postgresql://… or mysql://…"


@dataclass(frozen=True)
class OpenedEngine:
    """An engine for the store, and whether the store must dispose of it on close."""

    engine: Engine
    owned: bool


def open_engine(
    target: str | os.PathLike[str] | URL | Engine,
    *,
    sqlite_busy_timeout: float,
    sqlite_synchronous: str,
    engine_options: Mapping[str, Any],
) -> OpenedEngine:
    """The engine a :class:`SqlStore` runs on.

    A host's PostgreSQL or MySQL ``Engine`` is shared (its pool too) through a copy that
    hides bound parameters in error messages (and, on MySQL, runs the store's transactions
    at ``READ COMMITTED``). A host's SQLite ``Engine`` is only used for its URL: the store
    needs its own transaction settings (module docstring), which it must not impose on the host.

    On MySQL every transaction of the store runs at ``READ COMMITTED``: at MySQL's default
    ``REPEATABLE READ``, a claim's locking reads would also lock the gaps between index
    entries, and emits inserting into them would wait for claims or dead-lock with them.
    """
    if sqlite_synchronous.upper() not in _SYNCHRONOUS:
        raise ValueError(f"sqlite_synchronous must be one of {sorted(_SYNCHRONOUS)}")
    if isinstance(target, Engine):
        kind = family(target.dialect)
        if kind in _SHARED:
            shared = target.execution_options(**_SHARED[kind])
            shared.hide_parameters = True
            return OpenedEngine(shared, owned=False)
        target = target.url
    url = normalise_url(target)
    options: dict[str, Any] = {"hide_parameters": True, **engine_options}
    backend = family(url.get_backend_name())
    if backend in _SERVERS:
        if backend == MYSQL:
            options.setdefault("isolation_level", _MYSQL_ISOLATION)
        try:
            engine = create_engine(url, **options)
        except ImportError as exc:
            raise ImportError(_SERVERS[backend]) from exc
        if "pool_pre_ping" not in engine_options:
            ping_when_idle(engine, after=IDLE_BEFORE_PING)
        return OpenedEngine(engine, owned=True)
    connect_args = {"timeout": sqlite_busy_timeout, "check_same_thread": False}
    options["connect_args"] = {**connect_args, **options.get("connect_args", {})}
    engine = create_engine(url, **options)
    _configure_sqlite(engine, busy_timeout=sqlite_busy_timeout, synchronous=sqlite_synchronous)
    return OpenedEngine(engine, owned=True)


# Server databases, and the error when their driver is missing.
_SERVERS = {
    "postgresql": "PostgreSQL needs psycopg 3: pip install 'acadio-webhooks[postgres]'",
    MYSQL: "MySQL and MariaDB need PyMySQL: pip install 'acadio-webhooks[mysql]'",
}
# A host's engine of these families is shared, with these execution options.
_SHARED: dict[str, dict[str, Any]] = {
    "postgresql": {},
    MYSQL: {"isolation_level": _MYSQL_ISOLATION},
}

IDLE_BEFORE_PING = 0.5
"""Seconds a pooled PostgreSQL or MySQL connection may sit unused and still be lent without a
ping."""
_RETURNED_AT = "acadio_returned_at"


def ping_when_idle(engine: Engine, *, after: float) -> None:
    """Make ``engine``'s pool ping a connection before lending it, when it has sat unused in
    the pool for more than ``after`` seconds.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: on psycopg a ``BEGIN`` and a
    ``SELECT 1``, two round trips that cost an emit about a seventh of its time. A connection
    returned a moment ago is alive but for a rare mishap (HikariCP skips its check within
    500 ms for the same reason); the ones that die are those left idle, which a server
    restart, an idle timeout or a proxy closes. A ping that finds the connection gone
    invalidates the whole pool (the same cause closed the others) and the pool connects
    afresh. A connection lost within the window fails its first statement: the emit path
    then runs again on another connection (``driver_transaction``), other callers get a
    ``StorageError`` once, and the connection is not lent again.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _lent(dbapi_connection: Any, record: Any, _proxy: object) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned <= after:
            return  # connected just now, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                # The pool invalidates every connection older than this one and retries.
                raise InvalidatePoolError("a pooled connection was closed while idle") from exc
            raise


def _enable_wal(cursor: Any, busy_timeout: float) -> None:
    # Switching a new database to WAL needs an exclusive lock, and SQLite does not always run
    # the busy handler for it: several processes opening a fresh file at once can see
    # "database is locked". Retry within the busy timeout instead of failing the open.
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:  # noqa: PERF203 - retried only on open
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        else:
            return


def _configure_sqlite(engine: Engine, *, busy_timeout: float, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # The store emits BEGIN itself (see _on_begin); pysqlite must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _enable_wal(cursor, busy_timeout)
            cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if not options.get(WRITE, False):
            connection.exec_driver_sql("BEGIN")
        elif options.get(WITHOUT_WAITING, False):
            _begin_without_waiting(connection, busy_timeout)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_without_waiting(connection: Connection, busy_timeout: float) -> None:
    # Only this BEGIN gives up at once: once it holds the write lock, a WAL transaction's
    # statements and its commit do not wait for other connections.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("PRAGMA busy_timeout = 0")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            raise WouldWait("another connection holds the SQLite write lock") from None
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    finally:
        cursor.close()


_SQLITE_BUSY = 5  # sqlite3.SQLITE_BUSY, named there from Python 3.11


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == _SQLITE_BUSY)
    return "database is locked" in str(exc)


def driver_transaction(engine: Engine, work: Callable[[DBAPICursor], _T]) -> _T:
    """``work``'s result, run in one writing transaction on a pooled connection's DB-API
    driver itself.

    For the emit path, which sits in the host's request: SQLAlchemy's ``Connection`` costs
    more per transaction and per statement than SQLite spends inserting an event (about
    50 us and 30 us against 140 us for the whole transaction, docs/performance.md). The pool
    (its checkout, ping and reset) and the engine's connect settings are SQLAlchemy's still;
    SQLite's transaction starts with ``BEGIN IMMEDIATE`` as ``_on_begin`` starts it.

    On PostgreSQL the transaction runs in psycopg's pipeline mode: statements whose results
    are not read are sent without waiting for the server, so an emit waits for it twice (the
    event's insert, whose routing revision plans the deliveries; then the deliveries, the
    ``NOTIFY`` and the ``COMMIT`` together) instead of five times.

    Driver errors leave as the driver raised them (the store turns them into
    ``StorageError``); a connection such an error shows to be gone is invalidated, so the
    pool does not lend it again. When it was found gone before the ``COMMIT`` was sent (the
    database closed it while it sat in the pool), nothing of ``work`` was committed, and
    ``work`` runs once more on another connection. A connection lost with the ``COMMIT`` on
    its way is not retried: whether the transaction committed is unknown.
    """
    try:
        return _transaction_once(engine, work, retry_lost=True)
    except _LostBeforeCommit:
        return _transaction_once(engine, work, retry_lost=False)


class _LostBeforeCommit(Exception):
    """The connection was gone before anything was committed: the work may run again."""


def _transaction_once(engine: Engine, work: Callable[[DBAPICursor], _T], *, retry_lost: bool) -> _T:
    pooled = engine.raw_connection()
    dialect = engine.dialect
    cursor: DBAPICursor | None = None
    try:
        cursor = pooled.cursor()
        with _pipelined(pooled.driver_connection) as pipelined:
            if dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            try:
                result = work(cursor)
            except BaseException as failure:
                lost = isinstance(failure, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
                    failure, pooled.dbapi_connection, cursor
                )
                try:
                    pooled.rollback()
                except dialect.loaded_dbapi.Error as exc:
                    # The failure that made us roll back is the one to report.
                    pooled.invalidate(exc)
                if lost and retry_lost:
                    if pooled.is_valid:
                        pooled.invalidate(failure)
                    raise _LostBeforeCommit from failure
                raise
            if pipelined:
                # Queued behind the last statements: the pipeline's closing sync waits for
                # them and the COMMIT at once (commit() would sync once more on its own).
                cursor.execute("COMMIT")
        if not pipelined:
            pooled.commit()
    except dialect.loaded_dbapi.Error as exc:
        # (A rollback that failed has invalidated it already.)
        if pooled.is_valid and dialect.is_disconnect(exc, pooled.dbapi_connection, cursor):
            pooled.invalidate(exc)
        raise
    finally:
        if cursor is not None and pooled.is_valid:
            cursor.close()
        pooled.close()
    return result


def _pipelined(connection: Any) -> AbstractContextManager[bool]:
    """psycopg's pipeline mode on ``connection``, entered as True; False for drivers
    without one."""
    pipeline = getattr(connection, "pipeline", None)
    return _in_pipeline(pipeline) if pipeline is not None else nullcontext(False)


@contextmanager
def _in_pipeline(pipeline: Any) -> Iterator[bool]:
    with pipeline():
        yield True
