"""The SQL store's engine, transactions and error wording, which every role works through."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from acadio_webhooks.adapters.storage.secret_box import SecretBox
from acadio_webhooks.adapters.storage.sql import _codec, migrate
from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family
from acadio_webhooks.adapters.storage.sql._engine import (
    WITHOUT_WAITING,
    WRITE,
    driver_transaction,
    open_engine,
)
from acadio_webhooks.adapters.storage.sql._prepared import Target
from acadio_webhooks.adapters.storage.sql.joined import JoinedCursor
from acadio_webhooks.adapters.storage.sql.schema import integrations, subscriptions
from acadio_webhooks.domain.models import Integration, Subscription
from acadio_webhooks.errors import NotFound, StorageError

__all__ = ["SqlBase"]

_Result = TypeVar("_Result")


# pg_advisory_xact_lock key serialising concurrent migrations ("acad" in ASCII).
_MIGRATION_LOCK = 0x61636164
# The same for MySQL's GET_LOCK, and how long an opener waits for another's migrations.
_MYSQL_MIGRATION_LOCK = "acadio_webhooks.migrate"
_MYSQL_MIGRATION_WAIT = 300


@contextmanager
def _mysql_lock(conn: Connection, name: str) -> Iterator[None]:
    got = conn.execute(select(func.get_lock(name, _MYSQL_MIGRATION_WAIT))).scalar()
    if got != 1:
        raise StorageError(
            f"migrating the schema failed (another opener held {name!r} for "
            f"{_MYSQL_MIGRATION_WAIT} s)"
        )
    try:
        yield
    finally:
        conn.execute(select(func.release_lock(name)))


class SqlBase:
    """The engine, the secret codec and the transactions of a :class:`SqlStore
    <acadio_webhooks.adapters.storage.sql.SqlStore>`, and the lookups every role makes."""

    def __init__(
        self,
        target: str | os.PathLike[str] | URL | Engine,
        *,
        create: bool = True,
        secret_box: SecretBox | None = None,
        sqlite_busy_timeout: float = 30.0,
        sqlite_synchronous: str = "NORMAL",
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        opened = open_engine(
            target,
            sqlite_busy_timeout=sqlite_busy_timeout,
            sqlite_synchronous=sqlite_synchronous,
            engine_options=engine_options or {},
        )
        self._engine = opened.engine
        self._owns_engine = opened.owned
        self._codec = _codec.SecretCodec(secret_box)
        self._closed = False
        self._close_lock = threading.Lock()
        # Per thread: whether the next writing transaction is to give up rather than wait.
        self._unwaiting = threading.local()
        if create:
            try:
                self.migrate()
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> Engine:
        """The engine the store runs on (for ``enqueue(connection=...)`` hosts and tooling)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        return family(self._engine.dialect)

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"SqlStore({url!r})"

    def without_waiting(self) -> AbstractContextManager[None] | None:
        """See :class:`~acadio_webhooks.ports.storage.WaitFreeCalls`: on SQLite, a block in
        which the first writing transaction of this thread raises ``WouldWait`` at once when
        another connection holds the write lock; ``None`` on PostgreSQL, whose every call
        waits on the network."""
        if self._engine.dialect.name != "sqlite":
            return None
        return self._without_waiting()

    @contextmanager
    def _without_waiting(self) -> Iterator[None]:
        self._unwaiting.armed = True
        try:
            yield
        finally:
            self._unwaiting.armed = False

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (Alembic, shipped migrations), in one
        transaction; concurrent openers wait for each other instead of racing."""
        with self._transaction("migrating the schema", write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            if family(conn.dialect) != MYSQL:
                migrate.upgrade(conn, revision)
                return
            # MySQL commits each DDL statement on its own: a named lock of the session keeps
            # a second opener out until every migration ran.
            with _mysql_lock(conn, _MYSQL_MIGRATION_LOCK):
                migrate.upgrade(conn, revision)

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        with self._transaction("reading an integration") as conn:
            row = self._one(conn, integrations, integration_id, "integration")
        return self._codec.to_integration(row)

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        with self._transaction("reading a subscription") as conn:
            row = self._one(conn, subscriptions, subscription_id, "subscription")
        return self._codec.to_subscription(row)

    def close(self) -> None:
        """Release the store's connections (a shared host engine stays open). Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._owns_engine:
            self._engine.dispose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    @contextmanager
    def _transaction(
        self,
        what: str,
        *,
        write: bool = False,
        conflict: str | None = None,
        joining: object | None = None,
    ) -> Iterator[Connection]:
        """One transaction; driver errors leave as ``StorageError("<what> failed …")``.

        ``joining``: a host's ``Connection`` inside its own transaction, used as it is —
        neither begun nor committed here (the transactional outbox)."""
        if joining is not None and not isinstance(joining, Connection):
            kind = type(joining).__name__
            hint = (
                " (an AsyncConnection or AsyncSession joins through AsyncDispatcher.emit)"
                if kind in ("AsyncConnection", "AsyncSession")
                else ""
            )
            raise TypeError(f"connection must be an SQLAlchemy Connection, not {kind}{hint}")
        self._check_open()
        try:
            if joining is not None:
                yield joining
                return
            with self._engine.connect() as conn:
                if write:
                    unwaiting = getattr(self._unwaiting, "armed", False)
                    # Only the first: a later transaction of the same call may have been
                    # preceded by one that committed, and must not give up halfway.
                    self._unwaiting.armed = False
                    conn.execution_options(**{WRITE: True, WITHOUT_WAITING: unwaiting})
                with conn.begin():
                    yield conn
        except (SQLAlchemyError, UnicodeEncodeError) as exc:
            # The drivers encode text themselves and let a lone surrogate escape as a codec
            # error rather than a database one.
            raise _storage_error(what, exc, conflict) from exc

    def _in_outbox(
        self,
        what: str,
        conflict: str,
        joining: object | None,
        work: Callable[[Target, Dialect], _Result],
    ) -> _Result:
        """``work`` on the host's connection (see ``_transaction``) or cursor (``JoinedCursor``:
        its statements run on it as they are), else in a transaction of
        the store's own on the driver itself (``driver_transaction``: the emit path, which
        runs ``work`` again when the pool lent a connection the database had closed), with the
        dialect to prepare statements for; driver errors leave as ``StorageError`` either way.
        """
        if joining is not None and not isinstance(joining, JoinedCursor):
            with self._transaction(what, write=True, conflict=conflict, joining=joining) as conn:
                return work(conn, conn.dialect)
        self._check_open()
        dialect = self._engine.dialect
        try:
            if isinstance(joining, JoinedCursor):
                return work(joining.cursor, dialect)
            return driver_transaction(self._engine, lambda cursor: work(cursor, dialect))
        except (SQLAlchemyError, UnicodeEncodeError) as exc:  # the pool's own, on checkout
            raise _storage_error(what, exc, conflict) from exc
        except dialect.loaded_dbapi.Error as exc:
            raise _driver_error(what, exc, conflict, dialect) from exc

    @staticmethod
    def _one(conn: Connection, table: Any, ident: str, kind: str) -> Mapping[Any, Any]:
        row = conn.execute(select(table).where(table.c.id == ident)).mappings().first()
        if row is None:
            raise NotFound(kind, ident)
        return row

    @staticmethod
    def _require(conn: Connection, table: Any, ident: str, kind: str) -> None:
        if (
            conn.execute(select(text("1")).select_from(table).where(table.c.id == ident)).first()
            is None
        ):
            raise NotFound(kind, ident)


def _driver_error(what: str, exc: Exception, conflict: str | None, dialect: Any) -> StorageError:
    """``_storage_error`` for an error the driver raised outside SQLAlchemy."""
    if conflict is not None and isinstance(exc, dialect.loaded_dbapi.IntegrityError):
        return StorageError(conflict)
    return StorageError(f"{what} failed ({type(exc).__name__})")


def _storage_error(
    what: str, exc: SQLAlchemyError | UnicodeEncodeError, conflict: str | None
) -> StorageError:
    """A parameter-free message for a driver error (its bound values may be secrets)."""
    if isinstance(exc, UnicodeEncodeError):
        return StorageError(f"{what} failed (text with a character UTF-8 cannot encode)")
    if isinstance(exc, StatementError):
        exc.hide_parameters = True
    if conflict is not None and isinstance(exc, IntegrityError):
        return StorageError(conflict)
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return StorageError(f"{what} failed ({type(cause).__name__})")
